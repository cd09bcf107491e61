"""Episode files read lazily: an index of where each record's bytes are, and records decoded on demand.

A run can hold 100k episodes in one file (hundreds of MB), so nothing here loads a whole file.
One streaming pass records each record's byte span (8 + 8 bytes a record); a page then seeks to
and decodes only the records it shows. Filtering needs two facts per record (item id, success):
they are read from the record's bytes with two regular expressions, not a JSON parse, and kept,
so a filter scans a file at most once.

Two layouts, told apart by the first byte: JSONL (one record a line: rollouts, AgentEval episodes)
and a JSON list (AgentGym's AgentTraj layout, ``data/agenttraj.json``), whose top-level elements
are found by a scanner that skips strings, so braces inside model text never count.

A file that grows (a run still writing ``.partial.jsonl``) is indexed further on the next request;
a last line without its newline is shown, marked as possibly cut short, and indexed again later.
"""

from __future__ import annotations

import json
import mmap
import re
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Keys that only a record's top level has (turns carry from/value/loss/reward/token_ids), so a
# match is the record's own. Quotes inside JSON strings are escaped, so model text cannot fake them.
_ITEM_ID = re.compile(rb'"item_id"\s*:\s*"((?:[^"\\]|\\.)*)"')
_SUCCESS = re.compile(rb'"success"\s*:\s*(true|false)')
# Tokens of the JSON-list scanner: a string (skipped whole) or a bracket.
_LIST_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')

CHUNK = 1 << 20  # bytes read at a time while indexing
UNKNOWN, FAILED, SUCCEEDED, NO_FACTS = 0, 1, 2, 3  # success codes kept per record


@dataclass(frozen=True)
class Damaged:
    """A record that could not be read; ``reason`` is shown where the episode would be."""

    reason: str


@dataclass(frozen=True)
class Facts:
    """What filters need of a record, read without decoding it."""

    item_id: str | None
    success: bool | None  # None: the record has no readable success flag


