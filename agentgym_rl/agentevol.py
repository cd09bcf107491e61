"""AgentEvol: behavioural cloning, then M iterations of exploration and reward-weighted learning.

The method, as in AgentGym (arXiv 2406.04151, section 4):

1. AgentTraj: the env experts' trajectories (``agentgym_envs.data``) are the BC data D_s.
2. Stage ``bc-base``: train the base model on D_s; AgentEval it.
3. Stage ``iter{m}``, m = 1..M: sample K trajectories per instruction of the instruction set with
   the last model (temperature T); turn their rewards into training weights (``filter`` keeps
   those above the env's keep threshold, one per item, as AgentGym's released code; ``rwr``
   weights each by exp((r - 1) / beta), the paper's reward-weighted regression; ``advantage``
   weights each by its reward minus a baseline, so failed trajectories are pushed down, not
   dropped: AgentGym names learning from failures as its own limitation); merge with D_s;
   retrain (from the base model, as the paper, or from the last model); AgentEval.

``agentevol(AgentEvolConfig())`` trains exactly what ``agentgym evolve`` trains: the command only
parses these configs into flags. Every stage is skipped when its output exists and exploration
keeps each episode as it ends (:mod:`agentgym_rl.run_dir`), so an interrupted run continues where
it stopped. The run folder::

    config.json  metrics.jsonl  summary.md  success.png
    data/agenttraj.json            trajectories/explore_iter{m}.jsonl
    checkpoints/{stage}/           eval/{stage}.json (.md, .episodes.jsonl)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from agentgym_envs import family, parse_item_id, require_engine, resolve_env_id, short_name
from agentgym_envs.data import atomic_write_text, expert_trajectories, load_trajectories, save_trajectories
from agentgym_envs.formats import format_react, parse_react
from agentgym_rl.bc import RESUME_FREE, BCConfig, train_bc, train_weighted
from agentgym_rl.evaluate import EnvResult, evaluate_once, record_key, results_table
from agentgym_rl.models import ModelConfig, with_lora
from agentgym_rl.rollout import RolloutStats, make_jobs, rollout
from agentgym_rl.rollout_config import RUNTIME_FIELDS, RolloutConfig
from agentgym_rl.run_dir import CONFIG_FILE, EpisodeLog, RunDir
from agentgym_rl.trackers import Tracker

BC_BASE = "bc-base"


def stage_names(iterations: int) -> list[str]:
    """The one spelling of every stage, in file names, metrics, results and the summary."""
    return [BC_BASE] + [f"iter{m}" for m in range(1, iterations + 1)]


# ------------------------------------------------------------------------------ configs
@dataclass
class EvolveRolloutConfig(RolloutConfig):
    """Rollout settings of AgentEvol: each iteration's exploration samples with them, and AgentEval
    after every stage plays with them greedily. Changed defaults (:class:`RolloutConfig`'s first):
    ``concurrency`` 32 -> 256, ``max_new_tokens`` 96 -> 0 (a budget from the expert data),
    ``temperature`` 0 -> 0.85. ``seed`` is not used: iteration m explores with seed 1000 x BC's
    ``seed`` + m, so one ``--seed`` sets the whole run."""

    MIN_NEW_TOKENS: ClassVar[int] = 0

    # Every instruction in one batch: rows that start together stay the same length, so the
    # per-round cache pads little and the matrix products stay wide (the gain: docs/benchmarks.md,
    # "Measurements behind the defaults", as for every measured default below).
    concurrency: int = field(
        default=256,
        metadata={
            "help": "episodes played at once (evolve: 256, every instruction of Maze in one batch; each "
            "live episode holds a KV cache: lower it for big models)"
        },
    )
    max_new_tokens: int = field(
        default=0, metadata={"help": "longest reply per round (0: 1.5 x the longest expert reply + 8 tokens)"}
    )
    # The paper samples at 1.2, where the tiny model breaks its reply format and solves fewer
    # instructions than at 1.0; at 0.85 it solves more than at 1.0, in less time.
    temperature: float = field(
        default=0.85,
        metadata={"help": "exploration sampling temperature (paper: 1.2; 0.85 suits the tiny model)"},
    )
    top_p: float = field(default=1.0, metadata={"help": "exploration nucleus sampling"})
    seed: int = field(
        default=0, metadata={"help": "not used by evolve: iteration m explores with seed 1000 x --seed + m"}
    )


@dataclass
class AgentEvolConfig:
    """Settings of an AgentEvol run. BC settings are an :class:`EvolveBCConfig` (whose ``seed``
    also seeds the model build and exploration sampling); the model is a ``ModelConfig``."""

    envs: list[str] = field(default_factory=lambda: ["maze"], metadata={"help": "envs to learn (multi-task)"})
    run_dir: str | None = field(default=None, metadata={"help": "run folder (default runs/evolve-<envs>)"})
    iterations: int = field(default=4, metadata={"help": "M: exploration + learning iterations"})
    samples: int = field(default=1, metadata={"help": "K: trajectories sampled per instruction"})
    weighting: Literal["filter", "rwr", "advantage"] = field(
        default="filter",
        metadata={
            "help": "filter: keep reward above the env's keep threshold, one per item; "
            "rwr: weight by exp((r-1)/beta); advantage: weight by reward minus the mean reward of the "
            "task's samples (of the env's, with one sample a task), so failures get negative weight "
            "(pushed down no further than --negative_clip allows)"
        },
    )
    negative_clip: float = field(
        default=0.2,
        metadata={
            "help": "advantage weighting: a failure's token is pushed down until its probability is below "
            "(1 - this) x the iteration's starting model's (PPO's clip); 0: no floor (on Maze it unlearned "
            "the reply format; see docs/benchmarks.md)"
        },
    )
    env_thresholds: list[str] = field(
        default_factory=list,
        metadata={
            "help": "override an env's registered keep threshold as ENV=VALUE (registered: reward "
            "> 0.99, BabyAI > 0, as AgentGym's released code)"
        },
    )
    rwr_beta: float = field(
        default=0.25, metadata={"help": "rwr temperature: small keeps only the best, large is plain BC"}
    )
    # The paper retrains the base model every iteration. The tiny model needs ~20 epochs from
    # scratch, which four iterations cannot afford in the main job's 10 minutes on 2 CPU cores;
    # continuing the last model for `iteration_epochs` (5) on the merged data costs a quarter of that.
    retrain_from: Literal["base", "last"] = field(
        default="last",
        metadata={"help": "each iteration trains the base model (paper) or continues the last one (default)"},
    )
    iteration_epochs: float = field(
        default=5.0,
        metadata={
            "help": "with retrain_from=last: BC epochs of each iteration on the merged data (0: the BC "
            "epochs); retraining from base always uses the BC epochs, as the paper"
        },
    )
    # Continuing a trained model with a fresh AdamW warmed up to BC's peak again undoes much of
    # what BC learned (the iterations then gain nothing over BC-base); half the peak keeps the
    # model's skills while it learns the new data, and a third of it learns too slowly.
    iteration_lr_scale: float = field(
        default=0.5,
        metadata={
            "help": "with retrain_from=last: each iteration's peak learning rate as a fraction of BC's "
            "(1: BC's, as before; 0.5 keeps the last model's skills while it learns the new data)"
        },
    )
    accumulate: bool = field(
        default=True,
        metadata={"help": "merge every iteration's explored data, not just the latest, with AgentTraj"},
    )
    # The experts' thoughts name facts the agent cannot see (the route the planner found); a
    # tiny model learns to recite them long before it learns the action. Dropping them makes
    # replies a fraction as long (rollouts as much faster) and the action the thing learned.
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
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    rollout: EvolveRolloutConfig = field(
        default_factory=EvolveRolloutConfig,
        metadata={
            "help": "rollouts (exploration samples; AgentEval after every stage decodes greedily)",
            # Iteration m explores with seed 1000 x BC's --seed + m: one --seed sets the whole run.
            # The expert data is in the ReAct format, so exploration plays that format too.
            "not_flags": ("seed", "action_format"),
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.envs, str):
            self.envs = [self.envs]
        self.envs = [require_engine(env) for env in self.envs]
        if self.iterations < 0 or self.samples < 1:
            raise ValueError("iterations must be >= 0 and samples >= 1")
        if self.rollout.temperature <= 0:
            raise ValueError("exploration samples: temperature must be > 0")
        if self.iteration_epochs < 0 or self.thought_words < -1:
            raise ValueError("iteration_epochs must be >= 0 and thought_words >= -1")
        if self.iteration_lr_scale <= 0:
            raise ValueError("iteration_lr_scale must be > 0")
        if not 0 <= self.negative_clip < 1:
            raise ValueError("negative_clip must be in [0, 1)")
        self.thresholds()  # a malformed ENV=VALUE fails here, not after an hour of training
        if self.run_dir is None:
            self.run_dir = "runs/evolve-" + "-".join(short_name(env).lower() for env in self.envs)

    def iteration_bc(self, bc: BCConfig) -> BCConfig:
        """The BC settings an iteration trains with: continuing the last model, its own epochs
        and ``iteration_lr_scale`` x BC's peak learning rate; retraining the base, BC's own."""
        if self.retrain_from != "last":
            return bc
        return dataclasses.replace(
            bc,
            epochs=self.iteration_epochs or bc.epochs,
            learning_rate=self.iteration_lr_scale * bc.learning_rate,
        )

    def thresholds(self) -> dict[str, float]:
        """Env id -> the reward a kept trajectory must beat: the env's registered keep threshold
        (Gymnasium's ``reward_threshold``) unless ``env_thresholds`` overrides it."""
        thresholds = {env: family(env).keep_threshold for env in self.envs}
        for entry in self.env_thresholds:
            name, _, value = entry.partition("=")
            try:
                thresholds[resolve_env_id(name.strip())] = float(value)
            except ValueError:
                raise ValueError(f"env_thresholds: expected ENV=VALUE like BabyAI=0, got {entry!r}") from None
        return thresholds


@dataclass
class EvolveBCConfig(BCConfig):
    """BC settings of AgentEvol (``agentgym evolve``, ``agentevol()``), tuned for the built-in
    tiny model, which trains from scratch; ``agentgym bc`` keeps :class:`BCConfig`'s defaults.

    Changed defaults, tuned on Maze: the tiny model's action choice stays at chance for a few
    hundred small steps, then jumps; 20 epochs of 1-2 episodes a step at 1e-3 get it there (3e-3,
    or 4096-token batches, stall). 20 epochs leave BC-base on the edge of that jump (40 go further,
    but the main job's 10 minutes cannot afford them next to four iterations); the iterations,
    which continue the last model (:class:`AgentEvolConfig`), take it the rest of the way:

    ==============  =======  ======
    setting         BCConfig evolve
    ==============  =======  ======
    learning_rate   5e-4     1e-3
    epochs          3        20
    batch_tokens    4096     1024
    ==============  =======  ======

    ``bf16`` stays off: on the project's 2-core Intel Xeon, bf16 autocast trains the tiny model
    slower than float32 (the attention backward above all: the matrices are too small to gain
    from bf16 units). ``--bf16`` turns it on. The measurements behind these defaults are in
    docs/benchmarks.md ("Measurements behind the defaults").

    ``save_dir`` must stay unset: every stage saves under the run folder."""

    learning_rate: float = field(
        default=1e-3,
        metadata={"help": "peak AdamW learning rate (evolve: 1e-3, for the tiny model from scratch)"},
    )
    epochs: float = field(
        default=20.0, metadata={"help": "BC-base epochs (evolve: 20; the tiny model learns late, then fast)"}
    )
    batch_tokens: int = field(
        default=1024,
        metadata={"help": "most padded tokens in one micro-batch (evolve: 1024, 1-2 episodes a step)"},
    )
    save_dir: str | None = field(
        default=None, metadata={"help": "not used by evolve: every stage saves under --run_dir"}
    )


# ------------------------------------------------------------------------------ weighting
def filter_by_reward(
    records: Sequence[dict[str, Any]], thresholds: dict[str, float] | None = None
) -> list[dict]:
    """AgentGym's filter: keep trajectories whose reward beats their env's threshold (given, or
    the env's registered keep threshold), and of several samples of one item only the best (the
    first among equals)."""
    thresholds = thresholds or {}
    best: dict[str, dict[str, Any]] = {}
    for record in records:
        env_id = parse_item_id(record["item_id"])[0]
        threshold = thresholds[env_id] if env_id in thresholds else family(env_id).keep_threshold
        if record["reward"] <= threshold:
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


def advantage_weights(records: Sequence[dict[str, Any]]) -> list[float]:
    """Signed weights: each trajectory's reward minus a baseline, so one that did worse than
    expected is pushed down (negative weight) and one that did better is pulled up.

    The baseline is the mean reward of the same task's samples (GRPO's group mean without the
    std: it removes how hard the task is) when the task has at least two; with one sample a
    task (K=1, AgentEvol's default) that mean is the reward itself and every weight would be 0,
    so it is the mean reward of the env's explored trajectories instead (a per-env baseline:
    it still tells a failure on an easy env from one on a hard env). With ``accumulate`` a
    task's samples from earlier iterations count in its group too."""
    by_item: dict[str, list[float]] = {}
    by_env_rewards: dict[str, list[float]] = {}
    for record in records:
        by_item.setdefault(record["item_id"], []).append(float(record["reward"]))
        by_env_rewards.setdefault(parse_item_id(record["item_id"])[0], []).append(float(record["reward"]))
    weights = []
    for record in records:
        group = by_item[record["item_id"]]
        if len(group) < 2:
            group = by_env_rewards[parse_item_id(record["item_id"])[0]]
        weights.append(float(record["reward"]) - sum(group) / len(group))
    return weights


def training_set(
    expert: list[dict[str, Any]], explored: list[dict[str, Any]], config: AgentEvolConfig
) -> tuple[list[dict[str, Any]], list[float]]:
    """Expert data (weight 1) merged with explored trajectories weighted by the chosen scheme.
    ``rwr`` leaves out trajectories whose weight is below 1e-3 and ``advantage`` those whose
    |weight| is: they would teach nothing."""
    if config.weighting == "filter":
        kept = filter_by_reward(explored, config.thresholds())
        return expert + kept, [1.0] * (len(expert) + len(kept))
    if config.weighting == "advantage":
        weights = advantage_weights(explored)
    else:
        weights = rwr_weights([r["reward"] for r in explored], config.rwr_beta)
    kept = [(record, weight) for record, weight in zip(explored, weights) if abs(weight) >= 1e-3]
    return expert + [r for r, _ in kept], [1.0] * len(expert) + [w for _, w in kept]


# ------------------------------------------------------------------------------ the loop
@dataclass
class Run:
    """One AgentEvol run: its settings and its folder."""

    config: AgentEvolConfig
    bc: BCConfig
    model: ModelConfig
    folder: RunDir
    tracker: Tracker
    # config.rollout with the reply budget resolved, once the base model is loaded.
    rollout: RolloutConfig | None = None

    def checkpoint(self, stage: str) -> Path:
        return self.folder.path("checkpoints", stage)


def agentevol(
    config: AgentEvolConfig | None = None,
    bc_config: BCConfig | None = None,
    model_config: ModelConfig | None = None,
) -> dict[str, dict[str, EnvResult]]:
    """Run (or resume) AgentEvol; returns AgentEval results per stage (``bc-base``, ``iter1``, ...).
    Without arguments: ``agentgym evolve``'s defaults (the tiny model on Maze)."""
    run = open_run(config or AgentEvolConfig(), bc_config or EvolveBCConfig(), model_config or ModelConfig())
    try:
        expert = expert_data(run)
        results: dict[str, dict[str, EnvResult]] = {}
        policy, explored = None, []
        for iteration, stage in enumerate(stage_names(run.config.iterations)):
            if stage == BC_BASE:
                records, weights, start_from = expert, [1.0] * len(expert), None
            else:
                new = explore(run, stage, policy, seed=run.bc.seed * 1000 + iteration)
                explored = explored + new if run.config.accumulate else new
                records, weights = training_set(expert, explored, run.config)
                start_from = policy if run.config.retrain_from == "last" else None
            policy = trained(run, stage, records, weights, start_from)
            if run.rollout is None:
                budget = reply_budget(policy, expert, run.config.rollout.max_new_tokens)
                run.rollout = run.config.rollout.for_rollout(max_new_tokens=budget)
            results[stage] = evaluated(run, stage, policy)
            write_summary(run, results)
    finally:
        run.tracker.close()
    return results


def open_run(config: AgentEvolConfig, bc_config: BCConfig, model_config: ModelConfig) -> Run:
    """The run folder, checked against the settings that decide what is learned."""
    if bc_config.save_dir:
        raise ValueError("save_dir is for 'agentgym bc'; AgentEvol saves every stage under run_dir")
    folder = RunDir(config.run_dir, name="agentevol")

    folder.open(
        learned_settings(config, bc_config, model_config),
        defaults=learned_settings(AgentEvolConfig(run_dir="-"), EvolveBCConfig(), ModelConfig()),
        upgrade=upgrade_saved_settings,
    )
    tracker = Tracker.in_folder(folder.dir, bc_config.report_to)
    # Every metrics line also goes to TensorBoard, the stage number as the step.
    folder.on_record = lambda event, stage, values: tracker.log(values, stage_number(stage), f"{event}/")
    return Run(config, bc_config, model_config, folder, tracker)


def learned_settings(evolve: AgentEvolConfig, bc: BCConfig, model: ModelConfig) -> dict[str, dict]:
    """What config.json keeps: the settings that decide what is learned, in groups that name
    them (``agentevol.weighting``, ``rollout.temperature``, ``bc.epochs``, ``model.lora``)."""
    settings = {
        "agentevol": dataclasses.asdict(evolve),
        "bc": dataclasses.asdict(bc),
        "model": model.identity(),
    }
    rollout = settings["agentevol"].pop("rollout")
    settings["agentevol"].pop("progress")
    # Where and how fast episodes run is not what is learned; the seed comes from BC's.
    settings["rollout"] = {k: v for k, v in rollout.items() if k not in (*RUNTIME_FIELDS, "seed")}
    for name in RESUME_FREE:  # checkpointing and logging do not change what is learned
        settings["bc"].pop(name)
    return settings


def upgrade_saved_settings(saved: dict[str, dict]) -> dict[str, dict]:
    """A config.json written by an earlier version, in today's groups. Values that meant the same
    then as the defaults mean now become the defaults, so such a run still resumes; a setting
    whose default changed what is learned gets the value the run used (resuming it with today's
    defaults is refused, naming the setting). The earlier layouts:

    - the rollout settings (concurrency, temperature, ...) sat in the ``agentevol`` group;
    - the model settings sat there too, before ``ModelConfig``;
    - keep thresholds were a global 0.99 plus BabyAI=0, before the env registry held them;
    - iterations that continued the last model trained at BC's peak, before ``iteration_lr_scale``.
    """
    evolve = dict(saved.get("agentevol", {}))
    rollout = dict(saved.get("rollout", {}))
    for name in (f.name for f in dataclasses.fields(EvolveRolloutConfig)):
        if name in evolve:
            rollout[name] = evolve.pop(name)
    model = dict(saved.get("model", {}))
    for name in ("model", "lora", "lora_rank"):
        if name in evolve:
            model[name] = evolve.pop(name)
    if not model.get("lora", True):
        model.pop("lora_rank", None)  # the rank only counts with LoRA
    if evolve.get("reward_threshold") == 0.99 and evolve.get("env_thresholds") == ["BabyAI=0"]:
        del evolve["reward_threshold"]
        evolve["env_thresholds"] = []
    if "agentevol" in saved and "iteration_lr_scale" not in evolve and evolve.get("retrain_from") != "base":
        evolve["iteration_lr_scale"] = 1.0
    upgraded = {**saved, "agentevol": evolve} if "agentevol" in saved else dict(saved)
    for group, values in (("rollout", rollout), ("model", model)):
        if values:
            upgraded[group] = values
    return upgraded


def saved_configs(run_dir: str | Path) -> tuple[AgentEvolConfig, EvolveBCConfig, ModelConfig]:
    """The configs of the run in ``run_dir``, from its config.json (an earlier layout upgraded);
    settings it does not keep (where the run ran: progress bars, Ray, an env server) get their
    defaults."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} holds no agentgym evolve run (no {CONFIG_FILE})")
    saved = upgrade_saved_settings(json.loads(path.read_text(encoding="utf-8")))
    rollout = EvolveRolloutConfig(**saved.get("rollout", {}))
    return (
        AgentEvolConfig(**saved["agentevol"], rollout=rollout),
        EvolveBCConfig(**saved["bc"]),
        ModelConfig(**saved.get("model", {})),
    )


def stage_number(stage: str) -> int:
    """bc-base 0, iter1 1, ... (the x axis of every per-stage curve)."""
    return 0 if stage == BC_BASE else int(stage.removeprefix("iter"))


# ------------------------------------------------------------------------------ the stages
def expert_data(run: Run) -> list[dict[str, Any]]:
    """AgentTraj for every env (the expert's successful episodes), built once per run."""
    path = run.folder.path("data", f"{run.config.bc_split}.json")
    if path.is_file():
        return load_trajectories(path)
    records, started = [], time.perf_counter()
    for env_id in run.config.envs:
        solved, failed = expert_trajectories(env_id, run.config.bc_split, progress=run.config.progress)
        records += solved
        run.folder.log(f"{env_id}: {len(solved)} expert trajectories ({len(failed)} unsolved left out)")
    records = shorten_thoughts(records, run.config.thought_words)
    save_trajectories(records, path)
    run.folder.record(
        "data",
        BC_BASE,
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
    """The model of ``stage``: loaded if already trained, else trained on weighted records
    (from ``start_from``, or from the base model when it is None)."""
    checkpoint = run.checkpoint(stage)
    if run.folder.is_done(checkpoint):
        return run.model.load(name=str(checkpoint), lora=False)
    policy = start_from or run.model.load(seed=run.bc.seed, lora=False)
    if run.model.lora:
        # A fresh adapter on the merged starting weights, so a resumed run (which loads the
        # merged checkpoint) trains exactly what an uninterrupted one does.
        if hasattr(policy.model, "merge_and_unload"):
            policy.model = policy.model.merge_and_unload()
        policy.model = with_lora(policy.model, run.model.lora_rank, run.bc.seed)
    run.folder.log(f"{stage}: training on {len(records)} trajectories (weight sum {sum(weights):.1f})")
    # With save_every a stage checkpoints into a scratch folder, so a killed stage resumes mid-way.
    scratch = run.folder.path("checkpoints", f"{stage}.partial")
    bc_config = dataclasses.replace(run.bc, save_dir=str(scratch) if run.bc.save_every else None)
    if stage != BC_BASE:
        bc_config = run.config.iteration_bc(bc_config)
    # BC refuses negative weights; the advantage weighting means them (failures pushed down).
    if run.config.weighting == "advantage":
        train = functools.partial(train_weighted, negative_clip=run.config.negative_clip)
    else:
        train = train_bc
    metrics = train(
        policy,
        records,
        bc_config,
        weights=weights,
        progress=run.config.progress,
        tracker=run.tracker,
        tag=stage,
    )
    policy.save(checkpoint)
    run.folder.mark_done(checkpoint)
    shutil.rmtree(scratch, ignore_errors=True)
    run.folder.record(
        "train",
        stage,
        trajectories=len(records),
        weight_sum=round(sum(weights), 3),
        negative_weights=sum(weight < 0 for weight in weights),
        steps=metrics["steps"],
        learning_rate=bc_config.learning_rate,
        resumed_at_step=metrics["resumed_at_step"],
        final_loss=round(metrics["final_loss"], 4),
        tokens_per_second=round(metrics["tokens_per_second"]),
        seconds=round(metrics["seconds"], 1),
    )
    run.folder.log(f"{stage}: loss {metrics['final_loss']:.4f}, {metrics['tokens_per_second']:.0f} tok/s")
    return policy


def evaluated(run: Run, stage: str, policy) -> dict[str, EnvResult]:
    """AgentEval of ``stage``'s model on every env's test split (loaded if already done)."""
    results, stats = evaluate_once(
        policy,
        run.config.envs,
        run.folder.path("eval", f"{stage}.json"),
        stage,
        limit=run.config.eval_limit,
        config=run.rollout.for_rollout(greedy=True),
        progress=run.config.progress,
    )
    if stats is None:
        return results
    for env_id, result in results.items():
        run.folder.log(
            f"{stage} AgentEval {short_name(env_id)}: success {100 * result.success_rate:.1f}%, "
            f"score {result.mean_score:.3f}"
        )
    record_speed(run, "eval", stage, stats, **{env: result.as_dict() for env, result in results.items()})
    return results


def explore(run: Run, stage: str, policy, seed: int) -> list[dict[str, Any]]:
    """K sampled trajectories per instruction with ``policy`` (the previous stage's model), for
    ``stage``'s training. A rerun replays only the episodes not saved yet."""
    final = run.folder.path("trajectories", f"explore_{stage}.jsonl")
    if final.is_file():
        return load_trajectories(final)
    episodes = EpisodeLog(final, key=record_key)
    ids = {
        env: family(env).splits.ids(run.config.explore_split)[: run.config.explore_limit]
        for env in run.config.envs
    }
    jobs = make_jobs(run.config.envs, ids, samples=run.config.samples)
    saved = episodes.saved()
    todo = [job for job in jobs if job.key not in saved]
    run.folder.log(f"{stage}: exploring {len(todo)} episodes ({len(jobs) - len(todo)} already saved)")
    rollout_config = run.rollout.for_rollout(seed=seed)
    stats = RolloutStats()
    with episodes.appending() as keep:
        rollout(
            policy,
            todo,
            rollout_config,
            progress=run.config.progress,
            desc=f"explore {stage}",
            on_episode=keep,
            stats=stats,
        )
    records = episodes.finish([job.key for job in jobs])
    rewards = [record["reward"] for record in records]
    record_speed(
        run,
        "explore",
        stage,
        stats,
        episodes=len(records),
        success_rate=success_rate(records),
        mean_reward=round(sum(rewards) / max(1, len(rewards)), 4),
        success_rate_per_env={env: success_rate(group) for env, group in by_env(records).items()},
    )
    return records


def record_speed(run: Run, event: str, stage: str, stats: RolloutStats, **values: Any) -> None:
    """A rollout stage's metrics line with its speed, as CleanRL logs SPS: generated tokens/s and
    episodes/min of this invocation's episodes (a resumed exploration counts only the new ones)."""
    run.folder.record(
        event,
        stage,
        **values,
        generated_tokens=stats.generated_tokens,
        tokens_per_second=round(stats.tokens_per_second, 1),
        episodes_per_minute=round(stats.episodes_per_minute, 1),
        seconds=round(stats.wall_seconds, 1),
    )
    run.folder.log(
        f"{stage} {event}: {stats.episodes} episodes, {stats.tokens_per_second:.0f} generated tok/s, "
        f"{stats.episodes_per_minute:.0f} episodes/min"
    )


def success_rate(records: list[dict[str, Any]]) -> float:
    return round(sum(r["success"] for r in records) / max(1, len(records)), 4)


def by_env(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(parse_item_id(record["item_id"])[0], []).append(record)
    return groups


# ------------------------------------------------------------------------------ reporting
def write_summary(run: Run, results: dict[str, dict[str, EnvResult]]) -> str:
    """summary.md (bc-base against each iteration, with speeds and the time each took) and
    success.png; returns the table."""
    config, model = run.config, run.model
    table = summary_table(results, run.folder.dir)
    text = (
        f"# AgentEvol: {', '.join(config.envs)}\n\n"
        f"Model `{model.model}`{' + LoRA' if model.lora else ''}, M={config.iterations}, K={config.samples}, "
        f"weighting `{config.weighting}`, exploration temperature {config.rollout.temperature}, "
        f"each iteration trains the {config.retrain_from} model.\n\n"
        "AgentEval (test split), each cell: success % [95% Wilson interval] / mean score. Below: "
        "the share of the instruction set each column's model solved while exploring (sampled, all "
        "envs together: the next iteration's data), the rollout speed of its AgentEval and of that "
        "exploration (generated tokens/s / episodes per minute), and the wall time of the stages up to "
        "that column (data, training, exploration, AgentEval), summed over every invocation of the run.\n\n"
        f"{table}\n\nWall time of this invocation: {run.folder.minutes():.1f} min.\n"
    )
    atomic_write_text(run.folder.path("summary.md"), text)
    plot_success(results, run.folder.path("success.png"))
    return table


def summary_table(results: dict[str, dict[str, EnvResult]], run_dir: str | Path) -> str:
    """The AgentEval table plus rows from metrics.jsonl, per column (stage): how much of the
    instruction set its model solved while exploring for the next stage (240+ tasks, so a less
    noisy view of progress than the test split, though sampled rather than greedy), the speed of
    its AgentEval and of that exploration, and the cumulative wall time."""
    metrics = RunDir(run_dir).metrics()
    stages = list(results)
    envs = sorted({env for columns in results.values() for env in columns})
    # The exploration for iter{m+1} is done by the m-th column's model: it goes in that column.
    explored = [metrics.get(("explore", f"iter{m + 1}"), {}) for m in range(len(stages))]
    rows = [results_table(results)]
    for env in envs:
        label = "" if len(envs) == 1 else f" ({short_name(env)})"
        rates = [entry.get("success_rate_per_env", {}) for entry in explored]
        cells = [f"{100 * rate[env]:.1f}" if env in rate else "-" for rate in rates]
        rows.append(f"| instruction set solved while exploring, %{label} | " + " | ".join(cells) + " |")
    rows.append(
        speed_row("AgentEval speed, tok/s / episodes/min", [metrics.get(("eval", s), {}) for s in stages])
    )
    rows.append(speed_row("exploration speed, tok/s / episodes/min", explored))
    total, minutes = 0.0, []
    for stage in stages:
        total += sum(entry["seconds"] for (_, at), entry in metrics.items() if at == stage)
        minutes.append(f"{total / 60:.1f}")
    rows.append("| minutes, cumulative | " + " | ".join(minutes) + " |")
    return "\n".join(rows)


def speed_row(label: str, entries: list[dict[str, Any]]) -> str:
    cells = [
        f"{e['tokens_per_second']:,.0f} / {e['episodes_per_minute']:.0f}" if "tokens_per_second" in e else "-"
        for e in entries
    ]
    return f"| {label} | " + " | ".join(cells) + " |"


def plot_success(
    results: dict[str, dict[str, EnvResult]],
    path: Path,
    *,
    title: str = "AgentEvol: success per stage",
    ylabel: str = "AgentEval success % (95% CI)",
) -> None:
    """One line per env across the columns of ``results`` (stages here; benchmarks/paper_table.py
    passes its rows), success % with the Wilson interval."""
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
        axes.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=short_name(env_id))
    axes.set_xticks(range(len(stages)), stages)
    axes.set_ylabel(ylabel)
    axes.set_ylim(0, 100)
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=100)
    plt.close(figure)
    temporary.replace(path)


__all__ = [
    "AgentEvolConfig",
    "EvolveBCConfig",
    "EvolveRolloutConfig",
    "agentevol",
    "filter_by_reward",
    "advantage_weights",
    "rwr_weights",
    "saved_configs",
    "stage_names",
    "summary_table",
    "training_set",
]
