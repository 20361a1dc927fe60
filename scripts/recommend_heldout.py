#!/usr/bin/env python3
"""What ``hcad detectors recommend --trial`` proposes, scored end to end on fleets it never saw.

    .venv/bin/python scripts/recommend_heldout.py                    # backtest, 27 fleets (~45 min, 2 cores)
    .venv/bin/python scripts/recommend_heldout.py --plugin [--url U] # + the choice and the plugin's
                                                                     #   defaults on the real plugin
    .venv/bin/python scripts/recommend_heldout.py --plugin --no-backtest --unseen  # only those, on the
                                                                     #   6 UNSEEN fleets (~21 min)
    .venv/bin/python scripts/recommend_heldout.py --plugin --later   # the 6 LATER fleets, both engines
    .venv/bin/python scripts/recommend_heldout.py --quick            # 2 fleets, 2 hosts (~1 min)

The question a user has: if I run ``recommend --trial`` on the documents I have and deploy what it
proposes, how does that detector do on the anomalies that come later? Per held-out fleet (the business
fleets and cosine fleets ``scripts/tune_baseline.py`` holds out, and UNSEEN, 6 hosts × 3 processes): ``--history``
days (21 by default, so the weekly baseline is tried too) with no events, then 8 days with the fleet's
own labelled events. The trial (``recommend --trial`` with a ``--feature`` per metric) sees only the
history, as a user would before deploying: it injects its own events
(:func:`hcad.quality.tuning.inject_anomalies`) and picks a config by its rule. That config
then runs over the whole span (the baseline route on deviations ``hcad baseline`` would write over it)
and is scored on the last 8 days against the fleet's labels. Nothing here was tuned: the candidates and
the rule are ``recommend --trial``'s (its scoring window was fixed after a first run of this script
showed a bias; the UNSEEN fleets were generated only after that fix, the LATER ones only after the
baseline route's configs were also tried at shingle 3).

Beside the choice, on the backtest: every candidate the trial tried, scored the same way, so each row
also shows the trial's pick against the *best candidate in hindsight* (the best F1 within the
false-alarm limit on the fleet's own events: what a perfect trial would have picked), and the plugin's
and hcad's defaults on the raw metrics. When the choice is a baseline route, ``+ leak detector`` adds
the second detector ``detectors/README.md`` recommends beside it (the memory field alone, 3 spreads both
ways), an alert on either. ``--plugin`` runs the choice (and its pair) and the plugin's defaults as
historical analyses on the real plugin.

Writes <out>/recommend.json and <out>/recommend.md and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
import tune_baseline as tb

from hcad.errors import HcadError
from hcad.quality import backtest, baseline, synth, tuning
from hcad.quality import evaluate as ev
from hcad.quality.scoring import Scores, score
from hcad.quality.trial import (
    EVENTS_PER_ENTITY,
    Candidate,
    Trial,
    baseline_deviations,
    candidates,
    companions,
    prepare,
    trial,
)

FIELDS = ("host", "process")
TIME = synth.TIME_FIELD
#: Fleets generated only after the trial's scoring window was fixed on the ones above (see the README).
UNSEEN = [("business", 81), ("business", 82), ("business", 91), ("business", 92), ("fleet", 51), ("fleet", 61)]
#: Fleets generated only after the baseline route's configs were also tried at shingle 3 (trial.BASELINE_WIDER_SHINGLE).
LATER = [("business", 101), ("business", 102), ("business", 111), ("business", 112), ("fleet", 71), ("fleet", 81)]
FLEETS = tb.SEEN + tb.FRESH + tb.NEW + tb.LATE + UNSEEN + LATER
QUICK = [("business", 11), ("fleet", 11)]
CHOICE = "recommended (the trial's choice)"
PAIR = "recommended + leak detector"
HINDSIGHT = "best candidate in hindsight"
GENERATORS = {"business": "business", "fleet": "cosine"}


def generator(dataset: str) -> str:
    """``business`` or ``cosine`` for a dataset named as tune_baseline names it (``"fleet 11"``)."""
    return GENERATORS[dataset.split()[0]]


class Fleet:
    """One held-out fleet: its documents, labels, and each baseline spec's deviations over the whole span."""

    def __init__(self, name: str, seed: int, hosts: int, history: int) -> None:
        self.spec = tb.fleet(name, seed, hosts, history)
        self.raw = synth.fleet_frame(self.spec)
        self.labels = synth.fleet_labels(self.spec)
        self.history = self.raw[self.raw[TIME] < self.spec.end - timedelta(days=tb.SCORED_DAYS)]
        self.name = f"{self.spec.name} {self.seed}"
        self._dev: dict[baseline.BaselineSpec, pd.DataFrame | None] = {}

    @property
    def seed(self) -> int:
        return self.spec.seed

    def config(self, c: Candidate) -> tuple[pd.DataFrame, ev.EvalConfig, pd.DataFrame]:
        """The frame ``c``'s detector reads over the whole span, its config and the labels it is scored on."""
        dev = None
        if c.baseline is not None:
            if c.baseline not in self._dev:
                notes: list[str] = []
                self._dev[c.baseline] = baseline_deviations(
                    self.raw, FIELDS, self.spec.metrics, time_field=TIME,
                    interval_minutes=self.spec.interval_minutes, spec=c.baseline, notes=notes,
                    alone=self.spec.metrics,  # any metric may have a detector of its own beside the choice
                )  # fmt: skip
                if self._dev[c.baseline] is None:
                    raise HcadError(f"{self.name}: {'; '.join(notes)}")
            dev = self._dev[c.baseline]
        frame, cfg = prepare(c, self.raw, dev, self.spec.metrics, FIELDS, time_field=TIME,
                             interval_minutes=self.spec.interval_minutes)  # fmt: skip
        labels = baseline.relabel(self.labels) if c.baseline is not None else self.labels
        return frame, cfg, ev.labels_for(labels, cfg)

    def score(self, results: pd.DataFrame, cfg: ev.EvalConfig, labels: pd.DataFrame) -> Scores:
        """``results`` scored on the fleet's last days, under ``cfg``'s monitor floor."""
        return score(tb.last_days(results, self.spec), labels, cfg.interval_minutes, min_grade=cfg.min_grade,
                     min_confidence=cfg.min_confidence)  # fmt: skip


