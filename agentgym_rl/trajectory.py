"""AgentTraj records as chat messages, and (below) their tokenisation with loss masks.

AgentGym's turns are ``{"from": "human"|"gpt", "value": ..., "loss": ...}``; chat templates
want ``{"role": "user"|"assistant", "content": ...}``. The record format itself and its file IO
live in :mod:`agentgym_envs.data` (the envs build the expert data).
"""

from __future__ import annotations

from typing import Any

from agentgym_envs.data import load_trajectories, save_trajectories

ROLE_OF = {"human": "user", "gpt": "assistant"}
SPEAKER_OF = {"user": "human", "assistant": "gpt"}


def to_messages(conversations: list[dict[str, Any]]) -> list[dict[str, str]]:
    """AgentGym turns -> chat messages (the instruction stays the first user turn, as in AgentGym)."""
    return [{"role": ROLE_OF[item["from"]], "content": item["value"]} for item in conversations]


__all__ = ["ROLE_OF", "SPEAKER_OF", "load_trajectories", "save_trajectories", "to_messages"]
