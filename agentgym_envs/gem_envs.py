"""Every AgentGym id as a GEM env (``gem.core.Env``; ``gem-llm`` on PyPI, the ``gem`` extra).

GEM's envs take the model's whole reply as the action and give the instructions in the first
observation; here the reply's action is read in one of this package's formats (ReAct, or one tool
call: :mod:`agentgym_envs.formats`). Importing the module registers every id in GEM's registry::

    import gem
    import agentgym_envs.gem_envs  # noqa: F401

    env = gem.make("AgentGym/Maze-v0", split="test")          # action_format="tools" for tool calls
    observation, info = env.reset(seed=0)                      # instruction + first observation
    observation, reward, terminated, truncated, info = env.step("Thought: ...\\nAction: move up")

``reset(seed)`` draws the task from the split by the seed, as the Gymnasium env does, and does not
reseed Python's and NumPy's global generators (GEM's base class would): the env has its own.
A reply without a usable action is explained in the observation and uses up a round.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym

from agentgym_envs import formats
from agentgym_envs.registration import FAMILIES, install_hint, resolve_env_id

try:
    import gem
except ModuleNotFoundError as error:  # pragma: no cover - the message is the point
    raise ModuleNotFoundError(f"GEM envs need the package gem-llm: {install_hint('gem')}") from error


class AgentGymGemEnv(gem.Env):
    """One AgentGym env behind GEM's interface.

    Args:
        env_id: an id or name (``"AgentGym/Maze-v0"``, ``"maze"``).
        split: which task ids a seeded reset draws from (``train``, ``test``, ...).
        action_format: how a reply carries its action: ``react`` or ``tools``.
        seed: the seed of a ``reset()`` called without one (GEM's ``make_vec`` passes one per env).
        task_id: play exactly this task at every reset instead of drawing one.
        make_kwargs: passed to ``gym.make`` (e.g. WebShop's ``products=``).
    """

    def __init__(
        self,
        env_id: str,
        split: str = "train",
        action_format: str = "react",
        seed: int | None = None,
        task_id: int | None = None,
        **make_kwargs: Any,
    ):
        super().__init__()
        self.env_id = resolve_env_id(env_id)
        self.split, self.action_format_name, self.seed, self.task_id = split, action_format, seed, task_id
        self.make_kwargs = make_kwargs
        self.format = formats.action_format(action_format)
        self.env = gym.make(self.env_id, split=split, **make_kwargs)
        self._info: dict[str, Any] = {}

    def reset(self, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        options = {"task_id": self.task_id} if self.task_id is not None else None
        observation, self._info = self.env.reset(seed=self.seed if seed is None else seed, options=options)
        instruction = self.format.instruction(self.env_id, self._info["instruction"])
        return f"{instruction}\n\n{observation}", self._info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, self._info = self.env.step(
            self.format.to_command(self.env_id, action)
        )
        return observation, float(reward), terminated, truncated, self._info

    def sample_random_action(self) -> str:
        """One of the actions the env lists now, drawn at random and written as a reply in this
        env's format; envs with no finite list (Wordle, the tool envs) have none to draw."""
        actions = self._info.get("available_actions")
        if not actions:
            raise NotImplementedError(f"{self.env_id} lists no actions to draw from now")
        action = actions[int(self.env.unwrapped.np_random.integers(len(actions)))]
        return self.format.expert_reply(self.env_id, "", action)

    def spawn(self, same_state: bool = False, **kwargs: Any) -> AgentGymGemEnv:
        """A new env with this one's settings (``kwargs`` override them); with ``same_state``, at the
        start of the task this one plays (an episode's later state is not copied)."""
        settings = dict(
            env_id=self.env_id,
            split=self.split,
            action_format=self.action_format_name,
            seed=self.seed,
            task_id=self._info.get("task_id") if same_state else self.task_id,
            **self.make_kwargs,
        )
        spawned = AgentGymGemEnv(**{**settings, **kwargs})
        if same_state:
            spawned.reset()
        return spawned

    def close(self) -> None:
        self.env.close()


def register_gem_envs() -> None:
    """Register every AgentGym id with GEM (``gem.make("AgentGym/Maze-v0")``); idempotent."""
    from gem.envs.registration import ENV_REGISTRY

    for family in FAMILIES.values():
        if family.env_id not in ENV_REGISTRY:
            gem.register(family.env_id, entry_point=functools.partial(AgentGymGemEnv, family.env_id))


register_gem_envs()

__all__ = ["AgentGymGemEnv", "register_gem_envs"]
