#!/usr/bin/env python3
"""Benchmark: exact distinct-entity count with hcad vs the same composite queries sent raw.

Builds (or reuses) an index of N entities (host x process combinations, one document each) on the
local node, then counts distinct entities with ``hcad.sizing.entities.distinct_entities`` and with a plain
opensearch-py composite-pagination loop, alternating runs, and prints time and peak Python memory
(tracemalloc) of each and their ratio. Run by hand, not in the test suite:

    .venv/bin/python scripts/bench_entities.py --entities 1000000     # full run (builds ~1M docs once)
    .venv/bin/python scripts/bench_entities.py --entities 20000 --delete  # CI-sized
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build(client, index: str, n: int, chunk: int) -> None:
    from opensearchpy import helpers

    if client.indices.exists(index=index) and client.count(index=index)["count"] == n:
        print(f"reusing {index} ({n:,} docs)", file=sys.stderr)
        return
    client.indices.delete(index=index, ignore_unavailable=True)
    client.indices.create(
        index=index,
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"},
            "mappings": {"properties": {"host": {"type": "keyword"}, "process": {"type": "keyword"}}},
        },
    )
    hosts = 1000

    def docs() -> Iterator[dict]:
        for i in range(n):
            yield {"_index": index, "host": f"host-{i % hosts:04d}", "process": f"proc-{i // hosts:05d}"}

    t = time.perf_counter()
    helpers.bulk(client, docs(), chunk_size=chunk, request_timeout=120)
    client.indices.put_settings(index=index, body={"index": {"refresh_interval": "1s"}})
    client.indices.refresh(index=index)
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=600)
    print(f"indexed {n:,} docs in {time.perf_counter() - t:.1f}s", file=sys.stderr)


def raw_count(client, index: str, page: int) -> int:
    """The baseline: the composite pagination a user would write with opensearch-py."""
    after = None
    total = 0
    while True:
        comp: dict = {
            "size": page,
            "sources": [{"h": {"terms": {"field": "host"}}}, {"p": {"terms": {"field": "process"}}}],
        }
        if after:
            comp["after"] = after
        resp = client.search(index=index, body={"size": 0, "aggs": {"e": {"composite": comp}}})
        agg = resp["aggregations"]["e"]
        total += len(agg["buckets"])
        after = agg.get("after_key")
        if not agg["buckets"] or after is None:
            return total


def measure(fn: Callable[[], int]) -> tuple[float, int, int]:
    gc.collect()
    tracemalloc.start()
    t = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:9200")
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--index", default=None, help="index name [hcad-bench-entities-<N>]")
    ap.add_argument("--page", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=5_000, help="bulk chunk size (node has a small heap)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--delete", action="store_true", help="delete the index afterwards")
    args = ap.parse_args()

    import hcad
    from hcad.sizing.entities import distinct_entities

    client = hcad.connect(args.url, timeout=600)
    index = args.index or f"hcad-bench-entities-{args.entities}"
    build(client, index, args.entities, args.chunk)
    rows: dict[str, list[tuple[float, int]]] = {"hcad": [], "raw": []}
    try:
        # Warm-up both paths once (page cache, JIT), then alternate so drift hits both equally.
        raw_count(client, index, args.page)
        distinct_entities(client, index, ["host", "process"], page_size=args.page)
        for _ in range(args.repeat):
            for name, fn in (
                ("raw", lambda: raw_count(client, index, args.page)),
                ("hcad", lambda: distinct_entities(client, index, ["host", "process"], page_size=args.page)),
            ):
                elapsed, peak, got = measure(fn)
                if got != args.entities:
                    raise SystemExit(f"{name} counted {got:,}, expected {args.entities:,}")
                rows[name].append((elapsed, peak))
    finally:
        if args.delete:
            client.indices.delete(index=index, ignore_unavailable=True)

    def med(name: str, i: int) -> float:
        return statistics.median(r[i] for r in rows[name])

    print(f"distinct entities: {args.entities:,} (page {args.page:,}, median of {args.repeat})")
    print(f"{'':6} {'time s':>8} {'peak MiB':>9}")
    for name in ("raw", "hcad"):
        print(f"{name:6} {med(name, 0):8.2f} {med(name, 1) / 2**20:9.2f}")
    print(
        f"ratio hcad/raw: time {med('hcad', 0) / med('raw', 0):.2f}x, peak memory {med('hcad', 1) / med('raw', 1):.2f}x"
    )


if __name__ == "__main__":
    main()
