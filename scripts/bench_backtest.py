#!/usr/bin/env python3
"""Backtest speed and fidelity against the plugin's historical analysis of the same data, same run.

    scripts/bench_backtest.py [--entities 20] [--points 5000] [--anomalies 200] [--workers 2] [--repeat 3]
                              [--plugin-repeat 2] [--seeds 1] [--skip-old] [--url URL]

Prints, for E entities x N points of the blog fleet (``FleetSpec.blog``, seed 1):

- the backtest's points/s (``backtest()`` end to end: bucketing, one Java call per entity through
  the compiled ``HcadBatch`` helper, the results frame), its CPU time and peak RSS (whole process:
  Python + the JVM, whose heap is capped by HCAD_JVM_HEAP), and how much of it is spent inside the
  Java calls, i.e. in the Random Cut Forests themselves (the plugin runs the same forests). The
  first pass over the data in a fresh JVM is timed apart ("cold": class loading and JIT compiling
  of the forests take seconds), then ``--repeat`` warm runs, the fastest of which counts;
- the old per-point path (``HCAD_BACKTEST_BATCH=0``: Java called from Python per point) on the same
  data in the same JVM (the batching alone), and the old configuration as a whole in a separate JVM
  (per-point path and the G1 collector the JVM used before: ``HCAD_JVM_OPTS=-XX:+UseG1GC``): their
  points/s, the new/old ratios, and whether all gave identical results (same seed). Each is timed
  ``--repeat`` times (in-process paths alternately) and the fastest run counts: the machine's other
  load only ever slows a run down;
- the plugin's historical analysis of the same data loaded into a fresh index, ``--plugin-repeat``
  times (the first also warms the node's JIT; the fastest counts): points/s over the task's own
  execution time (its ``execution_start_time`` to ``execution_end_time``, so waiting for a task slot
  shared with other users or fetching results does not count) and over the wall time of the whole
  call, and the backtest/plugin ratios, warm and cold (over the task's time: the stricter). The
  plugin paces itself: each entity is read and scored in pieces of
  ``plugins.anomaly_detection.batch_task_piece_size`` (1,000) intervals with
  ``batch_task_piece_interval_seconds`` (5) between pieces, at most
  ``max_running_entities_per_detector_for_historical_analysis`` (10) entities at once;
- precision and recall of the backtest and of each plugin run against the fleet's labels
  (:func:`hcad.quality.scoring.score`, tolerance 2 intervals, the events on the detector's feature)
  and the absolute differences of their means over the backtest's ``--seeds`` and the plugin's
  ``--plugin-repeat`` runs (the plugin seeds its forests randomly, so one run of each can differ by a
  few hundredths on ~125 flags; ``--seeds K`` also prints the backtest's own range over K seeds).

The plugin side needs a cluster with the anomaly-detection plugin (``--url``, default $HCAD_URL or
http://127.0.0.1:9200); without one the script prints the backtest's numbers and says the ratio was
not measured. The machine's other load slows the backtest (CPU-bound) more than the plugin (paced):
run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOLERANCE = 2


@contextlib.contextmanager
def _batch(enabled: bool) -> Iterator[None]:
    old = os.environ.get("HCAD_BACKTEST_BATCH")
    os.environ["HCAD_BACKTEST_BATCH"] = "1" if enabled else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HCAD_BACKTEST_BATCH", None)
        else:
            os.environ["HCAD_BACKTEST_BATCH"] = old


@contextlib.contextmanager
def _rcf_clock(j: Any, spent: list[float]) -> Iterator[None]:
    """Add the wall time of every ``HcadBatch.run`` call (one per entity, any worker thread) to ``spent[0]``."""
    import threading

    real, lock = j.Batch, threading.Lock()

    class _Timed:
        @staticmethod
        def run(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return real.run(*args)
            finally:
                with lock:
                    spent[0] += time.perf_counter() - t0

    j.Batch = _Timed
    try:
        yield
    finally:
        j.Batch = real


def _timed(fn: Any) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=20)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument(
        "--anomalies",
        type=int,
        default=None,
        help="injected events (default 10 per entity: with fewer, recall moves in steps too coarse for a 0.05 check)",
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="timed warm runs of each path (the fastest counts)")
    ap.add_argument(
        "--plugin-repeat", type=int, default=2, help="historical analyses on the plugin (the fastest counts)"
    )
    ap.add_argument("--skip-old", action="store_true", help="do not time the old per-point paths")
    ap.add_argument(
        "--seeds", type=int, default=1, help="also score the backtest with this many forest seeds (its spread)"
    )
    ap.add_argument("--url", default=os.environ.get("HCAD_URL", "http://127.0.0.1:9200"))
    ap.add_argument("--child-out", help=argparse.SUPPRESS)  # internal: time the backtest, pickle here
    args = ap.parse_args()

    import pandas as pd

    from hcad.quality.backtest import backtest
    from hcad.quality.backtest.jvm import rcf
    from hcad.quality.evaluate import ENTITY_FIELDS, EvalConfig, labels_for
    from hcad.quality.scoring import score
    from hcad.quality.synth import FleetSpec, fleet_frame, fleet_labels

    hosts = max(1, args.entities // 2)
    processes = max(1, args.entities // hosts)
    anomalies = args.anomalies if args.anomalies is not None else 10 * hosts * processes
    spec = FleetSpec.blog(hosts=hosts, processes=processes, periods=args.points, anomalies=anomalies, seed=1)
    frame = fleet_frame(spec)
    ev = EvalConfig()
    detector = ev.detector("bench")
    labels = labels_for(fleet_labels(spec), ev)

    def scores(results: pd.DataFrame) -> Any:
        return score(results, labels, ev.interval_minutes, TOLERANCE, entity_fields=ENTITY_FIELDS)

    if args.child_out:
        return _child(args, frame, detector)
    j = rcf()
    if j.Batch is None:
        print(f"note: the batch helper is unavailable ({j.batch_note}); 'new' below is the per-point path")
    # The first pass in this JVM (class loading, JIT compiling the forests) is timed apart: a one-off
    # command pays it, a long evaluation or a running plugin does not. The old path gets a short warm-up.
    with _batch(True):
        _, cold_dt, _ = _timed(lambda: backtest(frame, detector, seed=0, workers=args.workers))
    if not args.skip_old:
        with _batch(False):
            backtest(frame[frame["host"] == frame["host"].iloc[0]].head(3000), detector, seed=0, workers=args.workers)

    runs: dict[bool, list[tuple[Any, float, float]]] = {True: [], False: []}
    for _ in range(max(1, args.repeat)):
        for enabled in (True,) if args.skip_old else (True, False):
            with _batch(enabled):
                runs[enabled].append(_timed(lambda: backtest(frame, detector, seed=1, workers=args.workers)))
    out, dt, cpu = min(runs[True], key=lambda r: r[1])
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pps = len(out) / dt
    print(
        f"backtest: {spec.entity_count} entities x {spec.periods} points = {len(out):,} scored in {dt:.1f}s "
        f"-> {pps:,.0f} points/s ({args.workers} workers, CPU {cpu:.1f}s = {cpu / dt:.2f} cores; "
        f"runs {', '.join(f'{r[1]:.1f}s' for r in runs[True])}), peak RSS {rss_mb:,.0f} MB"
    )
    print(f"  cold (the first pass in this JVM, seed 0): {cold_dt:.1f}s -> {len(out) / cold_dt:,.0f} points/s")
    rcf_s: float | None = None
    if j.Batch is not None:
        # One more run, timing the Java calls: the share of the backtest that is the forests themselves.
        spent = [0.0]
        with _batch(True), _rcf_clock(j, spent):
            _, rdt, _ = _timed(lambda: backtest(frame, detector, seed=1, workers=args.workers))
        rcf_s = spent[0] / max(1, min(args.workers, spec.entity_count))
        print(
            f"  inside the RCF calls: {spent[0]:.1f} thread-seconds over {args.workers} workers = {rcf_s:.1f}s of "
            f"that run's {rdt:.1f}s ({rcf_s / rdt:.0%}); Python's part (bucketing, frames) is the rest"
        )
    if runs[False]:
        old, odt, ocpu = min(runs[False], key=lambda r: r[1])
        opps = len(old) / odt
        same = all(r[0].equals(out) for r in runs[True] + runs[False])
        print(
            f"old per-point path: {len(old):,} scored in {odt:.1f}s -> {opps:,.0f} points/s "
            f"(CPU {ocpu:.1f}s = {ocpu / odt:.2f} cores; runs {', '.join(f'{r[1]:.1f}s' for r in runs[False])}); "
            f"new/old {pps / opps:.2f}x; identical results: {'yes' if same else 'NO'}"
        )
        legacy = _legacy(args, len(out))
        if legacy is not None:
            ldt, lcpu, lframe = legacy
            print(
                f"old configuration (per-point path + G1 collector, separate JVM): {len(lframe):,} scored in "
                f"{ldt:.1f}s -> {len(lframe) / ldt:,.0f} points/s (CPU {lcpu:.1f}s = {lcpu / ldt:.2f} cores); "
                f"new/old {ldt / dt:.2f}x; identical results: {'yes' if lframe.equals(out) else 'NO'}"
            )
    bs = scores(out)
    print(
        f"backtest vs labels ({bs.events} events, tolerance {TOLERANCE}): precision {bs.precision:.3f} "
        f"recall {bs.recall:.3f} ({bs.flagged_intervals} flags)"
    )
    ps_, rs_ = [bs.precision], [bs.recall]
    if args.seeds > 1:
        # The plugin seeds its forests randomly: the backtest's own spread over seeds says how far
        # apart two faithful runs land on this data.
        more = [scores(backtest(frame, detector, seed=s, workers=args.workers)) for s in range(2, args.seeds + 1)]
        ps_, rs_ = ps_ + [m.precision for m in more], rs_ + [m.recall for m in more]
        print(
            f"backtest over {args.seeds} seeds: precision {min(ps_):.3f}-{max(ps_):.3f} "
            f"(mean {sum(ps_) / len(ps_):.3f}), recall {min(rs_):.3f}-{max(rs_):.3f} (mean {sum(rs_) / len(rs_):.3f})"
        )

    try:
        import hcad
        from hcad.quality.loading import load_fleet

        client = hcad.connect(args.url, timeout=120)
        client.require_plugin("opensearch-anomaly-detection")
    except Exception as e:  # the ratio is optional; say why it is missing
        print(f"plugin: not measured ({e}); ratio backtest/plugin unavailable")
        return 0
    index = f"hcad-bench-backtest-{uuid.uuid4().hex[:6]}"
    try:
        load_fleet(client, index, spec, progress=False)
        plugin_runs = [_plugin_run(client, ev, index, spec) for _ in range(max(1, args.plugin_repeat))]
        res, task_s, wall_s = min(plugin_runs, key=lambda r: r[1])
        ppps = len(res) / task_s
        print(
            f"plugin historical analysis: {len(res):,} results; task {task_s:.1f}s -> {ppps:,.0f} points/s "
            f"(whole call incl. create, slot wait and fetch {wall_s:.1f}s -> {len(res) / wall_s:,.0f} points/s; "
            f"task times {', '.join(f'{r[1]:.1f}s' for r in plugin_runs)})"
        )
        print(
            f"ratio backtest/plugin: {pps / ppps:.2f}x warm, {len(out) / cold_dt / ppps:.2f}x cold "
            f"(over the plugin's wall time: {pps * wall_s / len(res):.2f}x warm)"
        )
        if rcf_s:
            print(f"  were the backtest's Python part free: {task_s / rcf_s:.2f}x (its RCF time alone)")
        # One run of either side moves precision by a few hundredths with its seed (~125 flags here), so
        # the sides are compared by their means: every plugin run against every backtest seed.
        pl = [scores(r[0]) for r in plugin_runs]
        for k, ps in enumerate(pl, 1):
            print(
                f"plugin run {k} vs labels: precision {ps.precision:.3f} recall {ps.recall:.3f} "
                f"({ps.flagged_intervals} flags)"
            )
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        dp = abs(mean(ps_) - mean([p.precision for p in pl]))
        dr = abs(mean(rs_) - mean([p.recall for p in pl]))
        print(
            f"|Δprecision| {dp:.3f}  |Δrecall| {dr:.3f} (means: {len(ps_)} backtest seed(s), {len(pl)} plugin "
            f"run(s), randomly seeded); one run each (backtest seed 1, plugin run 1): "
            f"{abs(bs.precision - pl[0].precision):.3f} / {abs(bs.recall - pl[0].recall):.3f}"
        )
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)
    return 0


def _child(args: Any, frame: Any, detector: Any) -> int:
    """In a fresh JVM (the parent sets its environment): one untimed pass over the data, as the parent's
    new path has (so new/old compares warm JVMs), then ``--repeat`` timed runs; pickles the best."""
    import pickle

    from hcad.quality.backtest import backtest

    backtest(frame, detector, seed=0, workers=args.workers)
    runs = [_timed(lambda: backtest(frame, detector, seed=1, workers=args.workers)) for _ in range(args.repeat)]
    best = min(runs, key=lambda r: r[1])
    with open(args.child_out, "wb") as f:
        pickle.dump((best[1], best[2], best[0]), f)
    return 0


def _legacy(args: Any, expected_rows: int) -> tuple[float, float, Any] | None:
    """Time the old configuration (per-point path, G1) in a child process with its own JVM."""
    import pickle
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "old.pickle")
        cmd = [sys.executable, __file__, "--entities", str(args.entities), "--points", str(args.points)]
        cmd += ["--workers", str(args.workers), "--repeat", str(max(1, args.repeat)), "--child-out", path]
        if args.anomalies is not None:
            cmd += ["--anomalies", str(args.anomalies)]
        env = dict(os.environ, HCAD_BACKTEST_BATCH="0", HCAD_JVM_OPTS="-XX:+UseG1GC")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(path):
            tail = " ".join(proc.stderr.split()[-30:])
            print(f"old configuration: not measured (exit {proc.returncode}: {tail})")
            return None
        with open(path, "rb") as f:
            dt, cpu, frame = pickle.load(f)
    return dt, cpu, frame


def _plugin_run(client: Any, ev: Any, index: str, spec: Any) -> tuple[Any, float, float]:
    """Historical analysis as :func:`hcad.quality.evaluate.run_historical` runs it, timed two ways:
    the task's own execution time (from the task document) and the whole call."""
    from hcad.errors import HcadError

    ad = client.ad
    t0 = time.perf_counter()
    det = ad.create(ev.detector(index, f"hcad-bench-{uuid.uuid4().hex[:12]}"))
    assert det.id is not None
    try:
        task_id = ad.start_historical(det.id, spec.start, spec.end, slot_wait=3600, detector=det)
        task = ad.wait_historical(det.id, task_id, timeout=3600, poll=1)
        res = ad.results(det, task_id=str(task.get("task_id") or task_id))
        wall = time.perf_counter() - t0
        start_ms, end_ms = task.get("execution_start_time"), task.get("execution_end_time")
        task_s = (float(end_ms) - float(start_ms)) / 1000 if start_ms and end_ms else wall
        return res, task_s, wall
    finally:
        with contextlib.suppress(HcadError):
            if ad.get_state(det.id).historical_running:
                ad.stop(det.id, historical=True)
            ad.delete(det.id)


if __name__ == "__main__":
    sys.exit(main())
