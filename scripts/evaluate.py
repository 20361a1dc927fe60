#!/usr/bin/env python3
"""Reproduce the detection-quality table: a config grid on the blog and fleet datasets.

    .venv/bin/python scripts/evaluate.py --out eval-out            # local TRCF (hcad.quality.backtest)
    .venv/bin/python scripts/evaluate.py --engine plugin --url http://127.0.0.1:9200 --out eval-out

Writes ``<out>/<dataset>.json`` (every config with its scores), ``<out>/pr.png`` (precision/recall
of every config on both datasets, with the blog's 0.57/0.61) and ``<out>/table.md``, and prints
the table. Backtest numbers are local-TRCF numbers, not plugin numbers; the files say so.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hcad.errors import HcadError
from hcad.quality import evaluate as ev
from hcad.quality.synth import FleetSpec


def grid_for(spec: FleetSpec, quick: bool) -> list[ev.EvalConfig]:
    """The searched grid: features × shingle × rule × trigger at 10 min, plus 20-minute avg/max."""
    gc = (("avg", "jvmGcTime"),)
    every = tuple(("avg", m) for m in spec.metrics)
    maxes = tuple(("max", m) for m in spec.metrics)
    if quick:
        return ev.grid(features=[gc, every], shingles=(4,), rule_ratios=(None, 0.05), min_confidences=(0.0, 0.9))
    return ev.grid(
        features=[gc, every],
        intervals=(10,),
        shingles=(4, 8),
        rule_ratios=(None, 0.05),
        min_grades=(0.0, 0.3),
        min_confidences=(0.0, 0.9),
    ) + ev.grid(
        features=[every, maxes], intervals=(20,), shingles=(4,), rule_ratios=(0.05,), min_confidences=(0.0, 0.9)
    )


def markdown(reports: list[ev.EvalReport]) -> str:
    lines = []
    for rep in reports:
        lines.append(f"### {rep.spec.name} dataset ({rep.engine}: {rep.note})\n")
        lines.append("| config | precision | recall | F1 | alarm precision | TTD (intervals) |")
        lines.append("|---|---|---|---|---|---|")
        blog = ev.BLOG_REFERENCE
        lines.append(f"| seed blog (plugin, 2021) | {blog['precision']} | {blog['recall']} | - | - | - |")
        ok = sorted((r for r in rep.results if r.scores), key=lambda r: -r.scores.f1)  # type: ignore[union-attr]
        for r in ok:
            s = r.scores
            assert s is not None
            ttd = "-" if s.ttd_mean is None else f"{s.ttd_mean:.2f}"
            cells = [r.config.label, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}"]
            cells += [f"{s.alarm_precision:.3f}", ttd]
            lines.append("| " + " | ".join(cells) + " |")
        for r in rep.results:
            if r.error:
                lines.append(f"| {r.config.label} | error: {r.error} | | | | |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=ev.ENGINES, default="backtest")
    ap.add_argument("--datasets", default="blog,fleet", help="comma-separated: blog, fleet")
    ap.add_argument("--out", default="eval-out", help="output directory")
    ap.add_argument("--quick", action="store_true", help="a small grid (a few minutes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=int, default=2)
    ap.add_argument("--url", help="cluster for --engine plugin (default HCAD_URL or local)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    try:
        for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
            if name not in ("blog", "fleet"):
                raise HcadError(f"--datasets: unknown dataset {name!r}; use blog and/or fleet")
            spec = FleetSpec.blog(seed=args.seed) if name == "blog" else FleetSpec.fleet(seed=args.seed)
            configs = grid_for(spec, args.quick)
            client = index = None
            if args.engine == "plugin":
                from hcad import connect
                from hcad.quality.loading import load_fleet

                client = connect(args.url)
                index = f"hcad-eval-{name}-{args.seed}-{int(time.time())}"
                load_fleet(client, index, spec)
            t0 = time.perf_counter()
            try:
                rep = ev.evaluate(
                    spec,
                    configs,
                    args.engine,
                    client=client,
                    index=index,
                    tolerance=args.tolerance,
                    on_result=lambda r: print(f"  {r.row()}", file=sys.stderr, flush=True),
                )
            finally:
                if client is not None and index:
                    client.indices.delete(index=index, ignore_unavailable=True)
            print(f"{name}: {len(configs)} configs in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
            rep.write_json(out / f"{name}.json")
            reports.append(rep)
    except HcadError as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return e.exit_code
    ev.plot_reports(reports, out / "pr.png")
    table = markdown(reports)
    (out / "table.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
