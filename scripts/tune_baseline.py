#!/usr/bin/env python3
"""Detectors on deviations from a seasonal baseline (hcad.quality.baseline): tuned, then held out.

    .venv/bin/python scripts/tune_baseline.py --out baseline-out            # backtest (~15 min, 2 cores)
    .venv/bin/python scripts/tune_baseline.py --quick                       # small grid and fleets
    .venv/bin/python scripts/tune_baseline.py --plugin [--url URL]          # + held-out rows on the plugin

Each metric is replaced by how far it is from the same entity at the same time of day on recent days of
the same kind (hcad.quality.baseline.residuals); the detector averages those fields and ignores
anomalies within k robust spreads of its expected value (the plugin's margin rules). Grid: baseline
``ratio`` or ``z``; with or without the fleet-wide median removed; a local level over the last 0, 36 or
144 intervals removed; shingle 2, 4, 8; k = 2, 3, 4; at the monitor none, grade > 0.3 or > 0.5 with
confidence >= 0.9.

Tuning data: the business fleet and the cosine fleet, seed 1 (as scripts/tune_defaults.py). The rule,
fixed before the held-out data are scored (hcad.quality.tuning.choose): the best mean F1 among configs
with at most 0.1 false alarms per entity per day on every tuning fleet. Held out: business seeds 11 and
12 and cosine seed 11 (the fleets detectors/README.md reports; this approach was found while looking
at them) and business seeds 21 and 22 and cosine seed 21 (never looked at before the choice was made).
Beside the chosen config, hcad's defaults and the plugin's defaults run on the raw metrics.

Writes <out>/baseline.json and <out>/baseline.md and prints the held-out table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from hcad.errors import HcadError
from hcad.quality import backtest, baseline, synth, tuning
from hcad.quality import evaluate as ev
from hcad.quality.scoring import Scores, score

TUNE = [("business", 1), ("fleet", 1)]
SEEN = [("business", 11), ("business", 12), ("fleet", 11)]
FRESH = [("business", 21), ("business", 22), ("fleet", 21)]
FLOORS = [(0.0, 0.0), (0.3, 0.9), (0.5, 0.9)]


def fleet(name: str, seed: int, hosts: int) -> synth.FleetSpec:
    if name == "business":
        return synth.FleetSpec.business(hosts=hosts, seed=seed)
    return synth.FleetSpec.fleet(hosts=hosts, seed=seed, periods=1152)


def variants(quick: bool) -> Iterator[tuple[str, baseline.BaselineSpec]]:
    modes = ("ratio",) if quick else baseline.MODES
    for mode, fleet_wide, local in itertools.product(modes, (True, False), (0, 36) if quick else (0, 36, 144)):
        name = f"{mode}{' fleet' if fleet_wide else ''}{f' local{local}' if local else ''}"
        yield name, baseline.BaselineSpec(mode=mode, fleet=fleet_wide, local=local)


def residual_config(data: pd.DataFrame, metrics: tuple[str, ...], shingle: int, k: float) -> ev.EvalConfig:
    """Average each baseline field; ignore anomalies within ``k`` robust spreads of the expected value."""
    return baseline.detector_config(data, metrics, shingle_size=shingle, spreads=k, min_grade=0.0, min_confidence=0.0)


def scored(res: pd.DataFrame, labels: pd.DataFrame, cfg: ev.EvalConfig) -> Iterator[tuple[float, float, Scores]]:
    for grade, conf in FLOORS:
        yield (
            grade,
            conf,
            score(res, ev.labels_for(labels, cfg), cfg.interval_minutes, min_grade=grade, min_confidence=conf),
        )


def row(dataset: str, engine: str, config: str, s: Scores, label: str = "") -> dict[str, Any]:
    return {"dataset": dataset, "engine": engine, "config": config, "label": label, **tuning.score_row(s)}


def grid(spec: synth.FleetSpec, quick: bool) -> dict[tuple[Any, ...], Scores]:
    """Every baseline variant × shingle × k × monitor floor on one fleet (backtest)."""
    raw, labels = synth.fleet_frame(spec), baseline.relabel(synth.fleet_labels(spec))
    out: dict[tuple[Any, ...], Scores] = {}
    for name, bspec in variants(quick):
        data = baseline.residuals(raw, spec.metrics, spec=bspec)
        for shingle, k in itertools.product((2, 8) if quick else (2, 4, 8), (3.0,) if quick else (2.0, 3.0, 4.0)):
            cfg = residual_config(data, spec.metrics, shingle, k)
            res = backtest.run(data, cfg.detector("x"), seed=spec.seed)
            for grade, conf, s in scored(res, labels, cfg):
                out[(name, shingle, k, grade, conf)] = s
    return out


def chosen_runs(spec: synth.FleetSpec, key: tuple[Any, ...], client: Any = None) -> list[dict[str, Any]]:
    """The chosen config and the raw-metric baselines on one held-out fleet: backtest, or the plugin."""
    name, shingle, k, grade, conf = key
    bspec = dict(variants(False))[name]
    raw, labels = synth.fleet_frame(spec), synth.fleet_labels(spec)
    data = baseline.residuals(raw, spec.metrics, spec=bspec)
    cfg = replace(residual_config(data, spec.metrics, shingle, k), min_grade=grade, min_confidence=conf)
    every = tuple(("avg", m) for m in spec.metrics)
    runs = [
        ("baseline (chosen)", cfg, data, baseline.relabel(labels)),
        ("hcad defaults", ev.recommended_config(spec), raw, labels),
        ("plugin defaults", ev.EvalConfig(features=every, shingle_size=8), raw, labels),
    ]
    dataset = f"{spec.name} {spec.seed}"
    out = []
    for label, c, frame, labs in runs:
        if client is None:
            res, engine = backtest.run(frame, c.detector("x"), seed=spec.seed), "backtest"
        else:
            res, engine = plugin_results(client, c, frame, spec), "plugin"
        s = score(
            res, ev.labels_for(labs, c), c.interval_minutes, min_grade=c.min_grade, min_confidence=c.min_confidence
        )
        out.append(row(dataset, engine, label, s, c.label))
    return out


def plugin_results(client: Any, cfg: ev.EvalConfig, frame: pd.DataFrame, spec: synth.FleetSpec) -> pd.DataFrame:
    """``frame`` indexed into a fresh index, ``cfg`` run as a historical analysis there, the index deleted."""
    from hcad.quality.loading import load_frame

    index = f"hcad-baseline-{uuid.uuid4().hex[:8]}"
    try:
        load_frame(client, index, frame)
        return ev.run_historical(client, cfg, index, spec)
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)


def markdown(summary: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    lines = tuning.summary_table(summary)
    head = "| engine | dataset | config | P | R | F1 | FA/e/d | recall by kind |"
    lines += ["", head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in r["recall_by_kind"].items())
        lines.append(
            f"| {r['engine']} | {r['dataset']} | {r['config']} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r['f1']:.3f} | {r['false_alarms_per_entity_day']:.3f} | {kinds} |"
        )
    return "\n".join(lines) + "\n"


def choose(quick: bool, hosts: int, max_false_alarms: float, t0: float) -> tuple[tuple[Any, ...], str]:
    """Run the grid on the tuning fleets and apply the selection rule; the chosen key and why."""
    tables = []
    for name, seed in TUNE:
        tables.append(grid(fleet(name, seed, hosts), quick))
        print(f"  tuned on {name} {seed}: {len(tables[-1])} configs, {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    rows = []
    for key in tables[0]:
        scores = [t[key] for t in tables]
        fas = [s.false_alarms_per_entity_day for s in scores]
        rows.append((key, sum(s.f1 for s in scores) / len(scores), max(fas), sum(fas) / len(fas)))
    (key, f1, worst, _mean), tier, n = tuning.choose(rows, max_false_alarms)
    reason = f"{tier}: mean F1 {f1:.3f}, worst false alarms {worst:.3f}, {n} of {len(rows)} configs in that tier"
    return key, reason


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="baseline-out", help="output directory")
    ap.add_argument("--quick", action="store_true", help="a small grid on smaller fleets")
    ap.add_argument("--hosts", type=int, default=6, help="hosts per fleet (3 processes each; default 6)")
    ap.add_argument("--plugin", action="store_true", help="also run the held-out rows on the real plugin")
    ap.add_argument("--backtest", action=argparse.BooleanOptionalAction, default=True,
                    help="held-out rows on the backtest (--no-backtest: only the plugin's)")  # fmt: skip
    ap.add_argument("--url", default=None, help="cluster for --plugin (default HCAD_URL or local)")
    ap.add_argument("--max-false-alarms", type=float, default=tuning.MAX_FALSE_ALARMS)
    ap.add_argument("--choice", type=Path, help="reuse the choice in this baseline.json instead of tuning again")
    args = ap.parse_args()
    hosts = 2 if args.quick else args.hosts
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.choice:
        saved = json.loads(args.choice.read_text())
        key, reason = tuple(saved["chosen"]), saved["reason"]
    else:
        key, reason = choose(args.quick, hosts, args.max_false_alarms, t0)
    print(f"chosen: {key} ({reason})", file=sys.stderr)
    client = None
    if args.plugin:
        from hcad import connect

        client = connect(args.url, timeout=120)
        client.require_plugin("opensearch-anomaly-detection")
    held: list[dict[str, Any]] = []
    try:
        for name, seed in SEEN + FRESH:
            spec = fleet(name, seed, hosts)
            if args.backtest:
                held += chosen_runs(spec, key)
            if client is not None:
                held += chosen_runs(spec, key, client)
            print(f"  held out {name} {seed}: {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    except HcadError as e:
        print(f"tune_baseline: error: {e}", file=sys.stderr)
        return e.exit_code
    summary = []
    for group, sets in (("seen", SEEN), ("fresh", FRESH)):
        names = {f"{n} {s}" for n, s in sets}  # as chosen_runs names them (spec.name, seed)
        for r in tuning.summary([r for r in held if r["dataset"] in names]):
            summary.append({**r, "config": f"{r['config']} ({group} held-out)"})
    (out / "baseline.json").write_text(json.dumps({"chosen": list(key), "reason": reason, "summary": summary,
                                                   "rows": held}, indent=2) + "\n")  # fmt: skip
    table = markdown(summary, held)
    (out / "baseline.md").write_text(table)
    print(f"chosen: {key} ({reason})\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
