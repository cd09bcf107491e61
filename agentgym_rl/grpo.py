"""GRPO and RLOO over whole episodes: online RL for multi-turn agents, on the one training loop.

A step (``agentgym grpo``, :func:`grpo`):

1. Draw B tasks from the instruction set (the train split) and play G episodes of each, from the
   same task id (``Job(env, task, sample)``), in one batched rollout of all B x G episodes (the
   rollout engine of exploration and AgentEval: one generate per round, prefix cache).
2. Reward = the episode's score. Advantage per group of G: GRPO ``(r - mean) / (std + eps)``
   (TRL's sample std); RLOO ``r_i - mean_{j != i} r_j`` (the leave-one-out baseline). A group
   whose rewards are all equal has zero advantage everywhere: it teaches nothing, is left out of
   the loss (no forward pass) and its share is reported.
3. The episode's advantage weights every generated token of its agent turns (``gpt`` turns with
   ``loss`` true, with their end-of-turn token); instructions and observations are masked, as
   in BC (:mod:`agentgym_rl.trajectory`, re-tokenising the records).
4. ``updates_per_batch`` optimizer steps on that batch: with one, the plain policy gradient
   ``-A log p``; with more, PPO's clipped ratio against the sampling policy's log-probs. Optional
   KL to the starting model with coefficient ``beta`` (k3 estimator; the reference model is loaded
   only when beta > 0). The loss is a per-token mean over the step's agent tokens.

Log-probs are of ``logits / temperature`` (as TRL's GRPOTrainer): that is the distribution the
episodes were sampled from, so the gradient is on-policy; ``top_p`` must be 1 (a truncated
distribution has no such log-probs).

The horizon curriculum (AgentGym-RL's ScalingInter-RL): ``--rounds_schedule 6,13,20
--rounds_every 100`` plays steps 0-99 with at most 6 rounds, 100-199 with 13, then 20.

The run folder (resumable: rerun the same command; it continues at the step after the newest
checkpoint)::

    config.json  metrics.jsonl  tensorboard/  summary.md
    bc-base/                     the BC start (an ``agentgym evolve`` run folder with no iteration)
    checkpoints/checkpoint-N/    policy + optimizer (the newest only)
    eval/step-N.json (.md, .episodes.jsonl)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from agentgym_envs import family, require_engine, short_name
from agentgym_envs.data import atomic_write_text, expert_trajectories
from agentgym_rl.evaluate import EnvResult, evaluate_once, load_results, results_table
from agentgym_rl.models import ModelConfig
from agentgym_rl.rollout import Job, RolloutStats, rollout
from agentgym_rl.rollout_config import RUNTIME_FIELDS, RolloutConfig
from agentgym_rl.run_dir import RunDir
from agentgym_rl.trackers import Tracker
from agentgym_rl.train_loop import RESUME_FREE, TrainConfig

STD_EPS = 1e-4  # GRPO's std guard: a group with any spread in 0/1 rewards has std >= 0.3


# ------------------------------------------------------------------------------ configs
@dataclass
class GRPORolloutConfig(RolloutConfig):
    """Rollout settings of GRPO's episodes (AgentEval plays them greedily). Changed defaults
    (:class:`RolloutConfig`'s first): ``concurrency`` 32 -> 64 (B x G episodes in one batch),
    ``max_new_tokens`` 96 -> 0 (a budget from the expert data, as ``agentgym evolve``),
    ``temperature`` 0 -> 1 (the model's own distribution, so the gradient is on-policy).
    ``seed`` is not used: step n samples with seed 1000 x ``--seed`` + n."""

    MIN_NEW_TOKENS: ClassVar[int] = 0

    concurrency: int = field(
        default=64,
        metadata={"help": "episodes played at once (grpo: 64, all B x G of a step in one batch)"},
    )
    max_new_tokens: int = field(
        default=0, metadata={"help": "longest reply per round (0: 1.5 x the longest expert reply + 8 tokens)"}
    )
    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature of the episodes (the loss uses the same)"}
    )
    seed: int = field(
        default=0, metadata={"help": "not used by grpo: step n samples with seed 1000 x --seed + n"}
    )


@dataclass
class GRPOConfig(TrainConfig):
    """Settings of a GRPO / RLOO run (``agentgym grpo``); the loop's settings are
    :class:`~agentgym_rl.train_loop.TrainConfig`'s, with defaults for RL on a BC-trained model."""

    envs: list[str] = field(default_factory=lambda: ["maze"], metadata={"help": "envs to learn (multi-task)"})
    run_dir: str | None = field(default=None, metadata={"help": "run folder (default runs/grpo-<envs>)"})
    steps: int = field(default=20, metadata={"help": "GRPO steps (each: B x G episodes, then the updates)"})
    tasks_per_step: int = field(
        default=8, metadata={"help": "B: tasks drawn from the instruction set a step"}
    )
    group_size: int = field(default=8, metadata={"help": "G: episodes per task (the group of the advantage)"})
    estimator: Literal["grpo", "rloo"] = field(
        default="grpo",
        metadata={"help": "grpo: (r - group mean) / (group std + eps); rloo: r - mean of the others"},
    )
    updates_per_batch: int = field(
        default=1,
        metadata={
            "help": "optimizer steps per batch of episodes (1: plain policy gradient; more: PPO's "
            "clipped ratio against the sampling policy)"
        },
    )
    clip_eps: float = field(
        default=0.2, metadata={"help": "PPO clip range of the ratio (updates_per_batch > 1)"}
    )
    loss_type: Literal["grpo", "dapo"] = field(
        default="grpo",
        metadata={
            "help": "how token losses add up (TRL's names): grpo, a mean over each episode's agent "
            "tokens, then over episodes (each episode weighs its advantage); dapo, one mean over "
            "all agent tokens of the step (a long episode weighs more)"
        },
    )
    beta: float = field(
        default=0.0,
        metadata={
            "help": "KL coefficient to the starting model (k3 estimator; 0: no reference model loaded)"
        },
    )
    rounds_schedule: str = field(
        default="",
        metadata={
            "help": "horizon curriculum: round limits by stage, e.g. 6,13,20 (AgentGym-RL's); empty: "
            "--max_rounds (or the env's own limit) throughout"
        },
    )
    rounds_every: int = field(default=100, metadata={"help": "steps per stage of --rounds_schedule"})
    train_split: str = field(default="train", metadata={"help": "the instruction set tasks are drawn from"})
    train_limit: int | None = field(
        default=None,
        metadata={
            "help": "draw from the first N tasks of --train_split per env (as evolve's --explore_limit)"
        },
    )
    eval_every: int = field(
        default=10, metadata={"help": "AgentEval (test split) every N steps, besides the start and the end"}
    )
    eval_limit: int | None = field(
        default=None, metadata={"help": "at most this many AgentEval tasks per env"}
    )
    batch_tokens: int = field(
        default=4096, metadata={"help": "most padded tokens in one micro-batch of the loss (bounds memory)"}
    )
    max_length: int = field(
        default=2048,
        metadata={"help": "longest tokenised episode; longer ones are cut at a turn boundary (counted)"},
    )
    bc_epochs: float = field(
        default=20.0,
        metadata={
            "help": "when --model is a preset, not a checkpoint: epochs of the BC start on AgentTraj "
            "(agentgym evolve's BC-base)"
        },
    )
    thought_words: int = field(
        default=0, metadata={"help": "expert thoughts kept in the BC start's data, in words (as evolve)"}
    )
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    # The loop's settings with GRPO's defaults.
    learning_rate: float = field(
        default=5e-4, metadata={"help": "peak AdamW learning rate (1e-3 unlearns the tiny model's format)"}
    )
    warmup_ratio: float = field(default=0.0, metadata={"help": "fraction of steps with a linear warmup"})
    lr_schedule: Literal["cosine", "linear", "constant"] = field(
        default="constant", metadata={"help": "learning-rate decay after warmup: cosine | linear | constant"}
    )
    log_every: int = field(default=1, metadata={"help": "optimizer steps between loss-curve points"})
    save_every: int = field(default=5, metadata={"help": "checkpoint every N GRPO steps (and at the end)"})
    # Not flags: checkpoints go under --run_dir, and each update is one optimizer step over the
    # whole batch of episodes.
    NOT_FLAGS: ClassVar[tuple[str, ...]] = ("save_dir", "gradient_accumulation_steps")
    rollout: GRPORolloutConfig = field(
        default_factory=GRPORolloutConfig,
        metadata={
            "help": "rollouts (the episodes sample; AgentEval decodes greedily)",
            "not_flags": ("seed", "action_format"),
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.envs, str):
            self.envs = [self.envs]
        self.envs = [require_engine(env) for env in self.envs]
        if self.steps < 1 or self.tasks_per_step < 1 or self.updates_per_batch < 1:
            raise ValueError("steps, tasks_per_step and updates_per_batch must be at least 1")
        if self.train_limit is not None and self.train_limit < 1:
            raise ValueError("train_limit must be at least 1 (or unset: the whole instruction set)")
        if self.group_size < 2:
            raise ValueError("group_size must be at least 2 (an advantage needs a group)")
        if self.clip_eps <= 0 or self.beta < 0 or self.eval_every < 1 or self.rounds_every < 1:
            raise ValueError("clip_eps must be > 0, beta >= 0, eval_every and rounds_every >= 1")
        if self.rollout.temperature <= 0 or self.rollout.top_p != 1.0:
            raise ValueError("grpo samples its episodes: temperature must be > 0 and top_p 1")
        self.rounds()  # a malformed schedule fails here, not after the BC start
        if self.run_dir is None:
            self.run_dir = "runs/grpo-" + "-".join(short_name(env).lower() for env in self.envs)

    def rounds(self) -> list[int]:
        """The curriculum's round limits, in order (empty: no curriculum)."""
        try:
            limits = [int(part) for part in self.rounds_schedule.replace(" ", "").split(",") if part]
        except ValueError:
            raise ValueError(
                f"rounds_schedule: expected numbers like 6,13,20, got {self.rounds_schedule!r}"
            ) from None
        if any(limit < 1 for limit in limits):
            raise ValueError("rounds_schedule: every round limit must be at least 1")
        return limits

    def max_rounds(self, step: int) -> int | None:
        """The round limit of step ``step`` (0-based): the curriculum's, else ``--max_rounds``."""
        limits = self.rounds()
        if not limits:
            return self.rollout.max_rounds
        return limits[min(step // self.rounds_every, len(limits) - 1)]


# ------------------------------------------------------------------------------ advantages
def group_advantages(rewards: Sequence[float], estimator: str = "grpo", eps: float = STD_EPS) -> list[float]:
    """Advantages of one group of G >= 2 episodes of the same task (see the module doc). All
    equal rewards give all zeros under both estimators."""
    count = len(rewards)
    if count < 2:
        raise ValueError("a group needs at least 2 episodes")
    mean = sum(rewards) / count
    if all(r == rewards[0] for r in rewards):
        return [0.0] * count
    if estimator == "rloo":
        # r_i - (sum - r_i) / (G - 1) = G / (G - 1) * (r_i - mean)
        return [r - (mean * count - r) / (count - 1) for r in rewards]
    if estimator != "grpo":
        raise ValueError(f"estimator must be grpo or rloo, not {estimator!r}")
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (count - 1))
    return [(r - mean) / (std + eps) for r in rewards]


@dataclass
class Group:
    """The G episodes of one task in a step, with their advantages."""

    records: list[dict[str, Any]]
    advantages: list[float]

    @property
    def zero_variance(self) -> bool:
        return all(a == 0 for a in self.advantages)


def make_groups(records: Sequence[dict[str, Any]], group_size: int, estimator: str) -> list[Group]:
    """Consecutive runs of ``group_size`` records (the jobs of one task are adjacent) as groups."""
    groups = []
    for start in range(0, len(records), group_size):
        members = list(records[start : start + group_size])
        if len({r["item_id"] for r in members}) != 1:
            raise ValueError("a group must hold episodes of one task")
        groups.append(Group(members, group_advantages([float(r["reward"]) for r in members], estimator)))
    return groups


# ------------------------------------------------------------------------------ the loss
def policy_loss(logp, advantages, old_logp=None, clip_eps: float = 0.2):
    """Per-token loss and the clipped tokens. Without ``old_logp``: the policy gradient
    ``-A log p``. With it: PPO's ``-min(rho A, clip(rho, 1 - eps, 1 + eps) A)``, rho = p / p_old;
    at rho == 1 its gradient is the policy gradient's (d rho = rho d log p)."""
    import torch

    if old_logp is None:
        return -advantages * logp, torch.zeros_like(logp, dtype=torch.bool)
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * advantages
    return -torch.minimum(unclipped, clipped), clipped < unclipped


def k3_kl(logp, ref_logp):
    """Schulman's k3 estimator of KL(pi || ref) per sampled token: unbiased and never negative."""
    import torch

    log_ratio = ref_logp - logp
    return torch.exp(log_ratio) - log_ratio - 1


def token_log_probs(model, input_ids, attention_mask, labels, temperature: float, bf16: bool):
    """Log-prob (at ``temperature``) and entropy of the distribution at every labelled token, in
    row-major order (all of row 0's, then row 1's...)."""
    import torch

    from agentgym_rl.bc import action_logits
    from agentgym_rl.policy import token_log_probs as policy_token_log_probs
    from agentgym_rl.trajectory import IGNORE_INDEX

    targets = labels[:, 1:]
    picked = targets != IGNORE_INDEX
    with torch.autocast(input_ids.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = action_logits(model, input_ids, attention_mask, picked)
    logp = policy_token_log_probs(logits, targets[picked], temperature)  # the sampler's own pi
    log_probs = (logits.float() / temperature).log_softmax(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return logp, entropy, picked.nonzero()[:, 0]


@dataclass
class Example:
    """One episode in the loss: its tokens (labels on agent turns only), its advantage, and the
    per-token log-probs of the sampling and reference policies when used."""

    tokens: Any  # TokenizedRecord
    advantage: float
    old_logp: Any = None
    ref_logp: Any = None


def micro_batches(examples: list[Example], batch_tokens: int) -> list[list[Example]]:
    from agentgym_rl.trajectory import pack_by_length

    lengths = [len(e.tokens.input_ids) for e in examples]
    order = sorted(range(len(examples)), key=lengths.__getitem__)
    return [[examples[i] for i in batch] for batch in pack_by_length(order, lengths, batch_tokens)]


def episode_loss(policy, batch: list[Example], config: GRPOConfig):
    """The summed per-token loss of a micro-batch (a :class:`MicroLoss`), each token scaled as
    ``loss_type`` says, with sums of entropy, KL and clipped tokens scaled the same way for the
    log (the loop divides them by :func:`loss_normaliser`, making them means)."""
    import torch

    from agentgym_rl.bc import collate
    from agentgym_rl.train_loop import MicroLoss

    input_ids, attention_mask, labels = collate([e.tokens for e in batch], policy.pad_token_id, policy.device)
    logp, entropy, rows = token_log_probs(
        policy.model, input_ids, attention_mask, labels, config.rollout.temperature, config.bf16
    )
    advantages = torch.tensor([e.advantage for e in batch], device=logp.device)[rows]
    old_logp = torch.cat([e.old_logp for e in batch]) if config.updates_per_batch > 1 else None
    per_token, clipped = policy_loss(logp, advantages, old_logp, config.clip_eps)
    # grpo: a token counts 1 / (its episode's agent tokens), so with the loop's normaliser (the
    # step's episodes) the loss is a mean over episodes; dapo: every token 1, over the tokens.
    scale = 1.0 / torch.bincount(rows)[rows] if config.loss_type == "grpo" else torch.ones_like(logp)
    stats = {
        "entropy": (entropy.detach() * scale).sum().item(),
        "clip_fraction": (clipped * scale).sum().item(),
    }
    if config.beta > 0:
        kl = k3_kl(logp, torch.cat([e.ref_logp for e in batch]))
        per_token = per_token + config.beta * kl
        stats["kl"] = (kl.detach() * scale).sum().item()
    return MicroLoss((per_token * scale).sum(), int(attention_mask.sum()), stats)


def loss_normaliser(examples: list[Example], loss_type: str) -> float:
    """The step's denominator: its episodes (``grpo``) or its agent tokens (``dapo``).

    Why ``grpo`` is the default here: in a multi-turn episode the failures are the long ones
    (they run to the round limit), so under ``dapo`` the tokens every reply shares (the
    ``Action:`` format, the verb) get more push down from failures than pull up from successes,
    and the format itself is unlearned. Per-episode means weigh each episode by its advantage,
    and a group's advantages sum to zero."""
    if loss_type == "grpo":
        return float(len(examples))
    return float(sum(e.tokens.trainable_tokens for e in examples))


def sampling_log_probs(model, examples: list[Example], config: GRPOConfig, pad_id: int, device) -> list:
    """Per-token log-probs of ``model`` (no gradient) for each example, in its token order.

    Called with the policy before the first update of a batch, this is the sampling policy's:
    the same weights and temperature that generated the episodes, run over the whole episode at
    once instead of round by round through the prefix cache, so it differs only by floating-point
    rounding (the order of sums in a cached vs. a full forward) and by replies whose re-tokenised
    text differs from the sampled ids (rare; the same approximation BC on explored data makes)."""
    import torch

    from agentgym_rl.bc import collate

    was_training = model.training
    model.eval()
    result = []
    with torch.no_grad():
        for batch in micro_batches(examples, config.batch_tokens):
            input_ids, attention_mask, labels = collate([e.tokens for e in batch], pad_id, device)
            logp, _, rows = token_log_probs(
                model, input_ids, attention_mask, labels, config.rollout.temperature, config.bf16
            )
            for row, example in enumerate(batch):
                result.append((id(example), logp[rows == row]))
    model.train(was_training)
    by_id = dict(result)
    return [by_id[id(e)] for e in examples]


# ------------------------------------------------------------------------------ the run
@dataclass
class GRPORun:
    config: GRPOConfig
    model: ModelConfig
    folder: RunDir
    tracker: Tracker
    rollout: RolloutConfig | None = None  # with the reply budget resolved


def learned_settings(config: GRPOConfig, model: ModelConfig) -> dict[str, dict]:
    """What config.json keeps: the settings that decide what is learned, in groups."""
    grpo = dataclasses.asdict(config)
    rollout = grpo.pop("rollout")
    for name in (*RESUME_FREE, "progress", "eval_every", "eval_limit"):
        grpo.pop(name)
    rollout = {k: v for k, v in rollout.items() if k not in (*RUNTIME_FIELDS, "seed")}
    return {"grpo": grpo, "rollout": rollout, "model": model.identity()}


def open_grpo_run(config: GRPOConfig, model: ModelConfig) -> GRPORun:
    folder = RunDir(config.run_dir, name="grpo")
    folder.open(
        learned_settings(config, model), defaults=learned_settings(GRPOConfig(run_dir="-"), ModelConfig())
    )
    tracker = Tracker.in_folder(folder.dir, config.report_to)
    folder.on_record = lambda event, stage, values: tracker.log(values, values.get("step", 0), f"{event}/")
    return GRPORun(config, model, folder, tracker)


def grpo(
    config: GRPOConfig | None = None, model_config: ModelConfig | None = None
) -> dict[str, dict[str, EnvResult]]:
    """Run (or resume) GRPO / RLOO; returns AgentEval results by stage (``step-0``, ...).
    Without arguments: ``agentgym grpo``'s defaults (the tiny model on Maze, BC start)."""
    run = open_grpo_run(config or GRPOConfig(), model_config or ModelConfig())
    try:
        return train(run)
    finally:
        run.tracker.close()


def train(run: GRPORun) -> dict[str, dict[str, EnvResult]]:
    from agentgym_rl.train_loop import TrainLoop

    config = run.config
    start, expert = starting_point(run)
    policy = run.model.load(name=str(start), lora=run.model.lora, seed=config.seed)
    budget = reply_budget(policy, expert, config.rollout.max_new_tokens)
    run.rollout = config.rollout.for_rollout(max_new_tokens=budget)
    reference = reference_model(run, start) if config.beta > 0 else None
    fingerprint = hashlib.sha256(
        json.dumps(learned_settings(config, run.model), sort_keys=True).encode()
    ).hexdigest()
    loop = TrainLoop(
        policy,
        config,
        config.steps * config.updates_per_batch,
        fingerprint=fingerprint,
        tracker=run.tracker,
        tag="update",  # per optimizer step; the per-GRPO-step lines are train/
        progress=False,
    )
    policy.model.eval()  # it generates first; the updates switch it to training and back
    checkpoints = run.folder.path("checkpoints")
    latest = loop.resume(checkpoints)
    first_step = loop.extra_state.get("grpo_step", 0) if latest is not None else 0
    if latest is not None:
        run.folder.log(f"resumed from {latest}: continuing at step {first_step + 1} of {config.steps}")
    results = {"step-0": evaluated(run, 0, policy)}
    for step in range(first_step, config.steps):
        began = time.perf_counter()
        records, stats = play_step(run, policy, step)
        groups = make_groups(records, config.group_size, config.estimator)
        examples, report = build_examples(policy, groups, config)
        values: dict[str, float] = {}
        loop.steps_done = step * config.updates_per_batch  # the schedule follows the GRPO step
        if examples:
            if config.updates_per_batch > 1:
                for example, logp in zip(
                    examples,
                    sampling_log_probs(policy.model, examples, config, policy.pad_token_id, policy.device),
                ):
                    example.old_logp = logp
            if reference is not None:
                for example, logp in zip(
                    examples,
                    sampling_log_probs(reference, examples, config, policy.pad_token_id, policy.device),
                ):
                    example.ref_logp = logp
            policy.model.train()
            batches = micro_batches(examples, config.batch_tokens)
            # A mean over the step's episodes (grpo) or agent tokens (dapo), not over
            # sum(|A| x tokens): GRPO's advantages are already on a common scale (standardised
            # or leave-one-out), and dividing by their size would undo it, making a step with
            # one slightly better episode as strong as one with a clear winner.
            normaliser = loss_normaliser(examples, config.loss_type)
            for _ in range(config.updates_per_batch):
                values = loop.step(batches, lambda batch: episode_loss(policy, batch, config), normaliser)
            policy.model.eval()
        loop.steps_done = (step + 1) * config.updates_per_batch
        loop.extra_state = {"grpo_step": step + 1}
        line = step_metrics(step + 1, groups, report, stats, values, config.max_rounds(step))
        line["seconds"] = round(time.perf_counter() - began, 1)
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
            save_newest(loop, checkpoints, step + 1)
        run.folder.record("train", f"step-{step + 1}", **line)
        run.folder.log(
            f"step {step + 1}/{config.steps}: reward {line['mean_reward']:.3f}, success "
            f"{line['success_rate']:.2f}, zero-variance groups {line['zero_variance_share']:.2f}, "
            f"{line['tokens_per_second']:.0f} generated tok/s"
        )
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            results[f"step-{step + 1}"] = evaluated(run, step + 1, policy)
    evaluated(run, config.steps, policy)  # loaded if done; a run killed before its last AgentEval
    results = all_evals(run)
    write_summary(run, results)
    return results


def all_evals(run: GRPORun) -> dict[str, dict[str, EnvResult]]:
    """Every AgentEval of the run so far (this invocation's and earlier ones'), in step order."""
    paths = sorted(run.folder.path("eval").glob("step-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    return {path.stem: load_results(path) for path in paths}


def save_newest(loop, folder: Path, step: int) -> None:
    """``checkpoint-<step>``, then the older ones go: a GRPO checkpoint holds the policy and the
    optimizer, and only the newest is needed to resume."""
    loop.save(folder / f"checkpoint-{step}")
    for old in folder.glob("checkpoint-*"):
        if old.name != f"checkpoint-{step}":
            shutil.rmtree(old, ignore_errors=True)


def play_step(run: GRPORun, policy, step: int) -> tuple[list[dict[str, Any]], RolloutStats]:
    """The B x G episodes of ``step``: B tasks drawn with the step's seed, G samples of each."""
    config = run.config
    tasks = draw_tasks(config, step)
    jobs = [Job(env_id, task_id, sample) for env_id, task_id in tasks for sample in range(config.group_size)]
    settings = dataclasses.replace(
        run.rollout, seed=config.seed * 1000 + step, max_rounds=config.max_rounds(step)
    )
    stats = RolloutStats()
    records = rollout(
        policy, jobs, settings, progress=config.progress, desc=f"grpo step {step + 1}", stats=stats
    )
    return records, stats


def draw_tasks(config: GRPOConfig, step: int) -> list[tuple[str, int]]:
    """B distinct (env, task id) pairs of the instruction set, drawn with a seed of the step (a
    resumed run draws the same)."""
    pool = [
        (env, task)
        for env in config.envs
        for task in family(env).splits.ids(config.train_split)[: config.train_limit]
    ]
    rng = random.Random(config.seed * 1_000_003 + step)
    return rng.sample(pool, min(config.tasks_per_step, len(pool)))


@dataclass
class ExampleReport:
    episodes: int = 0
    trained_episodes: int = 0
    dropped: int = 0  # no agent turn fits max_length
    truncated: int = 0


def build_examples(policy, groups: list[Group], config: GRPOConfig) -> tuple[list[Example], ExampleReport]:
    """The episodes that carry weight: those of groups with spread and a non-zero advantage,
    tokenised with labels on their agent turns only."""
    from agentgym_rl.trajectory import tokenize_record

    report = ExampleReport(episodes=sum(len(g.records) for g in groups))
    max_length = min(config.max_length, policy.max_context)
    examples = []
    for group in groups:
        if group.zero_variance:
            continue
        for record, advantage in zip(group.records, group.advantages):
            if advantage == 0:
                continue
            tokens = tokenize_record(record, policy.tokenizer, max_length)
            if tokens is None:
                report.dropped += 1
                continue
            report.truncated += tokens.truncated
            examples.append(Example(tokens, advantage))
    report.trained_episodes = len(examples)
    return examples, report


def step_metrics(
    step: int,
    groups: list[Group],
    report: ExampleReport,
    stats: RolloutStats,
    values: dict[str, float],
    max_rounds: int | None,
) -> dict[str, Any]:
    """One metrics.jsonl line of a step (CleanRL's per-step log)."""
    records = [r for g in groups for r in g.records]
    advantages = [a for g in groups for a in g.advantages]
    mean_advantage = sum(advantages) / len(advantages)
    spread = math.sqrt(sum((a - mean_advantage) ** 2 for a in advantages) / len(advantages))
    return {
        "step": step,
        "mean_reward": round(sum(float(r["reward"]) for r in records) / len(records), 4),
        "success_rate": round(sum(bool(r["success"]) for r in records) / len(records), 4),
        "advantage_std": round(spread, 4),
        "zero_variance_share": round(sum(g.zero_variance for g in groups) / len(groups), 4),
        "kl": round(values.get("kl", 0.0), 6),
        "clip_fraction": round(values.get("clip_fraction", 0.0), 4),
        "entropy": round(values.get("entropy", 0.0), 4),
        "loss": round(values.get("loss", 0.0), 6),
        "learning_rate": values.get("lr", 0.0),
        "tokens_per_second": round(stats.tokens_per_second, 1),
        "episodes_per_minute": round(stats.episodes_per_minute, 1),
        "episodes": report.episodes,
        "trained_episodes": report.trained_episodes,
        "truncated_episodes": report.truncated,
        "max_rounds": max_rounds or 0,
    }


# ------------------------------------------------------------------------------ start and eval
def starting_point(run: GRPORun) -> tuple[Path, list[dict[str, Any]]]:
    """The starting checkpoint and expert data (for the reply budget): ``--model`` when it is a
    checkpoint folder; else BC-base on AgentTraj as ``agentgym evolve`` trains it, in
    ``bc-base/`` of the run folder (resumable the same way)."""
    from agentgym_rl.agentevol import (
        AgentEvolConfig,
        EvolveBCConfig,
        EvolveRolloutConfig,
        agentevol,
        shorten_thoughts,
    )

    config = run.config
    if Path(run.model.model).is_dir():
        expert = [
            record
            for env in config.envs
            for record in expert_trajectories(env, "agenttraj", limit=20, progress=False)[0]
        ]
        return Path(run.model.model), shorten_thoughts(expert, config.thought_words)
    bc_dir = run.folder.path("bc-base")
    evolve = AgentEvolConfig(
        envs=config.envs,
        run_dir=str(bc_dir),
        iterations=0,
        eval_limit=config.eval_limit,
        thought_words=config.thought_words,
        progress=config.progress,
        rollout=EvolveRolloutConfig(
            concurrency=config.rollout.concurrency,
            max_new_tokens=config.rollout.max_new_tokens,
            max_rounds=config.rollout.max_rounds,
            prefix_cache=config.rollout.prefix_cache,
            env_server=config.rollout.env_server,
        ),
    )
    bc = EvolveBCConfig(
        epochs=config.bc_epochs, seed=config.seed, report_to=config.report_to, bf16=config.bf16
    )
    agentevol(evolve, bc, run.model)
    expert = json.loads((bc_dir / "data" / "agenttraj.json").read_text(encoding="utf-8"))
    return bc_dir / "checkpoints" / "bc-base", expert


def reply_budget(policy, expert: list[dict[str, Any]], max_new_tokens: int) -> int:
    from agentgym_rl.agentevol import reply_budget as evolve_budget

    return evolve_budget(policy, expert, max_new_tokens) if expert or max_new_tokens > 0 else 96


def reference_model(run: GRPORun, start: Path):
    """The frozen starting model the KL term pulls toward (loaded only when beta > 0)."""
    reference = run.model.load(name=str(start), lora=False, seed=run.config.seed).model
    reference.eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def evaluated(run: GRPORun, step: int, policy) -> dict[str, EnvResult]:
    """AgentEval on the test split after ``step`` steps (loaded if already done); the env's own
    round limit, whatever the curriculum's, so every column is comparable."""
    results, stats = evaluate_once(
        policy,
        run.config.envs,
        run.folder.path("eval", f"step-{step}.json"),
        f"step-{step}",
        limit=run.config.eval_limit,
        config=run.rollout.for_rollout(greedy=True),
        progress=run.config.progress,
    )
    if stats is None:
        return results
    run.folder.record(
        "eval",
        f"step-{step}",
        step=step,
        **{env: result.as_dict() for env, result in results.items()},
        tokens_per_second=round(stats.tokens_per_second, 1),
        episodes_per_minute=round(stats.episodes_per_minute, 1),
        seconds=round(stats.wall_seconds, 1),
    )
    for env_id, result in results.items():
        run.folder.log(
            f"step {step} AgentEval {short_name(env_id)}: success {100 * result.success_rate:.1f}%, "
            f"score {result.mean_score:.3f}"
        )
    return results


def write_summary(run: GRPORun, results: dict[str, dict[str, EnvResult]]) -> str:
    """summary.md: AgentEval at the start against the end (and each eval between)."""
    config = run.config
    table = results_table(results)
    text = (
        f"# {config.estimator.upper()}: {', '.join(config.envs)}\n\n"
        f"Model `{run.model.model}`, {config.steps} steps of B={config.tasks_per_step} tasks x "
        f"G={config.group_size} episodes, {config.updates_per_batch} update(s) a batch, beta {config.beta}, "
        f"rounds schedule `{config.rounds_schedule or 'none'}`.\n\n"
        "AgentEval (test split), each cell: success % [95% Wilson interval] / mean score.\n\n"
        f"{table}\n\nWall time of this invocation: {run.folder.minutes():.1f} min.\n"
    )
    atomic_write_text(run.folder.path("summary.md"), text)
    return table


def step_lines(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-step training lines of a run's metrics.jsonl, latest per step, in step order."""
    metrics = RunDir(run_dir).metrics()
    lines = [entry for (event, _), entry in metrics.items() if event == "train"]
    return sorted(lines, key=lambda line: line["step"])


__all__ = [
    "GRPOConfig",
    "GRPORolloutConfig",
    "group_advantages",
    "grpo",
    "k3_kl",
    "make_groups",
    "policy_loss",
    "step_lines",
]
