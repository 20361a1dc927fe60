"""``hcad eval``: score detector configs against a labelled synthetic fleet."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hcad.ad.limits import MAX_HISTORICAL_SHINGLE_SIZE
from hcad.cli.common import CliContext, echo_json, echo_table, json_option, pass_cli
from hcad.errors import ConfigError, HcadError

if TYPE_CHECKING:
    from hcad.quality.evaluate import EvalConfig, EvalReport
    from hcad.quality.synth import FleetSpec

ENGINES = ("backtest", "plugin")


def _spec(dataset: str, overrides: dict[str, Any]) -> FleetSpec:
    import json

    from hcad.quality.synth import FleetSpec

    given = {k: v for k, v in overrides.items() if v is not None}
    if dataset == "blog":
        return FleetSpec.blog(**given)
    if dataset == "fleet":
        return FleetSpec.fleet(**given)
    if dataset == "business":
        return FleetSpec.business(**given)
    path = Path(dataset)
    if not path.is_file():
        raise ConfigError(f"--dataset {dataset!r} is neither blog, fleet, business nor a JSON spec file")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read the fleet spec ({e}); write one with scripts/gen_fleet.py") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a fleet spec is a JSON object (see FleetSpec.to_dict())")
    data.update(given)
    return FleetSpec.from_dict(data)


def parse_features(text: str) -> tuple[tuple[str, str], ...]:
    """``"avg:cpu,max:jvmGcTime"`` → ``(("avg", "cpu"), ("max", "jvmGcTime"))``."""
    out = []
    for part in text.split(","):
        agg, sep, fld = part.strip().partition(":")
        if not sep or not agg or not fld:
            raise ConfigError(f"--feature {text!r}: write AGG:FIELD[,AGG:FIELD...], e.g. avg:cpu,max:jvmGcTime")
        out.append((agg.strip().lower(), fld.strip()))
    return tuple(out)


def parse_rule(text: str) -> float | None:
    """``default`` → None (the plugin's ±20% rule); a number → that ratio."""
    if text.strip().lower() == "default":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--rule {text!r}: use 'default' or a ratio like 0.05") from None
    if not value > 0:
        raise ConfigError(f"--rule {text!r}: the ratio must be > 0 (the plugin refuses 0); e.g. 0.05")
    return value


def parse_minutes(value: str | int) -> int:
    """``10``, ``10m`` or ``1h`` → whole minutes (``--interval``)."""
    from hcad.sizing import parse_interval

    minutes = parse_interval(value, "--interval")
    if minutes.denominator != 1:
        raise ConfigError(f"--interval {value!r} is not a whole number of minutes; use e.g. 10m")
    return int(minutes)


def build_configs(
    spec: FleetSpec,
    features: tuple[str, ...],
    intervals: tuple[str | int, ...],
    shingles: tuple[int, ...],
    imputations: tuple[str, ...],
    rules: tuple[str, ...],
    min_grades: tuple[float, ...],
    min_confidences: tuple[float, ...],
    use_grid: bool,
) -> list[EvalConfig]:
    """The configs to try: the default grid, or the product of the given axes (defaults fill the rest)."""
    from hcad.quality import evaluate as ev

    if use_grid:
        if any((features, intervals, shingles, imputations, rules, min_grades, min_confidences)):
            raise ConfigError("--grid searches the default grid; drop the axis options or drop --grid")
        return ev.default_grid(spec)
    base = ev.recommended_config(spec)
    feats = [parse_features(f) for f in features] or [base.features]
    unknown = sorted({fld for fs in feats for _a, fld in fs} - set(spec.metrics))
    if unknown:
        raise ConfigError(f"--feature: {unknown} are not fields of the dataset; use some of {list(spec.metrics)}")
    return ev.grid(
        features=feats,
        intervals=[parse_minutes(i) for i in intervals] or [base.interval_minutes],
        shingles=shingles or (base.shingle_size,),
        imputations=[None if i.lower() == "none" else i.upper() for i in imputations] or [base.imputation],
        rule_ratios=[parse_rule(r) for r in rules] or [base.rule_ratio],
        min_grades=min_grades or (base.min_grade,),
        min_confidences=min_confidences or (base.min_confidence,),
    )


@click.command("eval")
@click.option(
    "--dataset",
    default="blog",
    show_default=True,
    metavar="blog|fleet|business|SPEC.json",
    help="The seed blog's cosine waves, the harder fleet, the business-hours fleet (hcad.quality.realistic), "
    "or a spec file from scripts/gen_fleet.py.",
)
@click.option("--hosts", type=click.IntRange(min=1), help="Override the dataset's number of hosts.")
@click.option("--processes", type=click.IntRange(min=1), help="Override the number of processes per host.")
@click.option("--periods", type=click.IntRange(min=50), help="Override the number of intervals.")
@click.option("--anomalies", type=click.IntRange(min=0), help="Override the number of injected anomalies.")
@click.option("--seed", type=int, help="Override the dataset's random seed.")
@click.option("--engine", type=click.Choice(ENGINES), default="backtest", show_default=True,
              help="backtest: the plugin's model run locally; plugin: the cluster's historical analysis.")  # fmt: skip
@click.option("--index", help="plugin engine: index with the fleet (loaded first when it does not exist).")
@click.option("--keep-index", is_flag=True, help="plugin engine: keep an index hcad loaded.")
@click.option("--feature", "features", multiple=True, metavar="AGG:FIELD[,...]",
              help="A feature set, e.g. avg:cpu,avg:jvmGcTime; repeat to compare sets.")  # fmt: skip
@click.option("--interval", "intervals", multiple=True, metavar="DURATION",
              help="Detector interval: minutes or 10m, 1h; repeatable.")  # fmt: skip
@click.option("--shingle", "shingles", multiple=True, type=click.IntRange(1, MAX_HISTORICAL_SHINGLE_SIZE),
              help=f"Shingle size (at most {MAX_HISTORICAL_SHINGLE_SIZE}: the plugin's historical analysis fails "
              "above); repeatable.")  # fmt: skip
@click.option("--imputation", "imputations", multiple=True, type=click.Choice(["none", "ZERO", "PREVIOUS"],
              case_sensitive=False), help="Missing-data filling; repeatable.")  # fmt: skip
@click.option("--rule", "rules", multiple=True, metavar="default|RATIO",
              help="Ignore anomalies within RATIO of expected (default: the plugin's 0.2); repeatable.")  # fmt: skip
@click.option("--min-grade", "min_grades", multiple=True, type=click.FloatRange(0, 1, max_open=True),
              help="Trigger: count results with a grade above this; repeatable.")  # fmt: skip
@click.option("--min-confidence", "min_confidences", multiple=True, type=click.FloatRange(0, 1),
              help="Trigger: count results with at least this confidence; repeatable.")  # fmt: skip
@click.option("--grid", "use_grid", is_flag=True, help="Search the default grid of configs.")
@click.option("--tolerance", type=click.IntRange(min=0), default=2, show_default=True,
              help="Intervals before/after an event in which a flag still detects it.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write report.json, pr.png and labels.csv into this directory.")  # fmt: skip
@json_option
@pass_cli
def evaluate(
    cli: CliContext,
    dataset: str,
    hosts: int | None,
    processes: int | None,
    periods: int | None,
    anomalies: int | None,
    seed: int | None,
    engine: str,
    index: str | None,
    keep_index: bool,
    features: tuple[str, ...],
    intervals: tuple[str, ...],
    shingles: tuple[int, ...],
    imputations: tuple[str, ...],
    rules: tuple[str, ...],
    min_grades: tuple[float, ...],
    min_confidences: tuple[float, ...],
    use_grid: bool,
    tolerance: int,
    out: Path | None,
    as_json: bool,
) -> None:
    """Score detector configs against a labelled synthetic fleet.

    Runs every config (the product of the repeatable options, or --grid) with the engine, scores
    event-level precision, recall and F1 per anomaly kind and overall, and prints a table. Backtest
    numbers come from the plugin's model run locally, not from a cluster.

    \b
    Examples:
      hcad eval --dataset blog
      hcad eval --dataset fleet --shingle 4 --shingle 8 --rule default --rule 0.05 --out eval-out
      hcad eval --engine plugin --dataset blog --hosts 3 --periods 600
    """
    from hcad.quality import evaluate as ev

    spec = _spec(dataset, {"hosts": hosts, "processes": processes, "periods": periods, "anomalies": anomalies,
                           "seed": seed})  # fmt: skip
    configs = build_configs(
        spec, features, intervals, shingles, imputations, rules, min_grades, min_confidences, use_grid
    )
    client = None
    exists = True
    if engine == "plugin":
        client = cli.client
        client.require_plugin("opensearch-anomaly-detection")
        index, exists = _resolve_index(client, index, spec)
    # An index this run creates is deleted at the end (unless --keep-index), and always when loading
    # it fails or is interrupted: a half-loaded index must not be reused by the next run.
    to_delete = None
    try:
        if client is not None and index and not exists:
            to_delete = index
            from hcad.quality.loading import load_fleet

            load_fleet(client, index, spec, progress=not as_json)
            if keep_index:
                to_delete = None
        report = ev.evaluate(spec, configs, engine, client=client, index=index, tolerance=tolerance,
                             progress=not as_json)  # fmt: skip
    finally:
        if to_delete is not None and client is not None:
            _delete_index(client, to_delete)
    if all(r.scores is None for r in report.results):
        raise HcadError(f"every config failed; first error: {report.results[0].error}")
    if out is not None:
        _write_outputs(report, out)
    if as_json:
        echo_json(report.to_dict())
        return
    _print(report, out)


def _resolve_index(client: Any, index: str | None, spec: FleetSpec) -> tuple[str, bool]:
    """The index to read (``index`` or a fresh ``hcad-eval-*`` name) and whether it already exists."""
    import uuid

    from hcad.transport import translate_errors

    name = index or f"hcad-eval-{spec.name}-{uuid.uuid4().hex[:8]}"
    with translate_errors(f"checking index {name}"):
        exists = bool(client.indices.exists(index=name))
    return name, exists


def _delete_index(client: Any, index: str) -> None:
    """Delete an index this run created; a failure is reported, not raised over the run's own error."""
    try:
        client.indices.delete(index=index, ignore_unavailable=True)
    except Exception as e:  # the cluster may be why the run failed
        click.echo(f"hcad: warning: could not delete index {index} ({e}); delete it by hand", err=True)


def _write_outputs(report: EvalReport, out: Path) -> None:
    from hcad.quality.synth import write_labels

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot create the directory ({e.strerror})") from e
    report.write_json(out / "report.json")
    report.plot(out / "pr.png")
    write_labels(out / "labels.csv", report.spec)


def _print(report: EvalReport, out: Path | None) -> None:
    from hcad.quality import evaluate as ev

    spec = report.spec
    click.echo(
        f"dataset {spec.name}: {spec.entity_count} entities × {spec.periods} intervals of "
        f"{spec.interval_minutes} min, engine {report.engine}, tolerance ±{report.tolerance} intervals"
    )
    rows: list[list[Any]] = []
    for r in report.results:
        s = r.scores
        if s is None:
            rows.append([r.config.label, None, None, None, None, None, f"error: {r.error}"])
            continue
        rows.append([r.config.label, s.precision, s.recall, s.f1, s.alarm_precision, s.ttd_mean, f"{s.events} events"])
    echo_table(rows, ["config", "precision", "recall", "F1", "alarm prec.", "TTD", "note"])
    best = report.best()
    if best is not None and best.scores is not None:
        click.echo(f"best F1: {best.config.label} ({best.scores.f1:.3f})")
        kinds = ", ".join(f"{k} {v.recall:.2f}" for k, v in best.scores.per_kind.items())
        if kinds:
            click.echo(f"  recall per kind: {kinds}")
        if best.scores.missed_by:
            why = ", ".join(f"{n} {cause}" for cause, n in best.scores.missed_by.items())
            click.echo(f"  missed events: {why}")
    blog = ev.BLOG_REFERENCE
    click.echo(f"seed blog (plugin): precision {blog['precision']}, recall {blog['recall']}; {report.note}")
    if out is not None:
        click.echo(f"wrote {out / 'report.json'}, {out / 'pr.png'}, {out / 'labels.csv'}")
