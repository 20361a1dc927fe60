#!/usr/bin/env python3
"""Wall time of ``hcad --help`` (and a few other help screens) against ``python -c pass``.

Runs each command N times in fresh interpreters and prints the median and the best time, and which
heavy modules (pandas, boto3, matplotlib, numpy) each one imported. Usage:

    .venv/bin/python scripts/bench_cli_startup.py [-n 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

HEAVY = ("pandas", "boto3", "matplotlib", "numpy")
_RUN = "from hcad.cli.main import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass"
CASES = {
    "python -c pass": "pass",
    "hcad --help": _RUN.format(args=["--help"]),
    "hcad size --help": _RUN.format(args=["size", "--help"]),
    "hcad detectors --help": _RUN.format(args=["detectors", "--help"]),
}
REPORT = "\nimport sys, json\nprint(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)"


def measure(code: str, n: int) -> tuple[list[float], list[str]]:
    times = []
    heavy: list[str] = []
    for _ in range(n):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", code + REPORT.format(heavy=HEAVY)], capture_output=True, text=True, check=True
        )
        times.append(time.perf_counter() - t0)
        heavy = json.loads(proc.stderr.strip().splitlines()[-1])
    return times, heavy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10, help="runs per command (default 10)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    rows = []
    for name, code in CASES.items():
        times, heavy = measure(code, args.n)
        rows.append({"command": name, "median_s": statistics.median(times), "best_s": min(times), "heavy": heavy})
    base = rows[0]["median_s"]
    if args.json:
        print(json.dumps({"runs": args.n, "python": sys.version.split()[0], "results": rows}, indent=2))
        return
    print(f"{'command':<24} {'median':>8} {'best':>8} {'over python':>12}  heavy modules imported")
    for r in rows:
        over = r["median_s"] - base
        heavy = ", ".join(r["heavy"]) or "none"
        print(f"{r['command']:<24} {r['median_s']:>7.3f}s {r['best_s']:>7.3f}s {over:>+11.3f}s  {heavy}")


if __name__ == "__main__":
    main()
