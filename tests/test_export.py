"""AgentTraj <-> datasets.Dataset, the TRL / ShareGPT exports, and TRL's SFTTrainer training on
exactly the turns AgentTraj marks (the same tokens agentgym's own BC trains on)."""

from __future__ import annotations

import json

import pytest

from agentgym_envs.data import load_trajectories, save_trajectories
from agentgym_envs.export import (
    export_file,
    export_records,
    from_dataset,
    from_trl,
    sft_chat_template,
    to_dataset,
    to_sharegpt,
    to_trl,
)

AGENTGYM_RECORD = {  # as in AgentGym's published files: no reward / success
    "item_id": "lmrlgym_maze_7",
    "conversations": [
        {"from": "human", "loss": None, "value": "Reach the goal."},
        {"from": "gpt", "loss": False, "value": "Ok."},
        {"from": "human", "loss": None, "value": "You are at (0, 0)."},
        {"from": "gpt", "loss": True, "value": "Thought:\nDown.\n\nAction:\nmove down"},
    ],
}


@pytest.fixture
def records(maze_records):
    return [AGENTGYM_RECORD, *maze_records[:5]]


def test_dataset_round_trip_keeps_every_field(records):
    pytest.importorskip("datasets")
    dataset = to_dataset(records)
    assert dataset.column_names == ["item_id", "conversations", "reward", "success"]
    assert len(dataset) == len(records)
    assert from_dataset(dataset) == records  # AgentGym's record stays without reward / success


def test_dataset_round_trip_through_saved_files(records, tmp_path):
    datasets = pytest.importorskip("datasets")
    to_dataset(records).save_to_disk(tmp_path / "ds")
    assert from_dataset(datasets.load_from_disk(tmp_path / "ds")) == records


def test_trl_messages_carry_the_loss_as_weight():
    row = to_trl(AGENTGYM_RECORD)
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user", "assistant"]
    assert [m["weight"] for m in row["messages"]] == [None, 0, None, 1]
    assert row["messages"][3]["content"].endswith("move down")
    assert from_trl(row, "lmrlgym_maze_7") == AGENTGYM_RECORD


def test_sharegpt_layout():
    row = to_sharegpt(AGENTGYM_RECORD)
    assert row["id"] == "lmrlgym_maze_7"
    assert row["conversations"][1] == {"from": "gpt", "value": "Ok."}
    assert all(set(turn) == {"from", "value"} for turn in row["conversations"])


def test_export_file_writes_each_format(records, tmp_path):
    source = save_trajectories(records, tmp_path / "in.json")
    for fmt in ("trl", "sharegpt", "agenttraj"):
        target = export_file(source, tmp_path / f"out-{fmt}.jsonl", fmt)
        lines = [json.loads(line) for line in target.read_text().splitlines()]
        assert lines == export_records(records, fmt)
    assert load_trajectories(tmp_path / "out-agenttraj.jsonl") == records
    with pytest.raises(ValueError, match="trl, sharegpt, agenttraj"):
        export_records(records, "alpaca")


def test_sft_template_renders_as_the_tiny_template():
    jinja2 = pytest.importorskip("jinja2")
    tiny = (
        "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    messages = to_trl(AGENTGYM_RECORD)["messages"]
    for prompt in (False, True):
        expected = jinja2.Template(tiny).render(messages=messages, add_generation_prompt=prompt)
        ours = sft_chat_template().replace("{% generation %}", "").replace("{% endgeneration %}", "")
        assert jinja2.Template(ours).render(messages=messages, add_generation_prompt=prompt) == expected


def _runs(mask: list[int]) -> list[tuple[int, int]]:
    """(start, end) of every run of 1s."""
    runs, start = [], None
    for position, bit in enumerate([*mask, 0]):
        if bit and start is None:
            start = position
        elif not bit and start is not None:
            runs.append((start, position))
            start = None
    return runs


# TRL 1.16's SFTConfig still sets transformers' renamed `gradient_checkpointing` argument itself.
@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")
def test_trl_sft_trains_exactly_the_turns_agenttraj_marks(maze_records, tiny_policy_dir, tmp_path):
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from agentgym_rl.policy import LLMPolicy
    from agentgym_rl.trajectory import IGNORE_INDEX, tokenize_record

    policy = LLMPolicy.load(tiny_policy_dir)
    tokenizer = policy.tokenizer
    bc_labels = [tokenize_record(r, tokenizer).labels for r in maze_records[:4]]  # agentgym's own BC
    tokenizer.chat_template = sft_chat_template()
    dataset = Dataset.from_list(export_records(maze_records[:4], "trl"))
    config = SFTConfig(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        assistant_only_loss=True,
        max_length=None,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    trainer = SFTTrainer(model=policy.model, args=config, train_dataset=dataset, processing_class=tokenizer)

    for record, example, labels in zip(maze_records, trainer.train_dataset, bc_labels):
        batch = trainer.data_collator([example])  # what the loss is computed on
        trained = [int(label != IGNORE_INDEX) for label in batch["labels"][0].tolist()]
        spans = [tokenizer.decode(example["input_ids"][a:b]) for a, b in _runs(trained)]
        marked = [turn["value"] + "<|end|>" for turn in record["conversations"] if turn["loss"]]
        assert spans == marked  # every marked gpt turn with its end token; never the "Ok."
        assert trained == [int(label != IGNORE_INDEX) for label in labels]  # = agentgym's BC

    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert result.global_step == 3 and len(losses) == 3
    assert all(loss == loss and loss > 0 for loss in losses)  # finite, not NaN


def test_agentgym_data_export_command(records, tmp_path, capsys):
    from agentgym_rl.cli import main

    source = save_trajectories(records, tmp_path / "maze.json")
    assert main(["data", "export", "--format", "trl", str(source), str(tmp_path / "maze_trl.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "maze_trl.jsonl").read_text().splitlines()]
    assert len(rows) == len(records) and rows[0]["messages"][0]["role"] in ("system", "user")
    assert main(["data", "export", "--format", "yaml", str(source), str(tmp_path / "x.json")]) == 2
    assert "invalid choice" in capsys.readouterr().err
