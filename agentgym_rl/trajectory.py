"""AgentTraj records as chat messages, and their tokenisation with loss masks.

AgentGym's turns are ``{"from": "human"|"gpt", "value": ..., "loss": ...}``; chat templates
want ``{"role": "user"|"assistant", "content": ...}``. The record format itself and its file IO
live in :mod:`agentgym_envs.data` (the envs build the expert data).

Tokenisation renders the whole conversation with the tokenizer's chat template and tokenises it
once, so training sees exactly the tokens the policy sees when it generates. ``labels`` are
-100 everywhere except the tokens of ``gpt`` turns whose ``loss`` is true: their content and
their end-of-turn token (what the policy must learn to generate, including when to stop), not
the role header before it nor any separator a template writes after it.

Records longer than ``max_length``: the conversation is cut after the last ``gpt`` turn that
still fits (a turn boundary, so no half action is ever trained on) and the record counts as
``truncated``; if no trainable turn fits, or the record has none, it is left out and counted
as ``dropped``. :class:`TokenizeReport` carries the counts and the dropped item ids.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentgym_envs.data import load_trajectories, save_trajectories

IGNORE_INDEX = -100  # the label torch's cross-entropy skips

ROLE_OF = {"human": "user", "gpt": "assistant"}


def to_messages(conversations: list[dict[str, Any]]) -> list[dict[str, str]]:
    """AgentGym turns -> chat messages (the instruction stays the first user turn, as in AgentGym)."""
    return [{"role": ROLE_OF[item["from"]], "content": item["value"]} for item in conversations]


# ------------------------------------------------------------------------------ tokenisation
@dataclass
class TokenizedRecord:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX except the tokens trained on
    index: int  # position of the source record in the list given to tokenize_records
    truncated: bool = False

    @property
    def trainable_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


@dataclass
class TokenizeReport:
    """What tokenisation did to a set of records; nothing is shortened or left out silently."""

    records: int = 0
    truncated: int = 0  # cut after their last gpt turn that fits max_length
    dropped_too_long: int = 0  # not even the first trainable turn fits max_length
    dropped_no_loss: int = 0  # no gpt turn with loss true (e.g. AgentEval items)
    dropped_item_ids: list[str] = field(default_factory=list)
    tokens: int = 0
    trainable_tokens: int = 0

    def summary(self) -> str:
        kept = self.records - self.dropped_too_long - self.dropped_no_loss
        return (
            f"{kept}/{self.records} records, {self.tokens} tokens ({self.trainable_tokens} trained on); "
            f"{self.truncated} truncated to max_length at a turn boundary, {self.dropped_too_long} dropped "
            f"as too long, {self.dropped_no_loss} with no trainable turn"
        )


def tokenize_record(
    record: dict[str, Any], tokenizer, max_length: int | None = None
) -> TokenizedRecord | None:
    """``input_ids`` and ``labels`` of one record (see the module doc); None when nothing
    trainable fits in ``max_length``. ``index`` is left 0."""
    from agentgym_rl.policy import end_of_turn_ids  # torch is imported only when tokenising

    messages = to_messages(record["conversations"])
    text = render(tokenizer, messages, generation_prompt=False)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(encoding["input_ids"])
    starts = [start for start, _ in encoding["offset_mapping"]]
    stop_ids = set(end_of_turn_ids(tokenizer))
    labels = [IGNORE_INDEX] * len(input_ids)
    turn_ends = []  # (token index just past a gpt turn, labels so far include a trained turn)
    trained = False
    for position, item in enumerate(record["conversations"]):
        if item["from"] != "gpt":
            continue
        first, last = turn_token_span(tokenizer, messages, position, text, starts)
        if item["loss"]:
            label_turn(input_ids, labels, first, last, stop_ids)
            trained = True
        turn_ends.append((last, trained))
    if not trained:
        return None
    if max_length is None or len(input_ids) <= max_length:
        return TokenizedRecord(input_ids, labels, 0)
    fitting = [end for end, has_trained in turn_ends if end <= max_length and has_trained]
    if not fitting:
        return None
    cut = fitting[-1]
    return TokenizedRecord(input_ids[:cut], labels[:cut], 0, truncated=True)


def turn_token_span(tokenizer, messages: list[dict[str, str]], position: int, text: str, starts: list[int]):
    """Token range [first, last) of the assistant turn at ``position``: from just after its
    header (where generation would begin) to the end of everything the template writes for it.

    Found from the lengths of rendered prefixes, which works for any template that renders a
    conversation as its prefix plus the new turn (checked, never assumed)."""
    before = render(tokenizer, messages[:position], generation_prompt=True)
    through = render(tokenizer, messages[: position + 1], generation_prompt=False)
    if not (through.startswith(before) and text.startswith(through)):
        raise ValueError("the chat template does not render a conversation as its prefix plus the new turn")
    first = bisect_left(starts, len(before))
    last = bisect_left(starts, len(through))
    return first, last


def label_turn(input_ids: list[int], labels: list[int], first: int, last: int, stop_ids: set[int]) -> None:
    """Train on the turn's tokens up to and including its end-of-turn token."""
    for index in range(first, last):
        labels[index] = input_ids[index]
        if input_ids[index] in stop_ids:
            break


def tokenize_records(
    records: list[dict[str, Any]], tokenizer, max_length: int | None = None
) -> tuple[list[TokenizedRecord], TokenizeReport]:
    """Tokenise every record; the report counts what was truncated or dropped, and each kept
    record's ``index`` points back into ``records`` (e.g. to its weight)."""
    report = TokenizeReport(records=len(records))
    kept = []
    for index, record in enumerate(records):
        has_loss = any(item["from"] == "gpt" and item["loss"] for item in record["conversations"])
        tokenized = tokenize_record(record, tokenizer, max_length) if has_loss else None
        if tokenized is None:
            if has_loss:
                report.dropped_too_long += 1
            else:
                report.dropped_no_loss += 1
            report.dropped_item_ids.append(str(record.get("item_id")))
            continue
        tokenized.index = index
        report.truncated += tokenized.truncated
        report.tokens += len(tokenized.input_ids)
        report.trainable_tokens += tokenized.trainable_tokens
        kept.append(tokenized)
    return kept, report


def render(tokenizer, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


# ------------------------------------------------------------------------------ batching
def pack_by_length(
    ids: list[int], lengths: Mapping[int, int] | Sequence[int], max_tokens: int
) -> list[list[int]]:
    """Consecutive ``ids`` (sorted by length by the caller) into batches whose padded size
    (count x longest) stays within ``max_tokens``; a longer sequence gets a batch of its own.
    The one length-batching rule of BC and of log-probs."""
    batches: list[list[int]] = []
    for example in ids:
        if batches and lengths[example] * (len(batches[-1]) + 1) <= max_tokens:
            batches[-1].append(example)
        else:
            batches.append([example])
    return batches


__all__ = [
    "IGNORE_INDEX",
    "ROLE_OF",
    "TokenizeReport",
    "TokenizedRecord",
    "load_trajectories",
    "pack_by_length",
    "save_trajectories",
    "to_messages",
    "tokenize_record",
    "tokenize_records",
]
