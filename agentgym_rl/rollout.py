"""Many episodes at once: one batched ``policy.generate`` per round across every live episode.

AgentGym's client runs one episode at a time: generate a reply, step the env, repeat. A small
model on a CPU spends most of that time in per-call overhead, so here a pool of episodes is
kept live and each *round* asks the policy for the next reply of every live episode in one
batch. A finished episode's slot goes to the next waiting job, so the batch stays full until
the jobs run out.

Each episode is recorded as an AgentTraj record (``agentgym_envs.data`` format)::

    {"item_id": "lmrlgym_maze_30", "conversations": [instruction, "Ok.", observation,
     reply, observation, reply, ...], "reward": 1.0, "success": true, "sample": 0}

The model's raw replies are the ``gpt`` turns (``loss: true``), so exploration data trains on
exactly what the model said. What online RL needs rides on each of those turns as extra keys
(AgentGym's readers, and :func:`agentgym_envs.data.load_trajectories`, ignore them)::

    {"from": "gpt", "loss": true, "value": "Thought: ...", "token_ids": [...], "logprobs": [...],
     "reward": 0.0}

``reward`` is the env's reward for the step that turn's action took (the score gain, so a
record's turn rewards sum to its ``reward``); ``token_ids`` the ids the model produced (its
end-of-turn token included when it stopped on one; absent for API models, which return text);
``logprobs`` one per token id, under the sampling policy, only with ``RolloutConfig.log_probs``
(see :func:`agentgym_rl.policy.token_log_probs` for which distribution). A ``subtask`` key names
the task's subtask where the env has them (``info["subtask"]``).

Replies carry their action in ``RolloutConfig.action_format``: AgentGym's ReAct text, or one
tool call (:class:`~agentgym_envs.formats.ToolCallFormat`: the instruction lists the env's tools
for a local model; an API policy, whose ``native_tool_calls`` is true, gets them as OpenAI
``tools`` and its ``tool_calls`` come back written into the reply's text).
A reply without a usable action (no ``Action:``, no tool call or a bad one) is passed to the env as a
:class:`~agentgym_envs.formats.MalformedAction`; the env answers with an observation that explains
the expected format, and the round counts against the env's round limit (its registered
``max_episode_steps``, AgentGym's max rounds), as a wasted turn does in AgentGym.

Determinism: greedy decoding gives the same trajectories whatever the batch size (tested).
Sampling is seeded per round from ``seed``, so a run repeats exactly given the same jobs,
concurrency and seed; a different concurrency groups rows differently and draws other samples.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import agentgym_envs  # noqa: F401 - registers the AgentGym/* ids
from agentgym_envs import family, resolve_env_id
from agentgym_envs.data import opening_turns, turn
from agentgym_envs.formats import ActionFormat, MalformedAction, ReActFormat, action_format
from agentgym_rl.api_policy import GenerationError
from agentgym_rl.env_pools import make_env_pool
from agentgym_rl.rollout_config import RolloutConfig
from agentgym_rl.trajectory import to_messages

Message = dict[str, str]


class Policy(Protocol):
    """What a rollout needs from a policy (``agentgym_rl.policy.LLMPolicy`` has it)."""

    def generate(
        self,
        prompts: list[list[Message]],
        *,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[str]: ...


@dataclass(frozen=True)
class Job:
    """One episode to run: task ``task_id`` of env ``env_id``; ``sample`` tells apart the K
    samples drawn for the same task."""

    env_id: str
    task_id: int
    sample: int = 0

    @property
    def key(self) -> tuple[str, int]:
        """What its record answers: ``(item_id, sample)``, as an AgentTraj record says it."""
        return f"{family(self.env_id).item_prefix}_{self.task_id}", self.sample


@dataclass
class RolloutStats:
    """Where a rollout's time went, for logs and the speed benchmark."""

    episodes: int = 0
    rounds: int = 0  # batched generate calls
    turns: int = 0  # replies generated (one per live episode per round)
    malformed: int = 0  # replies without a usable action
    errors: int = 0  # episodes ended because no reply could be had (an API that kept failing)
    generated_tokens: int = 0
    generate_seconds: float = 0.0
    env_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def episodes_per_minute(self) -> float:
        return 60.0 * self.episodes / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def env_fraction(self) -> float:
        return self.env_seconds / self.wall_seconds if self.wall_seconds else 0.0

    def as_dict(self) -> dict[str, float]:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update(
            tokens_per_second=self.tokens_per_second,
            episodes_per_minute=self.episodes_per_minute,
            env_fraction=self.env_fraction,
        )
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


