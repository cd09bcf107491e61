"""A run folder's bookkeeping, so a long job can be killed at any moment and rerun to continue.

Four rules, each written here once:

- **Same settings to resume**: ``config.json`` holds the settings that decide what is learned;
  reopening the folder with other values is refused, naming each one that changed. A setting
  added to the code after the run began counts as having held its default.
- **A stage is done when its marker exists**: the marker (``DONE``) is written after everything
  else of the stage, so a stage killed half way is redone, never half-used.
- **Episodes are kept as they end**: an :class:`EpisodeLog` appends each finished episode to a
  ``.partial.jsonl`` file; a rerun plays only what that file lacks, then the whole set is written
  atomically and the partial file removed.
- **JSONL is read tolerantly**: a last line cut short by a crash is skipped (its work reruns).

``metrics.jsonl`` gets one line per finished step of a stage: ``{"event": "train", "stage":
"iter1", "time": ..., "seconds": ..., ...}``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentgym_envs.data import atomic_write_text, save_trajectories

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
DONE_MARKER = "DONE"


class RunDir:
    """Paths, settings check, stage markers, metrics and log of one run folder."""

    def __init__(self, path: str | Path, name: str = "run"):
        self.dir = Path(path)
        self.name = name  # prefix of log lines
        self.started = time.perf_counter()
        # Also called with every metrics line (e.g. to write it to TensorBoard).
        self.on_record: Callable[[str, str, dict[str, Any]], None] | None = None

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)

    # -------------------------------------------------------------------------- settings
    def open(
        self,
        settings: dict[str, dict[str, Any]],
        defaults: dict[str, dict[str, Any]],
        upgrade: Callable[[dict[str, dict]], dict[str, dict]] | None = None,
    ) -> None:
        """Create the folder, or check that the run in it was made with the same ``settings``
        (groups of name -> value; ``defaults`` give the value of a setting the saved run lacks).
        ``upgrade`` turns a config.json of an earlier layout into today's, so such a run resumes;
        it belongs to whoever wrote the settings (AgentEvol's is beside its config)."""
        now = as_json(settings)
        config_file = self.path(CONFIG_FILE)
        if config_file.is_file():
            before = json.loads(config_file.read_text(encoding="utf-8"))
            if upgrade is not None:
                before = upgrade(before)
            changed = changed_settings(before, now, as_json(defaults))
            if changed:
                raise ValueError(
                    f"{self.dir} holds a run with other settings ({', '.join(changed)}); "
                    "use another --run_dir or the same flags to resume it"
                )
            self.log(f"resuming {self.dir}")
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(config_file, json.dumps(now, indent=1) + "\n")

    # -------------------------------------------------------------------------- stages
    def is_done(self, folder: Path) -> bool:
        return (folder / DONE_MARKER).is_file()

    def mark_done(self, folder: Path) -> None:
        atomic_write_text(folder / DONE_MARKER, "")

    # -------------------------------------------------------------------------- metrics and log
    def record(self, event: str, stage: str, **values: Any) -> None:
        """Append one line to metrics.jsonl (an appended line is whole or, after a crash, skipped)."""
        line = {"event": event, "stage": stage, "time": round(time.time(), 1), **values}
        with self.path(METRICS_FILE).open("a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")
        if self.on_record is not None:
            self.on_record(event, stage, values)

    def metrics(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(event, stage) -> its latest metrics line, with ``seconds`` summed over every
        invocation that ran it."""
        entries: dict[tuple[str, str], dict[str, Any]] = {}
        for line in read_jsonl(self.path(METRICS_FILE)):
            if "event" not in line:  # written before events had their own key: "train-iter1", "data"
                line["event"], _, stage = line["stage"].partition("-")
                line["stage"] = stage or "bc-base"  # the expert data was built for bc-base
            key = (line["event"], line["stage"])
            seconds = entries.get(key, {}).get("seconds", 0.0) + float(line.get("seconds", 0.0))
            entries[key] = {**line, "seconds": seconds}
        return entries

    def log(self, message: str) -> None:
        print(f"[{self.name} {time.perf_counter() - self.started:7.1f}s] {message}", flush=True)

    def minutes(self) -> float:
        """Wall time of this invocation so far."""
        return (time.perf_counter() - self.started) / 60


class EpisodeLog:
    """Episodes of one rollout, saved as they end to ``final``'s ``.partial.jsonl`` sibling;
    ``key(record)`` tells which job a record answers."""

    def __init__(self, final: Path, key: Callable[[dict[str, Any]], Hashable]):
        self.final = final
        self.partial = final.with_suffix(".partial.jsonl")
        self.key = key

    def saved(self) -> dict[Hashable, dict[str, Any]]:
        """Episodes kept by earlier invocations, by key."""
        return {self.key(record): record for record in read_jsonl(self.partial)}

    @contextmanager
    def appending(self) -> Iterator[Callable[[int, dict[str, Any]], None]]:
        """A rollout ``on_episode`` callback that appends (and flushes) each finished episode."""
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        with self.partial.open("a", encoding="utf-8") as sink:

            def keep(index: int, record: dict[str, Any]) -> None:
                sink.write(json.dumps(record) + "\n")
                sink.flush()

            yield keep

    def finish(self, order: list[Hashable]) -> list[dict[str, Any]]:
        """Write every saved episode, in ``order`` of their keys, to ``final``; drop the partial file."""
        saved = self.saved()
        records = [saved[key] for key in order]
        save_trajectories(records, self.final)
        self.partial.unlink()
        return records


# ------------------------------------------------------------------------------ helpers
def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSONL file (none if it does not exist); a line cut short by a crash is skipped."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def as_json(settings: dict[str, Any]) -> dict[str, Any]:
    """Dataclasses and tuples as JSON gives them back, so saved and current settings compare."""
    plain = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in settings.items()}
    return json.loads(json.dumps(plain))


def changed_settings(before: dict[str, dict], now: dict[str, dict], defaults: dict[str, dict]) -> list[str]:
    """``group.name`` of every setting whose saved value differs from the current one; a setting
    the saved run lacks held its default then."""
    changed = []
    for group in sorted(before.keys() | now.keys()):
        old, new = before.get(group, {}), now.get(group, {})
        for name in sorted(old.keys() | new.keys()):
            was = old.get(name, defaults.get(group, {}).get(name))
            if name not in new or was != new[name]:
                changed.append(f"{group}.{name}")
    return changed


__all__ = ["EpisodeLog", "RunDir", "changed_settings", "read_jsonl"]