def row(f: Fleet, engine: str, config: str, s: Scores, **extra: Any) -> dict[str, Any]:
    return {"dataset": f.name, "generator": generator(f.name), "engine": engine, "config": config, **extra,
            **tuning.score_row(s)}  # fmt: skip


def backtest_rows(f: Fleet, t: Trial, max_false_alarms: float) -> list[dict[str, Any]]:
    """Every candidate the trial tried, on the fleet's own events (backtest); the choice, its pair, the
    defaults and the best in hindsight named."""
    runs: dict[tuple[Any, ...], pd.DataFrame] = {}

    def results(c: Candidate) -> Scores:
        """``c``'s detectors on the backtest (each model run once), an alert on any of them, scored."""
        frame, cfg, labels = f.config(c)
        each = []
        for key, one in ((c.run_key(), cfg), *companions(c, frame, cfg)):
            if key not in runs:
                runs[key] = backtest.run(frame, one.detector("x"), seed=f.seed)
            each.append(runs[key])
        return f.score(tb.both(each) if len(each) > 1 else each[0], cfg, labels)

    scored = [(r, results(r.candidate)) for r in t.results]
    out = []
    for r, s in scored:
        out.append(row(f, "backtest", r.candidate.name, s, chosen=r is t.winner, trial_f1=round(r.scores.f1, 3),
                       trial_false_alarms=round(r.scores.false_alarms_per_entity_day, 3)))  # fmt: skip
    by_name = {r.candidate.name: s for r, s in scored}
    out.append(row(f, "backtest", CHOICE, by_name[t.winner.candidate.name], pick=t.winner.candidate.name))
    for name in ("plugin defaults", "hcad defaults"):
        out.append(row(f, "backtest", f"{name} (raw metrics)", by_name[name]))
    # The hindsight pick follows the trial's own rule, applied to the fleet's real events.
    pool = [(r, s.f1, s.false_alarms_per_entity_day, s.false_alarms_per_entity_day) for r, s in scored]
    (best, *_), _tier, _n = tuning.choose(pool, max_false_alarms)
    out.append(row(f, "backtest", HINDSIGHT, by_name[best.candidate.name], pick=best.candidate.name))
    pair = with_leak(t.winner.candidate, f)
    if pair is not None:
        out.append(row(f, "backtest", PAIR, results(pair), pick=t.winner.candidate.name))
    return out


