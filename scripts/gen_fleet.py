#!/usr/bin/env python3
"""Generate a labelled synthetic fleet: write its spec, labels, documents, or load it into OpenSearch.

    .venv/bin/python scripts/gen_fleet.py --preset fleet --hosts 50 --spec fleet.json --labels labels.csv
    .venv/bin/python scripts/gen_fleet.py --preset blog --load host-cloudwatch --url http://127.0.0.1:9200
    .venv/bin/python scripts/gen_fleet.py --spec-in fleet.json --ndjson fleet.ndjson

The same spec (seed included) always gives the same documents and labels; ``hcad eval --dataset
fleet.json`` evaluates detector configs on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hcad.errors import HcadError
from hcad.quality import loading, synth
from hcad.quality.synth import FleetSpec


def build_spec(args: argparse.Namespace) -> FleetSpec:
    overrides = {
        k: v
        for k, v in {
            "hosts": args.hosts,
            "processes": args.processes,
            "periods": args.periods,
            "seed": args.seed,
            "anomalies": args.anomalies,
            "missing_rate": args.missing_rate,
        }.items()
        if v is not None
    }
    if args.spec_in:
        try:
            data = json.loads(Path(args.spec_in).read_text())
        except (OSError, ValueError) as e:
            raise HcadError(f"{args.spec_in}: cannot read the spec ({e})") from e
        return FleetSpec.from_dict({**data, **overrides})
    return FleetSpec.blog(**overrides) if args.preset == "blog" else FleetSpec.fleet(**overrides)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=("blog", "fleet"), default="blog")
    ap.add_argument("--spec-in", help="start from this spec JSON instead of a preset")
    ap.add_argument("--hosts", type=int)
    ap.add_argument("--processes", type=int)
    ap.add_argument("--periods", type=int)
    ap.add_argument("--anomalies", type=int)
    ap.add_argument("--missing-rate", type=float)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--spec", help="write the spec JSON here")
    ap.add_argument("--labels", help="write the labels CSV here")
    ap.add_argument("--ndjson", help="write the documents as NDJSON here ('-' for stdout)")
    ap.add_argument("--load", metavar="INDEX", help="load the fleet into this (new) index")
    ap.add_argument("--url", help="cluster URL for --load (default HCAD_URL or local)")
    args = ap.parse_args()
    try:
        spec = build_spec(args)
        if args.spec:
            Path(args.spec).write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
        if args.labels:
            synth.write_labels(args.labels, spec)
        if args.ndjson:
            out = sys.stdout if args.ndjson == "-" else open(args.ndjson, "w")  # noqa: SIM115
            try:
                for doc in synth.fleet_documents(spec):
                    out.write(json.dumps(doc) + "\n")
            finally:
                if out is not sys.stdout:
                    out.close()
        if args.load:
            from hcad import connect

            report = loading.load_fleet(connect(args.url), args.load, spec)
            print(json.dumps(report.to_dict()), file=sys.stderr)
    except HcadError as e:
        print(f"gen_fleet: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"gen_fleet: error: {e}", file=sys.stderr)
        return 2
    labels = synth.fleet_labels(spec)
    print(
        f"{spec.name}: {spec.entity_count} entities × {spec.periods} intervals, {len(labels)} anomalies "
        f"({', '.join(f'{k} {v}' for k, v in labels['kind'].value_counts().sort_index().items())})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
