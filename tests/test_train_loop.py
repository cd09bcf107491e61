"""The one training loop: signed weights train, stop and resume to the same weights, and a
negative weight lowers the likelihood of its tokens, down to the floor negative_clip sets."""

from __future__ import annotations

import pytest
from helpers import kill_training_at

torch = pytest.importorskip("torch")

from agentgym_rl import bc  # noqa: E402
from agentgym_rl.bc import BCConfig, train_weighted  # noqa: E402
from agentgym_rl.policy import LLMPolicy  # noqa: E402
from agentgym_rl.train_loop import (  # noqa: E402
    MicroLoss,
    TrainConfig,
    TrainLoop,
    lr_factor,
    newest_checkpoint,
    step_normaliser,
)
from agentgym_rl.trajectory import tokenize_records  # noqa: E402

SIGNS = [1.0, -0.5, 2.0, -1.0, 0.75, -0.25, 1.0, -2.0]


def parameters(policy: LLMPolicy) -> list[torch.Tensor]:
    return [p.detach().clone() for p in policy.model.parameters()]


def signed_run(policy, examples, config: TrainConfig, stop_at_step: int | None = None) -> TrainLoop:
    """Two records a micro-batch, two micro-batches a step, advantages of both signs."""
    steps = [[[0, 1], [2, 3]], [[4, 5], [6, 7]]] * 4
    loop = TrainLoop(policy, config, len(steps), fingerprint="signed", progress=False)
    loop.resume()

    def loss_fn(batch: list[int]) -> MicroLoss:
        if stop_at_step is not None and loop.steps_done == stop_at_step:
            raise KeyboardInterrupt  # killed mid-run
        chosen = [examples[i] for i in batch]
        input_ids, attention_mask, labels = bc.collate(chosen, policy.pad_token_id, "cpu")
        weights = torch.tensor([SIGNS[i] for i in batch])
        total = bc.weighted_token_nll(policy.model, input_ids, attention_mask, labels, weights, False)
        return MicroLoss(total, int(attention_mask.sum()))

    def normaliser(micro_batches: list[list[int]]) -> float:
        ids = [i for batch in micro_batches for i in batch]
        return step_normaliser([SIGNS[i] for i in ids], [examples[i].trainable_tokens for i in ids])

    loop.run(steps, loss_fn, normaliser)
    return loop


def test_a_signed_loss_stopped_and_resumed_ends_with_the_same_weights(
    tiny_policy_dir, maze_records, tmp_path
):
    tokenizer = LLMPolicy.load(tiny_policy_dir).tokenizer
    examples, _ = tokenize_records(maze_records[:8], tokenizer, 512)
    settings = dict(learning_rate=3e-3, warmup_ratio=0.2, log_every=2, report_to=["none"])
    whole = LLMPolicy.load(tiny_policy_dir)
    signed_run(whole, examples, TrainConfig(**settings))

    config = TrainConfig(**settings, save_dir=str(tmp_path / "run"), save_every=2)
    with pytest.raises(KeyboardInterrupt):
        signed_run(LLMPolicy.load(tiny_policy_dir), examples, config, stop_at_step=5)
    assert newest_checkpoint(tmp_path / "run").name == "checkpoint-4"

    resumed = LLMPolicy.load(tiny_policy_dir)
    loop = signed_run(resumed, examples, config)
    assert loop.resumed_at_step == 4 and loop.steps_done == 8
    assert all(torch.equal(a, b) for a, b in zip(parameters(resumed), parameters(whole)))
    assert not resumed.model.training  # handed back ready to generate


def test_a_floored_signed_run_resumes_to_the_same_weights(
    tiny_policy_dir, maze_records, tmp_path, monkeypatch
):
    # The floor comes from the starting model: a resumed run must cap with it, not with the
    # checkpoint it resumes from.
    settings = dict(learning_rate=3e-3, epochs=3, batch_tokens=1024, log_every=2, report_to=["none"])
    records, weights = maze_records[:8], SIGNS
    whole = LLMPolicy.load(tiny_policy_dir)
    expected = train_weighted(whole, records, BCConfig(**settings), weights, progress=False)
    assert expected["steps"] > 4

    config = BCConfig(**settings, save_dir=str(tmp_path / "run"), save_every=2)
    kill_training_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        train_weighted(LLMPolicy.load(tiny_policy_dir), records, config, weights, progress=False)
    monkeypatch.undo()

    resumed = LLMPolicy.load(tiny_policy_dir)
    metrics = train_weighted(resumed, records, config, weights, progress=False)
    assert metrics["resumed_at_step"] == 2 and metrics["steps"] == expected["steps"]
    assert all(torch.equal(a, b) for a, b in zip(parameters(resumed), parameters(whole)))


def test_a_checkpoint_of_another_fingerprint_is_refused(tiny_policy_dir, tmp_path):
    config = TrainConfig(save_dir=str(tmp_path), report_to=["none"])
    loop = TrainLoop(LLMPolicy.load(tiny_policy_dir), config, 4, fingerprint="a", progress=False)
    loop.save(tmp_path / "checkpoint-1")
    other = TrainLoop(LLMPolicy.load(tiny_policy_dir), config, 4, fingerprint="b", progress=False)
    with pytest.raises(ValueError, match="other data or settings"):
        other.resume()