def with_leak(c: Candidate, f: Fleet) -> Candidate | None:
    """For a baseline-route choice ``c`` without detectors of its own beside it: ``c`` with the leak detector
    (the trial's companion over the memory fields) beside it."""
    slow = tuple(m for m in tb.LEAK_METRICS if m in f.spec.metrics)
    if c.baseline is None or c.alone or not slow:
        return None
    return replace(c, alone=slow)


def plugin_rows(client: Any, f: Fleet, t: Trial) -> list[dict[str, Any]]:
    """The choice (and its pair) and the plugin's defaults as historical analyses on the plugin."""
    c = t.winner.candidate
    pair = with_leak(c, f)
    frame, cfg, labels = f.config(pair or c)
    out = []
    each = tb.plugin_runs(client, [cfg, *(one for _key, one in companions(pair or c, frame, cfg))], frame, f.spec)
    own = 1 + len(c.alone)  # the choice's detectors come first, the leak detector after them
    out.append(row(f, "plugin", CHOICE, f.score(tb.both(each[:own]) if own > 1 else each[0], cfg, labels),
                   pick=c.name))  # fmt: skip
    if pair is not None:
        out.append(row(f, "plugin", PAIR, f.score(tb.both(each), cfg, labels), pick=c.name))
    plugin = next(r.candidate for r in t.results if r.candidate.name == "plugin defaults")
    frame, cfg, labels = f.config(plugin)
    res = tb.plugin_results(client, [cfg], frame, f.spec)
    out.append(row(f, "plugin", "plugin defaults (raw metrics)", f.score(res, cfg, labels)))
    return out


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per generator, engine and headline config: the mean scores and the worst fleet's false alarms."""
    headline = (CHOICE, PAIR, HINDSIGHT, "plugin defaults (raw metrics)", "hcad defaults (raw metrics)")
    out = []
    for gen in dict.fromkeys(r["generator"] for r in rows):
        sel = [r for r in rows if r["generator"] == gen and r["config"] in headline]
        for s in tuning.summary(sel):
            group = [r for r in sel if (r["engine"], r["config"]) == (s["engine"], s["config"])]
            s["worst_false_alarms"] = max(r["false_alarms_per_entity_day"] for r in group)
            out.append({"generator": gen, **s})
    return out


def fa(r: dict[str, Any]) -> str:
    """A row's "F1 / false alarms per entity per day"."""
    return f"{r['f1']:.3f} / {r['false_alarms_per_entity_day']:.3f}"


