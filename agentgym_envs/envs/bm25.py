"""BM25 search on tantivy, shared by the families that search text (WebShop's products, SearchQA's
passages): an index of documents by position, built once, cached on disk and shared in a process.

tantivy (a Rust Lucene-like library; BM25 with k1 = 1.2, b = 0.75, Lucene's defaults) writes its
index to disk as it goes, within a bounded memory budget, and reads it memory-mapped:
``benchmarks/webshop_search.py`` chose it over ``bm25s`` and ``rank-bm25`` (see docs/benchmarks.md). A family
gives the function that turns a text into search terms; documents are indexed as those terms and a
query is a disjunction of term queries built from the same function, never parsed, so no query
syntax (``AND``, ``*``, ``"``, ``:``, ``(``) can change what a search means or make it fail.

An index lives in a folder with a ``manifest.json`` written last, recording what the index holds
(the family's fingerprint of its documents, their number, a format number). A folder without it
(half written), with another manifest, or that tantivy cannot open, is deleted and rebuilt. Indexes
are built in a temporary sibling folder and renamed into place, so two processes never see each
other's half-built index, and one :class:`SearchIndex` per folder is shared by every env of a
process. ``$AGENTGYM_CACHE`` (default ``~/.cache/agentgym``) is the cache root, as everywhere here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path

import tantivy

MANIFEST = "manifest.json"
MAX_QUERY_TERMS = 64  # a 10 kB query is cut to its first 64 distinct terms
Tokens = Callable[[str], list[str]]


def cache_root(family: str) -> Path:
    """The user's cache folder for one family's indexes (``$AGENTGYM_CACHE/<family>``)."""
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / family


def index_threads() -> int:
    """Indexing threads: ``AGENTGYM_THREADS`` when set (a shared machine), else tantivy's choice."""
    return int(os.environ.get("AGENTGYM_THREADS") or 0)


def _schema():
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("doc", stored=True, indexed=False, fast=True)
    builder.add_text_field("text", stored=False, tokenizer_name="whitespace", index_option="freq")
    return builder.build()


_SCHEMA = _schema()


class SearchIndex:
    """A tantivy BM25 index over documents numbered by position; ``tokens`` makes query terms
    exactly as the documents' terms were made."""

    def __init__(self, folder: Path, index, tokens: Tokens):
        self.folder = folder
        self.tokens = tokens
        self._index = index
        self._searcher = index.searcher()
        self._positions = self._position_table()

    def _position_table(self) -> dict[int, array]:
        """segment -> (document in segment -> position), read once from the ``doc`` fast field,
        so a search never fetches stored documents (that was half its time)."""
        every = self._searcher.search(
            tantivy.Query.all_query(),
            limit=max(1, self.num_docs),
            order_by_field="doc",
            order=tantivy.Order.Asc,
        ).hits
        found: dict[int, dict[int, int]] = {}
        for position, address in every:
            found.setdefault(address.segment_ord, {})[address.doc] = position
        table = {}
        for segment, docs in found.items():
            column = array("i", [-1]) * (max(docs) + 1)
            for doc, position in docs.items():
                column[doc] = position
            table[segment] = column
        return table

    @property
    def num_docs(self) -> int:
        return self._searcher.num_docs

    def search(self, query: str, k: int) -> list[int]:
        """Positions of the top ``k`` documents for ``query``, best first; ties in score go to
        the earlier document, so results never depend on the index's segment layout."""
        words = list(dict.fromkeys(self.tokens(query)))[:MAX_QUERY_TERMS]
        if not words or k <= 0:
            return []
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(_SCHEMA, "text", w)) for w in words]
        query = tantivy.Query.boolean_query(clauses)
        limit = k + 16
        while True:
            hits = self._searcher.search(query, limit=limit).hits
            # Documents tied with the k-th score must all be seen to break the tie by position:
            # tantivy orders ties by its segment layout, which differs from build to build.
            if len(hits) < limit or len(hits) <= k or hits[-1][0] < hits[k - 1][0]:
                break
            limit *= 2
        positions = self._positions
        scored = [(score, positions[address.segment_ord][address.doc]) for score, address in hits]
        scored.sort(key=lambda hit: (-hit[0], hit[1]))
        return [doc for _, doc in scored[:k]]


_OPEN: dict[str, SearchIndex] = {}  # folder + manifest -> index, shared by every env of the process
_LOCK = threading.Lock()


def open_index(
    folder: Path,
    manifest: dict,
    documents: Callable[[], Iterable[str]],
    tokens: Tokens,
    index_class: Callable[[Path, object], SearchIndex] | None = None,
) -> SearchIndex:
    """The index ``manifest`` describes: shared if already open, else loaded from ``folder``,
    else built there from ``documents()`` (texts in position order). ``manifest`` must hold
    ``num_docs``; a folder holding anything else is rebuilt. ``index_class(folder, tantivy_index)``
    makes the :class:`SearchIndex` (default: one searching with ``tokens``)."""
    make = index_class or (lambda where, index: SearchIndex(where, index, tokens))
    key = f"{folder.resolve()}::{json.dumps(manifest, sort_keys=True)}"
    with _LOCK:
        index = _OPEN.get(key)
        if index is None:
            index = _load(folder, manifest, make) or _build(folder, manifest, documents, tokens, make)
            _OPEN[key] = index
        return index


def _load(folder: Path, manifest: dict, make) -> SearchIndex | None:
    """The index in ``folder`` if it is the finished index ``manifest`` describes, else None."""
    try:
        if json.loads((folder / MANIFEST).read_text()) != manifest:
            return None
        index = make(folder, tantivy.Index.open(str(folder)))
        return index if index.num_docs == manifest["num_docs"] else None
    except (OSError, ValueError, TypeError):  # missing, half written, damaged
        return None


def build_index(
    folder: Path,
    documents: Iterable[str],
    tokens: Tokens,
    num_threads: int | None = None,
    heap_bytes: int = 256 << 20,
):
    """Index ``documents`` (texts, one per position) into ``folder``; returns the tantivy index."""
    index = tantivy.Index(_SCHEMA, path=str(folder))
    threads = index_threads() if num_threads is None else num_threads
    writer = index.writer(heap_size=heap_bytes, num_threads=threads)
    for position, text in enumerate(documents):
        writer.add_document(tantivy.Document(doc=position, text=" ".join(tokens(text))))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index


def _build(folder: Path, manifest: dict, documents, tokens: Tokens, make) -> SearchIndex:
    """Build in a temporary sibling folder, then swap it in: a crash leaves no half index."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        build_index(staging, documents(), tokens)
        (staging / MANIFEST).write_text(json.dumps(manifest))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return make(folder, tantivy.Index.open(str(folder)))


def forget_open_indexes() -> None:
    """Drop the process's shared indexes (tests that damage an index on disk use it)."""
    with _LOCK:
        _OPEN.clear()
