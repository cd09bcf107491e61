"""One training loop for every trainer (BC, AgentEvol, GRPO/RLOO), CleanRL style.

The caller plans the work (which examples go in which micro-batch of which optimizer step) and
gives a loss over one micro-batch; the loop owns everything else, once:

- AdamW over the trainable parameters, the learning-rate schedule (linear warmup, then cosine,
  linear or constant decay: :func:`lr_factor`), gradient accumulation and clipping;
- logging: a loss-curve point every ``log_every`` steps (loss, learning rate, tokens/s and any
  number the loss reports) to the returned metrics and to a :class:`~agentgym_rl.trackers.Tracker`
  (TensorBoard, W&B);
- checkpoints: ``checkpoint-N`` (the policy, loadable on its own, plus the optimizer state and
  the trainable weights) every ``save_every`` steps, and resuming from the newest one, refused
  when it was written for other data or settings (a fingerprint the caller computes).

A micro-batch's loss is a *sum* over its tokens (:class:`MicroLoss`); the loop divides it by
the whole step's normaliser, so accumulating k micro-batches equals one batch of all of them.
The loss may carry signed weights per trajectory or per token (advantages): see
:func:`step_normaliser` for why the normaliser is then sum(|w| x tokens), not sum(w x tokens).

:class:`TrainConfig` is the base of every trainer's config (TRL's layout: ``BCConfig`` in
:mod:`agentgym_rl.bc`, ``GRPOConfig`` in :mod:`agentgym_rl.grpo` on top of it).
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from agentgym_rl.trackers import Tracker, check_report_to

LR_SCHEDULES = ("cosine", "linear", "constant")
TRAINER_STATE = "trainer_state.pt"
# Settings that do not change what is learned: a run may resume with other values.
RESUME_FREE = {"save_dir", "save_every", "log_every", "resume", "report_to"}


@dataclass
class TrainConfig:
    """What every trainer shares: the optimiser and its schedule, and the run's plumbing
    (checkpoints, logging). Every field is also a flag of the commands that train."""

    learning_rate: float = field(
        default=5e-4,
        metadata={
            "help": "peak AdamW learning rate (from-scratch tiny models like ~5e-4; full fine-tuning "
            "of a pretrained model ~1e-5; LoRA ~2e-4)"
        },
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    bf16: bool = field(
        default=False, metadata={"help": "bfloat16 autocast (on a CPU, faster where it has bf16 units)"}
    )
    seed: int = field(default=0, metadata={"help": "seed for batch order and any randomness in the model"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    warmup_ratio: float = field(
        default=0.03, metadata={"help": "fraction of steps with a linear learning-rate warmup"}
    )
    lr_schedule: Literal["cosine", "linear", "constant"] = field(
        default="cosine", metadata={"help": "learning-rate decay after warmup: cosine | linear | constant"}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (0 disables)"})
    log_every: int = field(
        default=10, metadata={"help": "optimizer steps between log lines / loss-curve points"}
    )
    save_dir: str | None = field(
        default=None,
        metadata={"help": "where to save the trained policy and metrics.json", "aliases": ["--out"]},
    )
    save_every: int = field(
        default=0,
        metadata={
            "help": "also save a resumable checkpoint-N in save_dir every N steps (0: only the final model)"
        },
    )
    report_to: list[str] = field(
        default_factory=lambda: ["tensorboard"],
        metadata={
            "help": "where training curves go: tensorboard (event files under the output folder), "
            "wandb (if installed), none"
        },
    )
    resume: bool = field(
        default=True,
        metadata={
            "help": "continue from the newest checkpoint-N in save_dir (it must come from the same data "
            "and settings); --no_resume starts over"
        },
    )

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, not {self.lr_schedule!r}"
            )
        for name in ("gradient_accumulation_steps", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if not 0 <= self.warmup_ratio < 1 or self.save_every < 0:
            raise ValueError("warmup_ratio must be in [0, 1) and save_every >= 0")
        check_report_to(self.report_to)


# ------------------------------------------------------------------------------ schedule
def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """The learning rate of optimizer step ``step`` (0-based) as a fraction of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - progress
    return 1.0


# ------------------------------------------------------------------------------ losses
@dataclass
class MicroLoss:
    """What a loss function returns for one micro-batch: ``total``, the *sum* of its weighted
    per-token losses (the loop divides by the step's normaliser); ``tokens``, the tokens it ran
    through the model (for tokens/s); ``stats``, sums of anything worth logging (each divided
    by the step's normaliser too, so e.g. a per-token entropy sum becomes a mean)."""

    total: torch.Tensor
    tokens: int
    stats: dict[str, float] = field(default_factory=dict)