def markdown(summary: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    lines = ["| generator | engine | config | fleets | P | R | F1 | FA/e/d (worst fleet) | recall by kind |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for s in summary:
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in s["recall_by_kind"].items())
        lines.append(
            f"| {s['generator']} | {s['engine']} | {s['config']} | {s['datasets']} | {s['precision']:.3f} | "
            f"{s['recall']:.3f} | {s['f1']:.3f} | {s['false_alarms_per_entity_day']:.3f} "
            f"({s['worst_false_alarms']:.3f}) | {kinds} |"
        )
    lines += ["", "| fleet | the trial's pick (trial F1 / FA) | held out: F1 / FA | best in hindsight: F1 / FA | "
              "plugin defaults: F1 / FA |", "|---|---|---|---|---|"]  # fmt: skip
    for name in dict.fromkeys(r["dataset"] for r in rows):
        bt = {r["config"]: r for r in rows if r["dataset"] == name and r["engine"] == "backtest"}
        if CHOICE not in bt:
            continue
        pick, best, plug = bt[CHOICE], bt[HINDSIGHT], bt["plugin defaults (raw metrics)"]
        tr = bt[pick["pick"]]
        lines.append(
            f"| {name} | {pick['pick']} ({tr['trial_f1']:.2f} / {tr['trial_false_alarms']:.3f}) | {fa(pick)} | "
            f"{best['pick']}: {fa(best)} | {fa(plug)} |"
        )
    return "\n".join(lines) + "\n"


def fleet_arg(text: str) -> tuple[str, int]:
    """``--fleet business:1`` → ``("business", 1)``."""
    gen, _, seed = text.partition(":")
    if gen not in GENERATORS or not seed.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: write GENERATOR:SEED with GENERATOR one of {list(GENERATORS)}")
    return gen, int(seed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="recommend-out", help="output directory")
    ap.add_argument("--quick", action="store_true", help="2 fleets of 2 hosts")
    ap.add_argument("--unseen", action="store_true", help="only the UNSEEN fleets (6)")
    ap.add_argument("--later", action="store_true", help="only the LATER fleets (6)")
    ap.add_argument("--fleet", action="append", default=[], type=fleet_arg, metavar="GEN:SEED",
                    help="only these fleets (business:1, fleet:3 for cosine; repeat)")  # fmt: skip
    ap.add_argument("--hosts", type=int, default=6, help="hosts per fleet (3 processes each; default 6)")
    ap.add_argument("--history", type=int, default=21, metavar="DAYS",
                    help="days the trial sees before the 8 scored days (default 21; 15+ tries past weeks)")  # fmt: skip
    ap.add_argument("--trial-seed", type=int, default=0, help="the trial's injection seed (the CLI's default: 0)")
    ap.add_argument("--plugin", action="store_true", help="also run the choice and the plugin's defaults on the plugin")
    ap.add_argument("--backtest", action=argparse.BooleanOptionalAction, default=True,
                    help="score every candidate on the backtest (--no-backtest: only the plugin's rows)")  # fmt: skip
    ap.add_argument("--url", default=None, help="cluster for --plugin (default HCAD_URL or local)")
    ap.add_argument("--max-false-alarms", type=float, default=tuning.MAX_FALSE_ALARMS)
    ap.add_argument("--events-per-entity", type=int, default=EVENTS_PER_ENTITY, metavar="N",
                    help=f"events the trial injects per entity (default {EVENTS_PER_ENTITY}, as the CLI)")  # fmt: skip
    ap.add_argument("--alone", action="append", default=[], metavar="METRIC",
                    help="recommend --trial --alone METRIC: the baseline route also with a detector of its own over "
                    "METRIC, and leaks injected into it (repeat for more)")  # fmt: skip
    ap.add_argument("--stretch", action="append", default=[], metavar="METRIC",
                    help="recommend --trial --stretch METRIC: also the baseline route with METRIC's deviations "
                    "stretched (repeat for more)")  # fmt: skip
    args = ap.parse_args()
    hosts = 2 if args.quick else args.hosts
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    client = None
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    try:
        if args.plugin:
            from hcad import connect

            client = connect(args.url, timeout=120)
            client.require_plugin("opensearch-anomaly-detection")
        fleets = args.fleet or (QUICK if args.quick else UNSEEN if args.unseen else LATER if args.later else FLEETS)
        for name, seed in fleets:
            f = Fleet(name, seed, hosts, args.history)
            extra = args.alone or args.stretch
            configs = candidates(f.spec.metrics, alone=args.alone, stretch=args.stretch) if extra else None
            t = trial(f.history, FIELDS, f.spec.metrics, time_field=TIME, interval_minutes=f.spec.interval_minutes,
                      configs=configs, seed=args.trial_seed, max_false_alarms=args.max_false_alarms,
                      per_entity=args.events_per_entity)  # fmt: skip
            if args.backtest:
                rows += backtest_rows(f, t, args.max_false_alarms)
            if client is not None:
                rows += plugin_rows(client, f, t)
            print(f"  {f.name}: picked {t.winner.candidate.name}, {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    except HcadError as e:
        print(f"recommend_heldout: error: {e}", file=sys.stderr)
        return e.exit_code
    summary = summarize(rows)
    report = {"history_days": args.history, "trial_seed": args.trial_seed, "alone": args.alone, "stretch": args.stretch,
              "events_per_entity": args.events_per_entity, "summary": summary, "rows": rows}  # fmt: skip
    (out / "recommend.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(summary, rows)
    (out / "recommend.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
