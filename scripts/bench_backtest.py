#!/usr/bin/env python3
"""Backtest speed: points/s for E entities x N points, peak RSS, and the ratio to the plugin.

    scripts/bench_backtest.py [--entities 20] [--points 5000] [--workers 2] [--url URL]

The plugin side (a historical analysis of the same data, timed in the same run) needs a cluster
with the anomaly-detection plugin (``--url``, default $HCAD_URL or http://127.0.0.1:9200); when it
is absent the script prints the backtest's own numbers and says the ratio was not measured.
Peak RSS is the whole process (Python + the JVM, whose heap is capped by HCAD_JVM_HEAP).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=20)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--url", default=os.environ.get("HCAD_URL", "http://127.0.0.1:9200"))
    args = ap.parse_args()

    from hcad.quality.backtest import backtest
    from hcad.quality.evaluate import EvalConfig
    from hcad.quality.synth import FleetSpec, fleet_frame

    hosts = max(1, args.entities // 2)
    spec = FleetSpec.blog(hosts=hosts, processes=args.entities // hosts, periods=args.points, anomalies=10, seed=1)
    frame = fleet_frame(spec)
    ev = EvalConfig()
    detector = ev.detector("bench")
    # Warm the JVM (start, class loading, JIT) outside the timed run, as a running plugin is warm.
    backtest(frame[frame["host"] == "host0"].head(200), detector, seed=0, workers=1)
    t0 = time.perf_counter()
    out = backtest(frame, detector, seed=1, workers=args.workers)
    dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pps = len(out) / dt
    print(
        f"backtest: {spec.entity_count} entities x {spec.periods} points = {len(out):,} scored in {dt:.1f}s "
        f"-> {pps:,.0f} points/s ({args.workers} workers), peak RSS {rss_mb:,.0f} MB"
    )

    try:
        import hcad
        from hcad.quality.evaluate import run_historical
        from hcad.quality.synth import load_fleet

        client = hcad.connect(args.url, timeout=120)
        client.require_plugin("opensearch-anomaly-detection")
    except Exception as e:  # the ratio is optional; say why it is missing
        print(f"plugin: not measured ({e}); ratio backtest/plugin unavailable")
        return 0
    index = f"hcad-bench-backtest-{uuid.uuid4().hex[:6]}"
    try:
        load_fleet(client, index, spec, progress=False)
        t0 = time.perf_counter()
        res = run_historical(client, ev, index, spec, timeout=3600)
        pdt = time.perf_counter() - t0
        ppps = len(res) / pdt
        print(f"plugin historical analysis: {len(res):,} results in {pdt:.1f}s -> {ppps:,.0f} points/s")
        print(f"ratio backtest/plugin: {pps / ppps:.2f}x")
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
