"""WebShop search engines compared: tantivy, bm25s and rank-bm25 over the generated catalogue.

For each engine and catalogue size it measures, each in a fresh process (so peak memory is the
engine's): index build time (generating the products and tokenising included), size on disk,
peak resident memory, query
p50 / p99 over WebShop-style queries (goal instructions written from products spread over the
catalogue, as ``agentgym_envs.envs.webshop.goals`` writes them) and how often the product a
query was written from is among the 50 hits. Every engine gets the same tokens
(``search.tokens``) and BM25 with k1 = 1.2, b = 0.75.

rank-bm25 has no inverted index (every query scores every document in Python) and cannot save
one, so it runs on fewer queries and is skipped at 1M; the 100k row shows why.

Usage: python benchmarks/webshop_search.py [--million] [--sizes 1000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import print_header

from agentgym_envs.envs.webshop import search
from agentgym_envs.envs.webshop.catalogue import iter_generated
from agentgym_envs.envs.webshop.goals import goal_for_product

ENGINES = ("tantivy", "bm25s", "rank-bm25")
# Targets from the WebShop issue, for the chosen engine.
TARGET_BUILD_S = {100_000: 60, 1_000_000: 600}
TARGET_QUERY_MS = {100_000: 5, 1_000_000: 20}
TARGET_RSS_MB = {1_000_000: 4096}
RANK_BM25_QUERIES = 20  # each of its queries scans every document in Python
RANK_BM25_MAX_SIZE = 100_000


# ------------------------------------------------------------------------------ the worker
def queries_for(size: int, count: int) -> list[tuple[str, int]]:
    """(instruction, catalogue position of the product it was written from), spread evenly."""
    step = max(1, size // count)
    chosen = []
    for position, product in enumerate(iter_generated(size)):
        if position % step == 0 and len(chosen) < count:
            chosen.append((goal_for_product(product, random.Random(position)).instruction, position))
    return chosen


def documents(size: int):
    return (product.search_text() for product in iter_generated(size))


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def run_tantivy(size: int, folder: Path):
    search.build_index(folder, documents(size))
    import tantivy

    index = search.SearchIndex(folder, tantivy.Index.open(str(folder)))
    return index.search


def run_bm25s(size: int, folder: Path):
    import bm25s

    model = bm25s.BM25(k1=1.2, b=0.75)
    model.index([search.tokens(text) for text in documents(size)], show_progress=False)
    model.save(str(folder), show_progress=False)
    del model
    model = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
    vocabulary = model.vocab_dict

    def query(text: str) -> list[int]:
        words = [w for w in dict.fromkeys(search.tokens(text)) if w in vocabulary]
        if not words:
            return []
        k = min(search.SEARCH_RETURN_N, size)
        docs, scores = model.retrieve([words], k=k, show_progress=False, n_threads=1)
        return [int(d) for d, s in zip(docs[0], scores[0]) if s > 0]

    return query


def run_rank_bm25(size: int, folder: Path):
    import numpy as np
    from rank_bm25 import BM25Okapi

    model = BM25Okapi([search.tokens(text) for text in documents(size)], k1=1.2, b=0.75)

    def query(text: str) -> list[int]:
        scores = model.get_scores(search.tokens(text))
        k = min(search.SEARCH_RETURN_N, size)
        top = np.argpartition(-scores, k - 1)[:k]
        return [int(i) for i in top[np.argsort(-scores[top], kind="stable")] if scores[i] > 0]

    return query


RUNNERS = {"tantivy": run_tantivy, "bm25s": run_bm25s, "rank-bm25": run_rank_bm25}


def worker(engine: str, size: int, count: int) -> dict:
    queries = queries_for(size, RANK_BM25_QUERIES if engine == "rank-bm25" else count)
    folder = Path(tempfile.mkdtemp(prefix=f"webshop-{engine}-{size}-"))
    try:
        start = time.perf_counter()
        query = RUNNERS[engine](size, folder)
        build_s = time.perf_counter() - start
        query(queries[0][0])  # warm up: first touch of the mapped files
        times, found = [], 0
        for text, position in queries:
            start = time.perf_counter()
            hits = query(text)
            times.append((time.perf_counter() - start) * 1000)
            found += position in hits
        times.sort()
        return {
            "engine": engine,
            "size": size,
            "build_s": build_s,
            "disk_mb": folder_mb(folder),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "p50_ms": times[len(times) // 2],
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
            "queries": len(times),
            "found": found / len(times),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------ the table
def measure(engine: str, size: int, count: int) -> dict:
    command = [sys.executable, __file__, "--worker", engine, str(size), "--queries", str(count)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return {"engine": engine, "size": size, "error": result.stderr.strip().splitlines()[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def verdict(row: dict) -> str:
    if row["engine"] != "tantivy":
        return ""
    notes = []
    size = row["size"]
    if size in TARGET_BUILD_S:
        notes.append(
            f"build {'ok' if row['build_s'] < TARGET_BUILD_S[size] else 'MISSED'} < {TARGET_BUILD_S[size]} s"
        )
    if size in TARGET_QUERY_MS:
        ok = row["p50_ms"] < TARGET_QUERY_MS[size]
        notes.append(f"query {'ok' if ok else 'MISSED'} < {TARGET_QUERY_MS[size]} ms")
    if size in TARGET_RSS_MB:
        notes.append(f"RSS {'ok' if row['peak_rss_mb'] < TARGET_RSS_MB[size] else 'MISSED'} < 4 GB")
    return ", ".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 100_000], help="catalogue sizes")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 products (minutes, GBs)")
    parser.add_argument("--engines", nargs="*", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--queries", type=int, default=200, help="queries per engine and size")
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.queries)))
        return
    sizes = args.sizes + ([1_000_000] if args.million else [])
    rows = []
    for size in sizes:
        for engine in args.engines:
            if engine == "rank-bm25" and size > RANK_BM25_MAX_SIZE:
                rows.append({"engine": engine, "size": size, "error": "skipped: no inverted index"})
                continue
            print(f"measuring {engine} at {size:,} products ...", file=sys.stderr)
            rows.append(measure(engine, size, args.queries))
    print_header()
    print(
        "| engine | products | build s | disk MB | peak RSS MB | query p50 ms | p99 ms "
        "| target in top 50 | targets |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['engine']} | {row['size']:,} | {row['error']} | | | | | | |")
            continue
        print(
            f"| {row['engine']} | {row['size']:,} | {row['build_s']:.1f} | {row['disk_mb']:.1f} "
            f"| {row['peak_rss_mb']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
            f"| {row['found']:.0%} ({row['queries']} queries) | {verdict(row)} |"
        )


if __name__ == "__main__":
    main()
