"""AgentEvol: behavioural cloning, then M iterations of exploration and reward-weighted learning.

The loop, as in AgentGym (arXiv 2406.04151, section 4):

1. AgentTraj: the env experts' trajectories (``agentgym_envs.data``) are the BC data D_s.
2. BC-base: train the base model on D_s; AgentEval it.
3. For m = 1..M: sample K trajectories per instruction of the instruction set with the last
   model (temperature T); turn their rewards into training weights (``filter`` keeps those
   above the env's threshold, one per item, as AgentGym's released code; ``rwr`` weights each
   by exp((r - 1) / beta), the paper's reward-weighted regression); merge with D_s; retrain
   (from the base model, as the paper, or from the last model); AgentEval.

Every stage writes its output atomically into the run folder and is skipped when rerun, and
exploration saves each episode as it ends, so an interrupted run continues where it stopped and
loses no trajectories. The folder::

    config.json  metrics.jsonl  summary.md  success.png
    data/agenttraj.json  trajectories/explore_iter{m}.jsonl  eval/{stage}.json  eval/{stage}_episodes.jsonl
    checkpoints/bc-base/  checkpoints/iter{m}/
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentgym_envs import parse_item_id, require_engine, resolve_env_id
from agentgym_envs.data import atomic_write_text, expert_trajectories, load_trajectories, save_trajectories
from agentgym_envs.formats import format_react, parse_react
from agentgym_rl.bc import RESUME_FREE, BCConfig, train_bc
from agentgym_rl.evaluate import EnvResult, evaluate, load_results, results_table, save_results
from agentgym_rl.models import ModelConfig
from agentgym_rl.rollout import RolloutConfig, make_jobs, rollout

# AgentGym's released code keeps reward > 0.99 (SciWorld > 99 on its 0-100 scale), BabyAI > 0.
DEFAULT_THRESHOLD = 0.99
THRESHOLDS = {"AgentGym/BabyAI-v0": 0.0}


@dataclass
class AgentEvolConfig:
    """Settings of an AgentEvol run. BC settings are a separate :class:`BCConfig`, whose
    ``seed`` also seeds the model build and exploration sampling."""

    envs: list[str] = field(default_factory=lambda: ["maze"], metadata={"help": "envs to learn (multi-task)"})
    model: str = field(
        default="tiny", metadata={"help": "base model: tiny, tiny-5m, tiny-20m, smollm2-135m or a path"}
    )
    lora: bool = field(
        default=False,
        metadata={
            "help": "train a fresh LoRA adapter each stage (merged into the saved model) instead of "
            "every weight"
        },
    )
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank with --lora"})
    run_dir: str | None = field(default=None, metadata={"help": "run folder (default runs/evolve-<envs>)"})
    iterations: int = field(default=4, metadata={"help": "M: exploration + learning iterations"})
    samples: int = field(default=1, metadata={"help": "K: trajectories sampled per instruction"})
    # The paper samples at 1.2. The tiny model at 1.2 breaks its reply format in up to 10% of
    # turns and solves fewer instructions than at 1.0 (measured on Maze), so 1.0 is the default.
    temperature: float = field(
        default=1.0,
        metadata={"help": "exploration sampling temperature (paper: 1.2; 1.0 suits the tiny model)"},
    )
    top_p: float = field(default=1.0, metadata={"help": "exploration nucleus sampling"})
    weighting: Literal["filter", "rwr"] = field(
        default="filter",
        metadata={
            "help": "filter: keep reward above the env threshold, one per item; "
            "rwr: weight by exp((r-1)/beta)"
        },
    )
    reward_threshold: float = field(
        default=DEFAULT_THRESHOLD,
        metadata={
            "help": "filter keeps reward above this (AgentGym's released code: > 0.99; SciWorld > 99 of 100)"
        },
    )
    env_thresholds: list[str] = field(
        default_factory=lambda: [f"{env.split('/')[1][:-3]}={value:g}" for env, value in THRESHOLDS.items()],
        metadata={"help": "per-env thresholds as ENV=VALUE (AgentGym keeps any BabyAI reward above 0)"},
    )
    rwr_beta: float = field(
        default=0.25, metadata={"help": "rwr temperature: small keeps only the best, large is plain BC"}
    )
    # The paper retrains the base model every iteration. The tiny model needs ~20 epochs from
    # scratch, which four iterations cannot afford in the main job's 10 minutes on 2 CPU cores;
    # continuing the last model for `iteration_epochs` on the merged data costs a fifth of that.
    retrain_from: Literal["base", "last"] = field(
        default="last",
        metadata={"help": "each iteration trains the base model (paper) or continues the last one (default)"},
    )
    iteration_epochs: float = field(
        default=4.0,
        metadata={
            "help": "with retrain_from=last: BC epochs of each iteration on the merged data (0: the BC "
            "epochs); retraining from base always uses the BC epochs, as the paper"
        },
    )
    accumulate: bool = field(
        default=True,
        metadata={"help": "merge every iteration's explored data, not just the latest, with AgentTraj"},
    )
    # The experts' thoughts name facts the agent cannot see (the route the planner found); a
    # tiny model learns to recite them long before it learns the action. Dropping them makes
    # replies ~10 tokens instead of ~45 (rollouts ~4x faster) and the action the thing learned.
    thought_words: int = field(
        default=0, metadata={"help": "keep at most this many words of each expert thought (0: none; -1: all)"}
    )
    bc_split: str = field(
        default="agenttraj", metadata={"help": "expert data: agenttraj (BC-base) or agenttraj_l"}
    )
    explore_split: str = field(default="train", metadata={"help": "instructions explored each iteration"})
    explore_limit: int | None = field(
        default=None, metadata={"help": "at most this many instructions per env"}
    )
    eval_limit: int | None = field(
        default=None, metadata={"help": "at most this many AgentEval tasks per env"}
    )
    concurrency: int = field(default=32, metadata={"help": "episodes generated together in one batch"})
    max_new_tokens: int = field(
        default=0, metadata={"help": "longest reply per round (0: 1.5 x the longest expert reply + 8 tokens)"}
    )
    progress: bool = field(default=True, metadata={"help": "show progress bars"})

    def __post_init__(self) -> None:
        if isinstance(self.envs, str):
            self.envs = [self.envs]
        self.envs = [require_engine(env) for env in self.envs]
        if self.iterations < 0 or self.samples < 1 or self.lora_rank < 1:
            raise ValueError("iterations must be >= 0, samples and lora_rank >= 1")
        if self.temperature <= 0:
            raise ValueError("exploration samples: temperature must be > 0")
        if self.iteration_epochs < 0 or self.max_new_tokens < 0 or self.thought_words < -1:
            raise ValueError("iteration_epochs and max_new_tokens must be >= 0, thought_words >= -1")
        self.thresholds()  # a malformed ENV=VALUE fails here, not after an hour of training
        if self.run_dir is None:
            names = "-".join(env.removeprefix("AgentGym/").removesuffix("-v0").lower() for env in self.envs)
            self.run_dir = f"runs/evolve-{names}"

    def thresholds(self) -> dict[str, float]:
        """Env id -> the reward a kept trajectory must beat (``reward_threshold`` elsewhere)."""
        thresholds = {}
        for entry in self.env_thresholds:
            name, _, value = entry.partition("=")
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"env_thresholds: expected ENV=VALUE like BabyAI=0, got {entry!r}") from None
            thresholds[resolve_env_id(name.strip())] = number
        return thresholds


# ------------------------------------------------------------------------------ weighting
def filter_by_reward(
    records: Sequence[dict[str, Any]],
    thresholds: dict[str, float] | None = None,
    default: float = DEFAULT_THRESHOLD,
) -> list[dict]:
    """AgentGym's filter: keep trajectories whose reward beats their env's threshold, and of
    several samples of one item only the best (the first among equals)."""
    thresholds = THRESHOLDS if thresholds is None else thresholds
    best: dict[str, dict[str, Any]] = {}
    for record in records:
        env_id = parse_item_id(record["item_id"])[0]
        if record["reward"] <= thresholds.get(env_id, default):
            continue
        kept = best.get(record["item_id"])
        if kept is None or record["reward"] > kept["reward"]:
            best[record["item_id"]] = record
    return list(best.values())


def rwr_weights(rewards: Sequence[float], beta: float) -> list[float]:
    """Reward-weighted regression: w = exp((r - 1) / beta), so a full-reward trajectory weighs 1
    (as an expert one does) and weaker ones fade with beta. Rewards live in [0, 1]."""
    if beta <= 0:
        raise ValueError("rwr beta must be > 0")
    return [math.exp((float(r) - 1.0) / beta) for r in rewards]


def training_set(
    expert: list[dict[str, Any]], explored: list[dict[str, Any]], config: AgentEvolConfig
) -> tuple[list[dict[str, Any]], list[float]]:
    """Expert data (weight 1) merged with explored trajectories weighted by the chosen scheme.
    ``rwr`` leaves out trajectories whose weight is below 1e-3: they would teach nothing."""
    if config.weighting == "filter":
        kept = filter_by_reward(explored, config.thresholds(), config.reward_threshold)
        return expert + kept, [1.0] * (len(expert) + len(kept))
    weights = rwr_weights([r["reward"] for r in explored], config.rwr_beta)
    kept = [(record, weight) for record, weight in zip(explored, weights) if weight >= 1e-3]
    return expert + [r for r, _ in kept], [1.0] * len(expert) + [w for _, w in kept]


# ------------------------------------------------------------------------------ the run
class Run:
    """The run folder: where each stage's output lives and whether it is done."""

    def __init__(self, config: AgentEvolConfig, bc_config: BCConfig, model_config: ModelConfig):
        self.dir = Path(config.run_dir)
        self.config, self.bc_config, self.model_config = config, bc_config, model_config
        self.started = time.perf_counter()
        self.max_new_tokens = config.max_new_tokens  # the reply budget, set once BC-base exists

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)

    def checkpoint(self, stage: str) -> Path:
        return self.path("checkpoints", stage)

    def has_checkpoint(self, stage: str) -> bool:
        return self.checkpoint(stage).joinpath("DONE").is_file()

    def open(self) -> None:
        """Create the folder, or check that an existing one was made with the same settings."""
        saved = {"agentevol": dataclasses.asdict(self.config), "bc": dataclasses.asdict(self.bc_config)}
        saved["agentevol"].pop("progress", None)
        for key in RESUME_FREE:  # checkpointing and logging do not change what is learned
            saved["bc"].pop(key, None)
        config_file = self.path("config.json")
        if config_file.is_file():
            before = json.loads(config_file.read_text())
            # A setting added to the code after the run began held its default value then.
            for group, config in (("agentevol", AgentEvolConfig(run_dir="-")), ("bc", BCConfig())):
                defaults = json.loads(json.dumps(dataclasses.asdict(config)))
                for key in saved[group].keys() - before.get(group, {}).keys():
                    before.setdefault(group, {})[key] = defaults[key]
            if before != json.loads(json.dumps(saved)):
                changed = sorted(
                    f"{group}.{key}"
                    for group in saved
                    for key in saved[group]
                    if before.get(group, {}).get(key) != json.loads(json.dumps(saved[group][key]))
                )
                raise ValueError(
                    f"{self.dir} holds a run with other settings ({', '.join(changed)}); "
                    "use another --run_dir or the same flags to resume it"
                )
            self.log(f"resuming {self.dir}")
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(config_file, json.dumps(saved, indent=1) + "\n")

    def log(self, message: str) -> None:
        print(f"[agentevol {time.perf_counter() - self.started:7.1f}s] {message}", flush=True)

    def record_metrics(self, stage: str, **values: Any) -> None:
        line = {"stage": stage, "time": round(time.time(), 1), **values}
        with self.path("metrics.jsonl").open("a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")


