"""AgentEval: greedy episodes on each env's test split, summarised per env.

Success rate comes with a Wilson score interval (it stays inside [0, 1] and is honest at the
small sizes AgentEval uses: 20-200 tasks per env). Mean score comes with a normal-approximation
interval on the sample mean (t would be wider by < 4% at n >= 20).

Two more views, beside the greedy success rate (which stays the main number):

- per subtask, where the env has subtasks (BabyAI level, TextCraft crafting depth, SciWorld and
  ALFWorld task type, WebArena site, TextWorld challenge): success rate, episodes and Wilson
  interval per value of the ``subtask`` the env puts in ``info`` (and the rollout in each record);
- Pass@K (``pass_k`` > 0): K sampled episodes per task, and for k = 1, 2, 4, ... and K the
  unbiased estimator of Chen et al. 2021 (:func:`pass_at_k`), averaged over the env's tasks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
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
    pass_k: int = field(
        default=0,
        metadata={
            "help": "also play K sampled episodes per task (at --pass_temperature) and report pass@k "
            "(Chen et al. 2021's unbiased estimator) for k = 1, 2, 4, ... and K; greedy success stays the "
            "main number (0: greedy only)"
        },
    )
    pass_temperature: float = field(
        default=0.8, metadata={"help": "sampling temperature of the Pass@K episodes (Chen et al.: 0.8)"}
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
        if self.pass_k < 0 or (self.pass_k and self.pass_temperature <= 0):
            raise ValueError("pass_k must be >= 0, and pass_temperature > 0 to sample")


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
    # Subtask -> {episodes, success_rate, success_low, success_high, mean_score}; None where the
    # env has no subtasks (or the records predate them).
    subtasks: dict[str, dict[str, float]] | None = None
    # "pass@k" -> the estimate averaged over the env's tasks; None unless Pass@K was asked for.
    pass_at_k: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return _rounded(asdict(self))


def _rounded(value: Any) -> Any:
    """Floats to 4 decimals, inside dicts too (JSON results stay readable)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


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


def pass_at_k(samples: int, correct: int, k: int) -> float:
    """The unbiased estimate of pass@k from ``samples`` episodes of a task, ``correct`` of them
    successful (Chen et al. 2021): 1 - C(n - c, k) / C(n, k), the chance that k episodes drawn
    without replacement from the n include a success. Exact integer binomials (n is small)."""
    if not 0 <= correct <= samples or not 1 <= k <= samples:
        raise ValueError(f"pass@{k} needs 1 <= k <= n and 0 <= c <= n, got n={samples}, c={correct}")
    if samples - correct < k:
        return 1.0
    return 1.0 - math.comb(samples - correct, k) / math.comb(samples, k)


def pass_k_values(most: int) -> list[int]:
    """The k reported for K samples per task: the powers of two below K, and K."""
    return sorted({2**power for power in range(most.bit_length()) if 2**power <= most} | {most})


def pass_at_k_by_env(records: Iterable[dict[str, Any]], most: int) -> dict[str, dict[str, float]]:
    """Per env: ``{"pass@k": estimate}`` for :func:`pass_k_values` (``most``), each the mean over
    the env's tasks of :func:`pass_at_k` on that task's sampled episodes."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for record in records:
        task = counts[parse_item_id(record["item_id"])[0]][record["item_id"]]
        task[0] += 1
        task[1] += bool(record["success"])
    estimates = {}
    for env_id, tasks in counts.items():
        estimates[env_id] = {
            f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in tasks.values()) / len(tasks)
            for k in pass_k_values(most)
        }
    return estimates


def success_summary(group: Sequence[dict[str, Any]]) -> tuple[int, float, float, float, float, float, float]:
    """``(episodes, success rate, its Wilson interval, mean score, its interval)`` of records."""
    successes = sum(bool(r["success"]) for r in group)
    low, high = wilson_interval(successes, len(group))
    mean, score_low, score_high = mean_interval([float(r["reward"]) for r in group])
    return len(group), successes / len(group), low, high, mean, score_low, score_high


def subtask_results(group: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]] | None:
    """Per subtask (the ``subtask`` the env named at reset): episodes, success rate with its
    Wilson interval, mean score. None when no record names one (an env without subtasks)."""
    by_subtask: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in group:
        if record.get("subtask") is not None:
            by_subtask[str(record["subtask"])].append(record)
    if not by_subtask:
        return None
    table = {}
    for name in sorted(by_subtask, key=_natural_order):
        episodes, rate, low, high, mean, _, _ = success_summary(by_subtask[name])
        table[name] = dict(
            episodes=episodes, success_rate=rate, success_low=low, success_high=high, mean_score=mean
        )
    return table


def _natural_order(name: str) -> list:
    """Numbers compare as numbers: depth 10 sorts after depth 9."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, EnvResult]:
    """Per-env results from rollout records (grouped by the env their ``item_id`` names), with
    a per-subtask split where the records name subtasks."""
    by_env: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_env[parse_item_id(record["item_id"])[0]].append(record)
    return {
        env_id: EnvResult(env_id, *success_summary(group), subtasks=subtask_results(group))
        for env_id, group in by_env.items()
    }


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
    pass_k: int = 0,
    pass_temperature: float = 0.8,
) -> tuple[dict[str, EnvResult], list[dict[str, Any]]]:
    """AgentEval: play each env's ``split`` (or exactly ``task_ids``; at most ``limit`` tasks
    each) greedily.

    With ``episodes_file``, each episode is saved as it ends (beside it, ``.partial.jsonl``) and
    the finished list is written there; a rerun plays only the episodes not saved yet. With
    ``pass_k`` > 0, ``pass_k`` episodes per task are sampled at ``pass_temperature`` too (seeded
    by ``config.seed``; saved the same way to :func:`samples_path` of ``episodes_file``) and each
    env's result carries their pass@k. Returns the per-env results and the greedy episode records
    (with ``reward`` and ``success``)."""
    config = config or RolloutConfig()
    if config.temperature != 0.0:
        raise ValueError("AgentEval decodes greedily: use temperature 0")
    if pass_k < 0 or (pass_k and pass_temperature <= 0):
        raise ValueError("pass_k must be >= 0, and pass_temperature > 0 to sample")
    chosen, task_ids = task_ids, {}
    for env in envs:
        env_id = resolve_env_id(env)
        ids = chosen if chosen is not None else family(env_id).splits.ids(split)
        task_ids[env_id] = list(ids)[:limit]
    played = dict(policy=policy, progress=progress, stats=stats)
    records = play_saved(make_jobs(list(task_ids), task_ids), config, episodes_file, "AgentEval", **played)
    results = summarize(records)
    if pass_k:
        sampling = dataclasses.replace(config, temperature=pass_temperature, top_p=1.0)
        samples_file = samples_path(episodes_file) if episodes_file is not None else None
        jobs = make_jobs(list(task_ids), task_ids, samples=pass_k)
        samples = play_saved(jobs, sampling, samples_file, f"Pass@{pass_k}", **played)
        for env_id, estimates in pass_at_k_by_env(samples, pass_k).items():
            results[env_id].pass_at_k = estimates
    return results, records


