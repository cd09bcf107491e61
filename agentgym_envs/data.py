"""AgentTraj / AgentTraj-L / AgentEval data in AgentGym's JSON format.

A record is one episode::

    {"item_id": "babyai_12", "conversations": [
        {"from": "human", "loss": null,  "value": "<instruction>"},
        {"from": "gpt",   "loss": false, "value": "Ok."},
        {"from": "human", "loss": null,  "value": "<first observation>"},
        {"from": "gpt",   "loss": true,  "value": "Thought:\\n...\\n\\nAction:\\n..."}, ...],
     "reward": 1.0, "success": true}

``reward`` and ``success`` are ours (rollouts and evaluation add them); AgentGym's published
files lack them and load unchanged. AgentEval files hold the ``item_id`` of each test task
with an empty conversation, as AgentGym's do.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym

from agentgym_envs import env_class, resolve_env_id
from agentgym_envs.formats import format_react

ACK = "Ok."  # the assistant's reply to the instruction, as in AgentGym's data


class DataFormatError(ValueError):
    """A trajectory file that is not AgentTraj JSON / JSONL."""


def turn(speaker: str, value: str, loss: bool | None = None) -> dict[str, Any]:
    return {"from": speaker, "loss": loss, "value": value}


def opening_turns(instruction: str, first_observation: str) -> list[dict[str, Any]]:
    """The three turns every AgentGym conversation starts with."""
    return [turn("human", instruction), turn("gpt", ACK, False), turn("human", first_observation)]


def expert_episode(env: gym.Env, task_id: int) -> dict[str, Any]:
    """Run the env's expert on one task and record the episode as an AgentTraj record.

    ``env`` should come from ``gym.make`` so AgentGym's round limit applies."""
    observation, info = env.reset(options={"task_id": task_id})
    conversations = opening_turns(info["instruction"], observation)
    while True:
        thought, action = env.unwrapped.expert()
        conversations.append(turn("gpt", format_react(thought, action), True))
        observation, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
        conversations.append(turn("human", observation))
    return {
        "item_id": info["item_id"],
        "conversations": conversations,
        "reward": float(info["score"]),
        "success": bool(info["success"]),
    }


def expert_trajectories(
    env_name: str, split: str = "agenttraj", limit: int | None = None, progress: bool = True
) -> tuple[list[dict[str, Any]], list[str]]:
    """AgentTraj records for a split, built by the expert.

    Returns ``(records, failed_item_ids)``: episodes the expert did not solve are left out of
    the data (as AgentGym keeps only successful trajectories) and named, never hidden."""
    from tqdm.auto import tqdm

    env_id = resolve_env_id(env_name)
    env = gym.make(env_id)
    try:
        task_ids = env.unwrapped.task_ids(split)
        if limit is not None:
            task_ids = task_ids[:limit]
        records, failed = [], []
        for task_id in tqdm(task_ids, desc=f"expert {env_id}", disable=not progress, unit="ep"):
            record = expert_episode(env, task_id)
            (records if record["success"] else failed).append(record)
        return records, [record["item_id"] for record in failed]
    finally:
        env.close()


def eval_items(env_name: str) -> list[dict[str, Any]]:
    """AgentEval: the test split's item ids, each with an empty conversation."""
    cls = env_class(env_name)
    return [{"item_id": cls.item_id(i), "conversations": []} for i in cls.task_ids("test")]


# ------------------------------------------------------------------------------ file IO
def save_trajectories(records: Iterable[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write records as a JSON list (``.json``, AgentGym's layout) or one per line (``.jsonl``).

    The write is atomic (temporary file, then rename), so an interrupted run never leaves a
    half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = list(records)
    if path.suffix == ".jsonl":
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    else:
        text = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    atomic_write_text(path, text)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_trajectories(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read AgentTraj / AgentEval records from JSON (a list) or JSONL, ours or AgentGym's.

    Turns without a ``loss`` key get AgentGym's rule: ``gpt`` turns are trained on, except the
    ``Ok.`` that answers the instruction. Raises :class:`DataFormatError` naming the record."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trajectory file at {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("["):
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}: not JSON or JSONL ({err})") from None
    return [_checked_record(record, path, index) for index, record in enumerate(records)]


def _checked_record(record: Any, path: Path, index: int) -> dict[str, Any]:
    where = f"{path}: record {index}"
    if not isinstance(record, dict) or "item_id" not in record or "conversations" not in record:
        raise DataFormatError(f"{where}: expected an object with 'item_id' and 'conversations'")
    conversations = record["conversations"]
    if not isinstance(conversations, list):
        raise DataFormatError(f"{where}: 'conversations' must be a list")
    for position, item in enumerate(conversations):
        if not isinstance(item, dict) or item.get("from") not in ("human", "gpt") or "value" not in item:
            raise DataFormatError(
                f"{where}, turn {position}: expected {{'from': 'human'|'gpt', 'value': ...}}"
            )
        if "loss" not in item:
            item["loss"] = None if item["from"] == "human" else not (position == 1 and item["value"] == ACK)
    return record
