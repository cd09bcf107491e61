"""Behavioural cloning on AgentTraj records, CleanRL style: one trainer, top to bottom.

The loss is the negative log-likelihood of the action tokens (the content and end-of-turn token
of every ``gpt`` turn with ``loss`` true; see :mod:`agentgym_rl.trajectory`), optionally weighted
per record for reward-weighted regression (AgentEvol). Over the records ``B`` of one optimizer
step (all its gradient-accumulation micro-batches together)::

    loss = sum_{i in B} w_i * sum_{t in actions(i)} -log p(token_t | tokens_<t)
           / sum_{i in B} w_i * |actions(i)|

so with every ``w_i = 1`` it is the mean NLL per action token, scaling all weights by a constant
changes nothing, and a record's pull is proportional to its weight and its number of action
tokens. Records with weight 0 are removed before batching: they have no influence at all.

Batches are length-grouped: each epoch the records are shuffled, cut into buckets of about
``BUCKET_BATCHES`` micro-batches, sorted by length inside a bucket and packed into micro-batches
of at most ``batch_tokens`` padded tokens; then the micro-batches are shuffled. Similar lengths
share a batch, so little compute goes to padding, while the order still changes every epoch.

With ``save_every`` a run is resumable: every step is planned up front from the seed, so a
``checkpoint-N`` (the policy plus the optimizer state and the trainable weights) is all a rerun
needs to continue at step N + 1 and end with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from agentgym_rl.policy import LLMPolicy, pad_right
from agentgym_rl.trackers import Tracker, check_report_to
from agentgym_rl.trajectory import IGNORE_INDEX, TokenizedRecord, pack_by_length, tokenize_records

BUCKET_BATCHES = 16  # micro-batches per length bucket: sorting within it trims padding


@dataclass
class BCConfig:
    """Behavioural cloning settings; every field is also an ``agentgym bc`` flag."""

    learning_rate: float = field(
        default=5e-4,
        metadata={
            "help": "peak AdamW learning rate (from-scratch tiny models like ~5e-4; full fine-tuning "
            "of a pretrained model ~1e-5; LoRA ~2e-4)"
        },
    )
    epochs: float = field(default=3.0, metadata={"help": "passes over the data (a fraction stops part way)"})
    batch_tokens: int = field(
        default=4096,
        metadata={
            "help": "most padded tokens in one micro-batch (bounds memory; lower for big vocabularies)"
        },
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    max_length: int = field(
        default=2048,
        metadata={"help": "longest tokenised record; longer ones are cut at a turn boundary (counted)"},
    )
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
        for name in ("batch_tokens", "gradient_accumulation_steps", "max_length", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.epochs <= 0 or self.learning_rate <= 0:
            raise ValueError("epochs and learning_rate must be positive")
        check_report_to(self.report_to)


# ------------------------------------------------------------------------------ batching
def plan_epoch(lengths: dict[int, int], batch_tokens: int, rng: random.Random) -> list[list[int]]:
    """Micro-batches (lists of example ids) for one epoch; see the module doc."""
    ids = list(lengths)
    rng.shuffle(ids)
    mean_length = sum(lengths.values()) / max(1, len(lengths))
    bucket_size = max(1, int(BUCKET_BATCHES * batch_tokens / mean_length))
    batches: list[list[int]] = []
    for start in range(0, len(ids), bucket_size):
        bucket = sorted(ids[start : start + bucket_size], key=lengths.__getitem__)
        batches += pack_by_length(bucket, lengths, batch_tokens)
    rng.shuffle(batches)
    return batches


def plan_training(lengths: dict[int, int], config: BCConfig) -> list[list[list[int]]]:
    """Every optimizer step up front (a list of micro-batches each), so the learning-rate
    schedule knows the exact step count. A fractional last epoch keeps its first part."""
    rng = random.Random(config.seed)
    micro_batches: list[list[int]] = []
    for epoch in range(math.ceil(config.epochs)):
        epoch_batches = plan_epoch(lengths, config.batch_tokens, rng)
        share = min(1.0, config.epochs - epoch)
        micro_batches += epoch_batches[: max(1, round(share * len(epoch_batches)))]
    group = config.gradient_accumulation_steps
    return [micro_batches[i : i + group] for i in range(0, len(micro_batches), group)]


def collate(examples: list[TokenizedRecord], pad_id: int, device) -> tuple[torch.Tensor, ...]:
    input_ids, attention_mask = pad_right([e.input_ids for e in examples], pad_id, device)
    labels, _ = pad_right([e.labels for e in examples], IGNORE_INDEX, device)
    return input_ids, attention_mask, labels


# ------------------------------------------------------------------------------ schedule
def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - progress
    return 1.0


LR_SCHEDULES = ("cosine", "linear", "constant")


# ------------------------------------------------------------------------------ loss
# Models whose logits are exactly ``lm_head(decoder(x))``: no scaling or soft-capping after it.
PLAIN_HEAD_MODELS = {"llama", "mistral", "qwen2", "qwen3"}


def weighted_token_nll(
    model, input_ids, attention_mask, labels, weights: torch.Tensor, bf16: bool
) -> torch.Tensor:
    """sum_i w_i * (NLL of row i's labelled tokens): the numerator of the module doc's loss."""
    # Position t predicts token t + 1; only labelled positions enter the cross-entropy.
    targets = labels[:, 1:]
    picked = targets != IGNORE_INDEX
    with torch.autocast(input_ids.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = action_logits(model, input_ids, attention_mask, picked)
    token_nll = F.cross_entropy(logits.float(), targets[picked], reduction="none")
    row_of_token = picked.nonzero()[:, 0]
    return (token_nll * weights[row_of_token]).sum()


def action_logits(model, input_ids, attention_mask, picked: torch.Tensor) -> torch.Tensor:
    """Logits of the positions that predict a labelled token, one row each.

    Where the head is a plain linear layer only those positions go through it: the head and
    its softmax are a large share of a small model's compute, and most positions (observations,
    instructions) are not trained on. Other models take the ordinary forward."""
    if getattr(model.config, "model_type", None) in PLAIN_HEAD_MODELS:
        decoder = model.get_decoder()
        hidden = decoder(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        ).last_hidden_state
        return model.get_output_embeddings()(hidden[:, :-1][picked])
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    return logits[:, :-1][picked]


# ------------------------------------------------------------------------------ trainer
def train_bc(
    policy: LLMPolicy,
    records: list[dict[str, Any]],
    config: BCConfig,
    weights: list[float] | None = None,
    progress: bool = True,
    tracker: Tracker | None = None,
    tag: str = "train",
) -> dict[str, Any]:
    """Train ``policy`` in place on ``records``; returns the final metrics (also written to
    ``save_dir/metrics.json`` with the policy when ``save_dir`` is set). ``tracker`` gets every
    loss-curve point under ``<tag>/`` (TensorBoard, W&B)."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    weights = check_weights(weights, len(records))
    # 1. Data: tokenise with loss masks, leave out zero-weight records, plan every step.
    max_length = min(config.max_length, policy.max_context)
    examples, report = tokenize_records(records, policy.tokenizer, max_length)
    examples = [e for e in examples if weights[e.index] > 0]
    if not examples:
        raise ValueError(f"nothing to train on: {report.summary()}")
    say = tqdm.write if progress else (lambda _: None)
    say(f"bc: {report.summary()}")
    steps = plan_training({i: len(e.input_ids) for i, e in enumerate(examples)}, config)

    # 2. Model and optimizer, from the newest matching checkpoint if there is one.
    torch.manual_seed(config.seed)
    model = policy.model
    model.train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = math.ceil(config.warmup_ratio * len(steps))
    # Only checkpoints need it, and it reads every token of the data.
    fingerprint = run_fingerprint(config, examples, weights, len(steps)) if config.save_dir else ""
    first_step, loss_curve, tokens_seen = 0, [], 0
    latest = newest_checkpoint(config.save_dir) if config.resume else None
    if latest is not None:
        first_step, loss_curve, tokens_seen = restore(latest, fingerprint, model, optimizer)
        say(f"bc: resumed from {latest} (step {first_step} of {len(steps)})")

    # 3. Loop: one optimizer step per planned group of micro-batches.
    window_loss, window_steps, window_tokens, window_start = 0.0, 0, 0, time.perf_counter()
    train_start, tokens_before = time.perf_counter(), tokens_seen
    bar = tqdm(total=len(steps), initial=first_step, desc="bc", unit="step", disable=not progress)
    for step, micro_batches in enumerate(steps[first_step:], start=first_step):
        learning_rate = config.learning_rate * lr_factor(step, len(steps), warmup, config.lr_schedule)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        # The denominator covers the whole step, so accumulation equals one big batch.
        denominator = sum(
            weights[examples[i].index] * examples[i].trainable_tokens for b in micro_batches for i in b
        )
        step_loss = 0.0
        for batch in micro_batches:
            batch_examples = [examples[i] for i in batch]
            input_ids, attention_mask, labels = collate(batch_examples, policy.pad_token_id, policy.device)
            row_weights = torch.tensor([weights[e.index] for e in batch_examples], device=policy.device)
            loss = (
                weighted_token_nll(model, input_ids, attention_mask, labels, row_weights, config.bf16)
                / denominator
            )
            loss.backward()
            step_loss += loss.item()
            window_tokens += int(attention_mask.sum())
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        window_loss, window_steps = window_loss + step_loss, window_steps + 1
        bar.update(1)
        if window_steps == config.log_every or step == len(steps) - 1:
            elapsed = time.perf_counter() - window_start
            point = {
                "step": step + 1,
                "loss": window_loss / window_steps,
                "lr": learning_rate,
                "tokens_per_second": window_tokens / elapsed,
            }
            loss_curve.append(point)
            if tracker is not None:
                tracker.log({k: v for k, v in point.items() if k != "step"}, step=step + 1, prefix=f"{tag}/")
            bar.set_postfix(loss=f"{point['loss']:.4f}", tok_s=f"{point['tokens_per_second']:.0f}")
            tokens_seen += window_tokens
            window_loss, window_steps, window_tokens, window_start = 0.0, 0, 0, time.perf_counter()
        if config.save_dir and config.save_every and (step + 1) % config.save_every == 0:
            trainer_state = {
                "step": step + 1,
                "fingerprint": fingerprint,
                "loss_curve": loss_curve,
                "tokens_seen": tokens_seen,
                "optimizer": optimizer.state_dict(),
                "trainable": {n: p.detach() for n, p in model.named_parameters() if p.requires_grad},
            }
            save_checkpoint(policy, Path(config.save_dir) / f"checkpoint-{step + 1}", trainer_state)
    bar.close()
    model.eval()
    train_seconds = time.perf_counter() - train_start

    # 4. Metrics (and the trained policy).
    metrics = {
        "steps": len(steps),
        "epochs": config.epochs,
        "examples": len(examples),
        "final_loss": loss_curve[-1]["loss"],
        "loss_curve": loss_curve,
        "tokens": tokens_seen,
        "tokens_per_second": (tokens_seen - tokens_before) / max(train_seconds, 1e-9),
        "resumed_at_step": first_step,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - started,
        "data": asdict(report),
        "config": asdict(config),
    }
    loss, speed = metrics["final_loss"], metrics["tokens_per_second"]
    say(f"bc: {len(steps)} steps, final loss {loss:.4f}, {speed:.0f} tok/s")
    if config.save_dir:
        policy.save(config.save_dir)
        (Path(config.save_dir) / "metrics.json").write_text(
            json.dumps(metrics, indent=1) + "\n", encoding="utf-8"
        )
    return metrics