def play_saved(
    jobs: list, config: RolloutConfig, episodes_file: str | Path | None, desc: str, **rollout_args
) -> list[dict[str, Any]]:
    """The records of ``jobs``; with ``episodes_file``, each saved as it ends so a rerun plays
    only those not saved yet, and the finished list written there."""
    policy = rollout_args.pop("policy")
    if episodes_file is None:
        return rollout(policy, jobs, config, desc=desc, **rollout_args)
    episodes = EpisodeLog(Path(episodes_file), key=record_key)
    saved = episodes.saved()
    todo = [job for job in jobs if job.key not in saved]
    with episodes.appending() as keep:
        rollout(policy, todo, config, desc=desc, on_episode=keep, **rollout_args)
    return episodes.finish([job.key for job in jobs])


def samples_path(episodes_file: str | Path) -> Path:
    """Where the Pass@K episodes of an AgentEval go: ``.samples.jsonl`` in place of ``.episodes.jsonl``."""
    path = Path(episodes_file)
    stem = path.name.removesuffix(".jsonl").removesuffix(".episodes")
    return path.with_name(f"{stem}.samples.jsonl")


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


def detail_tables(results: dict[str, EnvResult]) -> str:
    """Markdown beside the main table: Pass@k per env (when sampled) and, per env with subtasks,
    its per-subtask table. Empty when there is neither."""
    parts = []
    sampled = {env: result.pass_at_k for env, result in results.items() if result.pass_at_k}
    if sampled:
        ks = sorted({k for estimates in sampled.values() for k in estimates}, key=_natural_order)
        lines = ["| env | " + " | ".join(ks) + " |", "|---|" + "---:|" * len(ks)]
        for env, estimates in sorted(sampled.items()):
            cells = [f"{100 * estimates[k]:.1f}" if k in estimates else "-" for k in ks]
            lines.append(f"| {short_name(env)} | " + " | ".join(cells) + " |")
        parts.append(
            "Pass@k % (unbiased estimate from the sampled episodes of each task):\n\n" + "\n".join(lines)
        )
    for env, result in sorted(results.items()):
        if result.subtasks:
            parts.append(f"{short_name(env)} by subtask:\n\n{subtask_table(result.subtasks)}")
    return "\n\n".join(parts)


def subtask_table(subtasks: dict[str, dict[str, float]]) -> str:
    """One row per subtask: success % [95% Wilson interval], episodes, mean score."""
    lines = ["| subtask | success % [95% CI] | n | mean score |", "|---|---:|---:|---:|"]
    for name, row in subtasks.items():
        lines.append(
            f"| {name} | {100 * row['success_rate']:.1f} [{100 * row['success_low']:.0f}, "
            f"{100 * row['success_high']:.0f}] | {row['episodes']} | {row['mean_score']:.3f} |"
        )
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
    tables = "\n\n".join(filter(None, [results_table({label: results}), detail_tables(results)]))
    atomic_write_text(path.with_suffix(".md"), tables + "\n")
    save_trajectories(records, episodes_path(path))
    return path


def load_results(path: str | Path) -> dict[str, EnvResult]:
    data = json.loads(Path(path).read_text())
    return {env: EnvResult(**values) for env, values in data.items()}


def evaluate_once(
    policy: Policy,
    envs: Sequence[str],
    path: str | Path,
    label: str,
    *,
    limit: int | None,
    config: RolloutConfig,
    progress: bool,
) -> tuple[dict[str, EnvResult], RolloutStats | None]:
    """AgentEval of a trainer's checkpoint, saved at ``path`` (:func:`save_eval`) and read back
    from there on a rerun, so a resumed run never evaluates a stage twice. The stats are None
    when the results were read back."""
    if Path(path).is_file():
        return load_results(path), None
    stats = RolloutStats()
    results, records = evaluate(policy, envs, limit=limit, config=config, progress=progress, stats=stats)
    save_eval(results, records, path, label=label)
    return results, stats
