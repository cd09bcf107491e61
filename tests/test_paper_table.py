"""benchmarks/paper_table.py: the table's layout beside the paper's numbers, its files, that a
rerun reads every finished stage back (and a killed one continues) and that bad flags are one line.

One quick run on Maze with the micro model (conftest) is shared by the tests that read its output;
nothing here asserts what the model learned."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import paper_table  # noqa: E402  (a script folder, put on the path above)

ROWS = ["base", "bc-base", "bc-large", "agentevol"]


def quick_argv(model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--envs",
        "maze",
        "--quick",
        "--settings",
        "tiny",
        "--model",
        str(model),
        "--out",
        str(out),
        *extra,
    ]


def files_and_mtimes(folder: Path) -> dict[str, int]:
    """Every file of the env's run folders but config.json (each invocation rewrites it after
    checking it) with its modification time."""
    return {
        str(path.relative_to(folder)): path.stat().st_mtime_ns
        for path in folder.rglob("*")
        if path.is_file() and path.name != "config.json"
    }


@pytest.fixture(scope="module")
def quick_run(tiny_policy_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper-table")
    table = paper_table.main(quick_argv(tiny_policy_dir, out))
    return out, table


def test_the_table_has_a_row_per_method_a_column_per_env_and_the_papers_rows(quick_run):
    out, table = quick_run
    assert list(table["envs"]) == ["Maze"]
    maze = table["envs"]["Maze"]
    assert maze["metric"] == "success %" and list(maze["rows"]) == ROWS
    for row in ROWS:
        entry = maze["rows"][row]
        assert 0 <= entry["low"] <= entry["value"] <= entry["high"] <= 100
        assert entry["episodes"] == 4 and entry["minutes"] >= 0
        assert entry["paper"] == paper_table.paper_value(row, "Maze")
    assert [maze["rows"][row]["paper"] for row in ROWS] == [None, 12.0, 12.0, 12.0]
    assert maze["gpt-4-turbo (paper)"] == 68.0
    assert maze["settings"]["max_length"] == paper_table.TINY_SETTINGS["Maze"].max_length

    lines = (out / "table.md").read_text().splitlines()
    assert "| method | Maze (success) |" in lines
    labels = [line.split("|")[1].strip() for line in lines if line.startswith("| ") and "[" in line]
    assert labels == [f"{paper_table.LABELS[row]}: {table['model']}" for row in ROWS]
    assert "| BC-base: Llama-2-Chat-7B (paper) | 12.00 |" in lines
    assert "| GPT-4-Turbo (paper) | 68.00 |" in lines
    assert (out / "table.png").stat().st_size > 0
    assert json.loads((out / "table.json").read_text()) == table


def test_a_rerun_reads_every_finished_stage_back(quick_run, tiny_policy_dir, monkeypatch):
    out, table = quick_run
    before = files_and_mtimes(out / "maze")
    played = count_rollout_jobs(monkeypatch)
    again = paper_table.main(quick_argv(tiny_policy_dir, out))
    assert files_and_mtimes(out / "maze") == before  # nothing retrained, replayed or rewritten
    assert played == []
    assert again["envs"] == table["envs"]


def test_a_killed_run_continues_where_it_stopped(quick_run, tiny_policy_dir, monkeypatch):
    out, _ = quick_run
    maze = out / "maze"
    # Killed in AgentEvol's last stage (trained, not yet marked done) and in the base row's
    # AgentEval after two of its four episodes.
    (maze / "agentevol" / "checkpoints" / "iter4" / "DONE").unlink()
    (maze / "agentevol" / "eval" / "iter4.json").unlink()
    base_eval = maze / "base" / "eval" / "base.json"
    episodes = base_eval.with_suffix(".episodes.jsonl").read_text().splitlines()
    base_eval.with_suffix(".episodes.partial.jsonl").write_text("\n".join(episodes[:2]) + "\n")
    base_eval.unlink()
    before = files_and_mtimes(maze)
    played = count_rollout_jobs(monkeypatch)

    paper_table.main(quick_argv(tiny_policy_dir, out))

    after = files_and_mtimes(maze)
    # AgentEvol played only its last AgentEval (its exploration for iter4 was saved), then the
    # base row its two missing episodes: the earlier stages and BC-large were read back untouched.
    assert played == [4, 2]
    kept = [
        name
        for name in before
        if name.startswith("bc-large/")
        or (name.startswith(("agentevol/checkpoints/", "agentevol/eval/", "agentevol/trajectories/"))
            and "iter4" not in name)
    ]  # fmt: skip
    assert kept and all(after[name] == before[name] for name in kept)
    assert after["agentevol/checkpoints/iter4/DONE"] and "base/eval/base.json" in after
    metrics = [json.loads(line) for line in (maze / "agentevol" / "metrics.jsonl").read_text().splitlines()]
    trained = [line["stage"] for line in metrics if line["event"] == "train"]
    assert trained == ["bc-base", "iter1", "iter2", "iter3", "iter4", "iter4"]


def count_rollout_jobs(monkeypatch) -> list[int]:
    """The number of episodes each AgentEval (base or a stage's) asks the rollout engine for."""
    import agentgym_rl.evaluate as evaluate_module

    played: list[int] = []
    real = evaluate_module.rollout

    def counting(policy, jobs, *args, **kwargs):
        played.append(len(jobs))
        return real(policy, jobs, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "rollout", counting)
    return played


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--envs", "nosuchenv"], "unknown env"),
        (["--rows", "everything"], "invalid choice"),
        (["--iterations", "0"], "--iterations must be at least 1"),
        (["--grpo", "--rows", "base"], "keep agentevol in --rows"),
        (["--envs", "academia"], "no AgentTraj to train on"),
        (["--epochs", "-1"], "must be positive"),
    ],
)
def test_a_bad_flag_is_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        paper_table.main(argv)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and message in error and "--help" in error


def test_help_explains_the_rows_and_shows_the_settings_beside_the_papers(capsys):
    with pytest.raises(SystemExit) as stopped:
        paper_table.main(["--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert "BC-large" in text and "AgentEvol" in text and "--base_endpoint" in text
    assert "learning rate (paper 1e-5)" in text
    for name in paper_table.PAPER_ENVS:
        assert f"| {name} |" in text


def test_every_paper_env_has_its_settings_and_every_paper_row_a_number_per_env():
    assert set(paper_table.TINY_SETTINGS) >= set(paper_table.PAPER_ENVS)
    assert all(settings.why for settings in paper_table.TINY_SETTINGS.values())
    for values in paper_table.PAPER_RESULTS.values():
        assert values is None or len(values) == len(paper_table.PAPER_ENVS)
    assert set(paper_table.SCORE_ENVS) <= set(paper_table.PAPER_ENVS)


def test_a_quick_run_leaves_no_scratch_behind(quick_run):
    out, _ = quick_run
    assert not list(out.rglob("*.partial*"))


def test_the_benchmarks_page_shows_the_settings_table_as_the_script_has_it():
    page = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
    assert paper_table.settings_table() in page.read_text()
