"""BM25 search over the catalogue, built once per catalogue and cached on disk.

WebShop searches with Lucene (pyserini, Java 11) over each product's title, description, bullet
points and options, and shows the top 50 hits, 10 a page. Here the engine is **tantivy** (a
Rust Lucene-like library with BM25, k1 = 1.2, b = 0.75, as Lucene's defaults), chosen over
``bm25s`` and ``rank-bm25`` by ``benchmarks/webshop_search.py`` on this project's 2-core machine:

* tantivy writes its index to disk as it goes (a bounded memory budget, several threads) and
  reads it memory-mapped, so a million products index in a few hundred MB and query in
  milliseconds;
* bm25s (numpy / scipy sparse) queries as fast at the median, but holds every document's token
  list in Python while indexing (past the memory budget at 1M products) and scores every posting
  of every query word, so queries on common words are slow;
* rank-bm25 scores every document for every query in Python (no inverted index) and cannot
  save an index.

The numbers are in docs/benchmarks.md ("WebShop search engines"). Every engine is fed the same tokens
(:func:`tokens`: lower-case letters and digits, English stop words dropped), and a query is built
as a disjunction of term queries, never parsed, so no query syntax (``AND``, ``*``, ``"``,
``:``, ``(``) can change what a search means or make it fail.

The index of a catalogue lives in ``$AGENTGYM_CACHE/webshop/index-<fingerprint>`` (default
``~/.cache/agentgym``) or a folder the caller names; building, caching, rebuilding a damaged or
stale folder and sharing one index per process are :mod:`agentgym_envs.envs.bm25`'s, which
SearchQA's passage search uses too.
"""

from __future__ import annotations

import re
from pathlib import Path

from agentgym_envs.registration import engine_imports

with engine_imports("WebShop"):  # bm25 imports tantivy: a missing one is named with WebShop's extra
    from agentgym_envs.envs import bm25

from agentgym_envs.envs.bm25 import MANIFEST, forget_open_indexes  # noqa: F401  (tests use them here)

SEARCH_RETURN_N = 50  # WebShop's SEARCH_RETURN_N
INDEX_FORMAT = 2  # bumped when the schema or tokens change, so old caches are rebuilt
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
    return bm25.cache_root("webshop")


class SearchIndex(bm25.SearchIndex):
    """The shared BM25 index with WebShop's tokens and its 50 hits a search."""

    def __init__(self, folder: Path, index):
        super().__init__(folder, index, tokens)

    def search(self, query: str, k: int = SEARCH_RETURN_N) -> list[int]:
        return super().search(query, k)


def default_folder(fingerprint: str) -> Path:
    return cache_root() / f"index-{fingerprint}"


def open_index(catalogue, folder: str | Path | None = None) -> SearchIndex:
    """The catalogue's index: shared if already open, else loaded from ``folder`` (default:
    the user's cache), else built there. A folder that does not hold this catalogue's finished
    index is rebuilt."""
    folder = Path(folder) if folder is not None else default_folder(catalogue.fingerprint)
    manifest = {"format": INDEX_FORMAT, "fingerprint": catalogue.fingerprint, "num_docs": len(catalogue)}
    return bm25.open_index(
        folder, manifest, lambda: (p.search_text() for p in catalogue.products), tokens, SearchIndex
    )


def build_index(folder: Path, documents, num_threads: int | None = None, heap_bytes: int = 256 << 20):
    """Index ``documents`` (an iterable of texts, one per catalogue position) into ``folder``."""
    return bm25.build_index(folder, documents, tokens, num_threads, heap_bytes)
