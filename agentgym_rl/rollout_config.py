"""How episodes are played: the settings of the rollout engine (:mod:`agentgym_rl.rollout`).

Every command that plays episodes holds one :class:`RolloutConfig` (``AgentEvolConfig.rollout``,
``EvalConfig.rollout``) and its fields are that command's flags, unprefixed (``--concurrency``,
``--env_server``; see ``agentgym_rl.cli.parse``). A holder builds each rollout's settings with
:meth:`RolloutConfig.for_rollout`, so a setting added here reaches every rollout without being
copied anywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from agentgym_envs.formats import ACTION_FORMATS

# Where and how fast episodes run, or what else a record keeps, not which episodes are played: a
# run folder may resume with other values (the prefix cache gives the same tokens up to
# floating-point rounding; Ray actors and an env server step the same envs; log-probs are only
# recorded).
RUNTIME_FIELDS = ("prefix_cache", "rollout_workers", "ray_address", "env_server", "log_probs")


@dataclass
class RolloutConfig:
    """How episodes are played. ``temperature`` 0 is greedy (AgentEval); exploration samples."""

    # Below this the config is refused; AgentEvol's subclass allows 0 (a budget from the data).
    MIN_NEW_TOKENS: ClassVar[int] = 1

    concurrency: int = field(
        default=32,
        metadata={
            "help": "episodes played at once, one batched generation per round across all of them "
            "(every live episode holds a KV cache: lower it for big models)"
        },
    )
    max_new_tokens: int = field(default=96, metadata={"help": "longest reply per round, in tokens"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature (0: greedy)"})
    top_p: float = field(
        default=1.0, metadata={"help": "nucleus sampling: draw from the top tokens up to this mass"}
    )
    seed: int = field(
        default=0,
        metadata={
            "help": "sampling seed (each round draws with its own seed made from it): the same jobs, "
            "concurrency and seed give the same episodes"
        },
    )
    action_format: str = field(
        default="react",
        metadata={
            "help": "how replies carry the action: react (AgentGym's Thought/Action text) or tools (one "
            "tool call per reply: <tool_call>{json}</tool_call> for a local model, OpenAI tools and "
            "tool_calls for an API model; the env's tools are in agentgym_envs.toolcalls)"
        },
    )
    max_rounds: int | None = field(
        default=None,
        metadata={"help": "end an episode after this many rounds (None: the env's own limit, AgentGym's)"},
    )
    prefix_cache: bool = field(
        default=True,
        metadata={
            "help": "keep each episode's KV cache between rounds, so a round runs only its new tokens "
            "through the model (same replies; used where the model supports it)"
        },
    )
    log_probs: bool = field(
        default=False,
        metadata={
            "help": "record, per generated turn, the log-probability of each generated token under the "
            "sampling policy, softmax(logits / temperature) (softmax(logits) when greedy; top-p not "
            "applied): what PPO's ratio divides by (LLMPolicy.log_probs recomputes it)"
        },
    )
    rollout_workers: int = field(
        default=0,
        metadata={"help": "step the envs in this many Ray actors (0: in this process); the same episodes"},
    )
    ray_address: str | None = field(
        default=None,
        metadata={
            "help": "Ray cluster to join with --rollout_workers, e.g. auto or ray://HEAD:10001 "
            "(None: start a local Ray)"
        },
    )
    env_server: str | None = field(
        default=None,
        metadata={
            "help": "play the envs on an env server (agentgym serve) at this URL, e.g. "
            "http://127.0.0.1:36001, instead of in this process"
        },
    )

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_new_tokens < self.MIN_NEW_TOKENS:
            raise ValueError(
                f"concurrency must be at least 1 and max_new_tokens at least {self.MIN_NEW_TOKENS}"
            )
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
        if self.action_format not in ACTION_FORMATS:
            raise ValueError(
                f"action_format is one of {', '.join(ACTION_FORMATS)}, got {self.action_format!r}"
            )
        if self.max_rounds is not None and self.max_rounds < 1:
            raise ValueError("max_rounds must be at least 1 (or unset: the env's own limit)")
        if self.rollout_workers < 0:
            raise ValueError("rollout_workers must be >= 0")
        if self.rollout_workers and self.env_server:
            raise ValueError("choose Ray workers (rollout_workers) or an env server (env_server), not both")

    def for_rollout(
        self, *, greedy: bool = False, seed: int | None = None, max_new_tokens: int | None = None
    ) -> RolloutConfig:
        """The settings of one rollout: these, decoded greedily (AgentEval) or sampled with
        ``seed`` (exploration), with the reply budget the caller resolved. A copy: the config a
        command holds, and saves in its run folder, stays as given."""
        changes: dict = {}
        if greedy:
            changes.update(temperature=0.0, top_p=1.0)
        if seed is not None:
            changes["seed"] = seed
        if max_new_tokens is not None:
            changes["max_new_tokens"] = max_new_tokens
        return dataclasses.replace(self, **changes)


__all__ = ["RUNTIME_FIELDS", "RolloutConfig"]