def agentevol(
    config: AgentEvolConfig, bc_config: BCConfig, model_config: ModelConfig | None = None
) -> dict[str, dict[str, EnvResult]]:
    """Run (or resume) AgentEvol; returns AgentEval results per stage: ``BC-base``, ``iter 1``, ..."""
    run = Run(config, bc_config, model_config or ModelConfig())
    run.open()
    expert = expert_data(run)
    policy = trained(run, "bc-base", expert, [1.0] * len(expert), start_from=None)
    run.max_new_tokens = reply_budget(policy, expert, config.max_new_tokens)
    results = {"BC-base": evaluated(run, "bc-base", policy)}
    explored_so_far: list[dict[str, Any]] = []
    for iteration in range(1, config.iterations + 1):
        stage = f"iter{iteration}"
        explored = explore(run, iteration, policy)
        explored_so_far = explored_so_far + explored if config.accumulate else explored
        records, weights = training_set(expert, explored_so_far, config)
        start_from = None if config.retrain_from == "base" else policy
        policy = trained(run, stage, records, weights, start_from=start_from)
        results[f"iter {iteration}"] = evaluated(run, stage, policy)
        write_summary(run, results)
    write_summary(run, results)
    return results


def expert_data(run: Run) -> list[dict[str, Any]]:
    """AgentTraj for every env (the expert's successful episodes), built once per run."""
    path = run.path("data", f"{run.config.bc_split}.json")
    if path.is_file():
        return load_trajectories(path)
    records, started = [], time.perf_counter()
    for env_id in run.config.envs:
        solved, failed = expert_trajectories(env_id, run.config.bc_split, progress=run.config.progress)
        records += solved
        run.log(f"{env_id}: {len(solved)} expert trajectories ({len(failed)} unsolved left out)")
    records = shorten_thoughts(records, run.config.thought_words)
    save_trajectories(records, path)
    run.record_metrics(
        "data",
        trajectories=len(records),
        thought_words=run.config.thought_words,
        seconds=round(time.perf_counter() - started, 1),
    )
    return records


