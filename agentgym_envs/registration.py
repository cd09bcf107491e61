"""Where every fact about an env family is written, once.

A family is registered with one line in ``agentgym_envs/__init__.py``::

    register_family("Maze", "agentgym_envs.envs.maze:MazeEnv", item_prefix="lmrlgym_maze",
                    max_rounds=15, sizes=(25, 100, 215, 240))

That line registers ``AgentGym/Maze-v0`` with Gymnasium (``max_episode_steps`` = AgentGym's max
rounds, ``reward_threshold`` = AgentEvol's keep threshold) and records the rest here. The env class
(through :class:`agentgym_envs.core.TextEnv`), ``agentgym list``, README's env table, the data
builders, AgentEvol and the tests all read it from here, so nothing about a family is repeated.

Nothing in this module imports a family's engine: listing envs or resolving an item id stays cheap
and works when an optional engine is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from agentgym_envs.splits import TaskSplits

# The name on the package index ("agentgym" there is an unrelated project); the imports are
# agentgym_envs and agentgym_rl, the command is agentgym.
DISTRIBUTION = "agentgym-gymnasium"
NAMESPACE = "AgentGym"
VERSION = "v0"
# AgentGym's item-id rule for AgentEvol: keep an explored trajectory whose reward beats this.
DEFAULT_KEEP_THRESHOLD = 0.99


@dataclass(frozen=True)
class Family:
    """One AgentGym env family, as its registration line states it."""

    name: str  # "Maze": the id is AgentGym/Maze-v0
    entry_point: str  # "module:Class", one module (or package) per family
    item_prefix: str  # AgentGym's item-id prefix: "lmrlgym_maze" in "lmrlgym_maze_12"
    max_rounds: int  # AgentGym's max rounds, registered as max_episode_steps
    splits: TaskSplits  # test (AgentEval), agenttraj, agenttraj_l, train (instruction set)
    keep_threshold: float = DEFAULT_KEEP_THRESHOLD  # AgentEvol keeps reward > this
    expert_solves: float = 1.0  # the share of tasks the scripted expert solves in max_rounds
    engine: str | None = None  # the module the env needs beyond the core install
    extra: str | None = None  # the pip extra that installs it
    program: str | None = None  # a program the engine runs, looked for on PATH ("java")
    # How AgentGym's server for the family speaks (agentgym_envs.server.agentgym_protocol reads these).
    reset_field: str = "data_idx"  # the task field of AgentGym's HTTP /reset body
    id_key: str = "id"  # AgentGym's env id key: "id" ({"id": n} from /create) or "env_idx" (a bare int)
    # What AgentGym's /create answers: "object" ({id_key: n}), "int" (a bare n) or "episode" (the
    # id and a started episode's observation, reward and done, as TextCraft's). Unset at
    # registration it follows id_key, as it does in every AgentGym server but WebArena's.
    create_reply: str = "object"
    # How AgentGym's /reset reply carries the first observation, which the family's client turns
    # back into its first prompt: "whole"; "task_apart" (the first line as `task_description`, the
    # rest as `observation`: SciWorld's client joins them with a newline); "actions_apart" (without
    # the last line "AVAILABLE ACTIONS: a,b", which ALFWorld's client appends from available_actions).
    reset_reply: str = "whole"
    # What AgentGym's `reward` is after a step: "score" (the score so far, which AgentGym's
    # evaluator reads from the last step) or "gain" (the step's gain, where the client reads `score`).
    step_reward: str = "score"
    score_scale: float = 1.0  # AgentGym's HTTP `score` (and reward) is ours times this (SciWorld: 100)
    summary: str = ""  # one line for README's env table and `agentgym list`

    @property
    def env_id(self) -> str:
        return env_id(self.name)

    def missing_engine(self) -> str | None:
        """None when the engine is importable, else a one-line message naming the extra."""
        if self.engine is not None and importlib.util.find_spec(self.engine.partition(".")[0]) is None:
            hint = install_hint(self.extra)
            return f"{self.env_id} needs the module {self.engine!r}, which is not installed: {hint}"
        if self.program is not None and shutil.which(self.program) is None:
            return f"{self.env_id} needs the program {self.program!r} on PATH (java: a Java 17 runtime)"
        return None


FAMILIES: dict[str, Family] = {}  # name -> family, in registration order
_BY_ENTRY_POINT: dict[str, Family] = {}
_BY_CLASS: dict[type, Family] = {}  # found by family_of_class; TextEnv reads its facts every step


def register_family(
    name: str,
    entry_point: str,
    *,
    item_prefix: str,
    max_rounds: int,
    sizes: tuple[int, int, int, int],
    total: int | None = None,
    heldout: int = 0,
    keep_threshold: float = DEFAULT_KEEP_THRESHOLD,
    expert_solves: float = 1.0,
    engine: str | None = None,
    extra: str | None = None,
    program: str | None = None,
    reset_field: str = "data_idx",
    id_key: str = "id",
    create_reply: str | None = None,
    reset_reply: str = "whole",
    step_reward: str = "score",
    score_scale: float = 1.0,
    summary: str = "",
) -> Family:
    """Register ``AgentGym/<name>-v0``. ``sizes`` is AgentGym's table row: (AgentEval,
    AgentTraj, AgentTraj-L, instruction set). With ``total`` (the env's number of task ids) the
    splits are spread over all of them (:meth:`TaskSplits.spread`), else test ids come first.
    ``heldout``: generated task ids after the instruction set, in no AgentGym split."""
    if (engine is None) != (extra is None):
        raise ValueError(f"{name}: give both engine and extra, or neither")
    if id_key not in ("id", "env_idx"):
        raise ValueError(f"{name}: id_key is AgentGym's 'id' or 'env_idx', got {id_key!r}")
    if create_reply is None:
        create_reply = "int" if id_key == "env_idx" else "object"
    for field, value, allowed in (
        ("create_reply", create_reply, ("int", "object", "episode")),
        ("reset_reply", reset_reply, ("whole", "task_apart", "actions_apart")),
        ("step_reward", step_reward, ("score", "gain")),
    ):
        if value not in allowed:
            raise ValueError(f"{name}: {field} is one of {', '.join(allowed)}; got {value!r}")
    test, agenttraj, agenttraj_l, train = sizes
    counts = dict(test=test, agenttraj=agenttraj, agenttraj_l=agenttraj_l, train=train)
    if total is not None and heldout:
        raise ValueError(f"{name}: heldout ids follow the instruction set; spread splits have none")
    splits = (
        TaskSplits.sized(**counts, heldout=heldout)
        if total is None
        else TaskSplits.spread(total=total, **counts)
    )
    family = Family(
        name=name,
        entry_point=entry_point,
        item_prefix=item_prefix,
        max_rounds=max_rounds,
        splits=splits,
        keep_threshold=keep_threshold,
        expert_solves=expert_solves,
        engine=engine,
        extra=extra,
        program=program,
        reset_field=reset_field,
        id_key=id_key,
        create_reply=create_reply,
        reset_reply=reset_reply,
        step_reward=step_reward,
        score_scale=score_scale,
        summary=summary,
    )
    FAMILIES[name] = family
    _BY_ENTRY_POINT[entry_point] = family
    _BY_CLASS.clear()
    if family.env_id in gym.registry:  # re-registering (a reload, a test) replaces the old spec
        del gym.registry[family.env_id]
    gym.register(
        id=family.env_id,
        entry_point=entry_point,
        max_episode_steps=max_rounds,
        reward_threshold=keep_threshold,
    )
    return family


def unregister_family(name: str) -> None:
    """Remove a family (for tests that register a temporary one)."""
    family = FAMILIES.pop(name)
    _BY_ENTRY_POINT.pop(family.entry_point, None)
    _BY_CLASS.clear()
    gym.registry.pop(family.env_id, None)


# ------------------------------------------------------------------------------ names
def env_id(short_name: str) -> str:
    """``"Maze"`` -> ``"AgentGym/Maze-v0"``."""
    return f"{NAMESPACE}/{short_name}-{VERSION}"


def short_name(name_or_id: str) -> str:
    """``"agentgym_envs:AgentGym/Maze-v0"`` or ``"AgentGym/Maze-v0"`` -> ``"Maze"`` (as written)."""
    name = name_or_id.removeprefix("agentgym_envs:").removeprefix(f"{NAMESPACE}/")
    return name.removesuffix(f"-{VERSION}")


def family(name: str) -> Family:
    """The family behind ``"maze"``, ``"Maze"`` or ``"AgentGym/Maze-v0"`` (case-insensitive)."""
    wanted = short_name(name.strip()).lower()
    for known, fam in FAMILIES.items():
        if known.lower() == wanted:
            return fam
    raise ValueError(f"unknown env {name!r}; known: {', '.join(FAMILIES)}")


def family_of_class(cls: type) -> Family:
    """The family whose entry point is ``cls`` or one of its bases. An entry point may name a
    class re-exported by a package (``agentgym_envs.envs.babyai:BabyAIEnv`` for a class defined in
    ``babyai/env.py``), so entry points are compared by the object they name, not by spelling."""
    cached = _BY_CLASS.get(cls)
    if cached is not None:
        return cached
    for klass in cls.__mro__:
        found = _BY_ENTRY_POINT.get(f"{klass.__module__}:{klass.__qualname__}")
        if found is None:
            found = next((fam for fam in FAMILIES.values() if _loaded_entry_point(fam) is klass), None)
        if found is not None:
            _BY_CLASS[cls] = found
            return found
    raise LookupError(
        f"{cls.__qualname__} is not the entry point of a registered family: add a "
        f"register_family(...) line for it in agentgym_envs/__init__.py"
    )


def _loaded_entry_point(fam: Family) -> Any:
    """What the family's entry point names, if its module is already imported (never imports:
    looking a family up must not start an engine)."""
    module_name, _, attribute = fam.entry_point.partition(":")
    module = sys.modules.get(module_name)
    return getattr(module, attribute, None) if module is not None else None


def resolve_env_id(name: str) -> str:
    """``"maze"``, ``"Maze"``, ``"AgentGym/Maze-v0"`` -> ``"AgentGym/Maze-v0"``."""
    return family(name).env_id


def env_ids() -> list[str]:
    """Every registered ``AgentGym/*`` id, in registration order."""
    return [fam.env_id for fam in FAMILIES.values()]


def parse_item_id(item_id: str) -> tuple[str, int]:
    """AgentGym's ``"lmrlgym_maze_12"`` -> ``("AgentGym/Maze-v0", 12)``."""
    prefix, _, number = item_id.rpartition("_")
    for fam in FAMILIES.values():
        if fam.item_prefix == prefix and number.isdigit():
            return fam.env_id, int(number)
    raise ValueError(f"item id {item_id!r} names no known env (expected e.g. 'babyai_12')")


# ------------------------------------------------------------------------------ engines
def install_hint(extra: str | None) -> str:
    """The one way this project says how to install an extra."""
    return f"pip install '{DISTRIBUTION}[{extra}]'" if extra else f"pip install {DISTRIBUTION}"


def missing_engine(name: str) -> str | None:
    """None if the env's engine is installed, else a one-line message naming the extra."""
    return family(name).missing_engine()


def require_engine(name: str) -> str:
    """:func:`resolve_env_id`, raising a ModuleNotFoundError that names the extra when the env's
    engine is missing (so a long job fails before it starts, not half way)."""
    fam = family(name)
    problem = fam.missing_engine()
    if problem:
        raise ModuleNotFoundError(problem)
    return fam.env_id


@contextlib.contextmanager
def engine_imports(name: str) -> Iterator[None]:
    """Wrap a family module's engine imports: a missing module becomes a one-line error that
    names the extra to install, instead of a traceback from deep inside ``gym.make``."""
    try:
        yield
    except ModuleNotFoundError as error:
        fam = family(name)
        raise ModuleNotFoundError(
            f"{fam.env_id} needs the module {error.name!r}, which is not installed: {install_hint(fam.extra)}"
        ) from None


def env_class(name: str) -> type:
    """The TextEnv subclass behind an env name or id (imports its family module)."""
    require_engine(name)
    return gym.envs.registration.load_env_creator(family(name).entry_point)


# ------------------------------------------------------------------------------ tables
def env_table_markdown() -> str:
    """README's env table, made from the registrations (a test keeps README in step)."""
    lines = [
        "| id | AgentGym item ids | what it runs on | AgentEval / AgentTraj / AgentTraj-L / instructions "
        "| max rounds | extra |",
        "|---|---|---|---|---|---|",
    ]
    for fam in FAMILIES.values():
        sizes = " / ".join(str(len(fam.splits.ids(s))) for s in ("test", "agenttraj", "agenttraj_l", "train"))
        extra = f"`{fam.extra}`" if fam.extra else "(core)"
        lines.append(
            f"| `{fam.env_id}` | `{fam.item_prefix}_<n>` | {fam.summary} | {sizes} | {fam.max_rounds} "
            f"| {extra} |"
        )
    return "\n".join(lines)