@dataclass
class Episode:
    """A live episode: its env, the AgentTraj turns so far and the chat messages the policy sees
    (kept alongside so a round does not rebuild every history)."""

    index: int  # position of its job in the caller's list
    job: Job
    slot: int  # its env in the pool
    conversations: list[dict[str, Any]]
    messages: list[Message]
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # why it ended early, if no reply could be had

    def add(self, speaker: str, text: str, loss: bool | None) -> dict[str, Any]:
        item = turn(speaker, str(text), loss)
        self.conversations.append(item)
        self.messages.extend(to_messages([item]))
        return item

    def add_reply(self, reply: str) -> dict[str, Any]:
        """The reply as a trained ``gpt`` turn, with the token ids (and log-probs) it came with."""
        item = self.add("gpt", reply, True)
        token_ids = getattr(reply, "token_ids", None)
        if token_ids is not None:
            item["token_ids"] = token_ids
            if reply.logprobs is not None:
                item["logprobs"] = reply.logprobs
        return item

    def record(self) -> dict[str, Any]:
        record = {
            "item_id": self.info["item_id"],
            "conversations": self.conversations,
            "reward": float(self.info["score"]),
            "success": bool(self.info["success"]),
            "sample": self.job.sample,
        }
        if self.info.get("subtask") is not None:
            record["subtask"] = self.info["subtask"]
        if self.error is not None:
            record["error"] = self.error
        return record


def make_jobs(
    envs: Iterable[str], task_ids: dict[str, Sequence[int]] | Sequence[int], samples: int = 1
) -> list[Job]:
    """Jobs for ``samples`` episodes of every task. ``task_ids`` is one list for all envs or a
    dict env -> list. Samples of a task are adjacent, so an interrupted run has whole tasks."""
    jobs = []
    for env in envs:
        env_id = resolve_env_id(env)
        ids = task_ids.get(env, task_ids.get(env_id)) if isinstance(task_ids, dict) else task_ids
        if ids is None:
            raise ValueError(f"no task ids given for {env}")
        jobs += [Job(env_id, int(task_id), sample) for task_id in ids for sample in range(samples)]
    return jobs


