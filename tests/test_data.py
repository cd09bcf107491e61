import json
import re

import pytest

from agentgym_envs.data import (
    DataFormatError,
    eval_items,
    expert_trajectories,
    load_trajectories,
    save_trajectories,
)
from agentgym_envs.registration import install_hint
from agentgym_rl.cli import main


@pytest.fixture(scope="module")
def maze_records():
    records, failed = expert_trajectories("maze", "agenttraj", limit=6, progress=False)
    assert not failed
    return records


def test_expert_records_follow_agentgym_layout(maze_records):
    record = maze_records[0]
    assert record["item_id"] == "lmrlgym_maze_25" and record["success"] and record["reward"] == 1.0
    turns = record["conversations"]
    assert [t["from"] for t in turns[:4]] == ["human", "gpt", "human", "gpt"]
    assert turns[1] == {"from": "gpt", "loss": False, "value": "Ok."}
    assert turns[-1]["from"] == "gpt" and turns[-1]["loss"] is True
    assert all(t["loss"] is None for t in turns if t["from"] == "human")
    assert all(t["value"].startswith("Thought:\n") and "\n\nAction:\n" in t["value"] for t in turns[3::2])


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_save_and_load_round_trip(tmp_path, maze_records, suffix):
    path = save_trajectories(maze_records, tmp_path / f"data{suffix}")
    assert load_trajectories(path) == maze_records
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_agentgym_files_without_loss_keys_load_with_agentgym_rule(tmp_path):
    record = {
        "item_id": "babyai_3",
        "conversations": [
            {"from": "human", "value": "instruction"},
            {"from": "gpt", "value": "Ok."},
            {"from": "human", "value": "obs"},
            {"from": "gpt", "value": "Thought:\nx\n\nAction:\nturn left"},
        ],
    }
    (tmp_path / "a.json").write_text(json.dumps([record]))
    turns = load_trajectories(tmp_path / "a.json")[0]["conversations"]
    assert [t["loss"] for t in turns] == [None, False, None, True]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not JSON"),
        ('[{"item_id": "x"}]', "record 0"),
        ('[{"item_id": "x", "conversations": [{"from": "robot", "value": "hi"}]}]', "turn 0"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(DataFormatError, match=message):
        load_trajectories(tmp_path / "bad.json")


def test_eval_items_are_the_test_split():
    items = eval_items("AgentGym/Maze-v0")
    assert [i["item_id"] for i in items] == [f"lmrlgym_maze_{n}" for n in range(25)]
    assert all(i["conversations"] == [] for i in items)


def test_cli_data_writes_agenttraj_and_eval(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "--env",
                "maze",
                "--split",
                "agenttraj",
                "--limit",
                "3",
                "--quiet",
                "--out",
                str(tmp_path / "t.json"),
            ]
        )
        == 0
    )
    assert len(load_trajectories(tmp_path / "t.json")) == 3
    assert main(["data", "--env", "maze", "--split", "eval", "--out", str(tmp_path / "e.json")]) == 0
    assert len(load_trajectories(tmp_path / "e.json")) == 25


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "--env", "nowhere", "--out", "x.json"],
        ["data", "--env", "maze", "--split", "validation", "--out", "x.json"],
        ["data", "--env", "maze", "--out", "x.json", "--no-such-flag"],
        ["no-such-command"],
    ],
)
def test_cli_errors_are_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err or "unknown command" in err


def test_cli_play_runs_a_scripted_session(monkeypatch, capsys):
    answers = iter([":hint", "move sideways", ":quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["play", "maze", "--task-id", "0"]) == 0
    out = capsys.readouterr().out
    assert "lmrlgym_maze_0" in out and "expert: move" in out and "Invalid action" in out


def test_a_missing_engine_names_the_extra_everywhere(monkeypatch, capsys, tmp_path):
    import importlib.util

    import agentgym_envs
    from agentgym_rl.cli import with_install_hint

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "minigrid" else real(name, *a)
    )
    hint = install_hint("babyai")
    assert hint in agentgym_envs.missing_engine("babyai")
    assert agentgym_envs.missing_engine("maze") is None
    with pytest.raises(ModuleNotFoundError, match=re.escape(hint)):
        agentgym_envs.env_class("AgentGym/BabyAI-v0")
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert f"missing: {agentgym_envs.missing_engine('babyai')}" in listing and hint in listing
    for argv in (
        ["data", "--env", "babyai", "--out", str(tmp_path / "never.json")],
        ["evolve", "--envs", "maze", "babyai"],
    ):
        assert main(argv) == 2  # refused before any work starts
        assert hint in capsys.readouterr().err
    torch_missing = ModuleNotFoundError("No module named 'torch'", name="torch")
    assert with_install_hint(torch_missing) == f"No module named 'torch': {install_hint('rl')}"
