import json
import math

import pytest

import agentgym_rl.agentevol as agentevol_module
from agentgym_rl.agentevol import (
    AgentEvolConfig,
    agentevol,
    filter_by_reward,
    rwr_weights,
    training_set,
)
from agentgym_rl.bc import BCConfig
from agentgym_rl.cli import main


def record(item_id: str, reward: float, sample: int = 0) -> dict:
    return {
        "item_id": item_id,
        "conversations": [],
        "reward": reward,
        "success": reward >= 1,
        "sample": sample,
    }


def test_filter_keeps_rewards_above_the_env_threshold_one_per_item():
    records = [
        record("lmrlgym_maze_1", 1.0, 0),
        record("lmrlgym_maze_1", 1.0, 1),  # a second success of the same item: dropped
        record("lmrlgym_maze_2", 0.99),  # not above 0.99
        record("babyai_3", 0.4),  # BabyAI keeps any reward above 0
        record("babyai_3", 0.7, 1),  # ... and the best sample of an item
        record("babyai_4", 0.0),
    ]
    kept = filter_by_reward(records)
    assert [(r["item_id"], r["sample"]) for r in kept] == [("lmrlgym_maze_1", 0), ("babyai_3", 1)]


def test_rwr_weights_follow_exp_of_reward_over_beta():
    assert rwr_weights([1.0, 0.5, 0.0], beta=0.5) == pytest.approx([1.0, math.exp(-1), math.exp(-2)])
    assert rwr_weights([0.0], beta=100.0)[0] == pytest.approx(1.0, abs=0.011)  # large beta: plain BC
    with pytest.raises(ValueError):
        rwr_weights([1.0], beta=0)


def test_training_set_merges_expert_data_with_weighted_exploration():
    expert = [record("lmrlgym_maze_30", 1.0)]
    explored = [record("lmrlgym_maze_31", 1.0), record("lmrlgym_maze_32", 0.0)]
    records, weights = training_set(expert, explored, AgentEvolConfig(weighting="filter", run_dir="x"))
    assert [r["item_id"] for r in records] == ["lmrlgym_maze_30", "lmrlgym_maze_31"] and weights == [1.0, 1.0]
    records, weights = training_set(
        expert, explored, AgentEvolConfig(weighting="rwr", rwr_beta=1.0, run_dir="x")
    )
    assert len(records) == 3 and weights == pytest.approx([1.0, 1.0, math.exp(-1)])
    records, _ = training_set(expert, explored, AgentEvolConfig(weighting="rwr", rwr_beta=0.1, run_dir="x"))
    assert len(records) == 2  # exp(-10) < 1e-3 teaches nothing: left out


def small_run(run_dir, model_dir, **overrides) -> tuple[AgentEvolConfig, BCConfig]:
    settings = dict(
        envs=["maze"],
        model=str(model_dir),
        run_dir=str(run_dir),
        iterations=2,
        samples=1,
        explore_limit=4,
        eval_limit=3,
        concurrency=4,
        max_new_tokens=12,
        temperature=1.0,
        progress=False,
    )
    settings.update(overrides)
    return AgentEvolConfig(**settings), BCConfig(epochs=0.1, batch_tokens=4096, learning_rate=1e-3)