def rollout(
    policy: Policy,
    jobs: Sequence[Job],
    config: RolloutConfig | None = None,
    *,
    progress: bool = True,
    desc: str = "rollout",
    stats: RolloutStats | None = None,
    on_episode: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Play every job and return one AgentTraj record per job, in job order.

    ``on_episode(index, record)`` is called as each episode ends (e.g. to save it at once, so
    an interrupted run keeps what it finished). ``stats`` (optional) is filled in place."""
    config = config or RolloutConfig()
    if config.max_new_tokens < 1:  # AgentEvol's 0 (a budget from the expert data) is resolved first
        raise ValueError(f"max_new_tokens must be at least 1, got {config.max_new_tokens}")
    stats = stats if stats is not None else RolloutStats()
    records: list[dict[str, Any] | None] = [None] * len(jobs)
    pool = make_env_pool(config.rollout_workers, config.max_rounds, config.ray_address, config.env_server)
    reply_format = action_format(config.action_format, getattr(policy, "native_tool_calls", False))
    generate = RoundGenerator(policy, config, reply_format)
    waiting = deque(enumerate(jobs))
    live: list[Episode] = []
    started = time.perf_counter()
    bar = _progress_bar(len(jobs), desc, progress)
    successes = 0
    try:
        while waiting or live:
            starting = [waiting.popleft() for _ in range(min(len(waiting), config.concurrency - len(live)))]
            live += start_episodes(pool, starting, stats, reply_format)
            replies = generate(live, stats)
            going_on = step_episodes(pool, live, replies, stats, reply_format)
            ended = [episode for episode, alive in zip(live, going_on) if not alive]
            pool.release([episode.slot for episode in ended])
            for episode in ended:
                generate.forget(episode)
                record = episode.record()
                records[episode.index] = record
                stats.episodes += 1
                successes += record["success"]
                if on_episode is not None:
                    on_episode(episode.index, record)
                bar.update(1)
            live = [episode for episode, alive in zip(live, going_on) if alive]
            elapsed = time.perf_counter() - started
            bar.set_postfix(
                success=f"{successes}/{stats.episodes}", tok_s=f"{stats.generated_tokens / elapsed:.0f}"
            )
    finally:
        bar.close()
        pool.close()  # every env it made, including those of episodes cut short by an error
        stats.wall_seconds += time.perf_counter() - started
    return records  # type: ignore[return-value]


def start_episodes(
    pool, starting: list[tuple[int, Job]], stats: RolloutStats, reply_format: ActionFormat = ReActFormat()
) -> list[Episode]:
    """Reset one env per job, in one batch (one call per Ray actor when the envs are remote)."""
    if not starting:
        return []
    began = time.perf_counter()
    started = pool.reset_many([(job.env_id, job.task_id) for _, job in starting])
    stats.env_seconds += time.perf_counter() - began
    episodes = []
    for (index, job), (slot, observation, info) in zip(starting, started):
        instruction = reply_format.instruction(job.env_id, info["instruction"])
        conversations = opening_turns(instruction, observation)
        episodes.append(Episode(index, job, slot, conversations, to_messages(conversations), info))
    return episodes


class RoundGenerator:
    """One batched generate over every live episode, through the prefix cache when it can."""

    def __init__(self, policy: Policy, config: RolloutConfig, reply_format: ActionFormat = ReActFormat()):
        self.policy = policy
        self.config = config
        self.reply_format = reply_format
        self.cached = None
        if config.prefix_cache and hasattr(policy, "encode_prompt") and hasattr(policy, "model"):
            # Imported here: it needs transformers, which scripted policies do not.
            from agentgym_rl.prefix_cache import PrefixCachedGenerator, supports_prefix_cache

            if supports_prefix_cache(policy.model):
                self.cached = PrefixCachedGenerator(policy)
        # Only a local model can score its tokens; an API model's records go without log-probs.
        self.log_probs = config.log_probs and hasattr(policy, "log_probs")

    def __call__(self, live: list[Episode], stats: RolloutStats) -> list[str]:
        config = self.config
        settings = dict(
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
            # A fresh seed per round: the same seed every round would repeat the same noise.
            seed=None if config.temperature <= 0 else config.seed * 1_000_003 + stats.rounds,
        )
        if self.log_probs:
            settings["log_probs"] = True
        if self.reply_format.native_tools:
            settings["tools"] = [self.reply_format.request_tools(episode.job.env_id) for episode in live]
        prompts = [episode.messages for episode in live]
        tokens_before = getattr(self.policy, "generated_tokens", 0)
        began = time.perf_counter()
        if self.cached is not None:
            replies = self.cached.generate([episode.index for episode in live], prompts, **settings)
        else:
            replies = self.policy.generate(prompts, **settings)
        stats.generate_seconds += time.perf_counter() - began
        stats.generated_tokens += getattr(self.policy, "generated_tokens", 0) - tokens_before
        stats.rounds += 1
        stats.turns += len(live)
        if len(replies) != len(live):
            raise RuntimeError(f"policy returned {len(replies)} replies for {len(live)} prompts")
        return replies

    def forget(self, episode: Episode) -> None:
        if self.cached is not None:
            self.cached.forget(episode.index)


def step_episodes(
    pool,
    live: list[Episode],
    replies: list[str],
    stats: RolloutStats,
    reply_format: ActionFormat = ReActFormat(),
) -> list[bool]:
    """Record each reply, act on its command in one batched env step, record the observations.
    Returns, per episode, whether it goes on. An episode whose reply could not be had (a
    :class:`GenerationError`) ends here with the error recorded."""
    acting = []
    for episode, reply in zip(live, replies):
        if isinstance(reply, GenerationError):
            episode.error = reply.error
            stats.errors += 1
            continue
        command = reply_format.to_command(episode.job.env_id, reply)
        stats.malformed += isinstance(command, MalformedAction)
        acting.append((episode, episode.add_reply(reply), command))
    began = time.perf_counter()
    results = pool.step_many([(episode.slot, command) for episode, _, command in acting])
    stats.env_seconds += time.perf_counter() - began
    going_on = set()
    for (episode, reply_turn, _), (observation, reward, terminated, truncated, info) in zip(acting, results):
        reply_turn["reward"] = float(reward)
        episode.info = info
        if not (terminated or truncated):
            episode.add("human", observation, None)
            going_on.add(episode.index)
    return [episode.index in going_on for episode in live]


def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="ep", disable=not enabled, dynamic_ncols=True, leave=False)


__all__ = ["Job", "Policy", "RolloutConfig", "RolloutStats", "make_jobs", "rollout"]
