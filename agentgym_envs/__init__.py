"""AgentGym's tasks as Gymnasium environments with text observations and text actions.

Importing this package registers every ``AgentGym/<Name>-v0`` id (Gymnasium 1.x loads no
plugins, so registration happens here, as in minigrid)::

    import gymnasium as gym
    import agentgym_envs

    env = gym.make("AgentGym/Maze-v0", split="test")
    obs, info = env.reset(options={"task_id": 3})
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from agentgym_envs.core import CHARSET, INFO_KEYS, Outcome, TaskSplits, TextEnv, text_space

__version__ = "0.1.0"

# name -> (module:class, AgentGym's max rounds). One module per env family.
ENVS: dict[str, tuple[str, int]] = {
    "BabyAI": ("agentgym_envs.envs.babyai:BabyAIEnv", 20),
    "Maze": ("agentgym_envs.envs.maze:MazeEnv", 15),
    "Wordle": ("agentgym_envs.envs.wordle:WordleEnv", 8),
    "TextCraft": ("agentgym_envs.envs.textcraft:TextCraftEnv", 20),
}


def env_ids() -> list[str]:
    """Every registered ``AgentGym/*`` id, in table order."""
    return [f"AgentGym/{name}-v0" for name in ENVS]


def _register_all() -> None:
    for name, (entry_point, max_rounds) in ENVS.items():
        env_id = f"AgentGym/{name}-v0"
        if env_id not in registry:
            register(id=env_id, entry_point=entry_point, max_episode_steps=max_rounds)


_register_all()

__all__ = ["CHARSET", "ENVS", "INFO_KEYS", "Outcome", "TaskSplits", "TextEnv", "env_ids", "text_space"]
