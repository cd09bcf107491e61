"""AgentGym's tasks as Gymnasium environments with text observations and text actions.

Importing this package registers every ``AgentGym/<Name>-v0`` id (Gymnasium 1.x loads no
plugins, so registration happens here, as in minigrid)::

    import gymnasium as gym
    import agentgym_envs

    env = gym.make("AgentGym/Maze-v0", split="test")
    obs, info = env.reset(options={"task_id": 3})
"""

from __future__ import annotations

from typing import NamedTuple

from gymnasium.envs.registration import load_env_creator, register, registry

from agentgym_envs.core import CHARSET, INFO_KEYS, Outcome, TaskSplits, TextEnv, text_space

__version__ = "0.1.0"


class EnvEntry(NamedTuple):
    entry_point: str  # module:class, one module per env family
    max_rounds: int  # AgentGym's max rounds, registered as max_episode_steps
    item_prefix: str  # AgentGym's item_id prefix: "babyai" in "babyai_12"


# Kept here rather than read off the classes so that resolving an item id or listing the
# envs never imports an engine (minigrid, a JVM, ...).
ENVS: dict[str, EnvEntry] = {
    "BabyAI": EnvEntry("agentgym_envs.envs.babyai:BabyAIEnv", 20, "babyai"),
    "Maze": EnvEntry("agentgym_envs.envs.maze:MazeEnv", 15, "lmrlgym_maze"),
    "Wordle": EnvEntry("agentgym_envs.envs.wordle:WordleEnv", 8, "lmrlgym_wordle"),
    "TextCraft": EnvEntry("agentgym_envs.envs.textcraft:TextCraftEnv", 20, "textcraft"),
}


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


def env_class(name: str) -> type[TextEnv]:
    """The TextEnv subclass behind an env name or id (imports its family module)."""
    short = resolve_env_id(name).removeprefix("AgentGym/").removesuffix("-v0")
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
