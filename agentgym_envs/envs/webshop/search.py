"""BM25 search over the catalogue, built once per catalogue and cached on disk.

WebShop searches with Lucene (pyserini, Java 11) over each product's title, description, bullet
points and options, and shows the top 50 hits, 10 a page. Here the engine is **tantivy** (a
Rust Lucene-like library with BM25, k1 = 1.2, b = 0.75, as Lucene's defaults), chosen over
``bm25s`` and ``rank-bm25`` by ``benchmarks/webshop_search.py`` on this project's 2-core machine:

* tantivy writes its index to disk as it goes (a bounded memory budget, several threads) and
  reads it memory-mapped: 1M products indexed in 3.4 minutes with a peak of 289 MB, queries at
  about 1 ms (100k) and 18 ms (1M) median, 55 ms p99 at 1M;
* bm25s (numpy / scipy sparse) queries as fast at the median, but holds every document's token
  list in Python while indexing (7.1 GB peak at 1M products, over the 4 GB budget) and scores
  every posting of every query word, so queries on common words are slow (525 ms p99 at 1M);
* rank-bm25 scores every document for every query in Python (no inverted index) and cannot
  save an index: 3.6 s a query at 100k products.

The numbers are in README's WebShop section. Every engine is fed the same tokens
(:func:`tokens`: lower-case letters and digits, English stop words dropped), and a query is built
as a disjunction of term queries, never parsed, so no query syntax (``AND``, ``*``, ``"``,
``:``, ``(``) can change what a search means or make it fail.

The index of a catalogue lives in ``$AGENTGYM_CACHE/webshop/index-<fingerprint>`` (default
``~/.cache/agentgym``) or a folder the caller names. A ``manifest.json`` written last records the
catalogue's fingerprint and size; a folder without it (half written), with another catalogue's
fingerprint, or that tantivy cannot open, is deleted and rebuilt. Indexes are built in a
temporary folder and renamed into place, so two processes never see each other's half-built
index, and one :class:`SearchIndex` per folder is shared by every env of a process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from array import array
from pathlib import Path

from agentgym_envs.registration import engine_imports

with engine_imports("WebShop"):
    import tantivy

SEARCH_RETURN_N = 50  # WebShop's SEARCH_RETURN_N
MANIFEST = "manifest.json"
INDEX_FORMAT = 2  # bumped when the schema or tokens change, so old caches are rebuilt
MAX_QUERY_TERMS = 64  # a 10 kB query is cut to its first 64 distinct words
_TOKEN = re.compile(r"[a-z0-9]+")
# Lucene's English stop words (what pyserini's default analyzer drops), the possessive 's, and
# the words every instruction opens with.
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with s i am looking need want find me my".split()
)


def tokens(text: str) -> list[str]:
    """Search tokens of a text: lower-case runs of letters and digits, stop words dropped."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]


def cache_root() -> Path:
    """The user's cache folder for WebShop indexes (``$AGENTGYM_CACHE`` as everywhere here)."""
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / "webshop"


def _schema():
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("doc", stored=True, indexed=False, fast=True)
    builder.add_text_field("text", stored=False, tokenizer_name="whitespace", index_option="freq")
    return builder.build()


class SearchIndex:
    """A tantivy BM25 index over one catalogue's products, by position in the catalogue."""

    def __init__(self, folder: Path, index):
        self.folder = folder
        self._index = index
        self._searcher = index.searcher()
        self._positions = self._position_table()

    def _position_table(self) -> dict[int, array]:
        """segment -> (document in segment -> catalogue position), read once from the ``doc``
        fast field, so a search never fetches stored documents (that was half its time)."""
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

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[int]:
        """Positions of the top ``k`` products for ``query``, best first; ties in score go
        to the product earlier in the catalogue, so results never depend on index layout."""
        words = list(dict.fromkeys(tokens(query)))[:MAX_QUERY_TERMS]
        if not words:
            return []
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(_SCHEMA, "text", w)) for w in words]
        query = tantivy.Query.boolean_query(clauses)
        limit = k + 16
        while True:
            hits = self._searcher.search(query, limit=limit).hits
            # Products tied with the k-th score must all be seen to break the tie by position:
            # tantivy orders ties by its segment layout, which differs from build to build.
            if len(hits) < limit or len(hits) <= k or hits[-1][0] < hits[k - 1][0]:
                break
            limit *= 2
        positions = self._positions
        scored = [(score, positions[address.segment_ord][address.doc]) for score, address in hits]
        scored.sort(key=lambda hit: (-hit[0], hit[1]))
        return [doc for _, doc in scored[:k]]


_SCHEMA = _schema()
_OPEN: dict[str, SearchIndex] = {}  # folder -> index, shared by every env of the process
_LOCK = threading.Lock()


def default_folder(fingerprint: str) -> Path:
    return cache_root() / f"index-{fingerprint}"


def open_index(catalogue, folder: str | Path | None = None) -> SearchIndex:
    """The catalogue's index: shared if already open, else loaded from ``folder`` (default:
    the user's cache), else built there. A folder that does not hold this catalogue's finished
    index is rebuilt."""
    folder = Path(folder) if folder is not None else default_folder(catalogue.fingerprint)
    key = f"{folder.resolve()}::{catalogue.fingerprint}"
    with _LOCK:
        index = _OPEN.get(key)
        if index is None:
            index = _load(folder, catalogue) or _build(folder, catalogue)
            _OPEN[key] = index
        return index


def _manifest_for(catalogue) -> dict:
    return {"format": INDEX_FORMAT, "fingerprint": catalogue.fingerprint, "num_docs": len(catalogue)}


def _load(folder: Path, catalogue) -> SearchIndex | None:
    """The index in ``folder`` if it is this catalogue's finished index, else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest != _manifest_for(catalogue):
            return None
        index = SearchIndex(folder, tantivy.Index.open(str(folder)))
        return index if index.num_docs == len(catalogue) else None
    except (OSError, ValueError, TypeError):  # missing, half written, damaged
        return None


def build_index(folder: Path, documents, num_threads: int = 0, heap_bytes: int = 256 << 20):
    """Index ``documents`` (an iterable of texts, one per catalogue position) into ``folder``."""
    index = tantivy.Index(_SCHEMA, path=str(folder))
    writer = index.writer(heap_size=heap_bytes, num_threads=num_threads)
    for position, text in enumerate(documents):
        writer.add_document(tantivy.Document(doc=position, text=" ".join(tokens(text))))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index


def _build(folder: Path, catalogue) -> SearchIndex:
    """Build in a temporary sibling folder, then swap it in: a crash leaves no half index."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        build_index(staging, (p.search_text() for p in catalogue.products))
        (staging / MANIFEST).write_text(json.dumps(_manifest_for(catalogue)))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SearchIndex(folder, tantivy.Index.open(str(folder)))


def forget_open_indexes() -> None:
    """Drop the process's shared indexes (tests that damage an index on disk use it)."""
    with _LOCK:
        _OPEN.clear()
