"""An episode record (AgentGym's ``conversations``) read back as steps: observation, thought,
action, reward, score.

The record's turns are ``[instruction, "Ok.", observation, reply, observation, reply, ...]``
(:mod:`agentgym_rl.rollout`); each ``gpt`` reply may carry the env's ``reward`` for its step.
A reply's action is read the way the rollout read it (:mod:`agentgym_envs.formats`: ReAct text,
or a ``<tool_call>``), so a reply without a usable action shows the reason the env was told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentgym_envs import parse_item_id
from agentgym_envs.formats import MalformedAction, action_format, parse_react, parse_tool_calls, to_command

TOOL_CALL_MARK = "<tool_call>"


@dataclass
class Step:
    number: int  # 1-based
    reply: str  # the model's raw reply
    thought: str
    action: str | None  # the env command, or None when the reply held none
    problem: str | None  # why the reply held no usable action
    reward: float | None  # the env's reward for this step, where the record kept it
    score: float | None  # rewards so far
    observation: str | None  # what the env answered (None after the last reply of a cut episode)
    screenshot: Any = None  # an image the record keeps for the observation after this step


@dataclass
class Episode:
    item_id: str
    env_id: str | None
    task_id: int | None
    instruction: str
    first_observation: str
    steps: list[Step]
    reward: float | None  # the record's final score
    success: bool | None
    extra: dict[str, Any] = field(default_factory=dict)  # sample, subtask, error, ...
    first_screenshot: Any = None

    @property
    def observations(self) -> list[str]:
        """The first observation and every one after a step (as many as the record has)."""
        return [self.first_observation] + [s.observation for s in self.steps if s.observation is not None]

    @property
    def replies(self) -> list[str]:
        return [step.reply for step in self.steps]


def env_of(item_id: Any) -> tuple[str | None, int | None]:
    """(env id, task id) of an AgentGym item id, or (None, None) for one no family registers."""
    try:
        return parse_item_id(str(item_id))
    except ValueError:
        return None, None


def read_reply(env_id: str | None, reply: str) -> tuple[str, str | None, str | None]:
    """(thought, command, problem) of a reply, read as the rollout read it."""
    if TOOL_CALL_MARK in reply and env_id is not None:
        thought = parse_tool_calls(reply)[0]
        command = action_format("tools").to_command(env_id, reply)
    else:
        command = to_command(reply)
        thought = parse_react(reply)[0] if not isinstance(command, MalformedAction) else ""
    if isinstance(command, MalformedAction):
        return thought, None, command.reason
    return thought, str(command), None


def command_of(env_id: str, reply: str) -> str:
    """What the env was given for a reply: the command, or the MalformedAction it explained."""
    if TOOL_CALL_MARK in reply:
        return action_format("tools").to_command(env_id, reply)
    return to_command(reply)


def read_episode(record: dict[str, Any]) -> Episode:
    """The steps of an episode record (tolerant: turns that are not text are shown as JSON)."""
    item_id = str(record.get("item_id", "?"))
    env_id, task_id = env_of(item_id)
    turns = [turn for turn in record.get("conversations", []) if isinstance(turn, dict)]
    instruction, position = "", 0
    if turns and turns[0].get("from") == "human":
        instruction, position = _text(turns[0]), 1
        # The gpt "Ok." that answers the instruction is not a step (AgentGym trains no loss on it).
        if len(turns) > 1 and turns[1].get("from") == "gpt" and not turns[1].get("loss"):
            position = 2
    first, first_screenshot = "", None
    if position < len(turns) and turns[position].get("from") == "human":
        first, first_screenshot = _text(turns[position]), _screenshot(turns[position])
        position += 1
    steps, score = [], 0.0
    for turn in turns[position:]:
        if turn.get("from") == "gpt":
            reward = turn.get("reward")
            reward = (
                float(reward) if isinstance(reward, (int, float)) and not isinstance(reward, bool) else None
            )
            score = score + reward if reward is not None else score
            reply = _text(turn)
            thought, action, problem = read_reply(env_id, reply)
            known_score = score if reward is not None else None
            steps.append(Step(len(steps) + 1, reply, thought, action, problem, reward, known_score, None))
        elif steps and steps[-1].observation is None:
            steps[-1].observation = _text(turn)
            steps[-1].screenshot = _screenshot(turn)
    first_screenshot = _attach_record_screenshots(record, steps) or first_screenshot
    extra = {k: v for k, v in record.items() if k not in ("item_id", "conversations", "reward", "success")}
    reward = record.get("reward")
    success = record.get("success")
    return Episode(
        item_id,
        env_id,
        task_id,
        instruction,
        first,
        steps,
        float(reward) if isinstance(reward, (int, float)) and not isinstance(reward, bool) else None,
        success if isinstance(success, bool) else None,
        extra,
        first_screenshot,
    )


def _text(turn: dict[str, Any]) -> str:
    value = turn.get("value", "")
    return value if isinstance(value, str) else repr(value)


def _screenshot(turn: dict[str, Any]) -> Any:
    """An image a turn carries for its observation (a browser env's screenshot), if any."""
    return turn.get("screenshot") or turn.get("image")


def _attach_record_screenshots(record: dict[str, Any], steps: list[Step]) -> Any:
    """A record-level ``screenshots`` list: one per observation after each step, plus one for
    the first observation when it is one longer than the steps (returned)."""
    shots = record.get("screenshots")
    if not isinstance(shots, list) or not shots:
        return None
    offset = len(shots) - len(steps)
    for step, shot in zip(steps, shots[max(0, offset) :]):
        step.screenshot = step.screenshot or shot
    return shots[0] if offset == 1 else None
