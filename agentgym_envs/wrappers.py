"""Wrappers around :class:`~agentgym_envs.core.TextEnv`."""

from __future__ import annotations

import gymnasium as gym

from agentgym_envs.formats import to_command


class ReActActions(gym.ActionWrapper):
    """Take the model's whole ReAct reply as the action and pass on its ``Action:`` command.

    A reply with no usable action reaches the env as a ``MalformedAction``: it uses up a round
    and comes back as an observation that explains the expected format."""

    def action(self, action: str) -> str:
        return to_command(action)
