"""AgentGym's tasks as Gymnasium environments with text observations and text actions.

Importing this package registers every ``AgentGym/<Name>-v0`` id (Gymnasium 1.x loads no
plugins, so registration happens here, as in minigrid)::

    import gymnasium as gym
    import agentgym_envs

    env = gym.make("AgentGym/Maze-v0", split="test")
    obs, info = env.reset(options={"task_id": 3})
"""

from __future__ import annotations

import importlib.util
from typing import NamedTuple

from gymnasium.envs.registration import load_env_creator, register, registry

from agentgym_envs.core import CHARSET, INFO_KEYS, Outcome, TaskSplits, TextEnv, text_space

__version__ = "0.1.0"


class EnvEntry(NamedTuple):
    entry_point: str  # module:class, one module per env family
    max_rounds: int  # AgentGym's max rounds, registered as max_episode_steps
    item_prefix: str  # AgentGym's item_id prefix: "babyai" in "babyai_12"
    engine: str | None = None  # the module the env needs beyond the core install
    extra: str | None = None  # the pip extra that installs it


# Kept here rather than read off the classes so that resolving an item id or listing the
# envs never imports an engine (minigrid, a JVM, ...).
ENVS: dict[str, EnvEntry] = {
    "BabyAI": EnvEntry("agentgym_envs.envs.babyai:BabyAIEnv", 20, "babyai", "minigrid", "babyai"),
    "Maze": EnvEntry("agentgym_envs.envs.maze:MazeEnv", 15, "lmrlgym_maze"),
    "Wordle": EnvEntry("agentgym_envs.envs.wordle:WordleEnv", 8, "lmrlgym_wordle", "wordle", "wordle"),
    "TextCraft": EnvEntry(
        "agentgym_envs.envs.textcraft:TextCraftEnv", 20, "textcraft", "textcraft", "textcraft"
    ),
}


def missing_engine(name: str) -> str | None:
    """None if the env's engine is installed, else a one-line message naming the extra."""
    env_id = resolve_env_id(name)
    entry = ENVS[env_id.removeprefix("AgentGym/").removesuffix("-v0")]
    if entry.engine is None or importlib.util.find_spec(entry.engine) is not None:
        return None
    return f"{env_id} needs the module {entry.engine!r}, not installed: pip install 'agentgym[{entry.extra}]'"


def env_ids() -> list[str]:
    """Every registered ``AgentGym/*`` id, in table order."""
    return [f"AgentGym/{name}-v0" for name in ENVS]


def resolve_env_id(name: str) -> str:
    """``"maze"``, ``"Maze"``, ``"AgentGym/Maze-v0"`` -> ``"AgentGym/Maze-v0"``."""
    short = name.removeprefix("agentgym_envs:").removeprefix("AgentGym/").removesuffix("-v0")
    for known in ENVS:
        if known.lower() == short.lower():
            return f"AgentGym/{known}-v0"
    raise ValueError(f"unknown env {name!r}; known: {', '.join(ENVS)}")


def require_engine(name: str) -> str:
    """:func:`resolve_env_id`, and a ModuleNotFoundError naming the extra to install when the
    env's engine is missing (so a long job fails before it starts, not half way)."""
    problem = missing_engine(name)
    if problem:
        raise ModuleNotFoundError(problem)
    return resolve_env_id(name)


def env_class(name: str) -> type[TextEnv]:
    """The TextEnv subclass behind an env name or id (imports its family module)."""
    short = require_engine(name).removeprefix("AgentGym/").removesuffix("-v0")
    return load_env_creator(ENVS[short].entry_point)


def parse_item_id(item_id: str) -> tuple[str, int]:
    """AgentGym's ``"lmrlgym_maze_12"`` -> ``("AgentGym/Maze-v0", 12)``."""
    prefix, _, number = item_id.rpartition("_")
    for name, entry in ENVS.items():
        if entry.item_prefix == prefix and number.isdigit():
            return f"AgentGym/{name}-v0", int(number)
    raise ValueError(f"item id {item_id!r} names no known env (expected e.g. 'babyai_12')")


def _register_all() -> None:
    for name, entry in ENVS.items():
        env_id = f"AgentGym/{name}-v0"
        if env_id not in registry:
            register(id=env_id, entry_point=entry.entry_point, max_episode_steps=entry.max_rounds)


_register_all()

__all__ = [
    "CHARSET",
    "ENVS",
    "INFO_KEYS",
    "EnvEntry",
    "Outcome",
    "TaskSplits",
    "TextEnv",
    "env_class",
    "env_ids",
    "parse_item_id",
    "resolve_env_id",
    "text_space",
]