def test_agentevol_writes_the_run_folder(tmp_path, tiny_policy_dir):
    config, bc_config = small_run(tmp_path / "run", tiny_policy_dir)
    results = agentevol(config, bc_config)
    assert list(results) == ["BC-base", "iter 1", "iter 2"]
    run = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "summary.md", "success.png", "data/agenttraj.json"):
        assert (run / name).is_file(), name
    stages = [json.loads(line)["stage"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert stages == [
        "data",
        "train-bc-base",
        "eval-bc-base",
        "explore-iter1",
        "train-iter1",
        "eval-iter1",
        "explore-iter2",
        "train-iter2",
        "eval-iter2",
    ]
    explored = [
        json.loads(line) for line in (run / "trajectories/explore_iter1.jsonl").read_text().splitlines()
    ]
    assert [r["item_id"] for r in explored] == [f"lmrlgym_maze_{i}" for i in range(25, 29)]
    assert all("reward" in r and "success" in r for r in explored)
    summary = (run / "summary.md").read_text()
    assert "| Maze |" in summary and "| minutes, cumulative |" in summary
    solved = 100 * sum(r["success"] for r in explored) / len(explored)
    row = next(line for line in summary.splitlines() if line.startswith("| instruction set solved"))
    cells = [cell.strip() for cell in row.split("|")[2:-1]]  # BC-base explored for iter 1, ...
    assert cells[0] == f"{solved:.1f}" and len(cells) == 3 and cells[-1] == "-"


def test_an_interrupted_run_resumes_and_loses_no_trajectories(tmp_path, tiny_policy_dir, monkeypatch):
    config, bc_config = small_run(tmp_path / "run", tiny_policy_dir, iterations=1)
    real_rollout = agentevol_module.rollout

    def crash_after_two_episodes(policy, jobs, rollout_config, **kwargs):
        if rollout_config.temperature == 0:  # AgentEval runs normally
            return real_rollout(policy, jobs, rollout_config, **kwargs)
        real_rollout(policy, jobs[:2], rollout_config, **kwargs)
        raise KeyboardInterrupt  # the user pressed Ctrl-C mid-exploration

    monkeypatch.setattr(agentevol_module, "rollout", crash_after_two_episodes)
    with pytest.raises(KeyboardInterrupt):
        agentevol(config, bc_config)
    partial = tmp_path / "run/trajectories/explore_iter1.partial.jsonl"
    saved_before = [json.loads(line) for line in partial.read_text().splitlines()]
    assert len(saved_before) == 2

    monkeypatch.setattr(agentevol_module, "rollout", real_rollout)
    trained_stages = []
    real_train = agentevol_module.train_bc
    monkeypatch.setattr(
        agentevol_module,
        "train_bc",
        lambda policy, records, cfg, **kw: (
            trained_stages.append(len(records)) or real_train(policy, records, cfg, **kw)
        ),
    )
    results = agentevol(config, bc_config)
    assert list(results) == ["BC-base", "iter 1"]
    assert len(trained_stages) == 1  # BC-base was not trained again
    explored = [
        json.loads(line)
        for line in (tmp_path / "run/trajectories/explore_iter1.jsonl").read_text().splitlines()
    ]
    assert len(explored) == 4 and explored[:2] == saved_before
    assert not partial.exists()


def test_a_stage_killed_mid_training_resumes_from_its_checkpoint(tmp_path, tiny_policy_dir, monkeypatch):
    import agentgym_rl.bc as bc_module

    config, _ = small_run(tmp_path / "run", tiny_policy_dir, iterations=0)
    bc_config = BCConfig(epochs=1, batch_tokens=2048, learning_rate=1e-3, save_every=2)
    real_lr_factor = bc_module.lr_factor

    def crash_at_step_5(step, *args):
        if step == 5:
            raise KeyboardInterrupt
        return real_lr_factor(step, *args)

    monkeypatch.setattr(bc_module, "lr_factor", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        agentevol(config, bc_config)
    scratch = tmp_path / "run/checkpoints/bc-base.partial"
    assert (scratch / "checkpoint-4").is_dir()

    monkeypatch.setattr(bc_module, "lr_factor", real_lr_factor)
    agentevol(config, bc_config)
    lines = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    trained = next(line for line in lines if line["stage"] == "train-bc-base")
    assert trained["resumed_at_step"] == 4 and trained["steps"] > 5
    assert (tmp_path / "run/checkpoints/bc-base/DONE").is_file() and not scratch.exists()


def test_lora_stages_save_plain_merged_models(tmp_path, tiny_policy_dir):
    pytest.importorskip("peft")
    from agentgym_rl.policy import LLMPolicy

    config, bc_config = small_run(tmp_path / "run", tiny_policy_dir, iterations=1, lora=True, lora_rank=2)
    assert list(agentevol(config, bc_config)) == ["BC-base", "iter 1"]
    base = LLMPolicy.load(tiny_policy_dir).model.state_dict()
    for stage in ("bc-base", "iter1"):
        trained = LLMPolicy.load(tmp_path / "run/checkpoints" / stage).model.state_dict()
        assert trained.keys() == base.keys()  # no adapter left: loads without peft
        assert not torch_equal_all(trained, base)


def torch_equal_all(first: dict, second: dict) -> bool:
    import torch

    return all(torch.equal(first[name], second[name]) for name in first)


def test_resuming_with_other_settings_is_refused(tmp_path, tiny_policy_dir):
    config, bc_config = small_run(tmp_path / "run", tiny_policy_dir, iterations=0)
    agentevol(config, bc_config)
    changed, _ = small_run(tmp_path / "run", tiny_policy_dir, iterations=0, weighting="rwr")
    with pytest.raises(ValueError, match="agentevol.weighting"):
        agentevol(changed, bc_config)


def test_a_run_from_before_a_setting_existed_still_resumes(tmp_path, tiny_policy_dir):
    config, bc_config = small_run(tmp_path / "run", tiny_policy_dir, iterations=0)
    agentevol(config, bc_config)
    config_file = tmp_path / "run/config.json"
    saved = json.loads(config_file.read_text())
    del saved["agentevol"]["lora"], saved["bc"]["max_grad_norm"]  # as written by an older version
    config_file.write_text(json.dumps(saved))
    assert list(agentevol(config, bc_config)) == ["BC-base"]
    changed = BCConfig(epochs=0.1, batch_tokens=4096, learning_rate=1e-3, max_grad_norm=0.5)
    config_file.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="bc.max_grad_norm"):
        agentevol(config, changed)


@pytest.mark.parametrize(
    "argv",
    [
        ["evolve", "--iterations", "many"],
        ["evolve", "--envs", "atlantis"],
        ["evolve", "--no-such-flag"],
        ["evolve", "--dtype", "int4"],
        ["eval", "--model", "/no/such/model", "--quiet"],
        ["bc", "--data", "/no/such/file.json", "--out", "x"],
    ],
)
def test_bad_flags_and_missing_files_are_one_line_errors(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_shorten_thoughts_keeps_the_action_and_the_first_words():
    from agentgym_rl.agentevol import shorten_thoughts

    reply = "Thought:\nI am at (0, 1) and the goal is at (3, 3).\n\nAction:\nmove down"
    records = [
        {
            "item_id": "lmrlgym_maze_30",
            "conversations": [
                {"from": "human", "loss": None, "value": "Thought: the instruction is never touched"},
                {"from": "gpt", "loss": True, "value": reply},
            ],
        }
    ]
    assert shorten_thoughts(records, -1) == records
    assert shorten_thoughts(records, 3)[0]["conversations"][1]["value"] == (
        "Thought:\nI am at\n\nAction:\nmove down"
    )
    dropped = shorten_thoughts(records, 0)[0]["conversations"]
    assert dropped[1]["value"] == "Thought:\n\n\nAction:\nmove down"
    assert dropped[0] == records[0]["conversations"][0]
    assert records[0]["conversations"][1]["value"] == reply  # the input is not modified


def test_thresholds_come_from_the_config():
    config = AgentEvolConfig(run_dir="x", reward_threshold=0.5, env_thresholds=["maze=0.2"])
    assert config.thresholds() == {"AgentGym/Maze-v0": 0.2}
    records = [record("lmrlgym_maze_1", 0.3), record("babyai_2", 0.4), record("babyai_3", 0.6)]
    kept, _ = training_set([], records, config)
    assert [r["item_id"] for r in kept] == ["lmrlgym_maze_1", "babyai_3"]  # Maze > 0.2, others > 0.5
    assert AgentEvolConfig(run_dir="x").thresholds() == {"AgentGym/BabyAI-v0": 0.0}  # AgentGym's rule
    with pytest.raises(ValueError, match="ENV=VALUE"):
        AgentEvolConfig(run_dir="x", env_thresholds=["maze"])


def test_several_envs_explore_train_and_evaluate_together(tmp_path, tiny_policy_dir):
    config, bc_config = small_run(tmp_path / "run", tiny_policy_dir, envs=["maze", "wordle"], iterations=1)
    results = agentevol(config, bc_config)
    assert list(results) == ["BC-base", "iter 1"]
    run = tmp_path / "run"
    expert = json.loads((run / "data/agenttraj.json").read_text())
    assert {r["item_id"].rsplit("_", 1)[0] for r in expert} == {"lmrlgym_maze", "lmrlgym_wordle"}
    explored = [
        json.loads(line) for line in (run / "trajectories/explore_iter1.jsonl").read_text().splitlines()
    ]
    assert {r["item_id"].rsplit("_", 1)[0] for r in explored} == {"lmrlgym_maze", "lmrlgym_wordle"}
    summary = (run / "summary.md").read_text()
    assert "| Maze |" in summary and "| Wordle |" in summary
    for env in ("Maze", "Wordle"):
        assert f"| instruction set solved while exploring, % ({env}) |" in summary