def step_normaliser(weights: Sequence[float], token_counts: Sequence[int]) -> float:
    """The denominator of a step's loss: sum_i |w_i| x tokens_i over all its micro-batches.

    With non-negative weights this is BC's sum(w x tokens): the mean NLL per token, invariant to
    scaling every weight. With signed weights (advantages), sum(w x tokens) can be near zero or
    negative (positive and negative advantages cancel), which would blow the step up or flip the
    sign of every gradient; |w| keeps it positive, keeps the scale invariance, and makes each
    record's pull proportional to |w| x its tokens, as with positive weights."""
    total = sum(abs(w) * n for w, n in zip(weights, token_counts))
    if total <= 0:
        raise ValueError("a step whose every weight is 0 teaches nothing; leave such records out")
    return total


# ------------------------------------------------------------------------------ the loop
LossFn = Callable[[Any], MicroLoss]


class TrainLoop:
    """AdamW, schedule, accumulation, clipping, logging and checkpoints of one training run of
    ``total_steps`` optimizer steps on ``policy`` (an :class:`~agentgym_rl.policy.LLMPolicy`).

    Either :meth:`run` a plan of steps whole (BC), or call :meth:`step` as data arrives (online
    RL) and :meth:`save` where the caller's own resume point is."""

    def __init__(
        self,
        policy,
        config: TrainConfig,
        total_steps: int,
        *,
        fingerprint: str = "",
        tracker: Tracker | None = None,
        tag: str = "train",
        schedule: Callable[[int, int, int, str], float] = lr_factor,
        progress: bool = True,
        desc: str = "train",
    ):
        self.policy = policy
        self.config = config
        self.total_steps = total_steps
        self.fingerprint = fingerprint
        self.tracker = tracker
        self.tag = tag
        self.schedule = schedule
        self.progress = progress
        self.desc = desc
        torch.manual_seed(config.seed)
        self.model = policy.model
        self.model.train()
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.parameters, lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.warmup = math.ceil(config.warmup_ratio * total_steps)
        self.steps_done = 0
        self.resumed_at_step = 0
        self.loss_curve: list[dict[str, float]] = []
        self.tokens_seen = 0
        self.extra_state: dict[str, Any] = {}
        self._window: dict[str, float] = {}
        self._window_steps, self._window_tokens = 0, 0
        self._window_start = time.perf_counter()

    # -------------------------------------------------------------------------- one step
    def learning_rate(self, step: int) -> float:
        return self.config.learning_rate * self.schedule(
            step, self.total_steps, self.warmup, self.config.lr_schedule
        )

    def step(self, micro_batches: Sequence[Any], loss_fn: LossFn, normaliser: float) -> dict[str, float]:
        """One optimizer step over ``micro_batches``: each one's ``loss_fn`` total divided by
        ``normaliser`` (the whole step's, so accumulation equals one big batch), backward, clip,
        AdamW. Returns the step's loss, learning rate and the loss's stats. Logs a curve point
        every ``log_every`` steps and checkpoints every ``save_every``."""
        step = self.steps_done
        learning_rate = self.learning_rate(step)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        values: dict[str, float] = {"loss": 0.0}
        for batch in micro_batches:
            result = loss_fn(batch)
            loss = result.total / normaliser
            loss.backward()
            values["loss"] += loss.item()
            for name, value in result.stats.items():
                values[name] = values.get(name, 0.0) + float(value) / normaliser
            self._window_tokens += result.tokens
        if self.config.max_grad_norm > 0:
            values["grad_norm"] = float(
                torch.nn.utils.clip_grad_norm_(self.parameters, self.config.max_grad_norm)
            )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps_done = step + 1
        for name, value in values.items():
            self._window[name] = self._window.get(name, 0.0) + value
        self._window_steps += 1
        if self._window_steps == self.config.log_every or self.steps_done == self.total_steps:
            self._log_point(learning_rate)
        if self.config.save_dir and self.config.save_every and self.steps_done % self.config.save_every == 0:
            self.save(Path(self.config.save_dir) / f"checkpoint-{self.steps_done}")
        return {**values, "lr": learning_rate}

    def _log_point(self, learning_rate: float) -> None:
        elapsed = time.perf_counter() - self._window_start
        point = {"step": self.steps_done, "loss": self._window.pop("loss") / self._window_steps}
        point.update(lr=learning_rate, tokens_per_second=self._window_tokens / max(elapsed, 1e-9))
        point.update({name: value / self._window_steps for name, value in self._window.items()})
        self.loss_curve.append(point)
        if self.tracker is not None:
            self.tracker.log(
                {k: v for k, v in point.items() if k != "step"}, step=self.steps_done, prefix=f"{self.tag}/"
            )
        self.tokens_seen += self._window_tokens
        self._window, self._window_steps, self._window_tokens = {}, 0, 0
        self._window_start = time.perf_counter()

    # -------------------------------------------------------------------------- a planned run
    def run(
        self,
        steps: Sequence[Sequence[Any]],
        loss_fn: LossFn,
        normaliser: Callable[[Sequence[Any]], float],
        stop_after: Callable[[int], bool] | None = None,
    ) -> dict[str, Any]:
        """Every planned step from the first one not done yet (after :meth:`resume`); returns the
        run's metrics. ``normaliser(micro_batches)`` is each step's denominator. ``stop_after``
        (early stopping) is called with the steps done after each step; True ends the run there."""
        from tqdm.auto import tqdm

        if len(steps) != self.total_steps:
            raise ValueError(f"{len(steps)} planned steps for a loop of {self.total_steps}")
        train_start, tokens_before = time.perf_counter(), self.tokens_seen
        bar = tqdm(
            total=len(steps), initial=self.steps_done, desc=self.desc, unit="step", disable=not self.progress
        )
        for micro_batches in steps[self.steps_done :]:
            self.step(micro_batches, loss_fn, normaliser(micro_batches))
            bar.update(1)
            if self._window_steps == 0:  # a point was just logged
                point = self.loss_curve[-1]
                bar.set_postfix(loss=f"{point['loss']:.4f}", tok_s=f"{point['tokens_per_second']:.0f}")
            if stop_after is not None and self.steps_done < len(steps):
                self.model.eval()
                stop = stop_after(self.steps_done)
                self.model.train()
                if stop:
                    if self._window_steps:
                        self._log_point(self.learning_rate(self.steps_done - 1))
                    break
        bar.close()
        self.model.eval()
        train_seconds = time.perf_counter() - train_start
        return {
            "steps": self.steps_done,
            "final_loss": self.loss_curve[-1]["loss"] if self.loss_curve else float("nan"),
            "loss_curve": self.loss_curve,
            "tokens": self.tokens_seen,
            "tokens_per_second": (self.tokens_seen - tokens_before) / max(train_seconds, 1e-9),
            "resumed_at_step": self.resumed_at_step,
            "train_seconds": train_seconds,
        }

    # -------------------------------------------------------------------------- checkpoints
    def save(self, path: Path) -> None:
        """``checkpoint-N``: the policy (loadable on its own) plus what resuming needs, written
        to a temporary folder and renamed, so a checkpoint is either complete or absent."""
        state = {
            "step": self.steps_done,
            "fingerprint": self.fingerprint,
            "loss_curve": self.loss_curve,
            "tokens_seen": self.tokens_seen,
            "optimizer": self.optimizer.state_dict(),
            "trainable": {n: p.detach() for n, p in self.model.named_parameters() if p.requires_grad},
            "extra": self.extra_state,
        }
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        self.model.eval()
        self.policy.save(partial)
        self.model.train()
        torch.save(state, partial / TRAINER_STATE)
        shutil.rmtree(path, ignore_errors=True)
        partial.rename(path)

    def resume(self, folder: str | Path | None = None) -> Path | None:
        """Continue from the newest ``checkpoint-N`` in ``folder`` (default ``save_dir``) when
        ``resume`` is on; returns it (None: starting fresh). Refuses a checkpoint written for
        other data or settings."""
        latest = newest_checkpoint(folder or self.config.save_dir) if self.config.resume else None
        if latest is None:
            return None
        state = torch.load(latest / TRAINER_STATE, map_location="cpu", weights_only=True)
        if state["fingerprint"] != self.fingerprint:
            raise ValueError(
                f"{latest} was written by a run with other data or settings; "
                "use another save_dir, or --no_resume to start over"
            )
        trainable = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        if set(trainable) != set(state["trainable"]):
            raise ValueError(f"{latest} holds other trainable weights than this model (LoRA or not?)")
        with torch.no_grad():
            for name, value in state["trainable"].items():
                trainable[name].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps_done = self.resumed_at_step = state["step"]
        self.loss_curve, self.tokens_seen = state["loss_curve"], state["tokens_seen"]
        self.extra_state = state.get("extra", {})
        return latest


def newest_checkpoint(folder: str | Path | None) -> Path | None:
    """The complete ``checkpoint-N`` with the largest N in ``folder`` (None if there is none)."""
    if not folder or not Path(folder).is_dir():
        return None
    complete = [
        path
        for path in Path(folder).glob("checkpoint-*")
        if path.name.split("-", 1)[1].isdigit() and (path / TRAINER_STATE).is_file()
    ]
    return max(complete, key=lambda path: int(path.name.split("-", 1)[1]), default=None)


__all__ = [
    "LR_SCHEDULES",
    "RESUME_FREE",
    "MicroLoss",
    "TrainConfig",
    "TrainLoop",
    "lr_factor",
    "newest_checkpoint",
    "step_normaliser",
]
