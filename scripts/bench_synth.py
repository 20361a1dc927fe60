#!/usr/bin/env python3
"""Benchmark: load_fleet (generate + bulk) docs/s versus raw streaming_bulk of pre-built documents.

    .venv/bin/python scripts/bench_synth.py [--docs 60000] [--rounds 2] [--url http://127.0.0.1:9200]

Both paths index the same documents with the same ids and chunk size into fresh single-shard
indices (deleted afterwards); rounds alternate the order so cluster warm-up favours neither. Prints
the generator-only rate too. Target: ratio ≥ 0.9. Kept small: the machine is shared.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opensearchpy import helpers

from hcad import connect
from hcad.quality import loading, synth
from hcad.quality.synth import FleetSpec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=60_000, help="about this many documents per run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=5000, help="documents per bulk request (both paths)")
    ap.add_argument("--url")
    args = ap.parse_args()
    periods = 1008
    hosts = max(1, round(args.docs / (periods * 3)))
    spec = FleetSpec.fleet(hosts=hosts, processes=3, periods=periods, missing_rate=0.0, anomalies=hosts * 3)
    client = connect(args.url, timeout=300)

    t0 = time.perf_counter()
    n_gen = sum(1 for _ in synth.bulk_lines(spec))
    gen_rate = n_gen / (time.perf_counter() - t0)
    prebuilt = list(synth.bulk_actions(spec))  # built outside the timed region

    def run_ours() -> float:
        index = f"bench-synth-ours-{uuid.uuid4().hex[:8]}"
        try:
            rep = loading.load_fleet(client, index, spec, progress=False, chunk_docs=args.chunk)
            return rep.docs / rep.seconds
        finally:
            client.indices.delete(index=index, ignore_unavailable=True)

    def run_baseline() -> float:
        index = f"bench-synth-base-{uuid.uuid4().hex[:8]}"
        loading.create_fleet_index(client, index, spec)
        try:
            t = time.perf_counter()
            n = 0
            for ok, item in helpers.streaming_bulk(
                client, prebuilt, index=index, chunk_size=args.chunk, max_chunk_bytes=8 * 1024 * 1024
            ):
                if not ok:
                    raise RuntimeError(f"baseline bulk failed: {item}")
                n += 1
            client.indices.refresh(index=index)
            return n / (time.perf_counter() - t)
        finally:
            client.indices.delete(index=index, ignore_unavailable=True)

    ours, base = [], []
    for r in range(args.rounds):
        if r % 2 == 0:
            ours.append(run_ours())
            base.append(run_baseline())
        else:
            base.append(run_baseline())
            ours.append(run_ours())
    best_ours, best_base = max(ours), max(base)
    print(f"documents per run        : {len(prebuilt):,} ({spec.entity_count} entities × {periods} intervals)")
    print(f"generator only           : {gen_rate:,.0f} docs/s (no cluster)")
    print(f"load_fleet (generate+bulk): {best_ours:,.0f} docs/s  (rounds: {', '.join(f'{x:,.0f}' for x in ours)})")
    print(f"streaming_bulk, prebuilt : {best_base:,.0f} docs/s  (rounds: {', '.join(f'{x:,.0f}' for x in base)})")
    print(f"ratio load_fleet/baseline: {best_ours / best_base:.2f}  (target ≥ 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
