"""Behavioural cloning on AgentTraj records: its config, the weighted NLL and the data planning,
trained by the one loop (:mod:`agentgym_rl.train_loop`).

The loss is the negative log-likelihood of the action tokens (the content and end-of-turn token
of every ``gpt`` turn with ``loss`` true; see :mod:`agentgym_rl.trajectory`), optionally weighted
per record for reward-weighted regression (AgentEvol). Over the records ``B`` of one optimizer
step (all its gradient-accumulation micro-batches together)::

    loss = sum_{i in B} w_i * sum_{t in actions(i)} -log p(token_t | tokens_<t)
           / sum_{i in B} w_i * |actions(i)|

so with every ``w_i = 1`` it is the mean NLL per action token, scaling all weights by a constant
changes nothing, and a record's pull is proportional to its weight and its number of action
tokens. Records with weight 0 are removed before batching: they have no influence at all.
:func:`train_weighted` also takes negative weights (AgentEvol's advantage weighting: lower the
likelihood of a failed trajectory); then every record counts by its weight alone::

    loss = sum_{i in B} w_i * mean_{t in actions(i)} -log p(token_t | tokens_<t) / sum_{i in B} |w_i|

A negative weight alone has no floor (its NLL grows without bound), so each token of a negative
record stops being pushed down once its probability is below (1 - ``negative_clip``) times the
probability the starting model gave it (``negative_clip`` is an argument of :func:`train_weighted`,
0.2 by default): the token's NLL in the loss is ``min(NLL, NLL_start - log(1 - negative_clip))``,
PPO's clipped objective for a negative advantage (the ratio p / p_start clipped at 1 - eps), with
the starting model as the old policy.

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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from agentgym_rl.policy import LLMPolicy, pad_right
from agentgym_rl.trackers import Tracker
from agentgym_rl.train_loop import (
    RESUME_FREE,
    MicroLoss,
    TrainConfig,
    TrainLoop,
    lr_factor,
    step_normaliser,
)
from agentgym_rl.trajectory import IGNORE_INDEX, TokenizedRecord, pack_by_length, tokenize_records

BUCKET_BATCHES = 16  # micro-batches per length bucket: sorting within it trims padding


@dataclass
class BCConfig(TrainConfig):
    """Behavioural cloning settings: the loop's (:class:`~agentgym_rl.train_loop.TrainConfig`)
    plus the data's; every field is also an ``agentgym bc`` flag."""

    epochs: float = field(default=3.0, metadata={"help": "passes over the data (a fraction stops part way)"})
    batch_tokens: int = field(
        default=4096,
        metadata={
            "help": "most padded tokens in one micro-batch (bounds memory; lower for big vocabularies)"
        },
    )
    max_length: int = field(
        default=2048,
        metadata={"help": "longest tokenised record; longer ones are cut at a turn boundary (counted)"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("batch_tokens", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.epochs <= 0:
            raise ValueError("epochs must be positive")


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


# ------------------------------------------------------------------------------ loss
# Models whose logits are exactly ``lm_head(decoder(x))``: no scaling or soft-capping after it.
PLAIN_HEAD_MODELS = {"llama", "mistral", "qwen2", "qwen3"}


def weighted_token_nll(
    model,
    input_ids,
    attention_mask,
    labels,
    weights: torch.Tensor,
    bf16: bool,
    nll_cap: torch.Tensor | None = None,
) -> torch.Tensor:
    """sum_i w_i * (NLL of row i's labelled tokens): the numerator of the module doc's loss.
    ``nll_cap`` (one value per labelled token, row-major; inf where unbounded) caps each token's
    NLL, so a token past its cap has no gradient: the floor of a negative weight."""
    token_nll = labelled_token_nll(model, input_ids, attention_mask, labels, bf16)
    if nll_cap is not None:
        token_nll = torch.minimum(token_nll, nll_cap)
    row_of_token = (labels[:, 1:] != IGNORE_INDEX).nonzero()[:, 0]
    return (token_nll * weights[row_of_token]).sum()


def labelled_token_nll(model, input_ids, attention_mask, labels, bf16: bool) -> torch.Tensor:
    """-log p of every labelled token, row-major (all of row 0's, then row 1's...)."""
    # Position t predicts token t + 1; only labelled positions enter the cross-entropy.
    targets = labels[:, 1:]
    picked = targets != IGNORE_INDEX
    with torch.autocast(input_ids.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = action_logits(model, input_ids, attention_mask, picked)
    return F.cross_entropy(logits.float(), targets[picked], reduction="none")


@torch.no_grad()
def negative_nll_caps(
    policy: LLMPolicy,
    examples: list[TokenizedRecord],
    weights: list[float],
    config: BCConfig,
    negative_clip: float,
) -> dict[int, torch.Tensor]:
    """Per-token NLL caps of every negative-weight example (by its place in ``examples``): its
    NLL under the starting model plus -log(1 - negative_clip). Computed before training and
    before a resume, so a resumed run caps with the same starting model."""
    if not negative_clip:
        return {}
    negative = sorted(
        (i for i, e in enumerate(examples) if weights[e.index] < 0), key=lambda i: len(examples[i].input_ids)
    )
    lengths = {i: len(examples[i].input_ids) for i in negative}
    slack = -math.log(1 - negative_clip)
    was_training = policy.model.training
    policy.model.eval()
    caps: dict[int, torch.Tensor] = {}
    for batch in pack_by_length(negative, lengths, config.batch_tokens):
        rows = [examples[i] for i in batch]
        input_ids, attention_mask, labels = collate(rows, policy.pad_token_id, policy.device)
        nll = labelled_token_nll(policy.model, input_ids, attention_mask, labels, config.bf16)
        for i, part in zip(batch, nll.split([e.trainable_tokens for e in rows])):
            caps[i] = part + slack
    policy.model.train(was_training)
    return caps


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
    stop_after: Callable[[int], bool] | None = None,
) -> dict[str, Any]:
    """Train ``policy`` in place on ``records``; returns the final metrics (also written to
    ``save_dir/metrics.json`` with the policy when ``save_dir`` is set). ``tracker`` gets every
    loss-curve point under ``<tag>/`` (TensorBoard, W&B). Weights must be non-negative: BC
    imitates; :func:`train_weighted` takes signed ones. ``stop_after(steps_done)`` returning
    True ends training early (validation-based early stopping; the policy is left in eval mode)."""
    return train_weighted(
        policy,
        records,
        config,
        check_weights(weights, len(records)),
        progress,
        tracker,
        tag,
        name="bc",
        stop_after=stop_after,
    )


def train_weighted(
    policy: LLMPolicy,
    records: list[dict[str, Any]],
    config: BCConfig,
    weights: list[float],
    progress: bool = True,
    tracker: Tracker | None = None,
    tag: str = "train",
    name: str = "bc",
    stop_after: Callable[[int], bool] | None = None,
    negative_clip: float = 0.2,
) -> dict[str, Any]:
    """The weighted NLL of the module doc through :class:`~agentgym_rl.train_loop.TrainLoop`;
    weights may be negative (a trajectory to move away from: AgentEvol's advantage weighting).

    With any negative weight, each record's pull is its weight alone, not its weight times its
    tokens: a record's NLL is its mean over its action tokens, and the step's denominator is
    sum |w|. Summed per token, the failures (the long episodes: they run to the round limit)
    outvote the successes on the tokens every reply shares. Pushing a likelihood down has no
    floor of its own: many steps on the same negative records unlearned the reply format
    (docs/benchmarks.md, "What learns after BC"). ``negative_clip`` is the floor: a negative
    record's token stops being pushed once its probability is below (1 - negative_clip) x the
    starting model's (0: no floor)."""
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if any(not math.isfinite(w) for w in weights):
        raise ValueError("weights must be finite")
    if not 0 <= negative_clip < 1:
        raise ValueError(f"negative_clip must be in [0, 1), not {negative_clip}")
    # 1. Data: tokenise with loss masks, leave out zero-weight records, plan every step.
    max_length = min(config.max_length, policy.max_context)
    examples, report = tokenize_records(records, policy.tokenizer, max_length)
    examples = [e for e in examples if weights[e.index] != 0]
    if not examples:
        raise ValueError(f"nothing to train on: {report.summary()}")
    say = tqdm.write if progress else (lambda _: None)
    say(f"{name}: {report.summary()}")
    steps = plan_training({i: len(e.input_ids) for i, e in enumerate(examples)}, config)

    # 2. The loop, from the newest matching checkpoint if there is one. Only checkpoints need
    # the fingerprint, and it reads every token of the data.
    fingerprint = (
        run_fingerprint(config, examples, weights, len(steps), negative_clip) if config.save_dir else ""
    )
    loop = TrainLoop(
        policy,
        config,
        len(steps),
        fingerprint=fingerprint,
        tracker=tracker,
        tag=tag,
        # Looked up at each call, so bc.lr_factor can be replaced (tests stop a run mid-way).
        schedule=lambda *args: lr_factor(*args),
        progress=progress,
        desc=name,
    )
    per_record = any(w < 0 for w in weights)
    # The floor of the negative weights comes from the starting model: before any resume.
    caps = negative_nll_caps(policy, examples, weights, config, negative_clip) if per_record else {}
    latest = loop.resume()
    if latest is not None:
        say(f"{name}: resumed from {latest} (step {loop.steps_done} of {len(steps)})")

    def token_weight(example: TokenizedRecord) -> float:
        return weights[example.index] / (example.trainable_tokens if per_record else 1)

    def loss_fn(batch: list[int]) -> MicroLoss:
        batch_examples = [examples[i] for i in batch]
        input_ids, attention_mask, labels = collate(batch_examples, policy.pad_token_id, policy.device)
        row_weights = torch.tensor([token_weight(e) for e in batch_examples], device=policy.device)
        cap = None
        if any(i in caps for i in batch):
            unbounded = [torch.full((e.trainable_tokens,), math.inf) for e in batch_examples]
            cap = torch.cat([caps.get(i, free) for i, free in zip(batch, unbounded)]).to(policy.device)
        total = weighted_token_nll(
            policy.model, input_ids, attention_mask, labels, row_weights, config.bf16, cap
        )
        return MicroLoss(total, int(attention_mask.sum()))

    def normaliser(micro_batches: list[list[int]]) -> float:
        chosen = [examples[i] for batch in micro_batches for i in batch]
        tokens = [1 if per_record else e.trainable_tokens for e in chosen]
        return step_normaliser([weights[e.index] for e in chosen], tokens)

    # 3. Train, then the metrics (and the trained policy).
    metrics = loop.run(steps, loss_fn, normaliser, stop_after)
    metrics.update(
        epochs=config.epochs,
        examples=len(examples),
        seconds=time.perf_counter() - started,
        data=asdict(report),
        config=asdict(config),
    )
    loss, speed = metrics["final_loss"], metrics["tokens_per_second"]
    say(f"{name}: {metrics['steps']} steps, final loss {loss:.4f}, {speed:.0f} tok/s")
    if config.save_dir:
        policy.save(config.save_dir)
        (Path(config.save_dir) / "metrics.json").write_text(
            json.dumps(metrics, indent=1) + "\n", encoding="utf-8"
        )
    return metrics


# ------------------------------------------------------------------------------ checkpoints
def run_fingerprint(
    config: BCConfig,
    examples: list[TokenizedRecord],
    weights: list[float],
    steps: int,
    negative_clip: float = 0.2,
) -> str:
    """A hash of everything that decides the trained weights except the starting model."""
    digest = hashlib.sha256()
    settings = {k: v for k, v in asdict(config).items() if k not in RESUME_FREE}
    # The floor decides only signed runs: other fingerprints stay as they were.
    extra = [negative_clip] if any(weights[e.index] < 0 for e in examples) else []
    digest.update(json.dumps([settings, steps, *extra], sort_keys=True).encode())
    for example in examples:
        digest.update(json.dumps([example.input_ids, example.labels, weights[example.index]]).encode())
    return digest.hexdigest()


def check_weights(weights: list[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0] * count
    if len(weights) != count:
        raise ValueError(f"{len(weights)} weights for {count} records")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError("weights must be finite and non-negative")
    return [float(w) for w in weights]


__all__ = ["BCConfig", "train_bc", "train_weighted"]
