#!/usr/bin/env python3
"""Detector alternatives tried against hcad's defaults on the tuning fleets (backtest), as in detectors/README.md.

    .venv/bin/python scripts/try_alternatives.py per-metric   # one detector per metric vs one over all
    .venv/bin/python scripts/try_alternatives.py recency      # recency_emphasis 128 / 320 / 2560 (default)

Fleets: the business-hours fleet and the cosine fleet, seed 1, 6 hosts x 3 processes, 8 days at 10
minutes (the tuning data of scripts/tune_defaults.py). Every config uses the plugin's 20% rule; each is
scored without a monitor floor and with grade > 0.3 (and > 0.5 for per-metric), confidence >= 0.9.
Prints precision, recall, F1, false alarms per entity per day and recall per kind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from hcad.quality import backtest, synth
from hcad.quality import evaluate as ev
from hcad.quality.scoring import Scores, score


def line(label: str, s: Scores) -> str:
    kinds = ", ".join(f"{k} {v.recall:.2f}" for k, v in s.per_kind.items())
    return (f"{label}: P {s.precision:.2f} R {s.recall:.2f} F1 {s.f1:.3f} "
            f"FA/entity/day {s.false_alarms_per_entity_day:.2f} | {kinds}")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", choices=["per-metric", "recency"])
    ap.add_argument("--hosts", type=int, default=6, help="hosts per fleet (3 processes each; default 6)")
    args = ap.parse_args()
    fleets = {
        "business seed 1": synth.FleetSpec.business(hosts=args.hosts, seed=1),
        "cosine fleet seed 1": synth.FleetSpec.fleet(hosts=args.hosts, seed=1),
    }
    floors = [(0.0, 0.0), (0.3, 0.9)] + ([(0.5, 0.9)] if args.experiment == "per-metric" else [])
    for name, spec in fleets.items():
        labels, data = synth.fleet_labels(spec), synth.fleet_frame(spec)
        every = tuple(("avg", m) for m in spec.metrics)
        if args.experiment == "per-metric":
            runs = []
            for sh in (2, 4, 8):
                one = ev.EvalConfig(features=every, shingle_size=sh, rule_ratio=0.2).detector("one")
                alone = [ev.EvalConfig(features=(f,), shingle_size=sh, rule_ratio=0.2).detector("m") for f in every]
                split = [backtest.run(data, det, seed=spec.seed) for det in alone]
                runs.append((f"s{sh} one detector", backtest.run(data, one, seed=spec.seed)))
                runs.append((f"s{sh} per metric  ", pd.concat(split, ignore_index=True)))  # flags of any
        else:
            runs = []
            for rec in (128, 320, 2560):
                for sh in (2, 8):
                    det = ev.EvalConfig(features=every, shingle_size=sh, rule_ratio=0.2).detector("r")
                    det.recency_emphasis = rec
                    runs.append((f"recency {rec:4d} s{sh}", backtest.run(data, det, seed=spec.seed)))
        for label, frame in runs:
            for grade, conf in floors:
                s = score(frame, labels, spec.interval_minutes, min_grade=grade, min_confidence=conf)
                print(line(f"{name}, {label}, grade > {grade:g}, conf >= {conf:g}", s), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
