"""Wrappers around :class:`~agentgym_envs.core.TextEnv`.

- :class:`ReActActions`: pass a model's whole ReAct reply as the action.
- :class:`DiscreteActions` and :class:`TokenObservation`: the spaces RL libraries built for
  numeric spaces expect (stable-baselines3 refuses ``Text``), with the action mask sb3-contrib's
  ``MaskablePPO`` reads::

      env = TokenObservation(DiscreteActions(gym.make("AgentGym/Maze-v0")), first_tokens=128)
      stable_baselines3.common.env_checker.check_env(env)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from agentgym_envs.formats import MalformedAction, to_command

DEFAULT_PROBE_TASKS = 16


class ReActActions(gym.ActionWrapper):
    """Take the model's whole ReAct reply as the action and pass on its ``Action:`` command.

    A reply with no usable action reaches the env as a ``MalformedAction``: it uses up a round
    and comes back as an observation that explains the expected format."""

    def action(self, action: str) -> str:
        return to_command(action)


# ------------------------------------------------------------------------------ discrete actions
@dataclass
class ActionSurvey:
    """What the expert met on a few training tasks: the longest ``available_actions`` list,
    whether any state had no finite list (None) and every command it played, in first-use order."""

    largest: int = 0
    unlisted: bool = False
    commands: list[str] = field(default_factory=list)


def survey_actions(env: gym.Env, tasks: int = DEFAULT_PROBE_TASKS) -> ActionSurvey:
    """Play the expert on the first ``tasks`` training tasks of ``env`` (a TextEnv, wrapped or
    not) and record its :class:`ActionSurvey`. Leaves the env mid-episode: reset it next."""
    base = env.unwrapped
    survey = ActionSurvey()
    seen: set[str] = set()
    for task_id in list(base.task_ids("train"))[:tasks]:
        _, info = base.reset(options={"task_id": task_id})
        for _ in range(getattr(base, "max_rounds", 50)):
            actions = info["available_actions"]
            survey.unlisted |= actions is None
            survey.largest = max(survey.largest, len(actions or ()))
            try:
                action = base.expert()[1]
            except NotImplementedError:
                break  # no expert: the lists met at reset are all we learn
            if action not in seen:
                seen.add(action)
                survey.commands.append(action)
            _, _, terminated, truncated, info = base.step(action)
            if terminated or truncated:
                break
    return survey


class DiscreteActions(gym.Wrapper):
    """Actions as ``Discrete(n)`` indices, with the mask of the ones that make sense now.

    Two modes:

    - **admissible** (default when the env lists its actions): index ``i`` is the ``i``-th entry
      of the current ``info["available_actions"]``; ``n`` is ``max_actions``, or else the longest
      list the expert meets on a few training tasks. Entries past ``n`` are unreachable and
      counted in ``info["actions_cut"]``.
    - **fixed** (``commands`` given, or the env has no finite list, e.g. Wordle): index ``i`` is
      always ``commands[i]``. Without ``commands`` the set is every command the expert plays on
      ``probe_tasks`` training tasks. An index is masked out only when the env lists its actions
      and the command is not among them.

    ``action_masks()`` (the method ``MaskablePPO`` calls) and ``info["action_mask"]`` give a
    boolean array of length ``n``. A masked-out index never raises: the env answers it with an
    observation that explains it, like any bad text action, and the round is used up.
    """

    def __init__(
        self,
        env: gym.Env,
        commands: Sequence[str] | None = None,
        max_actions: int | None = None,
        probe_tasks: int = DEFAULT_PROBE_TASKS,
    ):
        super().__init__(env)
        self.commands = list(commands) if commands is not None else None
        size = len(self.commands) if self.commands is not None else max_actions
        if size is None:
            survey = survey_actions(env, probe_tasks)
            if survey.unlisted:
                self.commands = survey.commands
            size = len(self.commands) if self.commands is not None else survey.largest
        if not size:
            raise ValueError(
                f"{env.unwrapped.__class__.__name__}: no actions found; pass commands=[...] or max_actions"
            )
        self.action_space = gym.spaces.Discrete(size)
        self._choices: list[str | None] = []
        self._mask = np.ones(size, dtype=bool)

    @property
    def fixed(self) -> bool:
        return self.commands is not None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        return observation, self._with_mask(info)

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(self.command(action))
        return observation, reward, terminated, truncated, self._with_mask(info)

    def action_masks(self) -> np.ndarray:
        """Which indices are admissible now (sb3-contrib's ``MaskablePPO`` calls this)."""
        return self._mask.copy()

    def command(self, index) -> str:
        """The text action index ``index`` stands for now (an explained invalid action if none)."""
        index = int(index)
        choice = self._choices[index] if 0 <= index < len(self._choices) else None
        if choice is None:
            return MalformedAction("", f"action index {index} names no action available now.")
        return choice

    def _with_mask(self, info: dict[str, Any]) -> dict[str, Any]:
        listed = info.get("available_actions")
        size = self.action_space.n
        if self.fixed:
            allowed = set(listed) if listed is not None else None
            self._choices = [c if allowed is None or c in allowed else None for c in self.commands]
        else:
            listed = list(listed or ())
            self._choices = listed[:size] + [None] * (size - min(len(listed), size))
            if len(listed) > size:
                info["actions_cut"] = len(listed) - size
        self._mask = np.array([c is not None for c in self._choices], dtype=bool)
        if not self._mask.any():
            # Nothing to choose (no list this turn): a mask of all False breaks MaskablePPO's
            # distribution, so allow every index; each is answered with an explanation.
            self._mask[:] = True
        info["action_mask"] = self._mask.copy()
        return info


# ------------------------------------------------------------------------------ token observations
class TokenObservation(gym.Wrapper):
    """Text observations as a fixed-length ``Box`` of token ids (``int64``, padded).

    Args:
        tokenizer: a Hugging Face tokenizer (``transformers``); by default UTF-8 bytes (ids
            1-255; text never holds NUL, so 0 is the padding).
        max_tokens: slots for the current observation; longer text keeps its first tokens.
        first_tokens: slots before those for the episode's first observation, which is where
            most envs state the task (Maze's goal, TextCraft's recipes): a memoryless policy
            still sees it after the first step. 0 (default) leaves it out.

    ``info["text"]`` keeps the observation's full text.
    """

    def __init__(self, env: gym.Env, tokenizer=None, max_tokens: int = 256, first_tokens: int = 0):
        super().__init__(env)
        self.tokenizer = tokenizer
        if tokenizer is None:
            vocabulary, self.pad_id = 256, 0
        else:
            vocabulary = len(tokenizer)
            self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.max_tokens, self.first_tokens = max_tokens, first_tokens
        shape = (first_tokens + max_tokens,)
        self.observation_space = gym.spaces.Box(0, vocabulary - 1, shape=shape, dtype=np.int64)
        self._first = np.full(first_tokens, self.pad_id, dtype=np.int64)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens)."""
        if self.tokenizer is None:
            return list(text.encode("utf-8"))
        return self.tokenizer.encode(text, add_special_tokens=False)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        text, info = self.env.reset(seed=seed, options=options)
        self._first = self._fit(text, self.first_tokens)
        return self._observation(text), {**info, "text": text}

    def step(self, action):
        text, reward, terminated, truncated, info = self.env.step(action)
        return self._observation(text), reward, terminated, truncated, {**info, "text": text}

    def _observation(self, text: str) -> np.ndarray:
        return np.concatenate([self._first, self._fit(text, self.max_tokens)])

    def _fit(self, text: str, length: int) -> np.ndarray:
        ids = np.full(length, self.pad_id, dtype=np.int64)
        if length:
            tokens = self.encode(text)[:length]
            ids[: len(tokens)] = tokens
        return ids