def action_nll(policy: LLMPolicy, example) -> float:
    input_ids, attention_mask, labels = bc.collate([example], policy.pad_token_id, "cpu")
    with torch.no_grad():
        total = bc.weighted_token_nll(policy.model, input_ids, attention_mask, labels, torch.ones(1), False)
    return total.item() / example.trainable_tokens


@pytest.mark.parametrize("weight", [-1.0, 1.0])
def test_a_negative_weight_lowers_the_log_prob_of_its_tokens(tiny_policy_dir, maze_records, weight):
    policy = LLMPolicy.load(tiny_policy_dir)
    example = tokenize_records(maze_records[:1], policy.tokenizer, 512)[0][0]
    before = action_nll(policy, example)
    config = BCConfig(
        learning_rate=3e-3, epochs=10, warmup_ratio=0.0, lr_schedule="constant", report_to=["none"]
    )
    train_weighted(policy, maze_records[:1], config, [weight], progress=False, negative_clip=0.0)
    after = action_nll(policy, example)
    # Mean NLL per action token of an untrained model is ~ln(vocab) ~ 7.8; ten steps move it by
    # nats, far beyond any CPU's rounding.
    if weight < 0:
        assert after > before + 0.5
    else:
        assert after < before - 0.5


def test_the_negative_clip_is_a_floor_under_a_failures_likelihood(tiny_policy_dir, maze_records):
    def rise_after(epochs: int, negative_clip: float) -> float:
        policy = LLMPolicy.load(tiny_policy_dir)
        example = tokenize_records(maze_records[:1], policy.tokenizer, 512)[0][0]
        before = action_nll(policy, example)
        config = BCConfig(
            learning_rate=3e-3, epochs=epochs, warmup_ratio=0.0, lr_schedule="constant", report_to=["none"]
        )
        train_weighted(policy, maze_records[:1], config, [-1.0], progress=False, negative_clip=negative_clip)
        return action_nll(policy, example) - before

    # Without a floor, forty steps raise the failure's NLL per token by several nats and it keeps
    # rising; with the clip at 0.2 each token stops at -log(0.8) = 0.22 nats above its start, plus
    # what the optimizer's momentum carries past it (under a nat). The bounds leave nats of room
    # for any CPU's rounding.
    assert rise_after(40, 0.0) > 4.0
    clipped = rise_after(40, 0.2)
    assert 0.1 < clipped < 2.0
    with pytest.raises(ValueError, match="negative_clip"):
        rise_after(1, 1.0)


def test_the_normaliser_counts_the_size_of_each_weight_not_its_sign():
    assert step_normaliser([1.0, -1.0], [10, 10]) == 20  # sum(w x tokens) would be 0
    assert step_normaliser([2.0, -0.5], [3, 4]) == 8
    with pytest.raises(ValueError, match="teaches nothing"):
        step_normaliser([0.0], [5])


def test_the_schedule_warms_up_then_decays():
    assert [lr_factor(s, 10, 2, "constant") for s in (0, 1, 5)] == [0.5, 1.0, 1.0]
    assert lr_factor(2, 10, 2, "cosine") == 1.0 and lr_factor(9, 10, 2, "cosine") < 0.05
    assert lr_factor(6, 10, 2, "linear") == pytest.approx(0.5)


def test_early_stopping_ends_bc_where_the_caller_says_with_the_model_in_eval_mode(
    tiny_policy_dir, maze_records
):
    policy = LLMPolicy.load(tiny_policy_dir)
    seen_modes = []

    def stop_after(steps_done: int) -> bool:
        seen_modes.append((steps_done, policy.model.training))
        return steps_done == 3

    config = BCConfig(epochs=4, batch_tokens=512, log_every=2, report_to=["none"])
    metrics = bc.train_bc(policy, maze_records[:4], config, progress=False, stop_after=stop_after)
    assert metrics["steps"] == 3 and seen_modes == [(1, False), (2, False), (3, False)]
    assert [point["step"] for point in metrics["loss_curve"]] == [2, 3]  # the partial window is logged
    assert not policy.model.training


def test_with_signed_weights_a_long_failure_does_not_outvote_a_short_success(tiny_policy_dir, maze_records):
    # Two records of one length-shared reply text: a success with weight +1 and a failure three
    # times as long with weight -1. Per record, the two pulls on the shared reply cancel to first
    # order; per token (BC's sum), the failure's tokens would push the reply down.
    def record(turns: int) -> dict:
        conversations = [{"from": "human", "loss": None, "value": "Reach the goal."}]
        for _ in range(turns):
            conversations += [
                {"from": "gpt", "loss": True, "value": "Action:\nmove up"},
                {"from": "human", "loss": None, "value": "You moved up."},
            ]
        return {"item_id": "lmrlgym_maze_3", "conversations": conversations}

    policy = LLMPolicy.load(tiny_policy_dir)
    short, long_ = record(2), record(6)
    example = tokenize_records([short], policy.tokenizer, 512)[0][0]
    before = action_nll(policy, example)
    config = BCConfig(
        learning_rate=1e-3, epochs=3, batch_tokens=4096, warmup_ratio=0.0, lr_schedule="constant",
        report_to=["none"],
    )  # fmt: skip
    train_weighted(policy, [short, long_], config, [1.0, -1.0], progress=False)
    # Per record the success's pull wins slightly (the replies are not identical in context) and
    # the NLL falls; summed per token the failure's 3x tokens push the shared reply down by a
    # few tenths of a nat, well past this bound (checked by switching the per-record means off).
    assert action_nll(policy, example) <= before + 0.1