def shorten_thoughts(records: list[dict[str, Any]], words: int) -> list[dict[str, Any]]:
    """The records with every trained reply's thought cut to its first ``words`` words
    (-1 keeps them whole); the action is untouched."""
    if words < 0:
        return records
    shortened = []
    for record in records:
        turns = []
        for turn in record["conversations"]:
            if turn["from"] == "gpt" and turn["loss"]:
                thought, action = parse_react(turn["value"])
                turn = {**turn, "value": format_react(" ".join(thought.split()[:words]), action)}
            turns.append(turn)
        shortened.append({**record, "conversations": turns})
    return shortened


def reply_budget(policy, expert: list[dict[str, Any]], max_new_tokens: int) -> int:
    """``max_new_tokens`` if set, else room for 1.5x the longest expert reply plus 8 tokens: a
    batch waits for its longest reply, so a reply that never ends should not cost much more."""
    if max_new_tokens > 0:
        return max_new_tokens
    longest = max(
        len(policy.token_ids(turn["value"]))
        for record in expert
        for turn in record["conversations"]
        if turn["from"] == "gpt" and turn["loss"]
    )
    return int(1.5 * longest) + 8


def trained(run: Run, stage: str, records: list[dict], weights: list[float], start_from):
    """The model of ``stage``: loaded if already trained, else trained on weighted records."""
    from agentgym_rl.models import load_model, with_lora

    if run.has_checkpoint(stage):
        return load_model(str(run.checkpoint(stage)), **run.model_config.load_kwargs())
    if start_from is not None:
        policy = start_from
    else:
        policy = load_model(run.config.model, seed=run.bc_config.seed, **run.model_config.load_kwargs())
    if run.config.lora:
        # A fresh adapter on the merged starting weights, so a resumed run (which loads the
        # merged checkpoint) trains exactly what an uninterrupted one does.
        if hasattr(policy.model, "merge_and_unload"):
            policy.model = policy.model.merge_and_unload()
        policy.model = with_lora(policy.model, run.config.lora_rank, run.bc_config.seed)
    run.log(f"{stage}: training on {len(records)} trajectories (weight sum {sum(weights):.1f})")
    # With --save_every a stage checkpoints into a scratch folder, so a killed stage resumes mid-way.
    scratch = run.path("checkpoints", f"{stage}.partial")
    bc_config = dataclasses.replace(
        run.bc_config, save_dir=str(scratch) if run.bc_config.save_every else None
    )
    continuing = stage != "bc-base" and run.config.retrain_from == "last"
    if continuing and run.config.iteration_epochs > 0:
        bc_config = dataclasses.replace(bc_config, epochs=run.config.iteration_epochs)
    metrics = train_bc(policy, records, bc_config, weights=weights, progress=run.config.progress)
    policy.save(run.checkpoint(stage))
    atomic_write_text(run.checkpoint(stage) / "DONE", "")
    shutil.rmtree(scratch, ignore_errors=True)
    run.record_metrics(
        f"train-{stage}",
        trajectories=len(records),
        weight_sum=round(sum(weights), 3),
        steps=metrics["steps"],
        resumed_at_step=metrics["resumed_at_step"],
        final_loss=round(metrics["final_loss"], 4),
        tokens_per_second=round(metrics["tokens_per_second"]),
        seconds=round(metrics["seconds"], 1),
    )
    run.log(f"{stage}: loss {metrics['final_loss']:.4f}, {metrics['tokens_per_second']:.0f} tok/s")
    return policy


