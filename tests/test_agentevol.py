import dataclasses
import json
import math
from pathlib import Path

import pytest
from helpers import kill_training_at

import agentgym_rl.agentevol as agentevol_module
from agentgym_rl.agentevol import (
    AgentEvolConfig,
    EvolveBCConfig,
    EvolveRolloutConfig,
    agentevol,
    filter_by_reward,
    learned_settings,
    rwr_weights,
    saved_configs,
    training_set,
    upgrade_saved_settings,
)
from agentgym_rl.bc import BCConfig
from agentgym_rl.cli import main, parse
from agentgym_rl.models import ModelConfig
from agentgym_rl.run_dir import RunDir


def record(item_id: str, reward: float, sample: int = 0) -> dict:
    return {
        "item_id": item_id,
        "conversations": [],
        "reward": reward,
        "success": reward >= 1,
        "sample": sample,
    }


def test_filter_keeps_rewards_above_the_registered_keep_threshold_one_per_item():
    records = [
        record("lmrlgym_maze_1", 1.0, 0),
        record("lmrlgym_maze_1", 1.0, 1),  # a second success of the same item: dropped
        record("lmrlgym_maze_2", 0.99),  # not above 0.99
        record("babyai_3", 0.4),  # BabyAI is registered with 0: any reward above it is kept
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


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"iteration_lr_scale": 0.0}, "iteration_lr_scale must be > 0"),
        ({"rollout": EvolveRolloutConfig(temperature=0.0)}, "temperature must be > 0"),
        ({"samples": 0}, "samples >= 1"),
        ({"iteration_epochs": -1.0}, "iteration_epochs"),
    ],
)
def test_agentevol_config_refuses_settings_that_cannot_train(bad, message):
    with pytest.raises(ValueError, match=message):
        AgentEvolConfig(**bad)


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


def small_run(run_dir, model_dir, lora=False, **overrides) -> tuple[AgentEvolConfig, BCConfig, ModelConfig]:
    settings = dict(
        envs=["maze"],
        run_dir=str(run_dir),
        iterations=2,
        samples=1,
        explore_limit=4,
        eval_limit=3,
        rollout=EvolveRolloutConfig(concurrency=4, max_new_tokens=12, temperature=1.0),
        progress=False,
    )
    settings.update(overrides)
    bc_config = BCConfig(epochs=0.1, batch_tokens=4096, learning_rate=1e-3)
    return AgentEvolConfig(**settings), bc_config, ModelConfig(model=str(model_dir), lora=lora, lora_rank=2)


def test_agentevol_writes_the_run_folder(tmp_path, tiny_policy_dir):
    results = agentevol(*small_run(tmp_path / "run", tiny_policy_dir))
    assert list(results) == ["bc-base", "iter1", "iter2"]
    run = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "summary.md", "success.png", "data/agenttraj.json"):
        assert (run / name).is_file(), name
    for stage in results:  # the stage's one name in every file
        assert (run / "checkpoints" / stage / "DONE").is_file()
        for suffix in (".json", ".md", ".episodes.jsonl"):
            assert (run / "eval" / f"{stage}{suffix}").is_file()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(line["event"], line["stage"]) for line in lines] == [
        ("data", "bc-base"),
        ("train", "bc-base"),
        ("eval", "bc-base"),
        ("explore", "iter1"),
        ("train", "iter1"),
        ("eval", "iter1"),
        ("explore", "iter2"),
        ("train", "iter2"),
        ("eval", "iter2"),
    ]
    for line in lines:  # rollout speed, as CleanRL logs SPS
        if line["event"] in ("explore", "eval"):
            assert line["tokens_per_second"] > 0 and line["episodes_per_minute"] > 0
    # BC at its peak learning rate; each iteration continues the last model at half of it.
    peaks = [line["learning_rate"] for line in lines if line["event"] == "train"]
    assert peaks == pytest.approx([1e-3, 5e-4, 5e-4])
    explored = [
        json.loads(line) for line in (run / "trajectories/explore_iter1.jsonl").read_text().splitlines()
    ]
    assert [r["item_id"] for r in explored] == [f"lmrlgym_maze_{i}" for i in range(25, 29)]
    assert all("reward" in r and "success" in r for r in explored)
    summary = (run / "summary.md").read_text()
    assert "| env | bc-base | iter1 | iter2 |" in summary
    assert "| Maze |" in summary and "| minutes, cumulative |" in summary
    assert "| AgentEval speed, tok/s / episodes/min |" in summary
    solved = 100 * sum(r["success"] for r in explored) / len(explored)
    row = next(line for line in summary.splitlines() if line.startswith("| instruction set solved"))
    cells = [cell.strip() for cell in row.split("|")[2:-1]]  # BC-base explored for iter 1, ...
    assert cells[0] == f"{solved:.1f}" and len(cells) == 3 and cells[-1] == "-"
    curves = tensorboard_scalars(run / "tensorboard")
    success = curves["eval/AgentGym/Maze-v0/success_rate"]
    assert [step for step, _ in success] == [0, 1, 2]  # one point per stage
    expected = [results[stage]["AgentGym/Maze-v0"].success_rate for stage in results]
    assert [value for _, value in success] == expected
    for tag in ("bc-base/loss", "iter1/tokens_per_second", "explore/episodes_per_minute"):
        assert curves[tag], tag


def tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {
        tag: [(e.step, pytest.approx(e.value, abs=1e-4)) for e in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def test_an_interrupted_run_resumes_and_loses_no_trajectories(tmp_path, tiny_policy_dir, monkeypatch):
    config, bc_config, model_config = small_run(tmp_path / "run", tiny_policy_dir, iterations=1)
    real_rollout = agentevol_module.rollout

    def crash_after_two_episodes(policy, jobs, rollout_config, **kwargs):
        if rollout_config.temperature == 0:  # AgentEval runs normally
            return real_rollout(policy, jobs, rollout_config, **kwargs)
        real_rollout(policy, jobs[:2], rollout_config, **kwargs)
        raise KeyboardInterrupt  # the user pressed Ctrl-C mid-exploration

    monkeypatch.setattr(agentevol_module, "rollout", crash_after_two_episodes)
    with pytest.raises(KeyboardInterrupt):
        agentevol(config, bc_config, model_config)
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
    results = agentevol(config, bc_config, model_config)
    assert list(results) == ["bc-base", "iter1"]
    assert len(trained_stages) == 1  # BC-base was not trained again
    explored = [
        json.loads(line)
        for line in (tmp_path / "run/trajectories/explore_iter1.jsonl").read_text().splitlines()
    ]
    assert len(explored) == 4 and explored[:2] == saved_before
    assert not partial.exists()


def test_a_stage_killed_mid_training_resumes_from_its_checkpoint(tmp_path, tiny_policy_dir, monkeypatch):
    config, _, model_config = small_run(tmp_path / "run", tiny_policy_dir, iterations=0)
    bc_config = BCConfig(epochs=1, batch_tokens=2048, learning_rate=1e-3, save_every=2)
    kill_training_at(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        agentevol(config, bc_config, model_config)
    scratch = tmp_path / "run/checkpoints/bc-base.partial"
    assert (scratch / "checkpoint-4").is_dir()

    monkeypatch.undo()
    agentevol(config, bc_config, model_config)
    lines = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    trained = next(line for line in lines if (line["event"], line["stage"]) == ("train", "bc-base"))
    assert trained["resumed_at_step"] == 4 and trained["steps"] > 5
    assert (tmp_path / "run/checkpoints/bc-base/DONE").is_file() and not scratch.exists()


def test_lora_stages_save_plain_merged_models(tmp_path, tiny_policy_dir):
    pytest.importorskip("peft")
    from agentgym_rl.policy import LLMPolicy

    configs = small_run(tmp_path / "run", tiny_policy_dir, iterations=1, lora=True)
    assert list(agentevol(*configs)) == ["bc-base", "iter1"]
    base = LLMPolicy.load(tiny_policy_dir).model.state_dict()
    for stage in ("bc-base", "iter1"):
        trained = LLMPolicy.load(tmp_path / "run/checkpoints" / stage).model.state_dict()
        assert trained.keys() == base.keys()  # no adapter left: loads without peft
        assert not torch_equal_all(trained, base)


def torch_equal_all(first: dict, second: dict) -> bool:
    import torch

    return all(torch.equal(first[name], second[name]) for name in first)


def test_resuming_with_other_settings_is_refused(tmp_path, tiny_policy_dir):
    config, bc_config, model_config = small_run(tmp_path / "run", tiny_policy_dir, iterations=0)
    agentevol(config, bc_config, model_config)
    changed, _, _ = small_run(tmp_path / "run", tiny_policy_dir, iterations=0, weighting="rwr")
    with pytest.raises(ValueError, match="agentevol.weighting"):
        agentevol(changed, bc_config, model_config)
    with pytest.raises(ValueError, match="model.lora"):
        agentevol(config, bc_config, ModelConfig(model=model_config.model, lora=True))
    # Where and how fast it runs is not what is learned: a run resumes on another device or dtype.
    assert list(agentevol(config, bc_config, ModelConfig(model=model_config.model, dtype="float32"))) == [
        "bc-base"
    ]


def test_a_run_from_before_a_setting_existed_still_resumes(tmp_path, tiny_policy_dir):
    config, bc_config, model_config = small_run(tmp_path / "run", tiny_policy_dir, iterations=0)
    agentevol(config, bc_config, model_config)
    config_file = tmp_path / "run/config.json"
    saved = json.loads(config_file.read_text())
    del saved["agentevol"]["accumulate"], saved["bc"]["max_grad_norm"]  # as written by an older version
    config_file.write_text(json.dumps(saved))
    assert list(agentevol(config, bc_config, model_config)) == ["bc-base"]
    changed = BCConfig(epochs=0.1, batch_tokens=4096, learning_rate=1e-3, max_grad_norm=0.5)
    config_file.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="bc.max_grad_norm"):
        agentevol(config, changed, model_config)
    # Before iteration_lr_scale existed, iterations ran at BC's peak: such a run resumes with
    # --iteration_lr_scale 1, and today's default (a different training) is refused by name.
    del saved["agentevol"]["iteration_lr_scale"]
    config_file.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="agentevol.iteration_lr_scale"):
        agentevol(config, bc_config, model_config)
    as_before = dataclasses.replace(config, iteration_lr_scale=1.0)
    assert list(agentevol(as_before, bc_config, model_config)) == ["bc-base"]


def test_a_run_folder_of_the_previous_layout_resumes(tmp_path, tiny_policy_dir):
    """Before ModelConfig, the model settings sat in the agentevol group and the keep thresholds
    were a global 0.99 plus BabyAI=0 (what the registry says now); before RolloutConfig, so did
    the rollout settings; metrics lines named "train-bc-base" instead of an event and a stage."""
    config, bc_config, model_config = small_run(tmp_path / "run", tiny_policy_dir, iterations=0)
    agentevol(config, bc_config, model_config)
    config_file, metrics_file = tmp_path / "run/config.json", tmp_path / "run/metrics.jsonl"
    saved = flat_config(config, bc_config, model_config)
    saved["agentevol"].update(saved.pop("model"), reward_threshold=0.99, env_thresholds=["BabyAI=0"])
    config_file.write_text(json.dumps(saved))
    old_lines = []
    for line in map(json.loads, metrics_file.read_text().splitlines()):
        event, stage = line.pop("event"), line.pop("stage")
        old_lines.append({"stage": "data" if event == "data" else f"{event}-{stage}", **line})
    cut_short = '{"stage": "eval-bc'  # a line a crash cut short
    metrics_file.write_text("".join(json.dumps(line) + "\n" for line in old_lines) + cut_short)
    assert list(agentevol(config, bc_config, model_config)) == ["bc-base"]
    events = RunDir(tmp_path / "run").metrics()
    assert set(events) == {("data", "bc-base"), ("train", "bc-base"), ("eval", "bc-base")}


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


def test_keep_thresholds_come_from_the_registry_unless_overridden():
    import gymnasium as gym

    config = AgentEvolConfig(run_dir="x", envs=["maze", "wordle"])
    assert config.thresholds() == {env: gym.spec(env).reward_threshold for env in config.envs}
    assert config.thresholds()["AgentGym/Maze-v0"] == 0.99  # AgentGym's released code
    config = AgentEvolConfig(run_dir="x", env_thresholds=["maze=0.2"])
    assert config.thresholds() == {"AgentGym/Maze-v0": 0.2}
    records = [record("lmrlgym_maze_1", 0.3), record("babyai_2", 0.0), record("babyai_3", 0.1)]
    kept, _ = training_set([], records, config)
    assert [r["item_id"] for r in kept] == ["lmrlgym_maze_1", "babyai_3"]  # Maze > 0.2, BabyAI > 0
    with pytest.raises(ValueError, match="ENV=VALUE"):
        AgentEvolConfig(run_dir="x", env_thresholds=["maze"])


def test_the_evolve_command_runs_and_prints_the_summary(tmp_path, tiny_policy_dir, capsys):
    flags = {"--model": str(tiny_policy_dir), "--run_dir": str(tmp_path / "run"), "--iterations": "1"}
    flags.update({"--explore_limit": "2", "--eval_limit": "2", "--concurrency": "2", "--max_new_tokens": "8"})
    flags.update({"--epochs": "0.05", "--iteration_epochs": "0.05", "--progress": "false"})
    assert main(["evolve", *[part for pair in flags.items() for part in pair]]) == 0
    printed = capsys.readouterr().out
    assert "| env | bc-base | iter1 |" in printed and "| minutes, cumulative |" in printed


def test_the_command_trains_what_the_library_default_trains():
    description = "agentgym evolve"
    assert parse("evolve", description, [AgentEvolConfig, EvolveBCConfig, ModelConfig], []) == [
        AgentEvolConfig(),
        EvolveBCConfig(),
        ModelConfig(),
    ]
    changed = EvolveBCConfig()
    assert (changed.epochs, changed.learning_rate, changed.batch_tokens) == (20.0, 1e-3, 1024)
    assert BCConfig().epochs == 3.0  # agentgym bc keeps its own defaults
    with pytest.raises(ValueError, match="run_dir"):
        agentevol(AgentEvolConfig(run_dir="x"), EvolveBCConfig(save_dir="elsewhere"))


def test_several_envs_explore_train_and_evaluate_together(tmp_path, tiny_policy_dir):
    results = agentevol(*small_run(tmp_path / "run", tiny_policy_dir, envs=["maze", "wordle"], iterations=1))
    assert list(results) == ["bc-base", "iter1"]
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


def flat_config(config: AgentEvolConfig, bc_config: BCConfig, model_config: ModelConfig) -> dict:
    """config.json as runs wrote it before RolloutConfig: the rollout settings in the agentevol
    group, and no max_rounds (every env played to its own limit)."""
    saved = json.loads(json.dumps(learned_settings(config, bc_config, model_config)))
    rollout = saved.pop("rollout")
    del rollout["max_rounds"]
    saved["agentevol"].update(rollout)
    return saved


def test_an_old_flat_config_loads_into_the_nested_one(tmp_path):
    rollout = EvolveRolloutConfig(concurrency=8, max_new_tokens=20, temperature=1.1, top_p=0.9)
    config = AgentEvolConfig(run_dir=str(tmp_path), iterations=2, rollout=rollout)
    bc_config, model_config = EvolveBCConfig(epochs=2.0), ModelConfig(model="tiny-5m")
    saved = flat_config(config, bc_config, model_config)
    assert {"concurrency", "temperature", "top_p", "max_new_tokens"} <= set(saved["agentevol"])
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert saved_configs(tmp_path) == (config, bc_config, model_config)
    # The run folder accepts it as the same run, and names a rollout setting that changed.
    folder = RunDir(tmp_path)
    defaults = learned_settings(AgentEvolConfig(run_dir="-"), EvolveBCConfig(), ModelConfig())
    folder.open(learned_settings(config, bc_config, model_config), defaults, upgrade=upgrade_saved_settings)
    (tmp_path / "config.json").write_text(json.dumps(saved))
    hotter = dataclasses.replace(config, rollout=dataclasses.replace(rollout, temperature=1.2))
    with pytest.raises(ValueError, match="rollout.temperature"):
        folder.open(
            learned_settings(hotter, bc_config, model_config), defaults, upgrade=upgrade_saved_settings
        )


def test_evolve_rollout_flags_reach_exploration_and_agenteval():
    url = "http://127.0.0.1:9/"
    flags = ["--env_server", url, "--no_prefix_cache", "--max_rounds", "5", "--concurrency", "3"]
    config, bc_config, _ = parse("evolve", "d", [AgentEvolConfig, EvolveBCConfig, ModelConfig], flags)
    assert config.rollout == EvolveRolloutConfig(
        env_server=url, prefix_cache=False, max_rounds=5, concurrency=3
    )
    exploring = config.rollout.for_rollout(seed=1000 * bc_config.seed + 1, max_new_tokens=12)
    evaluating = config.rollout.for_rollout(greedy=True, max_new_tokens=12)
    for settings in (exploring, evaluating):
        assert (settings.env_server, settings.prefix_cache, settings.max_rounds) == (url, False, 5)
        assert (settings.concurrency, settings.max_new_tokens) == (3, 12)
    assert (exploring.temperature, evaluating.temperature) == (0.85, 0.0)
    # What is learned is kept with the run; where the envs run is not.
    kept = learned_settings(config, bc_config, ModelConfig())["rollout"]
    assert kept["max_rounds"] == 5 and "env_server" not in kept and "prefix_cache" not in kept
    assert main(["evolve", "--rollout_workers", "2", "--env_server", url]) == 2  # one place for the envs


def test_advantage_weights_use_the_task_mean_or_with_one_sample_the_env_mean():
    from agentgym_rl.agentevol import advantage_weights

    grouped = [
        record("lmrlgym_maze_30", 1.0, 0),
        record("lmrlgym_maze_30", 0.0, 1),
        record("lmrlgym_maze_31", 0.5, 0),
        record("lmrlgym_maze_31", 0.5, 1),
    ]
    assert advantage_weights(grouped) == [0.5, -0.5, 0.0, 0.0]
    single = [record("lmrlgym_maze_30", 1.0), record("lmrlgym_maze_31", 0.0), record("lmrlgym_maze_32", 0.0)]
    assert advantage_weights(single) == pytest.approx([2 / 3, -1 / 3, -1 / 3])
    records, weights = training_set(
        [record("lmrlgym_maze_1", 1.0)], grouped, AgentEvolConfig(weighting="advantage", run_dir="x")
    )
    # Zero advantages teach nothing and are left out; the failure stays, with negative weight.
    assert [r["sample"] for r in records[1:]] == [0, 1] and weights == [1.0, 0.5, -0.5]


def test_advantage_weighting_pushes_failed_trajectories_down(tmp_path, tiny_policy_dir, monkeypatch):
    torch = pytest.importorskip("torch")
    from agentgym_envs.data import expert_trajectories
    from agentgym_rl.agentevol import advantage_weights
    from agentgym_rl.bc import collate, weighted_token_nll
    from agentgym_rl.policy import LLMPolicy
    from agentgym_rl.trajectory import tokenize_records

    expert, _ = expert_trajectories("maze", "train", limit=2, progress=False)
    success = {**expert[0], "reward": 1.0, "success": True, "sample": 0}
    failure = {**expert[1], "item_id": expert[0]["item_id"], "reward": 0.0, "success": False, "sample": 1}
    monkeypatch.setattr(agentevol_module, "explore", lambda *args, **kw: [success, failure])

    def trained_iter1(name: str) -> tuple[Path, int]:
        config, _, model_config = small_run(
            tmp_path / name, tiny_policy_dir, iterations=1, weighting="advantage", iteration_epochs=1
        )
        bc_config = BCConfig(epochs=0.2, batch_tokens=4096, learning_rate=3e-3, warmup_ratio=0.0)
        agentevol(config, bc_config, model_config)
        lines = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        negative = next(line for line in lines if (line["event"], line["stage"]) == ("train", "iter1"))
        return tmp_path / name / "checkpoints/iter1", negative["negative_weights"]

    def failure_nll(checkpoint) -> float:
        policy = LLMPolicy.load(checkpoint)
        example = tokenize_records([failure], policy.tokenizer, 2048)[0][0]
        ids, mask, labels = collate([example], policy.pad_token_id, "cpu")
        with torch.no_grad():
            nll = weighted_token_nll(policy.model, ids, mask, labels, torch.ones(1), False)
        return nll.item() / example.trainable_tokens

    pushed, negatives = trained_iter1("advantage")
    assert negatives == 1
    # The same run but the failure dropped (weight 0), as the filter would: from the same BC-base,
    # training on the failure with its negative weight leaves its tokens less likely.
    monkeypatch.setattr(
        agentevol_module,
        "advantage_weights",
        lambda records: [max(0.0, w) for w in advantage_weights(records)],
    )
    dropped, negatives = trained_iter1("dropped")
    assert negatives == 0
    assert failure_nll(pushed) > failure_nll(dropped)
