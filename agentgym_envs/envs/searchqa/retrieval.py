"""Retrievers over a corpus: BM25 (the default) and dense e5-style retrieval with faiss.

AgentGym's SearchQA server retrieves with e5-base-v2 embeddings in a faiss flat index over
wiki-18 (both downloaded from the model and dataset hubs); Search-R1 also offers BM25 (pyserini's
Lucene index). Here:

* ``bm25``: the shared tantivy BM25 index (:mod:`agentgym_envs.envs.bm25`), terms made as
  pyserini's default English analyzer makes them (lower case, accents folded, Lucene's English
  stop words dropped, Porter-style stemming), built once per corpus and cached on disk;
* ``e5`` (or any sentence-transformers model): a local model folder (``retriever_model=``), the
  passages encoded as ``passage: ...`` and queries as ``query: ...`` when the folder's name says
  e5 (as AgentGym's encoder does), mean-pooled and normalised, searched by inner product in a faiss
  flat index: the user's own (``faiss_index=``, e.g. Search-R1's ``e5_Flat.index`` for wiki-18) or
  one built from the corpus and cached. Needs the ``searchqa-dense`` extra.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from agentgym_envs.envs import bm25
from agentgym_envs.envs.searchqa.corpus import cache_root, digest

INDEX_FORMAT = 1  # bumped when the analyzer changes, so cached indexes are rebuilt
SEARCH_CACHE = 4096  # queries remembered per retriever (an expert repeats its queries)
_ANALYZER = None
_ANALYZER_LOCK = threading.Lock()


def tokens(text: str) -> list[str]:
    """SearchQA's search terms: tantivy's English analyzer chain, as pyserini's default."""
    global _ANALYZER
    if _ANALYZER is None:
        with _ANALYZER_LOCK:
            if _ANALYZER is None:
                import tantivy

                _ANALYZER = (
                    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
                    .filter(tantivy.Filter.remove_long(40))
                    .filter(tantivy.Filter.lowercase())
                    .filter(tantivy.Filter.ascii_fold())
                    .filter(tantivy.Filter.stopword("english"))
                    .filter(tantivy.Filter.stemmer("english"))
                    .build()
                )
    return _ANALYZER.analyze(text)


class BM25Retriever:
    """BM25 over the corpus's passages; the index is shared by every env of the process."""

    name = "bm25"

    def __init__(self, corpus, folder: str | Path | None = None):
        manifest = {"format": INDEX_FORMAT, "corpus": corpus.fingerprint, "num_docs": len(corpus)}
        default = cache_root() / f"bm25-{digest(corpus.fingerprint)}"
        self.folder = Path(folder) if folder is not None else default
        self.index = bm25.open_index(self.folder, manifest, corpus.__iter__, tokens)
        self.search = lru_cache(maxsize=SEARCH_CACHE)(self._search)

    def _search(self, query: str, k: int) -> tuple[int, ...]:
        return tuple(self.index.search(query, k))


class DenseRetriever:
    """A sentence-transformers encoder and a faiss inner-product index over the corpus."""

    name = "dense"
    BATCH = 64

    def __init__(self, corpus, model_path: str | Path, faiss_index: str | Path | None = None):
        import faiss
        from sentence_transformers import SentenceTransformer

        self.model_path = Path(model_path)
        if not self.model_path.is_dir():
            raise FileNotFoundError(f"retriever_model={str(model_path)!r} is not a model folder")
        self.model = SentenceTransformer(str(self.model_path), device="cpu")
        self.is_e5 = "e5" in self.model_path.name.lower()
        self._lock = threading.Lock()  # one encoder call at a time: torch's threads are the parallelism
        if faiss_index is not None:
            self.index = faiss.read_index(str(faiss_index))
        else:
            self.index = self._cached_index(corpus, faiss)
        if self.index.ntotal != len(corpus):
            raise ValueError(
                f"the faiss index holds {self.index.ntotal} vectors, the corpus {len(corpus)} passages"
            )
        self.search = lru_cache(maxsize=SEARCH_CACHE)(self._search)

    def encode(self, texts: list[str], query: bool):
        prefix = ("query: " if query else "passage: ") if self.is_e5 else ""
        with self._lock:
            vectors = self.model.encode(
                [prefix + text for text in texts],
                batch_size=self.BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype("float32")

    def _cached_index(self, corpus, faiss):
        stamp = ";".join(
            f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
            for p in sorted(self.model_path.rglob("*"))
            if p.is_file()
        )
        path = cache_root() / f"dense-{digest(corpus.fingerprint + '|' + stamp)}.faiss"
        if path.exists():
            try:
                return faiss.read_index(str(path))
            except RuntimeError:  # damaged: rebuilt below
                pass
        index = None
        batch: list[str] = []
        for number, contents in enumerate(corpus, start=1):
            batch.append(contents)
            if len(batch) == 1024 or number == len(corpus):
                vectors = self.encode(batch, query=False)
                index = index or faiss.IndexFlatIP(vectors.shape[1])  # the width the model writes
                index.add(vectors)
                batch = []
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{threading.get_ident()}")
        faiss.write_index(index, str(staging))
        staging.replace(path)
        return index

    def _search(self, query: str, k: int) -> tuple[int, ...]:
        _, found = self.index.search(self.encode([query], query=True), k)
        return tuple(int(i) for i in found[0] if i >= 0)
