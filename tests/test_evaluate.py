import pytest

from agentgym_rl.evaluate import (
    EnvResult,
    evaluate,
    load_results,
    mean_interval,
    results_table,
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
