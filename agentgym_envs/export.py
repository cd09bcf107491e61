"""AgentTraj records to and from Hugging Face ``datasets``, and to the chat formats trainers read.

- :func:`to_dataset` / :func:`from_dataset`: AgentTraj records <-> ``datasets.Dataset`` (the same
  columns: ``item_id``, ``conversations`` of ``{from, loss, value}``, and ``reward`` /
  ``success`` when the records have them). ``from_dataset(to_dataset(r)) == r``.
- :func:`to_trl`: one record as TRL's conversational format, ``{"messages": [{"role",
  "content"}, ...]}``. Assistant messages carry ``weight`` (1 trained, 0 not), the per-message
  flag of OpenAI's chat fine-tuning files, holding AgentTraj's ``loss``. TRL itself trains on every
  assistant message under ``assistant_only_loss=True``, so give the tokenizer a chat template
  that reads ``weight``: :func:`sft_chat_template` writes one (it marks the trained assistant
  turns with ``{% generation %}``, the markers TRL builds its loss mask from).
- :func:`to_sharegpt`: ``{"id", "conversations": [{"from", "value"}]}``. ShareGPT has no
  per-turn flag, so a trainer reading it trains on every ``gpt`` turn, including the ``Ok.`` that
  AgentTraj leaves out.
- :func:`export_file`: AgentTraj JSON/JSONL in, ``trl`` | ``sharegpt`` | ``agenttraj`` JSON/JSONL out.

``datasets`` is imported only by the functions that need it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentgym_envs.data import load_trajectories, save_trajectories

FORMATS = ("trl", "sharegpt", "agenttraj")
ROLE_OF = {"human": "user", "gpt": "assistant"}
SPEAKER_OF = {role: speaker for speaker, role in ROLE_OF.items()}
_OPTIONAL_KEYS = ("reward", "success")  # ours; AgentGym's published records lack them


# ------------------------------------------------------------------------------ datasets
def to_dataset(records: Iterable[dict[str, Any]]):
    """AgentTraj records as a ``datasets.Dataset`` with the same fields."""
    from datasets import Dataset

    rows = [_dataset_row(record) for record in records]
    return Dataset.from_list(rows)


def from_dataset(dataset) -> list[dict[str, Any]]:
    """A dataset made by :func:`to_dataset` (or loaded from its saved files) back to records.
    ``reward`` / ``success`` are left out of a record when they are empty, as in AgentGym's files."""
    records = []
    for row in dataset:
        record = {"item_id": row["item_id"], "conversations": [_turn(t) for t in row["conversations"]]}
        record.update({key: row[key] for key in _OPTIONAL_KEYS if row.get(key) is not None})
        records.append(record)
    return records


def _dataset_row(record: dict[str, Any]) -> dict[str, Any]:
    # Every row gets every column so Arrow sees one schema; empty ones come back as None.
    row = {"item_id": record["item_id"], "conversations": [_turn(t) for t in record["conversations"]]}
    row.update({key: record.get(key) for key in _OPTIONAL_KEYS})
    return row


def _turn(item: dict[str, Any]) -> dict[str, Any]:
    return {"from": item["from"], "loss": item.get("loss"), "value": item["value"]}


# ------------------------------------------------------------------------------ chat formats
def to_trl(record: dict[str, Any]) -> dict[str, Any]:
    """One AgentTraj record as ``{"messages": [...]}`` for TRL's ``SFTTrainer`` (see the module
    doc for ``weight``)."""
    messages = []
    for item in record["conversations"]:
        message = {"role": ROLE_OF[item["from"]], "content": item["value"], "weight": None}
        if item["from"] == "gpt":
            message["weight"] = 1 if item.get("loss") else 0
        messages.append(message)
    return {"messages": messages}


def from_trl(row: dict[str, Any], item_id: str = "") -> dict[str, Any]:
    """A ``{"messages": [...]}`` row back to an AgentTraj record (an assistant message with no
    ``weight`` is trained on, as in OpenAI's files)."""
    conversations = []
    for message in row["messages"]:
        speaker = SPEAKER_OF[message["role"]]
        loss = None if speaker == "human" else message.get("weight") != 0
        conversations.append({"from": speaker, "loss": loss, "value": message["content"]})
    return {"item_id": item_id, "conversations": conversations}


def to_sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    """One AgentTraj record in ShareGPT's layout (no per-turn loss flag)."""
    turns = [{"from": item["from"], "value": item["value"]} for item in record["conversations"]]
    return {"id": record["item_id"], "conversations": turns}


def export_records(records: Iterable[dict[str, Any]], fmt: str) -> list[dict[str, Any]]:
    """Records in ``fmt``: ``trl``, ``sharegpt`` or ``agenttraj`` (AgentGym's own layout)."""
    convert = {"trl": to_trl, "sharegpt": to_sharegpt, "agenttraj": _turns_only}.get(fmt)
    if convert is None:
        raise ValueError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return [convert(record) for record in records]


def export_file(source: str | os.PathLike, target: str | os.PathLike, fmt: str) -> Path:
    """Read AgentTraj JSON/JSONL from ``source``, write it in ``fmt`` to ``target`` (a ``.jsonl``
    name writes one record per line, anything else a JSON list). Returns ``target``."""
    return save_trajectories(export_records(load_trajectories(source), fmt), target)


def _turns_only(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "conversations": [_turn(t) for t in record["conversations"]]}


# ------------------------------------------------------------------------------ chat template
def sft_chat_template(turn_start: str = "<|{role}|>", turn_end: str = "<|end|>") -> str:
    """A chat template that writes each message as ``turn_start`` (with ``{role}`` filled in),
    its content and ``turn_end``, and wraps the content and ``turn_end`` of every assistant
    message whose ``weight`` is not 0 in ``{% generation %}`` markers: with it, TRL's
    ``assistant_only_loss=True`` trains on exactly the turns AgentTraj trains on, end-of-turn
    token included (so the model learns to stop).

    The defaults render exactly as the built-in ``tiny`` models' template; for ChatML models use
    ``sft_chat_template("<|im_start|>{role}\\n", "<|im_end|>\\n")``.
    """
    before, _, after = turn_start.partition("{role}")
    header = f"{{{{ {_literal(before)} + message['role'] + {_literal(after)} }}}}"
    body = f"{{{{ message['content'] }}}}{{{{ {_literal(turn_end)} }}}}"
    prompt = f"{{{{ {_literal(before)} + 'assistant' + {_literal(after)} }}}}"
    return (
        "{% for message in messages %}"
        + header
        + "{% if message['role'] == 'assistant' and message.get('weight') != 0 %}"
        + "{% generation %}"
        + body
        + "{% endgeneration %}"
        + "{% else %}"
        + body
        + "{% endif %}"
        + "{% endfor %}"
        + "{% if add_generation_prompt %}"
        + prompt
        + "{% endif %}"
    )


def _literal(text: str) -> str:
    """``text`` as a Jinja string literal (JSON's escapes are Jinja's)."""
    return json.dumps(text)
