"""GRPO / RLOO over whole episodes: the advantages, what carries weight, the clipped ratio, the
curriculum, the reference model only when asked, and a short `agentgym grpo` run that logs
every named metric and resumes."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

import agentgym_rl.grpo as grpo_module  # noqa: E402
from agentgym_rl.cli import CommandError, main, parse  # noqa: E402
from agentgym_rl.grpo import (  # noqa: E402
    Example,
    GRPOConfig,
    GRPORolloutConfig,
    build_examples,
    episode_loss,
    group_advantages,
    k3_kl,
    make_groups,
    policy_loss,
)
from agentgym_rl.models import ModelConfig  # noqa: E402
from agentgym_rl.policy import LLMPolicy  # noqa: E402
from agentgym_rl.trajectory import IGNORE_INDEX  # noqa: E402

STEP_KEYS = (
    "mean_reward",
    "success_rate",
    "advantage_std",
    "zero_variance_share",
    "kl",
    "clip_fraction",
    "entropy",
    "tokens_per_second",
    "episodes_per_minute",
)


def test_grpo_advantages_are_standardised_within_the_group():
    # rewards 1, 0, 0, 1: mean 0.5, sample std sqrt(1/3)
    advantages = group_advantages([1.0, 0.0, 0.0, 1.0], "grpo", eps=0.0)
    assert advantages == pytest.approx([3**0.5 / 2, -(3**0.5) / 2, -(3**0.5) / 2, 3**0.5 / 2])
    assert group_advantages([1.0, 0.0], "grpo", eps=0.0) == pytest.approx([2**-0.5, -(2**-0.5)])


def test_rloo_subtracts_the_mean_of_the_others():
    # 1 - (0 + 0 + 1) / 3, 0 - (1 + 0 + 1) / 3, ...
    assert group_advantages([1.0, 0.0, 0.0, 1.0], "rloo") == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3])
    assert group_advantages([0.5, 0.25, 0.0], "rloo") == pytest.approx([0.375, 0.0, -0.375])


@pytest.mark.parametrize("estimator", ["grpo", "rloo"])
def test_a_zero_variance_group_teaches_nothing(estimator, tiny_policy, maze_records):
    assert group_advantages([1.0, 1.0, 1.0], estimator) == [0.0, 0.0, 0.0]
    solved = [{**maze_records[0], "reward": 1.0, "success": True, "sample": s} for s in range(2)]
    mixed = [
        {**maze_records[1], "reward": r, "success": r == 1, "sample": s} for s, r in enumerate((1.0, 0.0))
    ]
    groups = make_groups(solved + mixed, 2, estimator)
    assert [g.zero_variance for g in groups] == [True, False]
    examples, report = build_examples(tiny_policy, groups, GRPOConfig(run_dir="x", estimator=estimator))
    assert report.trained_episodes == 2 == len(examples)  # the solved group is not even tokenised
    assert all(e.tokens.input_ids == examples[0].tokens.input_ids for e in examples)
    assert sorted(e.advantage > 0 for e in examples) == [False, True]


def test_only_the_agent_turns_carry_weight(tiny_policy):
    record = {
        "item_id": "lmrlgym_maze_3",
        "conversations": [
            {"from": "human", "loss": None, "value": "Reach the goal."},
            {"from": "gpt", "loss": False, "value": "Ok."},
            {"from": "human", "loss": None, "value": "You are at (1, 1)."},
            {"from": "gpt", "loss": True, "value": "Action:\nmove up"},
            {"from": "human", "loss": None, "value": "You are at (0, 1)."},
            {"from": "gpt", "loss": True, "value": "Action:\nmove left"},
        ],
    }
    groups = make_groups(
        [{**record, "reward": 1.0, "sample": 0}, {**record, "reward": 0.0, "sample": 1}], 2, "grpo"
    )
    examples, _ = build_examples(tiny_policy, groups, GRPOConfig(run_dir="x"))
    labelled = [t for t in examples[0].tokens.labels if t != IGNORE_INDEX]
    text = tiny_policy.tokenizer.decode(labelled)
    assert text == "Action:\nmove up<|end|>Action:\nmove left<|end|>"

    # The loss has one term per labelled token: nothing of the instruction or observations.
    from agentgym_rl.bc import collate

    ids, mask, labels = collate([examples[0].tokens], tiny_policy.pad_token_id, "cpu")
    logp, entropy, rows = grpo_module.token_log_probs(tiny_policy.model, ids, mask, labels, 1.0, False)
    assert logp.shape == entropy.shape == rows.shape == (len(labelled),)
    assert episode_loss(tiny_policy, examples, GRPOConfig(run_dir="x")).total.requires_grad


def _two_episodes(tiny_policy, short_turns: int, long_turns: int):
    """A short success and a long failure of one task, as a GRPO group makes them."""

    def record(turns: int, reward: float, sample: int) -> dict:
        conversations = [{"from": "human", "loss": None, "value": "Reach the goal."}]
        for _ in range(turns):
            conversations += [
                {"from": "gpt", "loss": True, "value": "Action:\nmove up"},
                {"from": "human", "loss": None, "value": "You moved up."},
            ]
        return {
            "item_id": "lmrlgym_maze_3",
            "conversations": conversations,
            "reward": reward,
            "sample": sample,
        }

    groups = make_groups([record(short_turns, 1.0, 0), record(long_turns, 0.0, 1)], 2, "grpo")
    return build_examples(tiny_policy, groups, GRPOConfig(run_dir="x"))[0]


@pytest.mark.parametrize("loss_type", ["grpo", "dapo"])
def test_loss_types_average_over_episodes_or_over_tokens(loss_type, tiny_policy):
    from agentgym_rl.bc import collate

    examples = _two_episodes(tiny_policy, short_turns=2, long_turns=6)
    config = GRPOConfig(run_dir="x", loss_type=loss_type)
    per_episode = []  # (advantage, sum of log-probs, agent tokens) of each episode on its own
    for example in examples:
        ids, mask, labels = collate([example.tokens], tiny_policy.pad_token_id, "cpu")
        logp, _, _ = grpo_module.token_log_probs(tiny_policy.model, ids, mask, labels, 1.0, False)
        per_episode.append((example.advantage, logp.sum().item(), logp.numel()))
    if loss_type == "grpo":
        terms = [-a * s / n / len(per_episode) for a, s, n in per_episode]
    else:
        terms = [-a * s / sum(n for _, _, n in per_episode) for a, s, _ in per_episode]
    normaliser = grpo_module.loss_normaliser(examples, loss_type)
    total = episode_loss(tiny_policy, examples, config).total.item() / normaliser
    # The terms have opposite signs and nearly cancel: compare on the scale of the terms.
    assert total == pytest.approx(sum(terms), abs=1e-5 * sum(abs(t) for t in terms))


def test_under_grpo_a_long_failure_does_not_outweigh_a_short_success_on_shared_tokens(tiny_policy):
    # Every reply is the same text, so the gradient on it is the sum of each episode's pull:
    # per-episode means cancel (advantages +a and -a), per-token means push it down (the failure
    # has three times the tokens), which is how dapo unlearns the reply format on Maze.
    examples = _two_episodes(tiny_policy, short_turns=2, long_turns=6)

    def mean_logp_change(loss_type: str) -> float:
        policy = tiny_policy
        policy.model.zero_grad(set_to_none=True)
        config = GRPOConfig(run_dir="x", loss_type=loss_type)
        loss = episode_loss(policy, examples, config).total / grpo_module.loss_normaliser(examples, loss_type)
        loss.backward()
        # The first-order change of the reply's mean log-prob along -grad.
        from agentgym_rl.bc import collate

        ids, mask, labels = collate([examples[0].tokens], policy.pad_token_id, "cpu")
        logp, _, _ = grpo_module.token_log_probs(policy.model, ids, mask, labels, 1.0, False)
        params = [p for p in policy.model.parameters() if p.grad is not None]
        grads = torch.autograd.grad(logp.mean(), params)
        change = -sum((g * p.grad).sum() for g, p in zip(grads, params)).item()
        policy.model.zero_grad(set_to_none=True)
        return change

    grpo_change, dapo_change = mean_logp_change("grpo"), mean_logp_change("dapo")
    assert dapo_change < 0  # the shared reply is pushed down
    assert abs(grpo_change) < 0.05 * abs(dapo_change)  # the two episodes' pulls cancel


def test_the_clipped_ratio_is_the_policy_gradient_at_ratio_one_and_clips_beyond_eps():
    advantages = torch.tensor([1.0, -2.0, 0.5])
    logp = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    plain, _ = policy_loss(logp, advantages)
    (plain_grad,) = torch.autograd.grad(plain.sum(), logp)
    clipped_loss, clipped = policy_loss(logp, advantages, old_logp=logp.detach(), clip_eps=0.2)
    (ratio_grad,) = torch.autograd.grad(clipped_loss.sum(), logp)
    assert torch.equal(plain_grad, ratio_grad) and not clipped.any()

    # ratio e^0.5 ~ 1.65 > 1.2 with a positive advantage: clipped, no gradient; with a negative
    # advantage the unclipped (more pessimistic) term is kept.
    old = logp.detach() - 0.5
    loss, clipped = policy_loss(logp, advantages, old_logp=old, clip_eps=0.2)
    (grad,) = torch.autograd.grad(loss.sum(), logp)
    assert clipped.tolist() == [True, False, True]
    assert grad[0] == 0 and grad[2] == 0 and grad[1] != 0
    assert loss[0].item() == pytest.approx(-1.2 * 1.0)


def test_k3_is_zero_at_the_reference_and_positive_elsewhere():
    logp = torch.tensor([-1.0, -1.0, -3.0])
    kl = k3_kl(logp, torch.tensor([-1.0, -2.0, -1.0]))
    assert kl[0] == 0 and (kl[1:] > 0).all()


def test_the_curriculum_maps_steps_to_round_limits():
    config = GRPOConfig(run_dir="x", rounds_schedule="6,13,20", rounds_every=100)
    assert [config.max_rounds(s) for s in (0, 99, 100, 199, 200, 5000)] == [6, 6, 13, 13, 20, 20]
    assert GRPOConfig(run_dir="x", rollout=GRPORolloutConfig(max_rounds=7)).max_rounds(300) == 7
    assert GRPOConfig(run_dir="x").max_rounds(0) is None  # the env's own limit
    with pytest.raises(ValueError, match="rounds_schedule"):
        GRPOConfig(run_dir="x", rounds_schedule="6,x")


def test_flags_reach_the_config():
    config, model = parse(
        "grpo",
        "",
        [GRPOConfig, ModelConfig],
        [
            "--estimator", "rloo", "--tasks_per_step", "3", "--group_size", "4", "--updates_per_batch", "2",
            "--beta", "0.05", "--rounds_schedule", "6,13,20", "--rounds_every", "100", "--temperature", "0.9",
            "--max_new_tokens", "12", "--learning_rate", "1e-5", "--model", "tiny", "--run_dir", "r",
        ],
    )  # fmt: skip
    assert (config.estimator, config.tasks_per_step, config.group_size, config.updates_per_batch) == (
        "rloo",
        3,
        4,
        2,
    )
    assert config.beta == 0.05 and config.rounds() == [6, 13, 20] and config.learning_rate == 1e-5
    assert config.rollout.temperature == 0.9 and config.rollout.max_new_tokens == 12
    assert model.model == "tiny" and config.run_dir == "r"


@pytest.mark.parametrize("flag", ["--save_dir", "--gradient_accumulation_steps"])
def test_settings_grpo_decides_itself_are_not_flags(flag):
    """Checkpoints go under --run_dir and an update is one optimizer step over the batch: a flag
    for either would be accepted and do nothing, so there is none."""
    with pytest.raises(CommandError, match="unrecognized arguments"):
        parse("grpo", "", [GRPOConfig, ModelConfig], [flag, "2"])


def small_grpo_argv(run_dir, model_dir, *extra: str) -> list[str]:
    return [
        "grpo",
        "--model", str(model_dir), "--run_dir", str(run_dir), "--steps", "2", "--tasks_per_step", "2",
        "--group_size", "2", "--max_rounds", "3", "--max_new_tokens", "8", "--eval_limit", "2",
        "--eval_every", "1", "--save_every", "1", "--no_progress", "--learning_rate", "1e-3", *extra,
    ]  # fmt: skip


def rewarding_half(real_rollout):
    """The real rollout, with every other episode's reward set to 1: an untrained model solves
    nothing, and a group whose rewards are all 0 would leave nothing to train."""

    def play(policy, jobs, config, **kwargs):
        records = real_rollout(policy, jobs, config, **kwargs)
        if config.temperature == 0:  # AgentEval as it is
            return records
        return [{**r, "reward": float(i % 2), "success": bool(i % 2)} for i, r in enumerate(records)]

    return play


def test_a_short_grpo_run_logs_every_metric_and_resumes(tmp_path, tiny_policy_dir, monkeypatch, capsys):
    real_rollout = grpo_module.rollout
    monkeypatch.setattr(grpo_module, "rollout", rewarding_half(real_rollout))
    monkeypatch.setattr(grpo_module, "reference_model", lambda *a: pytest.fail("beta=0 loads no reference"))
    steps_played, crashed = [], []
    real_play = grpo_module.play_step

    def crash_at_step_2(run, policy, step):
        if step == 1 and not crashed:
            crashed.append(step)
            raise KeyboardInterrupt  # killed after step 1's checkpoint
        steps_played.append(step)
        return real_play(run, policy, step)

    monkeypatch.setattr(grpo_module, "play_step", crash_at_step_2)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        grpo_module.grpo(
            *parse("grpo", "", [GRPOConfig, ModelConfig], small_grpo_argv(run_dir, tiny_policy_dir)[1:])
        )
    assert (run_dir / "checkpoints/checkpoint-1").is_dir()
    steps_played.clear()

    assert main(small_grpo_argv(run_dir, tiny_policy_dir)) == 0
    assert steps_played == [1]  # the rerun continued at step 2, not from the start
    out = capsys.readouterr().out
    assert "start (step-0)" in out and "end (step-2)" in out

    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [line for line in lines if line["event"] == "train"]
    assert [line["step"] for line in train] == [1, 2]
    for line in train:
        for key in STEP_KEYS:
            assert key in line, key
        assert line["zero_variance_share"] == 0 and line["trained_episodes"] == 4
        assert line["entropy"] > 0 and line["kl"] == 0 and line["max_rounds"] == 3
    assert [path.name for path in (run_dir / "checkpoints").iterdir()] == ["checkpoint-2"]
    for step in (0, 1, 2):
        assert (run_dir / "eval" / f"step-{step}.json").is_file()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert "| Maze |" in (run_dir / "summary.md").read_text()
    assert LLMPolicy.load(run_dir / "checkpoints/checkpoint-2").num_parameters > 0


def test_several_updates_clip_and_a_kl_term_loads_the_reference(tmp_path, tiny_policy_dir, monkeypatch):
    monkeypatch.setattr(grpo_module, "rollout", rewarding_half(grpo_module.rollout))
    loaded = []
    real_reference = grpo_module.reference_model
    monkeypatch.setattr(grpo_module, "reference_model", lambda *a: loaded.append(1) or real_reference(*a))
    argv = small_grpo_argv(tmp_path / "run", tiny_policy_dir, "--updates_per_batch", "3", "--beta", "0.1")
    argv[argv.index("--steps") + 1] = "1"
    argv[argv.index("--learning_rate") + 1] = "1e-2"
    assert main(argv) == 0
    assert loaded == [1]
    line = next(
        json.loads(line)
        for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()
        if json.loads(line)["event"] == "train"
    )
    # The last of three updates at a large learning rate has moved off the sampling policy.
    assert line["kl"] > 0 and line["clip_fraction"] > 0


def test_the_sampling_log_probs_give_ratio_one_before_any_update(tiny_policy, maze_records):
    config = GRPOConfig(run_dir="x", updates_per_batch=2)
    groups = make_groups([{**maze_records[2], "reward": float(s), "sample": s} for s in range(2)], 2, "grpo")
    examples, _ = build_examples(tiny_policy, groups, config)
    old = grpo_module.sampling_log_probs(tiny_policy.model, examples, config, tiny_policy.pad_token_id, "cpu")
    for example, logp in zip(examples, old):
        example.old_logp = logp
    loss = episode_loss(tiny_policy, examples, config)
    assert loss.stats["clip_fraction"] == 0
    assert isinstance(examples[0], Example) and old[0].shape[0] == examples[0].tokens.trainable_tokens


def test_tasks_are_drawn_per_step_from_the_first_train_limit_ids():
    from agentgym_envs import family
    from agentgym_rl.grpo import draw_tasks

    config = GRPOConfig(run_dir="x", tasks_per_step=8, train_limit=10)
    first_ten = set(family("maze").splits.train[:10])
    drawn = [draw_tasks(config, step) for step in range(5)]
    assert all(len(set(d)) == 8 and {t for _, t in d} <= first_ten for d in drawn)
    assert drawn[0] == draw_tasks(config, 0) and drawn[0] != drawn[1]  # a resumed step draws the same
    with pytest.raises(ValueError, match="train_limit"):
        GRPOConfig(run_dir="x", train_limit=0)
