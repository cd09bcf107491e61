"""AgentEval: greedy episodes on each env's test split, summarised per env.

Success rate comes with a Wilson score interval (it stays inside [0, 1] and is honest at the
small sizes AgentEval uses: 20-200 tasks per env). Mean score comes with a normal-approximation
interval on the sample mean (t would be wider by < 4% at n >= 20).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentgym_envs import family, parse_item_id, require_engine, resolve_env_id, short_name
from agentgym_envs.data import atomic_write_text, save_trajectories
from agentgym_envs.splits import normalise_split
from agentgym_rl.rollout import Policy, RolloutConfig, RolloutStats, make_jobs, rollout
from agentgym_rl.run_dir import EpisodeLog

Z_95 = 1.959964


@dataclass
class EvalConfig:
    """Settings of ``agentgym eval`` (the model is a ``ModelConfig``); every field is a flag."""

    envs: list[str] = field(default_factory=lambda: ["maze"], metadata={"help": "env names or ids"})
    split: str = field(default="test", metadata={"help": "split to play (test is AgentEval)"})
    task_ids: list[int] | None = field(
        default=None, metadata={"help": "play exactly these task ids in every env instead of the split"}
    )
    limit: int | None = field(default=None, metadata={"help": "at most this many tasks per env"})
    out: str | None = field(
        default=None,
        metadata={
            "help": "results JSON path; the table (.md) and episodes (.episodes.jsonl) go beside, and "
            "each episode is saved as it ends, so rerunning an interrupted command resumes it"
        },
    )
    api_base: str | None = field(
        default=None,
        metadata={
            "help": "evaluate a model behind an OpenAI-compatible chat API at this URL (e.g. "
            "http://127.0.0.1:8000/v1); --model is then the API's model name"
        },
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "environment variable that holds the API key"}
    )
    api_concurrency: int = field(default=16, metadata={"help": "API requests in flight at once"})
    api_max_retries: int = field(
        default=6, metadata={"help": "retries of a request (429, 5xx, timeouts, malformed replies)"}
    )
    api_timeout: float = field(default=120.0, metadata={"help": "seconds per API request"})
    api_backoff: float = field(
        default=1.0, metadata={"help": "seconds before the first retry; doubles each retry (with jitter)"}
    )
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})
    rollout: RolloutConfig = field(
        default_factory=RolloutConfig,
        metadata={
            "help": "rollouts (AgentEval decodes greedily)",
            "not_flags": ("temperature", "top_p", "seed"),
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.envs, str):
            self.envs = [self.envs]
        self.envs = [require_engine(env) for env in self.envs]
        self.split = normalise_split(self.split)
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1")
        if self.api_concurrency < 1 or self.api_max_retries < 0:
            raise ValueError("api_concurrency must be >= 1 and api_max_retries >= 0")


@dataclass
class EnvResult:
    """AgentEval on one env: success rate and mean score, each with a 95% interval."""

    env: str
    episodes: int
    success_rate: float
    success_low: float
    success_high: float
    mean_score: float
    score_low: float
    score_high: float

    def as_dict(self) -> dict[str, Any]:
        return {
            key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()
        }


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if trials == 0:
        return 0.0, 1.0
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float], z: float = Z_95) -> tuple[float, float, float]:
    """``(mean, low, high)``: normal approximation with the sample standard deviation,
    clipped to [0, 1] (scores live there). One value gives a zero-width interval."""
    if not values:
        return 0.0, 0.0, 0.0
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, mean, mean
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    half = z * math.sqrt(variance / len(values))
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, EnvResult]:
    """Per-env results from rollout records (grouped by the env their ``item_id`` names)."""
    by_env: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_env[parse_item_id(record["item_id"])[0]].append(record)
    results = {}
    for env_id, group in by_env.items():
        successes = sum(bool(r["success"]) for r in group)
        low, high = wilson_interval(successes, len(group))
        mean, score_low, score_high = mean_interval([float(r["reward"]) for r in group])
        results[env_id] = EnvResult(
            env_id, len(group), successes / len(group), low, high, mean, score_low, score_high
        )
    return results


def evaluate(
    policy: Policy,
    envs: Sequence[str],
    *,
    split: str = "test",
    limit: int | None = None,
    task_ids: Sequence[int] | None = None,
    config: RolloutConfig | None = None,
    progress: bool = True,
    stats: RolloutStats | None = None,
    episodes_file: str | Path | None = None,
) -> tuple[dict[str, EnvResult], list[dict[str, Any]]]:
    """AgentEval: play each env's ``split`` (or exactly ``task_ids``; at most ``limit`` tasks
    each) greedily.

    With ``episodes_file``, each episode is saved as it ends (beside it, ``.partial.jsonl``) and
    the finished list is written there; a rerun plays only the episodes not saved yet.
    Returns the per-env results and the episode records (with ``reward`` and ``success``)."""
    config = config or RolloutConfig()
    if config.temperature != 0.0:
        raise ValueError("AgentEval decodes greedily: use temperature 0")
    chosen, task_ids = task_ids, {}
    for env in envs:
        env_id = resolve_env_id(env)
        ids = chosen if chosen is not None else family(env_id).splits.ids(split)
        task_ids[env_id] = list(ids)[:limit]
    jobs = make_jobs(list(task_ids), task_ids)
    if episodes_file is None:
        records = rollout(policy, jobs, config, progress=progress, desc="AgentEval", stats=stats)
        return summarize(records), records
    episodes = EpisodeLog(Path(episodes_file), key=record_key)
    saved = episodes.saved()
    todo = [job for job in jobs if job.key not in saved]
    with episodes.appending() as keep:
        rollout(policy, todo, config, progress=progress, desc="AgentEval", stats=stats, on_episode=keep)
    records = episodes.finish([job.key for job in jobs])
    return summarize(records), records


def record_key(record: dict[str, Any]) -> tuple[str, int]:
    """The job a record answers, as :attr:`agentgym_rl.rollout.Job.key` names it."""
    return record["item_id"], record.get("sample", 0)


def results_table(columns: dict[str, dict[str, EnvResult]]) -> str:
    """A markdown table: one row per env, one column per run (e.g. BC-base, iteration 1, ...),
    each cell ``success % [low, high] / mean score``."""
    envs = sorted({env for results in columns.values() for env in results})
    lines = ["| env | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for env in envs:
        cells = []
        for results in columns.values():
            result = results.get(env)
            cells.append(
                "-"
                if result is None
                else f"{100 * result.success_rate:.1f} [{100 * result.success_low:.0f}, "
                f"{100 * result.success_high:.0f}] / {result.mean_score:.3f}"
            )
        lines.append(f"| {short_name(env)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_results(results: dict[str, EnvResult], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({env: r.as_dict() for env, r in results.items()}, indent=1) + "\n")
    return path


def episodes_path(results_path: str | Path) -> Path:
    """Where the episodes of the results at ``results_path`` go (``.episodes.jsonl`` beside it)."""
    return Path(results_path).with_suffix(".episodes.jsonl")


def save_eval(
    results: dict[str, EnvResult],
    records: list[dict[str, Any]],
    path: str | Path,
    label: str,
    usage: dict[str, int] | None = None,
) -> Path:
    """AgentEval's files, one layout for ``agentgym eval --out`` and every AgentEvol stage: the
    results as JSON at ``path``, the table beside it (``.md``, one column named ``label``) and
    the episodes (``.episodes.jsonl``); an API model's token usage goes in ``.usage.json``."""
    path = save_results(results, path)
    if usage is not None:
        atomic_write_text(path.with_suffix(".usage.json"), json.dumps(usage, indent=1) + "\n")
    atomic_write_text(path.with_suffix(".md"), results_table({label: results}) + "\n")
    save_trajectories(records, episodes_path(path))
    return path


def load_results(path: str | Path) -> dict[str, EnvResult]:
    data = json.loads(Path(path).read_text())
    return {env: EnvResult(**values) for env, values in data.items()}
