"""The env contract, implemented once.

Every ``AgentGym/*`` env is a :class:`TextEnv`. A family module writes only what is its own:
how a task id becomes a task (``_start_task``), what an action does (``_apply``), which actions
are allowed (``available_actions``) and a scripted solver (``expert``). This class turns that
into Gymnasium's API: text spaces, seeded task choice, the ``info`` keys, reward as score gain,
an explained observation for any bad input, and ``render_mode="ansi"``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium.spaces import Text

from agentgym_envs.formats import REACT_FORMAT_HELP, MalformedAction
from agentgym_envs.spaces import AsciiText
from agentgym_envs.splits import normalise_split
from agentgym_envs.toolcalls import ToolSpec, command_tool

# Printable ASCII plus newline and tab. Gymnasium's default Text charset has no space, so
# every env uses this one for both observations and actions.
CHARSET = frozenset(string.digits + string.ascii_letters + string.punctuation + " \n\t")
_OUTSIDE_CHARSET = re.compile(r"[^\x20-\x7e\n\t]")
_WHITESPACE = re.compile(r"\s+")

# ``subtask``: the kind of task (BabyAI's level, TextCraft's crafting depth, SciWorld's and ALFWorld's
# task type, WebArena's site, TextWorld's challenge), for per-subtask results; None where an env's
# tasks are of one kind. Set at reset, the same in every step's info.
INFO_KEYS = ("task_id", "item_id", "instruction", "available_actions", "success", "score", "subtask")


def text_space(max_length: int) -> Text:
    """A Text space for observations or actions: may be empty, holds any printable text.

    An :class:`~agentgym_envs.spaces.AsciiText`, so ``AsyncVectorEnv``'s shared memory returns
    the real observations (Gymnasium's plain ``Text`` returns a stale buffer; see spaces.py)."""
    return AsciiText(max_length, min_length=0, charset=CHARSET)


def fit_to_space(text: str, max_length: int) -> str:
    """Make ``text`` a member of ``text_space(max_length)``: swap characters outside the charset
    for '?' and cut what is too long, saying so, so the observation stays honest."""
    if _OUTSIDE_CHARSET.search(text):
        text = _OUTSIDE_CHARSET.sub("?", text)
    if len(text) > max_length:
        marker = " ...[cut]"
        text = text[: max_length - len(marker)] + marker
    return text


@dataclass
class Outcome:
    """What one action did: the text the agent sees, the episode's score so far, whether it ended.

    ``success`` defaults to ``score >= 1`` (AgentGym's rule for most envs). ``engine_lost``: the
    engine process died and took the episode with it (the observation says so); the step's info
    then carries ``engine_lost=True``, which the env server answers with a 500."""

    observation: str
    score: float
    done: bool = False
    success: bool | None = None
    engine_lost: bool = False


class _Registered:
    """A class attribute read from the family's registration line (``registration.py``), so the
    class never repeats what the registration states."""

    def __init__(self, fact: str):
        self.fact = fact

    def __get__(self, obj: Any, owner: type) -> Any:
        from agentgym_envs.registration import family_of_class

        return getattr(family_of_class(owner), self.fact)


class TextEnv(gym.Env[str, str]):
    """Base class of every AgentGym env: text in, text out, one task per episode.

    Args:
        split: which task ids a seeded ``reset`` draws from: ``train`` (the instruction set,
            default), ``test`` (AgentEval), ``agenttraj`` or ``agenttraj_l``.
        render_mode: ``None`` or ``"ansi"`` (``render()`` returns the current observation).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}

    # From the family's registration line.
    env_name = _Registered("name")
    item_prefix = _Registered("item_prefix")  # AgentGym's item_id prefix, e.g. "lmrlgym_maze"
    max_rounds = _Registered("max_rounds")  # AgentGym's max rounds; registered as max_episode_steps
    splits = _Registered("splits")
    # Set by each env family.
    action_help: ClassVar[str] = ""  # one short paragraph: the action grammar
    max_observation_length: ClassVar[int] = 8192
    max_action_length: ClassVar[int] = 2048

    def __init__(self, split: str = "train", render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.split = normalise_split(split)
        self.render_mode = render_mode
        self.observation_space = text_space(self.max_observation_length)
        self.action_space = text_space(self.max_action_length)
        self.task_id: int | None = None
        self._instruction: str | None = None
        self._observation = ""
        self._score = 0.0
        self._success = False
        self._done = False
        self._subtask: str | None = None

    # ----------------------------------------------------------------- family hooks
    def build_instruction(self) -> str:
        """The system prompt: the task, the action grammar and the ReAct answer format.
        Called once per reset (after ``_start_task``), so it may depend on the task."""
        return f"{self.task_description()}\n\n{self.action_help}\n\n{REACT_FORMAT_HELP}"

    def task_description(self) -> str:
        raise NotImplementedError

    def _start_task(self, task_id: int) -> str:
        """Build task ``task_id`` (deterministically) and return the first observation."""
        raise NotImplementedError

    def _apply(self, action: str) -> Outcome:
        """Carry out one whitespace-normalised, non-empty action."""
        raise NotImplementedError

    def available_actions(self) -> list[str] | None:
        """The actions allowed now, or None where there is no finite list."""
        return None

    def expert(self) -> tuple[str, str]:
        """A scripted solver: ``(thought, action)`` for the current state."""
        raise NotImplementedError(f"{type(self).__name__} has no expert")

    @classmethod
    def action_tools(cls) -> tuple[ToolSpec, ...]:
        """The actions as tools for tool-calling agents (:mod:`agentgym_envs.toolcalls`): by
        default one ``act(command)`` whose description is ``action_help``. A family whose actions
        have structure (a direction, a word, a query) declares its own tools here."""
        return (command_tool(cls.action_help),)

    def subtask(self) -> str | None:
        """The kind of task this is, for results split by subtask (``info["subtask"]``), or None
        where the env's tasks are of one kind. Called once per reset, after ``_start_task``."""
        return None

    # ----------------------------------------------------------------- the contract
    @classmethod
    def task_ids(cls, split: str = "train") -> range:
        """Task ids of a split: ``test`` (AgentEval), ``train``, ``agenttraj``, ``agenttraj_l``."""
        return cls.splits.ids(split)

    @classmethod
    def item_id(cls, task_id: int) -> str:
        return f"{cls.item_prefix}_{task_id}"

    @property
    def instruction(self) -> str:
        if self._instruction is None:
            self._instruction = self.build_instruction()
        return self._instruction

    @property
    def score(self) -> float:
        return self._score

    @property
    def done(self) -> bool:
        return self._done

    @property
    def info(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "item_id": self.item_id(self.task_id) if self.task_id is not None else None,
            "instruction": self.instruction,
            "available_actions": self.available_actions(),
            "success": self._success,
            "score": self._score,
            "subtask": self._subtask,
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        task_id = self._choose_task(options)
        self.task_id = task_id
        self._score, self._success, self._done = 0.0, False, False
        self._observation = fit_to_space(self._start_task(task_id), self.max_observation_length)
        self._instruction = self.build_instruction()
        self._subtask = self.subtask()
        return self._observation, self.info

    def step(self, action: str):
        if self.task_id is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self._done:
            text = "The episode is over: the task has ended. Call reset() for a new task."
            return self._emit(text), 0.0, True, False, self.info
        outcome = self._outcome_of(action)
        reward = outcome.score - self._score
        self._score = outcome.score
        self._success = outcome.score >= 1.0 if outcome.success is None else outcome.success
        self._done = outcome.done
        info = self.info if not outcome.engine_lost else {**self.info, "engine_lost": True}
        return self._emit(outcome.observation), reward, outcome.done, False, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._observation
        return None

    # ----------------------------------------------------------------- helpers
    def invalid(self, reason: str) -> Outcome:
        """An explained, harmless outcome for an action that cannot be carried out."""
        return Outcome(f"Invalid action: {reason}\n{self.action_help}", self._score)

    def _outcome_of(self, action: Any) -> Outcome:
        if isinstance(action, MalformedAction):
            return Outcome(f"Invalid response format: {action.reason}", self._score)
        if isinstance(action, bytes):
            action = action.decode("utf-8", errors="replace")
        if not isinstance(action, str):
            return self.invalid(f"an action is a string, got {type(action).__name__}.")
        if len(action) > self.max_action_length:
            return self.invalid(
                f"the action is {len(action)} characters long; the limit is {self.max_action_length}."
            )
        command = _WHITESPACE.sub(" ", action).strip()
        if not command:
            return self.invalid("the action is empty.")
        return self._apply(command)

    def _emit(self, text: str) -> str:
        self._observation = fit_to_space(text, self.max_observation_length)
        return self._observation

    def _choose_task(self, options: dict[str, Any] | None) -> int:
        if options and options.get("task_id") is not None:
            task_id = options["task_id"]
            if (
                isinstance(task_id, bool)
                or not isinstance(task_id, int)
                and not hasattr(task_id, "__index__")
            ):
                raise TypeError(f"options['task_id'] must be an int, got {task_id!r}")
            task_id = int(task_id)
            if not 0 <= task_id < self.splits.num_tasks:
                raise ValueError(
                    f"{self.env_name} has task ids 0..{self.splits.num_tasks - 1}, got {task_id}"
                )
            return task_id
        ids = self.task_ids(self.split)
        if len(ids) == 0:
            raise ValueError(f"{self.env_name} has no tasks in split {self.split!r}")
        return ids[int(self.np_random.integers(len(ids)))]
