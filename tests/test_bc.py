"""Behavioural cloning: the loss goes down, weights act as documented, runs repeat with a
seed, and the `agentgym bc` command reports bad flags in one line."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from agentgym_envs.data import save_trajectories  # noqa: E402
from agentgym_rl.bc import BCConfig, train_bc  # noqa: E402
from agentgym_rl.cli import main  # noqa: E402
from agentgym_rl.policy import LLMPolicy  # noqa: E402

FAST = dict(learning_rate=3e-3, epochs=2, batch_tokens=2048, log_every=2)


def parameters(policy: LLMPolicy) -> list[torch.Tensor]:
    return [p.detach().clone() for p in policy.model.parameters()]


def same(first: list[torch.Tensor], second: list[torch.Tensor]) -> bool:
    return all(torch.equal(a, b) for a, b in zip(first, second))


def test_bc_drives_the_loss_down(tiny_policy, maze_records):
    config = BCConfig(**{**FAST, "epochs": 6, "batch_tokens": 1024})  # 72 steps
    metrics = train_bc(tiny_policy, maze_records, config, progress=False)
    curve = [point["loss"] for point in metrics["loss_curve"]]
    assert curve[-1] < 0.6 * curve[0]
    assert metrics["tokens_per_second"] > 0 and metrics["steps"] == metrics["loss_curve"][-1]["step"]
    assert metrics["data"]["records"] == len(maze_records)
    assert not tiny_policy.model.training  # handed back ready to generate


def test_same_seed_same_model(tiny_policy_dir, maze_records):
    runs = []
    for _ in range(2):
        policy = LLMPolicy.load(tiny_policy_dir)
        train_bc(policy, maze_records[:8], BCConfig(**FAST), progress=False)
        runs.append(parameters(policy))
    assert same(*runs)


def test_zero_weight_records_have_no_influence(tiny_policy_dir, maze_records):
    kept, ignored = maze_records[:8], maze_records[8:16]
    alone = LLMPolicy.load(tiny_policy_dir)
    train_bc(alone, kept, BCConfig(**FAST), progress=False)
    weighted = LLMPolicy.load(tiny_policy_dir)
    train_bc(weighted, kept + ignored, BCConfig(**FAST), weights=[1.0] * 8 + [0.0] * 8, progress=False)
    assert same(parameters(alone), parameters(weighted))


def test_scaling_every_weight_changes_nothing(tiny_policy_dir, maze_records):
    records = maze_records[:8]
    plain = LLMPolicy.load(tiny_policy_dir)
    first = train_bc(plain, records, BCConfig(**FAST), progress=False)
    scaled = LLMPolicy.load(tiny_policy_dir)
    second = train_bc(scaled, records, BCConfig(**FAST), weights=[2.5] * 8, progress=False)
    assert second["final_loss"] == pytest.approx(first["final_loss"], rel=1e-5)
    for a, b in zip(parameters(plain), parameters(scaled)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_bad_weights_are_refused(tiny_policy, maze_records):
    with pytest.raises(ValueError, match="non-negative"):
        train_bc(tiny_policy, maze_records[:2], BCConfig(**FAST), weights=[1.0, -1.0], progress=False)
    with pytest.raises(ValueError, match="2 weights for 3 records"):
        train_bc(tiny_policy, maze_records[:3], BCConfig(**FAST), weights=[1.0, 1.0], progress=False)


def test_cli_trains_and_saves(tiny_policy_dir, maze_records, tmp_path, capsys):
    data = save_trajectories(maze_records[:4], tmp_path / "maze.jsonl")
    out = tmp_path / "run"
    status = main(
        [
            "bc",
            "--model",
            str(tiny_policy_dir),
            "--data",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--learning_rate",
            "1e-3",
            "--quiet",
        ]
    )
    assert status == 0
    assert (out / "metrics.json").is_file()
    assert LLMPolicy.load(out).num_parameters > 0
    assert "trained" in capsys.readouterr().out
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))  # --report_to tensorboard, the default


def test_report_to_names_are_checked():
    with pytest.raises(ValueError, match="report_to: unknown mlflow"):
        BCConfig(report_to=["mlflow"])
    assert BCConfig(report_to=["none"]).report_to == ["none"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--no_such_flag", "1"],
        ["--epochs", "many"],
        ["--lr_schedule", "sideways"],
        ["--epochs", "0"],
    ],
)
def test_cli_bad_flag_is_one_line(flags, tiny_policy_dir, maze_records, tmp_path, capsys):
    data = save_trajectories(maze_records[:2], tmp_path / "maze.json")
    status = main(
        ["bc", "--model", str(tiny_policy_dir), "--data", str(data), "--out", str(tmp_path / "o"), *flags]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("agentgym bc: error:")


def test_head_on_action_positions_only_gives_the_full_forward_loss(tiny_policy, maze_records):
    from agentgym_rl import bc
    from agentgym_rl.trajectory import tokenize_records

    examples, _ = tokenize_records(maze_records[:3], tiny_policy.tokenizer, tiny_policy.max_context)
    input_ids, attention_mask, labels = bc.collate(examples, tiny_policy.pad_token_id, "cpu")
    weights = torch.tensor([1.0, 0.5, 2.0])
    fast = bc.weighted_token_nll(tiny_policy.model, input_ids, attention_mask, labels, weights, False)
    logits = tiny_policy.model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels[:, 1:], reduction="none")
    assert fast.item() == pytest.approx((nll.sum(1) * weights).sum().item(), rel=1e-5)


def test_lora_trains_only_the_adapter_and_saves_merged(tiny_policy_dir, maze_records, tmp_path):
    pytest.importorskip("peft")
    from agentgym_rl.models import load_model

    base = {name: p.detach().clone() for name, p in LLMPolicy.load(tiny_policy_dir).model.named_parameters()}
    tiny_policy = load_model(str(tiny_policy_dir), lora=True, lora_rank=2)
    assert 0 < tiny_policy.num_trainable_parameters < tiny_policy.num_parameters
    metrics = train_bc(tiny_policy, maze_records[:8], BCConfig(**FAST), progress=False)
    assert metrics["steps"] > 0
    frozen = {
        name.replace("base_model.model.", "").replace(".base_layer", ""): p
        for name, p in tiny_policy.model.named_parameters()
        if "lora_" not in name
    }
    assert all(torch.equal(frozen[name], value) for name, value in base.items())

    prompts = [[{"role": "user", "content": "Reach the goal."}]]
    expected = tiny_policy.log_probs(prompts, ["move up"])
    saved = LLMPolicy.load(tiny_policy.save(tmp_path / "merged"))  # loads without peft
    assert not hasattr(saved.model, "merge_and_unload")
    assert saved.log_probs(prompts, ["move up"]) == pytest.approx(expected, abs=1e-4)


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_weights(
    tiny_policy_dir, maze_records, tmp_path, monkeypatch
):
    import agentgym_rl.bc as bc_module

    config = BCConfig(**{**FAST, "epochs": 3}, save_dir=str(tmp_path / "bc"), save_every=3)
    whole = LLMPolicy.load(tiny_policy_dir)
    expected = train_bc(whole, maze_records[:12], BCConfig(**{**FAST, "epochs": 3}), progress=False)
    assert expected["steps"] > 6

    real_lr_factor = bc_module.lr_factor

    def crash_at_step_7(step, *args):
        if step == 7:
            raise KeyboardInterrupt  # killed between checkpoint-6 and checkpoint-9
        return real_lr_factor(step, *args)

    monkeypatch.setattr(bc_module, "lr_factor", crash_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        train_bc(LLMPolicy.load(tiny_policy_dir), maze_records[:12], config, progress=False)
    assert sorted(p.name for p in (tmp_path / "bc").iterdir()) == ["checkpoint-3", "checkpoint-6"]
    monkeypatch.setattr(bc_module, "lr_factor", real_lr_factor)

    resumed = LLMPolicy.load(tiny_policy_dir)
    metrics = train_bc(resumed, maze_records[:12], config, progress=False)
    assert metrics["resumed_at_step"] == 6 and metrics["steps"] == expected["steps"]
    assert same(parameters(resumed), parameters(whole))

    # pytest.approx compares flat sequences only (pytest 9.2 refuses nested ones): steps exactly,
    # losses within rounding.
    assert [point["step"] for point in metrics["loss_curve"]] == [
        point["step"] for point in expected["loss_curve"]
    ]
    assert [point["loss"] for point in metrics["loss_curve"]] == pytest.approx(
        [point["loss"] for point in expected["loss_curve"]], rel=1e-6
    )
    assert LLMPolicy.load(tmp_path / "bc" / "checkpoint-6").num_parameters == whole.num_parameters


def test_a_checkpoint_of_other_settings_is_refused(tiny_policy_dir, maze_records, tmp_path):
    config = BCConfig(**FAST, save_dir=str(tmp_path / "bc"), save_every=2)
    train_bc(LLMPolicy.load(tiny_policy_dir), maze_records[:8], config, progress=False)
    changed = BCConfig(**{**FAST, "learning_rate": 1e-4}, save_dir=str(tmp_path / "bc"), save_every=2)
    with pytest.raises(ValueError, match="other data or settings"):
        train_bc(LLMPolicy.load(tiny_policy_dir), maze_records[:8], changed, progress=False)
    fresh = BCConfig(
        **{**FAST, "learning_rate": 1e-4}, save_dir=str(tmp_path / "bc"), save_every=2, resume=False
    )
    assert (
        train_bc(LLMPolicy.load(tiny_policy_dir), maze_records[:8], fresh, progress=False)["resumed_at_step"]
        == 0
    )