def evaluated(run: Run, stage: str, policy) -> dict[str, EnvResult]:
    """AgentEval of ``stage``'s model on every env's test split (loaded if already done)."""
    path = run.path("eval", f"{stage}.json")
    if path.is_file():
        return load_results(path)
    rollout_config = RolloutConfig(concurrency=run.config.concurrency, max_new_tokens=run.max_new_tokens)
    started = time.perf_counter()
    results, records = evaluate(
        policy,
        run.config.envs,
        limit=run.config.eval_limit,
        config=rollout_config,
        progress=run.config.progress,
    )
    save_trajectories(records, run.path("eval", f"{stage}_episodes.jsonl"))
    save_results(results, path)
    for env_id, result in results.items():
        run.log(
            f"{stage} AgentEval {env_id}: success {100 * result.success_rate:.1f}%, "
            f"score {result.mean_score:.3f}"
        )
    run.record_metrics(
        f"eval-{stage}",
        seconds=round(time.perf_counter() - started, 1),
        **{env: result.as_dict() for env, result in results.items()},
    )
    return results


def explore(run: Run, iteration: int, policy) -> list[dict[str, Any]]:
    """K sampled trajectories per instruction. Each episode is appended to a partial file as it
    ends; a rerun replays only the jobs that file does not hold."""
    final = run.path("trajectories", f"explore_iter{iteration}.jsonl")
    if final.is_file():
        return load_trajectories(final)
    partial = final.with_suffix(".partial.jsonl")
    done = read_partial(partial)
    ids = {env: explore_ids(env, run.config) for env in run.config.envs}
    jobs = make_jobs(run.config.envs, ids, samples=run.config.samples)
    todo = [job for job in jobs if (job_key(job)) not in done]
    run.log(f"iter{iteration}: exploring {len(todo)} episodes ({len(jobs) - len(todo)} already saved)")
    rollout_config = RolloutConfig(
        concurrency=run.config.concurrency,
        temperature=run.config.temperature,
        top_p=run.config.top_p,
        max_new_tokens=run.max_new_tokens,
        seed=run.bc_config.seed * 1000 + iteration,
    )
    partial.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with partial.open("a", encoding="utf-8") as sink:

        def keep(index: int, record: dict[str, Any]) -> None:
            sink.write(json.dumps(record) + "\n")
            sink.flush()

        rollout(
            policy,
            todo,
            rollout_config,
            progress=run.config.progress,
            desc=f"explore {iteration}",
            on_episode=keep,
        )
    records = list(read_partial(partial).values())
    order = {job_key(job): n for n, job in enumerate(jobs)}
    records.sort(key=lambda record: order[(record["item_id"], record.get("sample", 0))])
    save_trajectories(records, final)
    partial.unlink()
    rewards = [record["reward"] for record in records]
    run.record_metrics(
        f"explore-iter{iteration}",
        episodes=len(records),
        success_rate=success_rate(records),
        mean_reward=round(sum(rewards) / max(1, len(rewards)), 4),
        success_rate_per_env={env: success_rate(group) for env, group in by_env(records).items()},
        seconds=round(time.perf_counter() - started, 1),
    )
    return records


