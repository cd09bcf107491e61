"""Pages of episodes across a run's files, filtered by stage, env, task and success, read lazily.

Unfiltered (or by stage only), a page is found by arithmetic over the files' record counts. With
a filter on env, task or success, records are tested in file order by their facts
(:meth:`RecordFile.facts`) only until the page and one more match are found; the matches and the
scan position are kept, so the next page continues where this one stopped, and the total is
known once a scan reaches the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentgym_rl.viewer.records import Facts
from agentgym_rl.viewer.runs import Source
from agentgym_rl.viewer.steps import env_of

FACTS_BLOCK = 512  # records whose facts are read in one pass over a file


@dataclass(frozen=True)
class Filter:
    source: str = ""  # a source key ("" for every file)
    env: str = ""  # an env id
    task: str = ""  # an item id, or a task number in any env
    success: str = ""  # "yes", "no" or "" for both

    @property
    def reads_facts(self) -> bool:
        return bool(self.env or self.task or self.success)

    def matches(self, facts: Facts) -> bool:
        if facts.item_id is None:
            return False
        if self.success and facts.success is not (self.success == "yes"):
            return False
        if self.task:
            wanted = self.task.strip()
            if wanted.isdigit() and not facts.item_id.endswith(f"_{int(wanted)}"):
                return False
            if not wanted.isdigit() and facts.item_id != wanted:
                return False
        return not self.env or env_of(facts.item_id)[0] == self.env


@dataclass
class Scan:
    """A filtered scan so far: matches as (source number, record index), and where it stopped."""

    wanted: Filter
    state: tuple[int, ...]  # the files' record counts and generations it was made for (a change restarts it)
    matches: list[tuple[int, int]] = field(default_factory=list)
    source: int = 0
    index: int = 0
    done: bool = False
    scanned: int = 0


@dataclass
class PageOfEpisodes:
    rows: list[tuple[Source, int]]
    first: int  # 0-based position of the first row among all matches
    total: int | None  # None while a filtered scan has not reached the end
    scanned: int  # records tested so far (the total count when unfiltered)
    records: int  # records in the files the filter covers


class Lister:
    """Finds pages of episodes; keeps each filter's scan for the next page."""

    def __init__(self, keep: int = 32):
        self._scans: dict[tuple, Scan] = {}
        self._keep = keep

    def page(self, sources: list[Source], wanted: Filter, number: int, size: int) -> PageOfEpisodes:
        chosen = [s for s in sources if not wanted.source or s.key == wanted.source]
        counts = tuple(len(s.file) for s in chosen)
        first = number * size
        if not wanted.reads_facts:
            return PageOfEpisodes(
                _slice(chosen, counts, first, size), first, sum(counts), sum(counts), sum(counts)
            )
        scan = self._scan_for(wanted, chosen, counts + tuple(s.file.generation for s in chosen))
        _extend(scan, chosen, counts, first + size + 1)
        rows = [(chosen[s], i) for s, i in scan.matches[first : first + size]]
        total = len(scan.matches) if scan.done else None
        return PageOfEpisodes(rows, first, total, scan.scanned, sum(counts))

    def _scan_for(self, wanted: Filter, chosen: list[Source], state: tuple[int, ...]) -> Scan:
        key = (wanted, tuple(s.key for s in chosen))
        scan = self._scans.get(key)
        if scan is None or scan.state != state:
            if len(self._scans) >= self._keep:
                self._scans.pop(next(iter(self._scans)))
            scan = self._scans[key] = Scan(wanted, state)
        return scan


def _slice(chosen: list[Source], counts: tuple[int, ...], first: int, size: int) -> list[tuple[Source, int]]:
    """Rows ``first`` .. ``first + size - 1`` of the files read one after another."""
    rows = []
    for source, count in zip(chosen, counts):
        if first >= count:
            first -= count
            continue
        stop = min(count, first + size - len(rows))
        rows += [(source, index) for index in range(first, stop)]
        first = 0
        if len(rows) == size:
            break
    return rows


def _extend(scan: Scan, chosen: list[Source], counts: tuple[int, ...], wanted_matches: int) -> None:
    """Test records in file order until ``wanted_matches`` are found or every file is read."""
    while not scan.done and len(scan.matches) < wanted_matches:
        if scan.source >= len(chosen):
            scan.done = True
            break
        file, count = chosen[scan.source].file, counts[scan.source]
        if scan.index >= count:
            scan.source, scan.index = scan.source + 1, 0
            continue
        stop = min(count, scan.index + FACTS_BLOCK)
        file.read_facts(scan.index, stop)
        for index in range(scan.index, stop):
            if scan.wanted.matches(file.facts(index)):
                scan.matches.append((scan.source, index))
        scan.scanned += stop - scan.index
        scan.index = stop
