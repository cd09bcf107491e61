import pytest

from agentgym_rl.evaluate import (
    EnvResult,
    detail_tables,
    evaluate,
    load_results,
    mean_interval,
    pass_at_k,
    pass_at_k_by_env,
    pass_k_values,
    results_table,
    samples_path,
    save_results,
    summarize,
    wilson_interval,
)
from agentgym_rl.rollout import RolloutConfig


@pytest.mark.parametrize(
    "successes, trials, low, high",
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (18, 20, 0.6990, 0.9721)],
)
def test_wilson_interval_matches_hand_values(successes, trials, low, high):
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=1e-4)


def test_mean_interval_on_hand_values():
    mean, low, high = mean_interval([0.0, 1.0, 0.5, 0.5])
    assert mean == 0.5 and (low, high) == pytest.approx(
        (0.5 - 1.959964 * 0.2041, 0.5 + 1.959964 * 0.2041), abs=1e-3
    )
    assert mean_interval([0.7]) == (0.7, 0.7, 0.7)
    assert mean_interval([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)


def test_summarize_groups_by_env_from_item_ids():
    records = [
        {"item_id": "lmrlgym_maze_0", "reward": 1.0, "success": True},
        {"item_id": "lmrlgym_maze_1", "reward": 0.0, "success": False},
        {"item_id": "babyai_3", "reward": 0.82, "success": True},
    ]
    results = summarize(records)
    assert set(results) == {"AgentGym/Maze-v0", "AgentGym/BabyAI-v0"}
    assert results["AgentGym/Maze-v0"].success_rate == 0.5 and results["AgentGym/Maze-v0"].episodes == 2
    assert results["AgentGym/BabyAI-v0"].mean_score == pytest.approx(0.82)


def test_results_table_and_json_round_trip(tmp_path):
    results = summarize([{"item_id": "lmrlgym_maze_0", "reward": 1.0, "success": True}])
    table = results_table({"BC-base": results, "iter 1": {}})
    assert "| Maze | 100.0 [21, 100] / 1.000 | - |" in table
    assert load_results(save_results(results, tmp_path / "eval.json")) == {
        env: EnvResult(**r.as_dict()) for env, r in results.items()
    }


@pytest.mark.parametrize(
    "samples, correct, k, expected",
    [
        (5, 0, 1, 0.0),
        (5, 5, 1, 1.0),
        (5, 2, 1, 0.4),  # pass@1 is the success share
        (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2)
        (10, 3, 4, 1 - 35 / 210),  # 1 - C(7,4)/C(10,4)
        (4, 1, 4, 1.0),  # fewer failures than draws: a success is always drawn
    ],
)
def test_pass_at_k_is_chens_unbiased_estimator_on_hand_counts(samples, correct, k, expected):
    assert pass_at_k(samples, correct, k) == pytest.approx(expected)


def test_pass_at_k_refuses_impossible_counts_and_lists_powers_of_two_and_k():
    for bad in [(4, 5, 1), (4, 1, 5), (4, 1, 0)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)
    assert pass_k_values(8) == [1, 2, 4, 8]
    assert pass_k_values(6) == [1, 2, 4, 6]
    assert pass_k_values(1) == [1]


def test_pass_at_k_averages_the_tasks_of_each_env():
    outcomes = {"lmrlgym_maze_0": [True, False, False, False], "lmrlgym_maze_1": [False] * 4}
    records = [
        {"item_id": item, "sample": sample, "success": won, "reward": float(won)}
        for item, wins in outcomes.items()
        for sample, won in enumerate(wins)
    ]
    estimates = pass_at_k_by_env(records, 4)["AgentGym/Maze-v0"]
    # Task 0: c=1 of n=4 -> 0.25, 1 - C(3,2)/C(4,2) = 0.5, 1; task 1 never succeeds.
    assert estimates == pytest.approx({"pass@1": 0.125, "pass@2": 0.25, "pass@4": 0.5})


def test_summarize_splits_an_env_by_the_subtask_its_records_name():
    rows = [("GoToRedBall", True), ("GoToRedBall", False), ("Pickup", True), ("Open", False)]
    records = [
        {"item_id": f"babyai_{i}", "reward": float(won), "success": won, "subtask": subtask}
        for i, (subtask, won) in enumerate(rows)
    ]
    records.append({"item_id": "lmrlgym_maze_0", "reward": 1.0, "success": True})  # no subtasks
    results = summarize(records)
    assert results["AgentGym/Maze-v0"].subtasks is None
    babyai = results["AgentGym/BabyAI-v0"]
    assert babyai.episodes == 4 and babyai.success_rate == 0.5
    assert list(babyai.subtasks) == ["GoToRedBall", "Open", "Pickup"]
    assert babyai.subtasks["GoToRedBall"]["episodes"] == 2
    assert babyai.subtasks["GoToRedBall"]["success_rate"] == 0.5
    assert (babyai.subtasks["Pickup"]["success_low"], babyai.subtasks["Pickup"]["success_high"]) == (
        pytest.approx(wilson_interval(1, 1))
    )
    assert sum(row["episodes"] for row in babyai.subtasks.values()) == babyai.episodes
    table = detail_tables(results)
    assert "BabyAI by subtask" in table and "| GoToRedBall | 50.0 [" in table and "Maze" not in table


def test_subtasks_sort_numbers_as_numbers_and_survive_the_json(tmp_path):
    records = [
        {"item_id": f"textcraft_{i}", "reward": 0.0, "success": False, "subtask": f"depth {depth}"}
        for i, depth in enumerate([10, 2, 1])
    ]
    results = summarize(records)
    assert list(results["AgentGym/TextCraft-v0"].subtasks) == ["depth 1", "depth 2", "depth 10"]
    assert load_results(save_results(results, tmp_path / "eval.json")) == {
        env: EnvResult(**r.as_dict()) for env, r in results.items()
    }


def test_samples_sit_beside_the_episodes():
    assert samples_path("runs/eval/x.episodes.jsonl").name == "x.samples.jsonl"


class AlwaysDown:
    """A scripted policy: every reply moves down."""

    def generate(self, prompts, **kwargs):
        return ["Thought:\nDown is as good as any.\n\nAction:\nmove down"] * len(prompts)


def test_evaluate_plays_the_test_split_greedily():
    results, records = evaluate(AlwaysDown(), ["maze"], limit=5, progress=False)
    assert [r["item_id"] for r in records] == [f"lmrlgym_maze_{i}" for i in range(5)]
    assert results["AgentGym/Maze-v0"].episodes == 5
    with pytest.raises(ValueError, match="greedily"):
        evaluate(AlwaysDown(), ["maze"], config=RolloutConfig(temperature=1.0), progress=False)


def test_evaluate_splits_an_env_with_subtasks_in_its_results(tmp_path):
    from helpers import installed_or_skip

    installed_or_skip("AgentGym/BabyAI-v0")
    results, records = evaluate(AlwaysDown(), ["babyai"], task_ids=[0, 1, 40, 41], progress=False)
    assert [r["subtask"] for r in records] == [
        "GoToRedBallGrey",
        "GoToRedBall",
        "GoToRedBallGrey",
        "GoToRedBall",
    ]
    subtasks = results["AgentGym/BabyAI-v0"].subtasks
    assert {name: row["episodes"] for name, row in subtasks.items()} == {
        "GoToRedBall": 2,
        "GoToRedBallGrey": 2,
    }
    saved = load_results(save_results(results, tmp_path / "eval.json"))
    assert saved["AgentGym/BabyAI-v0"].subtasks["GoToRedBall"]["episodes"] == 2


def test_evaluate_plays_exactly_the_given_task_ids():
    results, records = evaluate(AlwaysDown(), ["maze"], task_ids=[7, 3], progress=False)
    assert [r["item_id"] for r in records] == ["lmrlgym_maze_7", "lmrlgym_maze_3"]
    assert results["AgentGym/Maze-v0"].episodes == 2


def test_eval_command_prints_the_table_and_writes_json_markdown_and_episodes(
    tmp_path, taught_policy_dir, capsys
):
    from agentgym_rl.cli import main

    out = tmp_path / "eval" / "taught.json"
    assert (
        main(
            ["eval", "--model", str(taught_policy_dir), "--task_ids", "0", "1", "--quiet", "--out", str(out)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "| Maze |" in printed and "Wilson" in printed
    assert set(load_results(out)) == {"AgentGym/Maze-v0"}
    assert "| Maze |" in out.with_suffix(".md").read_text()
    assert len(out.with_suffix(".episodes.jsonl").read_text().splitlines()) == 2


def test_eval_with_pass_k_writes_pass_at_k_into_its_results(tmp_path, taught_policy_dir, capsys):
    import json

    from agentgym_rl.cli import main

    out = tmp_path / "eval" / "taught.json"
    argv = ["eval", "--model", str(taught_policy_dir), "--task_ids", "0", "1", "--quiet", "--out", str(out)]
    assert main([*argv, "--pass_k", "3", "--pass_temperature", "1.0", "--max_new_tokens", "16"]) == 0
    assert "Pass@k" in capsys.readouterr().out
    saved = json.loads(out.read_text())["AgentGym/Maze-v0"]
    assert set(saved["pass_at_k"]) == {"pass@1", "pass@2", "pass@3"}
    assert 0.0 <= saved["pass_at_k"]["pass@1"] <= saved["pass_at_k"]["pass@2"] <= saved["pass_at_k"]["pass@3"]
    samples = [json.loads(line) for line in out.with_suffix(".samples.jsonl").read_text().splitlines()]
    assert sorted((s["item_id"], s["sample"]) for s in samples) == [
        (f"lmrlgym_maze_{task}", sample) for task in (0, 1) for sample in range(3)
    ]
    assert saved["episodes"] == 2  # the greedy episodes stay the main result
    assert "Pass@k" in out.with_suffix(".md").read_text()


class Reached(Exception):
    """Raised by a stand-in rollout engine once it has seen its settings."""


def test_eval_rollout_flags_reach_the_rollout_engine(tiny_policy_dir, monkeypatch):
    import agentgym_rl.evaluate as evaluate_module
    from agentgym_rl.cli import main

    seen = []

    def engine(policy, jobs, config, **kwargs):
        seen.append(config)
        raise Reached

    monkeypatch.setattr(evaluate_module, "rollout", engine)
    url = "http://127.0.0.1:9/"
    argv = ["eval", "--model", str(tiny_policy_dir), "--quiet", "--concurrency", "3", "--max_new_tokens", "7"]
    with pytest.raises(Reached):
        main([*argv, "--env_server", url, "--no_prefix_cache", "--max_rounds", "5"])
    settings = dict(concurrency=3, max_new_tokens=7, max_rounds=5, prefix_cache=False, env_server=url)
    assert seen == [RolloutConfig(**settings)]  # greedy, as AgentEval plays
    with pytest.raises(Reached):
        main([*argv, "--rollout_workers", "2", "--ray_address", "auto"])
    assert (seen[-1].rollout_workers, seen[-1].ray_address, seen[-1].env_server) == (2, "auto", None)


@pytest.mark.parametrize(
    "flags", [["--temperature", "1"], ["--seed", "3"], ["--rollout_workers", "2", "--env_server", "http://x"]]
)
def test_eval_refuses_rollout_flags_it_does_not_take(flags, capsys):
    from agentgym_rl.cli import main

    assert main(["eval", *flags]) == 2  # AgentEval decodes greedily; Ray or a server, not both
    assert capsys.readouterr().err.count("\n") == 1
