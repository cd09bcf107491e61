"""Tokenisation of AgentTraj records: the loss mask covers exactly the action tokens of
loss-true gpt turns, and the truncation policy is counted."""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("torch")

from agentgym_rl.trajectory import IGNORE_INDEX, to_messages, tokenize_record, tokenize_records  # noqa: E402

END = "<|end|>"


def labelled_spans(tokenizer, tokenized) -> list[str]:
    """The text of every maximal run of labelled tokens."""
    spans, run = [], []
    for token, label in zip(tokenized.input_ids, tokenized.labels):
        if label != IGNORE_INDEX:
            assert label == token
            run.append(token)
        elif run:
            spans.append(tokenizer.decode(run))
            run = []
    if run:
        spans.append(tokenizer.decode(run))
    return spans


def test_to_messages_maps_speakers_to_roles(maze_records):
    messages = to_messages(maze_records[0]["conversations"])
    assert [m["role"] for m in messages[:4]] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == maze_records[0]["conversations"][0]["value"]


def test_labels_cover_exactly_the_loss_true_gpt_turns(tiny_policy, maze_records):
    tokenizer = tiny_policy.tokenizer
    record = copy.deepcopy(maze_records[0])
    gpt_turns = [item for item in record["conversations"] if item["from"] == "gpt"]
    gpt_turns[2]["loss"] = False  # an action the data says not to learn
    tokenized = tokenize_record(record, tokenizer)

    expected = [item["value"] + END for item in gpt_turns if item["loss"]]
    assert labelled_spans(tokenizer, tokenized) == expected
    content_tokens = sum(
        len(tokenizer(item["value"], add_special_tokens=False)["input_ids"]) + 1
        for item in gpt_turns
        if item["loss"]
    )
    assert tokenized.trainable_tokens == content_tokens
    # The whole conversation is there, tokenised as the policy tokenises a prompt.
    assert tokenized.input_ids == tiny_policy.token_ids(
        tiny_policy.render(to_messages(record["conversations"]), generation_prompt=False)
    )


def test_a_template_separator_after_the_end_token_is_not_trained_on(tiny_policy, maze_records):
    tokenizer = tiny_policy.tokenizer
    tokenizer.chat_template = (  # ChatML-like: a newline after each end-of-turn token
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )
    tokenized = tokenize_record(maze_records[1], tokenizer)
    actions = [item["value"] + END for item in maze_records[1]["conversations"] if item["loss"]]
    assert labelled_spans(tokenizer, tokenized) == actions


def test_long_records_are_cut_at_a_turn_boundary_and_counted(tiny_policy, maze_records):
    tokenizer = tiny_policy.tokenizer
    record = max(maze_records, key=lambda r: len(r["conversations"]))
    full = tokenize_record(record, tokenizer)
    max_length = len(full.input_ids) // 2

    [cut], report = tokenize_records([record], tokenizer, max_length)
    assert cut.truncated and report.truncated == 1 and report.dropped_too_long == 0
    assert len(cut.input_ids) <= max_length
    assert cut.input_ids == full.input_ids[: len(cut.input_ids)]
    assert tokenizer.convert_ids_to_tokens(cut.input_ids[-1]) == END  # ends with a whole gpt turn
    assert cut.labels[-1] == cut.input_ids[-1]
    assert "truncated" in report.summary()


def test_records_with_nothing_to_train_are_dropped_and_named(tiny_policy, maze_records):
    no_loss = {"item_id": "lmrlgym_maze_3", "conversations": []}
    kept, report = tokenize_records([maze_records[0], no_loss, maze_records[1]], tiny_policy.tokenizer, 24)
    assert kept == []  # not even the first action fits in 24 tokens
    assert (report.dropped_too_long, report.dropped_no_loss) == (2, 1)
    assert report.dropped_item_ids == [
        maze_records[0]["item_id"],
        "lmrlgym_maze_3",
        maze_records[1]["item_id"],
    ]

    kept, report = tokenize_records([no_loss, maze_records[1]], tiny_policy.tokenizer)
    assert [k.index for k in kept] == [1] and report.truncated == 0
    assert report.trainable_tokens == kept[0].trainable_tokens