class RecordFile:
    """Byte spans of the records of one JSONL file or JSON list, and records read by number."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.starts = array("Q")  # byte offset where record i begins
        self.ends = array("Q")  # and where it ends (newline excluded)
        self.line_numbers = array("Q")  # JSONL: the 1-based line of record i
        self.is_list: bool | None = None
        self.generation = 0  # bumped when the file was written anew and is indexed from the start
        self.records_read = 0  # records decoded so far (tests check a page reads only its own)
        self.facts_read = 0  # records whose facts were read
        self._item_ids: list[str | None] = []
        self._success = bytearray()
        self._indexed_to = 0  # JSONL: bytes indexed (whole lines only)
        self._open_tail = False  # the last record is a line without its newline (maybe still being written)
        self._next_line = 1
        self._stat: tuple[int, int, int] | None = None  # size, mtime, inode when last indexed
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ index
    def refresh(self) -> None:
        """Index what was added since the last call (or everything, if the file was replaced)."""
        with self._lock:
            stat = self.path.stat()
            now = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
            if now == self._stat:
                return
            # Appended to, or written anew (an atomic write is a new inode; a list has no appends).
            replaced = self._stat is not None and (
                stat.st_size < self._indexed_to or stat.st_ino != self._stat[2] or self.is_list
            )
            if self._stat is None or replaced:
                self._reset()
            self._stat = now
            if self.is_list is None:
                self.is_list = _first_byte(self.path) == b"["
            if self.is_list:
                self._index_list()
            else:
                self._index_lines()

    def __len__(self) -> int:
        self.refresh()
        return len(self.starts)

    def _reset(self) -> None:
        self.generation += 1  # what was read of the file before (facts, scans) no longer holds
        self.starts, self.ends, self.line_numbers = array("Q"), array("Q"), array("Q")
        self._item_ids, self._success = [], bytearray()
        self._indexed_to, self._open_tail, self._next_line, self.is_list = 0, False, 1, None

    def _index_lines(self) -> None:
        if self._open_tail:  # index the unfinished last line again, now maybe longer
            self._pop_last()
            self._open_tail = False
        line_start = self._indexed_to
        with self.path.open("rb") as file:
            file.seek(line_start)
            base = line_start  # file offset of chunk[0]
            chunk = b""
            # Chunks and bytes.find, not `for line in file`: faster on large files (benchmarks
            # page), and no line is ever copied.
            while chunk := file.read(CHUNK):
                at = chunk.find(b"\n")
                while at != -1:
                    if not _blank(chunk, line_start - base, at):
                        self._append(line_start, base + at, self._next_line)
                    self._next_line += 1
                    line_start = base + at + 1
                    at = chunk.find(b"\n", at + 1)
                base += len(chunk)
            if line_start < base and not _blank(chunk, line_start - (base - len(chunk)), len(chunk)):
                self._append(line_start, base, self._next_line)
                self._open_tail = True
        self._indexed_to = line_start

    def _index_list(self) -> None:
        """Top-level elements of a JSON list, found by depth counting over strings and brackets."""
        with self.path.open("rb") as file:
            if self._stat[0] == 0:
                return
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                depth, start = 0, 0
                for token in _LIST_TOKEN.finditer(data):
                    char = token.group()[:1]
                    if char == b'"':
                        continue
                    if char in b"[{":
                        depth += 1
                        if depth == 2:
                            start = token.start()
                    else:
                        depth -= 1
                        if depth == 1:
                            self._append(start, token.end(), 0)
                if depth >= 2:  # the file ends inside a record: show it, damaged
                    self._append(start, len(data), 0)

    def _append(self, start: int, end: int, line: int) -> None:
        self.starts.append(start)
        self.ends.append(end)
        self.line_numbers.append(line)
        self._item_ids.append(None)
        self._success.append(UNKNOWN)

    def _pop_last(self) -> None:
        for column in (self.starts, self.ends, self.line_numbers):
            column.pop()
        self._item_ids.pop()
        self._success.pop()

    # ------------------------------------------------------------------ reading
    def where(self, index: int) -> str:
        """How a person finds record ``index`` in the file."""
        if self.is_list:
            return f"record {index + 1} (byte {self.starts[index]})"
        return f"line {self.line_numbers[index]}"

    def raw(self, indices: list[int]) -> list[bytes]:
        """The bytes of the given records (one open, one seek and read each)."""
        with self.path.open("rb") as file:
            chunks = []
            for index in indices:
                file.seek(self.starts[index])
                chunks.append(file.read(self.ends[index] - self.starts[index]))
            return chunks

    def records(self, indices: list[int]) -> list[dict[str, Any] | Damaged]:
        """Records ``indices`` decoded; one that cannot be read is a :class:`Damaged` saying why."""
        self.refresh()
        decoded = []
        for index, data in zip(indices, self.raw(indices)):
            self.records_read += 1
            decoded.append(self._decode(index, data))
        return decoded

    def record(self, index: int) -> dict[str, Any] | Damaged:
        return self.records([index])[0]

    def _decode(self, index: int, data: bytes) -> dict[str, Any] | Damaged:
        where = self.where(index)
        cut = " (the file ends here: it may still be being written)" if self._is_tail(index) else ""
        try:
            record = json.loads(data)
        except UnicodeDecodeError:
            return Damaged(f"{where} is not UTF-8 text{cut}")
        except json.JSONDecodeError as err:
            return Damaged(f"{where} is damaged JSON: {err.msg} at column {err.colno}{cut}")
        if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
            return Damaged(f"{where} is JSON but not an episode (an object with a 'conversations' list)")
        return record

    def _is_tail(self, index: int) -> bool:
        return index == len(self.starts) - 1 and (self._open_tail or bool(self.is_list))

    # ------------------------------------------------------------------ facts for filters
    def facts(self, index: int) -> Facts:
        """Item id and success of record ``index``, read once and kept."""
        if self._success[index] == UNKNOWN:
            self._read_facts(index, index + 1)
        code = self._success[index]
        return Facts(self._item_ids[index], None if code == NO_FACTS else code == SUCCEEDED)

    def _read_facts(self, first: int, stop: int) -> None:
        """Facts of records ``first`` .. ``stop - 1``, from one read of the bytes they span."""
        origin = self.starts[first]
        with self.path.open("rb") as file:
            file.seek(origin)
            block = memoryview(file.read(self.ends[stop - 1] - origin))
        for index in range(first, stop):
            data = block[self.starts[index] - origin : self.ends[index] - origin]
            self.facts_read += 1
            found = _ITEM_ID.search(data)
            self._item_ids[index] = _unescape(found.group(1)) if found else None
            success = _SUCCESS.search(data)
            self._success[index] = (
                NO_FACTS if success is None else SUCCEEDED if success.group(1) == b"true" else FAILED
            )

    def read_facts(self, first: int, stop: int) -> None:
        """Facts of records ``first`` .. ``stop - 1`` not read yet, in one pass over the file."""
        todo = [i for i in range(first, min(stop, len(self.starts))) if self._success[i] == UNKNOWN]
        if todo:
            self._read_facts(todo[0], todo[-1] + 1)


def _blank(chunk: bytes, start: int, stop: int) -> bool:
    """Whether chunk[start:stop] is empty or white space (a line that began in an earlier chunk
    and is short enough to be blank is taken as text: at worst it shows as a damaged record)."""
    if stop - start > 8:
        return False
    return start >= 0 and not chunk[start:stop].strip()


def _unescape(raw: bytes) -> str | None:
    try:
        if b"\\" not in raw:
            return bytes(raw).decode("utf-8")
        return json.loads(b'"' + bytes(raw) + b'"')
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _first_byte(path: Path) -> bytes:
    """The first byte that is not white space (``b""`` for an empty file)."""
    with path.open("rb") as file:
        while chunk := file.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[:1]
    return b""


def looks_like_episode_list(path: Path) -> bool:
    """A JSON file that is a list of objects (AgentTraj), not settings or results (objects)."""
    try:
        with path.open("rb") as file:
            head = file.read(256).lstrip()
    except OSError:
        return False
    return head[:1] == b"[" and head[1:].lstrip()[:1] in (b"{", b"]", b"")
