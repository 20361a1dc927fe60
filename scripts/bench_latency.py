"""Detection latency of the whole live system (scripts/live.py): a fleet of ``--hosts`` × ``--processes``
entities, ``--inject`` anomalies on distinct entities ``--inject-every`` minutes apart, in real time.

Reports the latency distribution (median, p95: webhook received − first anomalous datapoint), where the
time goes (the datapoint's period, bridge, window delay + detector phase, detector run, monitor result
lag + phase, delivery), alert precision over the run (entity namings on injected entities / all
namings; every other entity is quiet the whole run), and whether CloudWatch's datapoints reached the
index exactly once. The goal it checks: median ≤ detector interval + monitor period + 30 s.

    .venv/bin/python scripts/bench_latency.py [--url URL] [--inject 10] [--hosts 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live import (
    COMPONENTS,
    LivePipeline,
    Options,
    P,
    ensure_node,
    interruptible,
    percentile,
    print_report,
    quiet_logging,
    run_live,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench_latency.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=None)
    ap.add_argument("--hosts", type=int, default=40)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--inject", type=int, default=10)
    ap.add_argument("--inject-every", type=int, default=3, help="minutes between injections")
    ap.add_argument("--anomaly-minutes", type=int, default=2)
    ap.add_argument("--history", type=int, default=120, help="minutes of history backfilled")
    ap.add_argument("--confidence", type=float, default=Options.confidence)
    ap.add_argument("--result-lag", type=int, default=Options.result_lag)
    ap.add_argument("--json", default=None, help="write the full report here")
    args = ap.parse_args(argv)
    quiet_logging()
    interruptible()
    url, started = ensure_node(args.url)
    opts = Options(
        hosts=args.hosts,
        processes=args.processes,
        history_minutes=args.history,
        anomaly_minutes=args.anomaly_minutes,
        confidence=args.confidence,
        result_lag=args.result_lag,
    )
    pipe = LivePipeline(url, opts)
    t0 = time.time()
    try:
        rep = run_live(
            pipe, duration=60, inject=args.inject, inject_every=args.inject_every, first_inject_after=0,
            stop_when_done=True,
        )  # fmt: skip
    finally:
        pipe.close()
        if started:
            from live import stop_node

            stop_node()
    print_report(rep)
    print("components (median / p95 s):")
    for k, what in COMPONENTS:
        vals = [i["components_s"][k] for i in rep["injections"] if k in i["components_s"]]
        if vals:
            print(f"  {percentile(vals, 0.5):6.1f} / {percentile(vals, 0.95):6.1f}  {what}")
    goal = 60 + 60 + 30
    med = rep["latency_s"]["median"]
    ok = not math.isnan(med) and med <= goal
    print(
        f"goal: median ≤ detector interval + monitor period + 30 s = {goal}s: {'met' if ok else 'NOT met'} ({med:.1f}s)"
    )
    eo = rep["exactly_once"]
    print(
        f"datapoints: served {eo['served_datapoints']:,} ({eo['served_documents']:,} documents), index "
        f"{eo['index_documents']:,}; missing {eo['missing']}, duplicated {eo['duplicated']}, "
        f"wrong {eo['wrong_values']}, "
        f"unexpected {eo['unexpected']}, published but never served {eo['published_not_served']}"
    )
    print(f"bridge: {rep['bridge_polls']} polls, median {rep['bridge_poll_median_s']:.1f}s; token bucket waited "
          f"{rep['token_bucket_waited_s']:.1f}s; dead letters waiting {rep['dead_letters_waiting']}")  # fmt: skip
    print(f"wall time {time.time() - t0:.0f}s ({(time.time() - t0) / P:.0f} intervals)")
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=2, default=str))
    return 0 if ok and rep["false_namings"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
