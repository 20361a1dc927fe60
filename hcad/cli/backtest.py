"""``hcad backtest``: run a detector's model locally (the plugin's TRCF through the JVM)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hcad.cli.common import echo_json, echo_table, json_option, pass_cli

if TYPE_CHECKING:
    import pandas as pd

    from hcad.cli.common import CliContext
    from hcad.quality.backtest.model import BacktestConfig


@click.command("backtest")
@click.argument("detector_file", metavar="DETECTOR.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "start", metavar="TIME", help="Start of the analysed range (now-7d, ISO-8601, epoch ms).")
@click.option("--to", "end", metavar="TIME", help="End of the analysed range, exclusive (now, ISO-8601, epoch ms).")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Documents or buckets as CSV, JSON lines or Parquet; without it the detector's index is queried.",
)
@click.option(
    "--entity",
    "entities",
    multiple=True,
    metavar="A/B",
    help="Only this entity (category values joined by /, or field=value,...); repeatable.",
)
@click.option(
    "--labels", type=click.Path(dir_okay=False, path_type=Path), help="Labels CSV: print precision/recall/F1."
)
@click.option("--tolerance", type=int, default=2, show_default=True, help="Intervals of slack when scoring labels.")
@click.option("--seed", type=int, help="Fix the forests' random seeds (the plugin's are random).")
@click.option("--workers", type=int, help="Entities scored at once [default: min(4, CPUs)].")
@click.option(
    "--no-default-rule", is_flag=True, help="Do not add the plugin's default ±20% rule to a detector without rules."
)
@click.option("--min-grade", type=float, default=0.0, show_default=True, help="Show anomalies with a grade above this.")
@click.option("--limit", type=int, default=50, show_default=True, help="Anomalies to print (0 = all).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write every result row to this CSV.")
@json_option
@pass_cli
def backtest(
    cli: CliContext,
    detector_file: Path,
    start: str | None,
    end: str | None,
    data: Path | None,
    entities: tuple[str, ...],
    labels: Path | None,
    tolerance: int,
    seed: int | None,
    workers: int | None,
    no_default_rule: bool,
    min_grade: float,
    limit: int,
    output: Path | None,
    as_json: bool,
) -> None:
    """Run DETECTOR.yaml's model locally over historical data and print what it flags.

    The model is the AD plugin's own ThresholdedRandomCutForest (RCF 4.2.0, as AD 2.18–3.x bundle),
    built and fed as the plugin's historical analysis does. Needs Java and the RCF jars
    (scripts/fetch_rcf_jars).
    """
    import sys
    from datetime import UTC, datetime

    from hcad.cli.results import parse_range
    from hcad.errors import ConfigError, HcadError
    from hcad.quality.backtest import backtest as run_backtest
    from hcad.quality.backtest.model import as_config, describe, model_params

    # Checked before the (long) run: a bad --from/--to or an --output nobody can write fails at once.
    start_ms, end_ms = parse_range(start, end)
    s, e = (None if ms is None else ms // 1000 for ms in (start_ms, end_ms))
    since, until = (None if ms is None else datetime.fromtimestamp(ms / 1000, UTC) for ms in (start_ms, end_ms))
    if output is not None:
        _check_output(output)
    config = as_config(str(detector_file))
    if no_default_rule:
        from dataclasses import replace

        config = replace(config, default_rule=False)
    wanted = [_parse_entity(e, config) for e in entities] or None
    params = model_params(config)
    if not as_json:
        for line in describe(params, config):
            click.echo(line, err=True)
    if data is not None:
        frame = _read_data(data)
    else:
        if s is None or e is None:
            raise ConfigError("--from and --to are needed to read the detector's index (or pass --data FILE)")
        from hcad.quality.backtest.buckets import query_buckets

        frame = query_buckets(cli.client, config, s * 1000, e * 1000, entities=wanted)
    results = run_backtest(
        frame,
        config,
        start=since,
        end=until,
        entities=wanted,
        seed=seed,
        workers=workers,
        progress=not as_json,
        source=str(data) if data else None,
    )
    if output is not None:
        try:
            results.to_csv(output, index=False)
        except OSError as err:
            raise HcadError(f"--output {str(output)!r}: cannot write the results: {err.strerror or err}") from None
    flagged = results[results["anomaly_grade"] > min_grade]
    summary = _summary(results, flagged, config)
    scores = None
    if labels is not None:
        from hcad.quality.scoring import score
        from hcad.quality.synth import read_labels

        scores = score(
            results,
            read_labels(labels),
            config.interval_minutes,
            tolerance,
            entity_fields=list(config.category_fields),
            min_grade=min_grade,
        )
    if as_json:
        out: dict[str, Any] = {
            "summary": summary,
            "model": _json_params(params),
            "skipped": results.attrs.get("skipped", {}),
            "dropped": results.attrs.get("dropped", {}),
            "anomalies": _rows(flagged, config, limit),
        }
        if scores is not None:
            out["scores"] = scores.to_dict()
        echo_json(out)
        return
    click.echo(
        f"{summary['entities']} entities, {summary['points']:,} intervals scored, "
        f"{summary['anomalies']:,} anomalies (rate {summary['anomaly_rate']:.4f})"
    )
    dropped = results.attrs.get("dropped", {})
    if dropped:
        click.echo(f"dropped {dropped['reason']}")
    skipped = results.attrs.get("skipped", {})
    if skipped:
        click.echo(f"skipped {len(skipped)} entities (e.g. {next(iter(skipped))}: {next(iter(skipped.values()))})")
    if len(flagged):
        rows = _rows(flagged, config, limit)
        headers = list(rows[0].keys())
        echo_table([[r[h] for h in headers] for r in rows], headers)
        if limit and len(flagged) > limit:
            click.echo(f"... {len(flagged) - limit} more (--limit 0 or --output FILE for all)")
    if scores is not None:
        click.echo(
            f"precision {scores.precision:.3f}  recall {scores.recall:.3f}  F1 {scores.f1:.3f}  "
            f"({scores.detected}/{scores.events} events, {scores.fp_intervals} false-positive intervals, "
            f"tolerance {tolerance})"
        )
    sys.stdout.flush()


def _check_output(output: Path) -> None:
    """Fail before the run when ``--output`` cannot be written (missing or read-only directory)."""
    import os

    from hcad.errors import ConfigError

    parent = output.parent
    if output.is_dir():
        raise ConfigError(f"--output {str(output)!r} is a directory; give a file name, e.g. {output / 'results.csv'}")
    if not parent.is_dir():
        raise ConfigError(f"--output {str(output)!r}: directory {str(parent)!r} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise ConfigError(f"--output {str(output)!r} is not writable; choose another path")


def _parse_entity(text: str, config: BacktestConfig) -> tuple[str, ...]:
    from hcad.errors import ConfigError

    fields = list(config.category_fields)
    if not fields:
        raise ConfigError("--entity needs a detector with category fields")
    if "=" in text:
        pairs = dict(p.split("=", 1) for p in text.split(",") if "=" in p)
        unknown = [k for k in pairs if k not in fields]
        if unknown or set(pairs) != set(fields):
            raise ConfigError(f"--entity {text!r}: give a value for each of {fields}, e.g. {'=x,'.join(fields)}=x")
        return tuple(pairs[f] for f in fields)
    parts = tuple(text.split("/"))
    if len(parts) != len(fields):
        raise ConfigError(f"--entity {text!r}: expected {len(fields)} value(s) joined by '/' for {fields}")
    return parts


def _read_data(path: Path) -> pd.DataFrame:
    import pandas as pd

    from hcad.errors import ConfigError

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson", ".json"):
            return pd.read_json(path, lines=suffix != ".json")
        return pd.read_csv(path)
    except ImportError:
        raise ConfigError(
            f"{path}: reading Parquet needs pyarrow (pip install pyarrow); or use CSV or JSON lines"
        ) from None
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{path}: cannot read data ({first}); use CSV, JSON lines or Parquet") from None


def _summary(results: pd.DataFrame, flagged: pd.DataFrame, config: BacktestConfig) -> dict[str, Any]:
    points = len(results)
    return {
        "entities": int(results.attrs.get("entities", 0)),
        "points": points,
        "anomalies": len(flagged),
        "anomaly_rate": (len(flagged) / points) if points else 0.0,
        "default_rule": bool(results.attrs.get("default_rule", False)),
        "interval_minutes": config.interval_minutes,
    }


def _rows(flagged: pd.DataFrame, config: BacktestConfig, limit: int) -> list[dict[str, Any]]:
    top = flagged.sort_values("anomaly_grade", ascending=False, kind="stable")
    if limit:
        top = top.head(limit)
    rows = []
    for r in top.to_dict(orient="records"):
        row: dict[str, Any] = {"entity": "/".join(str(r[c]) for c in config.category_fields) or "-"}
        row["data_start_time"] = r["data_start_time"].isoformat()
        row["grade"] = _num(r["anomaly_grade"])
        row["confidence"] = _num(r["confidence"])
        for n in config.feature_names:
            row[n] = _num(r[n])
            row[f"{n}_expected"] = _num(r[f"{n}_expected"])
        rows.append(row)
    return rows


def _num(v: Any) -> float | None:
    import math

    f = float(v)
    return None if math.isnan(f) else round(f, 3)


def _json_params(params: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(params)