def success_rate(records: list[dict[str, Any]]) -> float:
    return round(sum(r["success"] for r in records) / max(1, len(records)), 4)


def by_env(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(parse_item_id(record["item_id"])[0], []).append(record)
    return groups


def explore_ids(env_id: str, config: AgentEvolConfig) -> list[int]:
    import agentgym_envs

    return list(agentgym_envs.env_class(env_id).task_ids(config.explore_split))[: config.explore_limit]


def job_key(job) -> tuple[str, int]:
    import agentgym_envs

    return agentgym_envs.env_class(job.env_id).item_id(job.task_id), job.sample


def read_partial(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Episodes saved so far; a line cut short by a crash is dropped (its episode reruns)."""
    if not path.is_file():
        return {}
    done = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        done[(record["item_id"], record.get("sample", 0))] = record
    return done


# ------------------------------------------------------------------------------ reporting
def write_summary(run: Run, results: dict[str, dict[str, EnvResult]]) -> str:
    """summary.md (BC-base against each iteration, with the time each took) and success.png;
    returns the table."""
    table = summary_table(results, run.dir)
    minutes = (time.perf_counter() - run.started) / 60
    text = (
        f"# AgentEvol: {', '.join(run.config.envs)}\n\n"
        f"Model `{run.config.model}`, M={run.config.iterations}, K={run.config.samples}, "
        f"weighting `{run.config.weighting}`, exploration temperature {run.config.temperature}, "
        f"each iteration trains the {run.config.retrain_from} model.\n\n"
        "AgentEval (test split), each cell: success % [95% Wilson interval] / mean score. Below: "
        "the share of the instruction set each column's model solved while exploring (sampled, all "
        "envs together: the next iteration's data), and the wall time of the stages up to that "
        "column (data, training, exploration, AgentEval), summed over every invocation of the run.\n\n"
        f"{table}\n\nWall time of this invocation: {minutes:.1f} min.\n"
    )
    atomic_write_text(run.path("summary.md"), text)
    plot_success(results, run.path("success.png"))
    return table


def summary_table(results: dict[str, dict[str, EnvResult]], run_dir: str | Path) -> str:
    """The AgentEval table plus two rows from metrics.jsonl: how much of the instruction set each
    column's model solved while exploring (the next iteration's data; 240+ tasks, so a less noisy
    view of progress than the test split, though sampled rather than greedy) and the cumulative
    wall time."""
    entries = stage_entries(Path(run_dir))
    envs = sorted({env for columns in results.values() for env in columns})
    total, minutes, explored = 0.0, [], {env: [] for env in envs}
    for number, column in enumerate(results):
        key = "bc-base" if column == "BC-base" else column.replace(" ", "")
        total += sum(entry["seconds"] for stage, entry in entries.items() if stage.endswith(key))
        total += entries.get("data", {}).get("seconds", 0.0) if column == "BC-base" else 0.0
        minutes.append(f"{total / 60:.1f}")
        exploration = entries.get(f"explore-iter{number + 1}", {})
        rates = exploration.get("success_rate_per_env", {})
        if not rates and len(envs) == 1 and "success_rate" in exploration:  # runs logged before per-env rates
            rates = {envs[0]: exploration["success_rate"]}
        for env in envs:
            explored[env].append(f"{100 * rates[env]:.1f}" if env in rates else "-")
    rows = [results_table(results)]
    for env in envs:
        label = "" if len(envs) == 1 else f" ({env.removeprefix('AgentGym/').removesuffix('-v0')})"
        rows.append(
            f"| instruction set solved while exploring, %{label} | " + " | ".join(explored[env]) + " |"
        )
    rows.append("| minutes, cumulative | " + " | ".join(minutes) + " |")
    return "\n".join(rows)


def stage_entries(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each finished stage's metrics.jsonl line (e.g. ``train-iter2``), with ``seconds``
    summed over the invocations that ran it."""
    path = run_dir / "metrics.jsonl"
    entries: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: its stage reruns and is logged again
            seconds = entries.get(entry["stage"], {}).get("seconds", 0.0) + float(entry.get("seconds", 0.0))
            entries[entry["stage"]] = {**entry, "seconds": seconds}
    return entries


def plot_success(results: dict[str, dict[str, EnvResult]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(results)
    figure, axes = plt.subplots(figsize=(6, 4))
    for env_id in sorted({env for r in results.values() for env in r}):
        points = [(i, results[s][env_id]) for i, s in enumerate(stages) if env_id in results[s]]
        xs = [i for i, _ in points]
        ys = [100 * r.success_rate for _, r in points]
        errors = [
            [100 * (r.success_rate - r.success_low) for _, r in points],
            [100 * (r.success_high - r.success_rate) for _, r in points],
        ]
        axes.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=env_id.removeprefix("AgentGym/"))
    axes.set_xticks(range(len(stages)), stages)
    axes.set_ylabel("AgentEval success % (95% CI)")
    axes.set_ylim(0, 100)
    axes.set_title("AgentEvol: success per iteration")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=100)
    plt.close(figure)
    temporary.replace(path)
