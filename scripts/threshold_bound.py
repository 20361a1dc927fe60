#!/usr/bin/env python3
"""How many events of one kind a plain threshold on one deviation field finds within the false-alarm budget.

    .venv/bin/python scripts/threshold_bound.py --fleet fleet:11 --fleet fleet:21 ... \\
        [--metric jvmGcTime] [--kind gc_storm] [--mode ratio|z|level] [--max-false-alarms 0.1]

No forest: per entity, an alarm wherever the field's mean over its last k reported intervals, or the smallest of
its last k values, is at least t of its spreads (k 1–3, t 3–6 by 0.5): what an alerting monitor over the fields
``hcad baseline`` writes could raise on its own. The fields are the daily baseline route's
(:data:`hcad.quality.baseline.RECOMMENDED`, in another deviation form with ``--mode``), built over each fleet as
``scripts/recommend_heldout.py`` builds them (``--history`` days without events, then 8 with the fleet's own), and
scored on those 8 days: events of the kind found, and false alarms per entity per day (alarms away from every
labelled event, whatever its kind). Prints each rule per fleet, then per fleet the rule that finds the most within
the budget (chosen in hindsight, so an upper bound for these rules) and the single rule that finds the most over
all the fleets with its mean false alarms within the budget. ``detectors/README.md`` uses it to show that in the
daily route's ratio form the cosine fleets' GC storms do not stand out from their normal intervals at the budget
under these rules either, and do in the ``level`` form. About a minute per fleet.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
import recommend_heldout as rh

from hcad.quality import baseline
from hcad.quality.trial import candidates

RULES = tuple((how, k) for k in (1, 2, 3) for how in ("mean", "min") if not (k == 1 and how == "min"))
THRESHOLDS = tuple(np.arange(3.0, 6.01, 0.5))


def rule_stat(frame: pd.DataFrame, field: str, how: str, k: int) -> np.ndarray:
    """Per row of ``frame`` (any order): the mean (``how="mean"``) or the smallest value (``"min"``) of the
    entity's last ``k`` values of ``field`` up to that row (time order); NaN until an entity has ``k`` values."""
    ordered = frame.sort_values([*rh.FIELDS, rh.TIME], kind="stable")
    rolled = ordered.groupby(list(rh.FIELDS), sort=False)[field].rolling(k, min_periods=k)
    stat = rolled.mean() if how == "mean" else rolled.min()
    return pd.Series(stat.to_numpy(), index=ordered.index).reindex(frame.index).to_numpy()


def at_least(stat: np.ndarray, t: float) -> np.ndarray:
    """Whether each of ``stat`` is at least ``t`` (False where NaN: too few values yet)."""
    with np.errstate(invalid="ignore"):
        return stat >= t


def rule_flags(frame: pd.DataFrame, field: str, how: str, k: int, t: float) -> np.ndarray:
    """Per row of ``frame``: whether :func:`rule_stat` is at least ``t`` (False until an entity has ``k`` values)."""
    return at_least(rule_stat(frame, field, how, k), t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--fleet", action="append", required=True, metavar="NAME:SEED", help="e.g. fleet:11, business:12")
    ap.add_argument("--metric", default="jvmGcTime", help="the metric whose deviation field is thresholded")
    ap.add_argument("--kind", default="gc_storm", help="the kind of event counted as found")
    ap.add_argument("--mode", choices=baseline.MODES, default=baseline.RECOMMENDED.mode,
                    help=f"the deviation form (default {baseline.RECOMMENDED.mode!r}, the daily route's)")  # fmt: skip
    ap.add_argument("--hosts", type=int, default=6)
    ap.add_argument("--history", type=int, default=21)
    ap.add_argument("--max-false-alarms", type=float, default=0.1, help="per entity per day (default 0.1)")
    args = ap.parse_args(argv)
    budget = args.max_false_alarms
    field = baseline.field_names([args.metric])[0]
    table: dict[tuple[str, int, float], dict[str, tuple[int, int, float]]] = {}
    for name_seed in args.fleet:
        name, _, seed = name_seed.partition(":")
        f = rh.Fleet(name, int(seed), args.hosts, args.history)
        if args.metric not in f.spec.metrics:
            ap.error(f"--metric {args.metric}: fleet {f.name} has {list(f.spec.metrics)}; name one of them")
        c = next(c for c in candidates(f.spec.metrics) if c.baseline == baseline.RECOMMENDED)
        c = replace(c, baseline=replace(baseline.RECOMMENDED, mode=args.mode))
        frame, cfg, labels = f.config(c)
        if args.kind not in set(labels["kind"]):
            ap.error(f"--kind {args.kind}: fleet {f.name} has events of kinds {sorted(set(labels['kind']))}")
        alarms = pd.DataFrame({**{x: frame[x] for x in rh.FIELDS}, "data_start_time": frame[rh.TIME],
                               "confidence": 1.0})  # fmt: skip
        for how, k in RULES:
            stat = rule_stat(frame, field, how, k)  # once per rule; each threshold only compares
            for t in THRESHOLDS:
                alarms["anomaly_grade"] = at_least(stat, t).astype(float)
                s = f.score(alarms, cfg, labels)  # an alarm is grade 1, confidence 1: above any monitor floor
                kind = s.per_kind[args.kind]
                table.setdefault((how, k, t), {})[f.name] = (kind.detected, kind.events, s.false_alarms_per_entity_day)
                print(f"{f.name}  {how} of last {k} ≥ {t:g}: {args.kind} {kind.detected}/{kind.events}, "
                      f"false alarms {s.false_alarms_per_entity_day:.3f}", flush=True)  # fmt: skip
    fleets = list(next(iter(table.values())))
    print(f"\nbest rule per fleet in hindsight (false alarms ≤ {budget:g} per entity per day):")
    found = events = 0
    for fl in fleets:
        # The most events found within the budget, then the fewest false alarms.
        ok = sorted(((v[fl][0], -v[fl][2], r) for r, v in table.items() if v[fl][2] <= budget), reverse=True)
        n = ok[0][0] if ok else 0
        e = next(iter(table.values()))[fl][1]
        found, events = found + n, events + e
        rule = f"{ok[0][2][0]} of last {ok[0][2][1]} ≥ {ok[0][2][2]:g}" if ok else "none within the budget"
        print(f"  {fl}: {n}/{e} ({rule})")
    print(f"  all: {found}/{events} = {found / max(events, 1):.2f}")
    within = [(sum(x[0] for x in v.values()), r) for r, v in table.items()
              if np.mean([x[2] for x in v.values()]) <= budget]  # fmt: skip
    if within:
        n, (how, k, t) = max(within)
        fa = [table[(how, k, t)][fl][2] for fl in fleets]
        print(f"one rule for all: {how} of last {k} ≥ {t:g}: {n}/{events}, false alarms mean {np.mean(fa):.3f} "
              f"(worst {max(fa):.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
