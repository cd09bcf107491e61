"""Passage corpora in Search-R1's format, and AgentGym's way of showing retrieved passages.

A corpus is passages by position, each ``"Title"\\ntext`` as wiki-18's ``contents`` field:

* :class:`GeneratedCorpus`: the generated encyclopedia (:mod:`.world`), written on demand;
* :class:`JsonlCorpus`: a user's JSON-lines file (``{"id", "contents"}`` a line, wiki-18's 21M
  passages or any other), read by byte offset: the offsets are found once and cached under
  ``$AGENTGYM_CACHE/searchqa``, so a 13 GB file is never held in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from agentgym_envs.envs import bm25
from agentgym_envs.envs.searchqa.scoring import fold_to_ascii
from agentgym_envs.envs.searchqa.world import WORLD_FORMAT, World


def cache_root() -> Path:
    """``$AGENTGYM_CACHE/searchqa`` (default ``~/.cache/agentgym/searchqa``)."""
    return bm25.cache_root("searchqa")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class GeneratedCorpus:
    """The generated encyclopedia's passages."""

    def __init__(self, world: World):
        self.world = world
        # A few passages' text is in the fingerprint too, so a cache built from an earlier
        # generator (one that forgot to bump WORLD_FORMAT) is never mistaken for this corpus's.
        sample = "\n".join(world.passage(p) for p in range(0, len(world), max(1, len(world) // 16)))
        made = f"{WORLD_FORMAT}-{world.num_passages_asked}-{world.seed}"
        self.fingerprint = f"generated-w{made}-{digest(sample)}"

    def __len__(self) -> int:
        return len(self.world)

    def contents(self, position: int) -> str:
        return self.world.passage(position)

    def __iter__(self) -> Iterator[str]:
        return self.world.passages()


class JsonlCorpus:
    """A JSON-lines corpus file, one ``{"id", "contents"}`` passage a line, read by position."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        stat = self.path.stat()  # a missing file fails here, naming it
        self.fingerprint = f"jsonl-{self.path.resolve()}-{stat.st_size}-{stat.st_mtime_ns}"
        self._offsets = _line_offsets(self.path, cache_root() / f"corpus-{digest(self.fingerprint)}.npy")
        self._fd: int | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def contents(self, position: int) -> str:
        start, stop = int(self._offsets[position]), int(self._offsets[position + 1])
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY)
        return _contents(os.pread(self._fd, stop - start, start), self.path, position)

    def __iter__(self) -> Iterator[str]:
        with open(self.path, "rb") as handle:
            for position, line in enumerate(line for line in handle if line.strip()):
                yield _contents(line, self.path, position)

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)


def _contents(line: bytes, path: Path, position: int) -> str:
    try:
        record = json.loads(line)
        return str(record["contents"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path}: passage {position} is not a JSON object with 'contents'") from None


def _line_offsets(path: Path, cache: Path) -> np.ndarray:
    """Where each non-blank line starts, then the file's size: passage i is the bytes
    [offsets[i], offsets[i + 1]) (blank lines after it included; JSON ignores them). Cached."""
    try:
        return np.load(cache)
    except (OSError, ValueError):
        pass
    starts, position = [], 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                starts.append(position)
            position += len(line)
    if not starts:
        raise ValueError(f"{path} holds no passages")
    offsets = np.array([*starts, position], dtype=np.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache.parent, suffix=".npy", delete=False) as staging:
        np.save(staging, offsets)
    os.replace(staging.name, cache)
    return offsets


def show_passages(passages: list[str]) -> str:
    """AgentGym's ``_passages2string``: ``Doc 1(Title: "T") text`` a line (the title line keeps
    wiki-18's quotes), inside ``<information>``; accents folded to ASCII."""
    if not passages:
        return "<information>No passage matches the query: search with other words.</information>"
    lines = []
    for number, contents in enumerate(passages, start=1):
        title, _, text = fold_to_ascii(contents).partition("\n")
        lines.append(f"Doc {number}(Title: {title}) {text}\n")
    return f"<information>{''.join(lines).strip()}</information>"


def write_jsonl(corpus, path: str | Path) -> Path:
    """Write a corpus as Search-R1's JSON lines (``{"id": "<position>", "contents": ...}``)."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as handle:
        for position, contents in enumerate(corpus):
            handle.write(json.dumps({"id": str(position), "contents": contents}) + "\n")
    return path