# ------------------------------------------------------------------------------ checkpoints
TRAINER_STATE = "trainer_state.pt"
# Settings that do not change what is learned: a run may resume with other values.
RESUME_FREE = {"save_dir", "save_every", "log_every", "resume", "report_to"}


def run_fingerprint(
    config: BCConfig, examples: list[TokenizedRecord], weights: list[float], steps: int
) -> str:
    """A hash of everything that decides the trained weights except the starting model."""
    digest = hashlib.sha256()
    settings = {k: v for k, v in asdict(config).items() if k not in RESUME_FREE}
    digest.update(json.dumps([settings, steps], sort_keys=True).encode())
    for example in examples:
        digest.update(json.dumps([example.input_ids, example.labels, weights[example.index]]).encode())
    return digest.hexdigest()


def save_checkpoint(policy: LLMPolicy, path: Path, trainer_state: dict[str, Any]) -> None:
    """The policy (loadable on its own) plus what resuming needs, written to a temporary
    folder and renamed, so a checkpoint is either complete or absent."""
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    policy.model.eval()
    policy.save(partial)
    policy.model.train()
    torch.save(trainer_state, partial / TRAINER_STATE)
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)


def newest_checkpoint(save_dir: str | None) -> Path | None:
    if not save_dir or not Path(save_dir).is_dir():
        return None
    complete = [
        path
        for path in Path(save_dir).glob("checkpoint-*")
        if path.name.split("-", 1)[1].isdigit() and (path / TRAINER_STATE).is_file()
    ]
    return max(complete, key=lambda path: int(path.name.split("-", 1)[1]), default=None)


def restore(path: Path, fingerprint: str, model, optimizer) -> tuple[int, list[dict], int]:
    """Load a checkpoint's trainable weights and optimizer state; returns (steps done, loss
    curve so far, tokens seen). Refuses a checkpoint written for other data or settings."""
    state = torch.load(path / TRAINER_STATE, map_location="cpu", weights_only=True)
    if state["fingerprint"] != fingerprint:
        raise ValueError(
            f"{path} was written by a run with other data or settings; "
            "use another save_dir, or --no_resume to start over"
        )
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(trainable) != set(state["trainable"]):
        raise ValueError(f"{path} holds other trainable weights than this model (LoRA or not?)")
    with torch.no_grad():
        for name, value in state["trainable"].items():
            trainable[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    return state["step"], state["loss_curve"], state["tokens_seen"]


def check_weights(weights: list[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0] * count
    if len(weights) != count:
        raise ValueError(f"{len(weights)} weights for {count} records")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError("weights must be finite and non-negative")
    return [float(w) for w in weights]


__all__ = ["BCConfig", "train_bc"]
