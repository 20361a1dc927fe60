#!/usr/bin/env python3
"""Why labelled events are missed: hcad's and the plugin's defaults on the held-out fleets (backtest).

    .venv/bin/python scripts/why_missed.py [--hosts 6] [--plugin [--url URL]]

For the held-out fleets of detectors/README.md (business seeds 11 and 12, cosine fleet seed 11), runs
hcad's recommended detector and the plugin's defaults (shingle 8, its 20% rule, no monitor floor) through
the local backtest and prints, per fleet and in total, how many events were found and why the others
were not (``hcad.quality.scoring``'s ``missed_by``: score below RCF's threshold, a correction that
zeroed the grade, or a grade under the monitor floor), then per kind. About 30 s on 2 cores.

``--plugin`` runs the same detectors as historical analyses on the real AD plugin instead (each fleet
loaded into a fresh index, deleted afterwards; a few minutes): its results carry score and threshold but
not the correction's name, so a zeroed grade shows as ``suppressed``.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from hcad.quality import backtest, synth
from hcad.quality import evaluate as ev
from hcad.quality.scoring import score


def run(client: Any, cfg: ev.EvalConfig, spec: synth.FleetSpec, data: pd.DataFrame, index: str) -> pd.DataFrame:
    """One config's results: the backtest of ``data``, or (with a client) the plugin's historical analysis."""
    if client is None:
        return backtest.run(data, cfg.detector("why-missed"), seed=spec.seed)
    return ev.run_historical(client, cfg, index, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=6, help="hosts per fleet (3 processes each; default 6)")
    ap.add_argument("--plugin", action="store_true", help="historical analyses on the real plugin, not the backtest")
    ap.add_argument("--url", default=os.environ.get("HCAD_URL", "http://127.0.0.1:9200"), help="with --plugin")
    args = ap.parse_args()
    client: Any = None
    if args.plugin:
        import hcad

        client = hcad.connect(args.url, timeout=120)
    fleets = [
        ("business seed 11", synth.FleetSpec.business(hosts=args.hosts, seed=11)),
        ("business seed 12", synth.FleetSpec.business(hosts=args.hosts, seed=12)),
        ("cosine fleet seed 11", synth.FleetSpec.fleet(hosts=args.hosts, seed=11)),
    ]
    totals: dict[str, Counter[str]] = {}
    for name, spec in fleets:
        labels = synth.fleet_labels(spec)
        data = synth.fleet_frame(spec)
        features = tuple(("avg", m) for m in spec.metrics)
        configs = [
            ("hcad defaults", ev.recommended_config(spec)),
            ("plugin defaults", ev.EvalConfig(features=features, interval_minutes=10, shingle_size=8, rule_ratio=None)),
        ]
        index = f"hcad-why-missed-{uuid.uuid4().hex[:6]}"
        if client is not None:
            from hcad.quality.loading import load_fleet

            load_fleet(client, index, spec, progress=False)
        try:
            for label, cfg in configs:
                res = run(client, cfg, spec, data, index)
                s = score(res, ev.labels_for(labels, cfg), cfg.interval_minutes,
                          min_grade=cfg.min_grade, min_confidence=cfg.min_confidence)  # fmt: skip
                total = totals.setdefault(label, Counter())
                total.update(s.missed_by)
                total["found"] += s.detected
                print(f"{name}, {label}: found {s.detected} of {s.events}; missed: {dict(s.missed_by)}")
                d = s.events_detail
                for (kind, why), n in d[~d["detected"]].groupby(["kind", "missed_because"]).size().items():
                    print(f"    {kind:<15} {why:<40} {n}")
        finally:
            if client is not None:
                client.indices.delete(index=index, ignore_unavailable=True)
    for label, total in totals.items():
        print(f"total, {label}: {dict(total)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
