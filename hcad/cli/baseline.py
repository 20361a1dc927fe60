"""``hcad baseline``: write metrics as deviations from their seasonal baseline, and the detector to read them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hcad.cli.common import echo_json, json_option, pass_cli

if TYPE_CHECKING:
    from hcad.cli.common import CliContext
    from hcad.errors import Issue

MAX_METRICS = 5  # the plugin's feature limit: one feature per metric


@click.command("baseline")
@click.argument("index")
@click.option("--into", "dest", required=True, help="Index to write (created when missing; rows are replaced by id).")
@click.option("--field", "-f", "fields", multiple=True, required=True, help="Category field (repeat for 2).")
@click.option("--metric", "-m", "metrics", multiple=True, required=True, help="Numeric field (repeat, at most 5).")
@click.option("--from", "start", required=True, metavar="TIME",
              help="First interval to write: ISO-8601 (UTC), epoch ms, now-1h.")  # fmt: skip
@click.option("--to", "end", required=True, metavar="TIME", help="End of the range written, exclusive (e.g. now).")
@click.option("--interval", default="10m", show_default=True, help="Detector interval: minutes or 10m, 1h.")
@click.option("--time-field", default="@timestamp", show_default=True, help="Timestamp field.")
@click.option("--history", type=int, default=14, show_default=True, help="Days read before --from for baselines.")
@click.option("--days", type=int, default=7, show_default=True,
              help="Past days of the same kind per baseline (with --season week: past weeks).")  # fmt: skip
@click.option(
    "--season",
    type=click.Choice(["day", "anyday", "week"]),
    default="day",
    show_default=True,
    help="Compare with past days of the same kind (UTC weekday/weekend), with past days of either kind (anyday: "
    "for data whose weekends look like its weekdays) or with the same weekday of past weeks.",
)
@click.option("--mode", type=click.Choice(["ratio", "z", "level"]), default=None,
              help="Deviation form: ratio to the baseline, in the slot's spreads (z), or over the day's mean "
                   "baseline (level: for metrics whose noise does not grow with their level) [default: "
                   "ratio].")  # fmt: skip
@click.option("--no-fleet", is_flag=True, help="Keep what every entity did at once (default: removed).")
@click.option("--fleet-fit", type=int, default=None,
              help="Remove each entity's own share of what every entity did at once, fitted over its last FLEET_FIT "
                   "intervals (0: the same share for all), so an entity a fleet-wide surge lifts more than most "
                   "does not alarm on every surge [default: 1008; 0 with --season week].")  # fmt: skip
@click.option("--local", type=int, default=None,
              help="Intervals of local level removed (0: none) [default: 36; 0 with --season week].")  # fmt: skip
@click.option("--scale", type=int, default=None,
              help="Divide each entity's deviations by their robust spread over its last SCALE intervals (0: "
                   "not), so a margin means as much on a quiet entity as on a noisy one [default: 1008; 0 with "
                   "--season week].")  # fmt: skip
@click.option("--stretch", type=float, default=None,
              help="Count each spread of a deviation beyond --knee spreads 1 + STRETCH times (0: not; needs --scale), "
                   "so an event a few spreads beyond an entity's largest normal intervals is not explained away by "
                   "them (GC time with --mode level: detectors/README.md) [default: 0].")  # fmt: skip
@click.option(
    "--stretch-metric",
    "stretched",
    multiple=True,
    metavar="METRIC",
    help="A --metric whose deviations --stretch stretches (repeat for more) [default: every metric].",
)
@click.option("--knee", type=float, default=None, help="Where --stretch starts, in spreads [default: 4.5].")
@click.option("--spreads", type=float, default=None,
              help="Suggested margin above, in spreads [default: 3; 2 with --season week].")  # fmt: skip
@click.option("--spreads-below", type=float, default=None,
              help="Suggested margin below, in spreads [default: 6; 4 with --season week].")  # fmt: skip
@click.option("--tail/--no-tail", default=None,
              help="Scale each metric's spread by its noise's tail (wider margins for bursty metrics such as GC "
                   "time) [default: with --season week].")  # fmt: skip
@click.option("--alone", "alone", multiple=True, metavar="METRIC",
              help="Also print a detector over this metric's deviation alone (3 spreads both ways), to apply beside "
              "the first: slow changes of one metric, such as a memory leak, that a detector over every metric "
              "dilutes (with --local 0, the default with --season week, it reads METRIC_local_vs_baseline, also "
              "written: the deviation less its level over the last 36 intervals). Repeat for more; each must be a "
              "--metric, and not the only one.")  # fmt: skip
@click.option("--shingle", type=int, default=2, show_default=True, help="Suggested detector's shingle size.")
@click.option("--detector", "detector_name", help="Name of the suggested detector [default: INTO-detector].")
@click.option("--window-delay", default="1m", show_default=True,
              help="Suggested detector's window delay: longer than the period of a scheduled run.")  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write its YAML here.")
@json_option
@pass_cli
def baseline(
    cli: CliContext,
    index: str,
    dest: str,
    fields: tuple[str, ...],
    metrics: tuple[str, ...],
    start: str,
    end: str,
    interval: str,
    time_field: str,
    history: int,
    days: int,
    season: str,
    mode: str,
    no_fleet: bool,
    fleet_fit: int | None,
    local: int | None,
    scale: int | None,
    stretch: float | None,
    stretched: tuple[str, ...],
    knee: float | None,
    spreads: float | None,
    spreads_below: float | None,
    tail: bool | None,
    alone: tuple[str, ...],
    shingle: int,
    detector_name: str | None,
    window_delay: str,
    output: Path | None,
    as_json: bool,
) -> None:
    """Write INDEX's METRICs as deviations from each entity's own recent days into another index.

    Each metric is averaged per entity and interval, as a detector would, and compared with the same entity at
    the same time of day on past days of the same kind (weekday or weekend, UTC); with --season anyday, on past
    days of either kind (for data whose weekends look like its weekdays); with --season week, on the same weekday
    of past weeks (for fleets across time zones, whose local weekends are not the UTC one; needs --history 14 or
    more). What the whole fleet did at that moment (against past days, each entity's own share
    of it: --fleet-fit) and, against past days, a slow local level are removed (hcad.quality.baseline). The raw
    averages are written too. Prints the detector to apply on the
    new index: the deviations averaged, shingle --shingle, anomalies within --spreads robust spreads above the
    expected value and --spreads-below below it ignored; alert on its results at grade > 0.3 and confidence >= 0.9. The
    defaults are what tuning chose on seasonal test fleets with weeks of history; held out, on the real
    plugin, they found as many events as hcad's defaults on the raw metrics or more, at about two thirds of
    the false alarms (detectors/README.md). With --season week the margins are 2 spreads above and 4 below, each
    metric's spread scaled by how heavy its noise's tail is (--tail), which found more spikes and level shifts
    on held-out business fleets at under 0.1 false alarms per entity per day. Run it again for newer data (same
    --into): rows are replaced, not duplicated. To keep a live detector fed, run it every few minutes (e.g.
    from cron with --from now-1h --to now) and give the detector a --window-delay longer than that period;
    apply the detector that a run over days printed (margins and tail factors come from the rows written).
    Each --alone METRIC also prints a detector over that metric's deviation alone, 3 spreads both ways, to
    apply beside the first (an alert on either): held out on business fleets, one over memory found memory
    leaks the detector over every metric missed (detectors/README.md). Where the first has no local level
    (--season week), that detector reads the deviation less its level over the last 36 intervals, written
    as METRIC_local_vs_baseline: a leak's slow climb is then an offset the forest does not forecast away.
    --stretch S (with --stretch-metric M) counts each spread of M's deviation past --knee spreads 1 + S times:
    an event only a few spreads beyond the entity's normal tail (GC storms on fleets with peak-traffic days,
    with --mode level --season anyday) is then not explained away by the normal intervals in the forest's sample
    (detectors/README.md).
    """
    from hcad.cli.results import iso
    from hcad.errors import ConfigError
    from hcad.quality.baseline import (
        MIN_TAIL_CHANGES,
        RECOMMENDED,
        RECOMMENDED_SPREADS,
        RECOMMENDED_SPREADS_BELOW,
        RECOMMENDED_WEEKLY,
        RECOMMENDED_WEEKLY_SPREADS,
        RECOMMENDED_WEEKLY_SPREADS_BELOW,
    )

    recommended = RECOMMENDED_WEEKLY if season == "week" else RECOMMENDED
    local = recommended.local if local is None else local
    scale = recommended.scale if scale is None else scale
    mode = recommended.mode if mode is None else mode
    stretch = recommended.stretch if stretch is None else stretch
    stretched = stretched or recommended.stretched
    knee = recommended.knee if knee is None else knee
    if fleet_fit is None:
        fleet_fit = 0 if no_fleet else recommended.fleet_fit
    if spreads is None:
        spreads = RECOMMENDED_WEEKLY_SPREADS if season == "week" else RECOMMENDED_SPREADS
    if spreads_below is None:
        spreads_below = RECOMMENDED_WEEKLY_SPREADS_BELOW if season == "week" else RECOMMENDED_SPREADS_BELOW
    if tail is None:
        tail = season == "week"
    plan = _checked(cli, index, dest, fields, metrics, start, end, interval, time_field, history, days, season, mode,
                    no_fleet, fleet_fit, local, scale, stretch, stretched, knee, spreads, spreads_below, shingle,
                    detector_name, window_delay, output, alone)  # fmt: skip
    plan["tail"] = tail
    written, data = _write(cli, plan)
    if written == 0:
        raise ConfigError(
            f"no interval between --from and --to has a baseline yet; {index} needs data on at least one "
            f"earlier day (read --history {history} days before --from)"
        )
    det, factors = _detector(plan, data)
    beside = [_alone_detector(plan, data, m) for m in alone]
    changes = len(data) - int(data.groupby(list(fields)).ngroups)
    if factors is not None and changes < MIN_TAIL_CHANGES:
        click.echo(
            f"note: {changes} interval-to-interval changes are too few to see each metric's tail (needs "
            f"{MIN_TAIL_CHANGES}); the margins use plain spreads: apply the detector a run over days printed.",
            err=True,
        )
    report: dict[str, Any] = {
        "index": index,
        "into": dest,
        "rows": written,
        "entities": int(data.groupby(list(fields)).ngroups),
        "season": season,
        "local": local,  # intervals of local level removed (0: none)
        "scale": scale,  # intervals each entity's spread is measured over (0: not scaled)
        "fleet_fit": fleet_fit,  # intervals each entity's share of the fleet's moves is fitted over (0: share 1)
        "mode": mode,
        "stretch": stretch,  # each spread beyond `knee` counts 1 + stretch times (0: not)
        "stretched": plan["spec"].stretched_among(metrics),
        "knee": knee,
        "from": iso(plan["from_s"] * 1000),  # the times read (--from/--to may be relative)
        "to": iso(plan["to_s"] * 1000),
        "margins": {r.conditions[0].feature_name: r.conditions[0].value for r in det.rules or []},
        "margins_below": {r.conditions[1].feature_name: r.conditions[1].value for r in det.rules or []},
        "tail": factors,
        "detector": det.to_dict(),
        "alone": [d.to_dict() for d in beside],
    }
    text = "# Written by hcad baseline: alert on grade > 0.3 and confidence >= 0.9.\n" + det.to_yaml()
    for d in beside:
        text += f"---\n# Beside {det.name}: {d.description}.\n" + d.to_yaml()
    if output is not None:
        output.write_text(text, encoding="utf-8")
    if as_json:
        echo_json(report)
        return
    click.echo(f"wrote {written:,} rows for {report['entities']:,} entities into {dest}", err=True)
    if output is not None:
        names = ", ".join(d.name for d in (det, *beside))
        click.echo(f"wrote {output} ({names}); apply it with: hcad detectors apply {output}", err=True)
    else:
        click.echo(text, nl=False)


def _checked(cli: CliContext, index: str, dest: str, fields: tuple[str, ...], metrics: tuple[str, ...], start: str,
             end: str, interval: str, time_field: str, history: int, days: int, season: str, mode: str,
             no_fleet: bool, fleet_fit: int, local: int, scale: int, stretch: float, stretched: tuple[str, ...],
             knee: float, spreads: float, spreads_below: float, shingle: int, detector_name: str | None,
             window_delay: str, output: Path | None, alone: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    """Every option and the source index checked before anything is written; the run's settings."""
    from hcad.ad.model import Detector, Interval
    from hcad.ad.preflight import preflight
    from hcad.errors import Issue, ValidationError
    from hcad.quality.baseline import BaselineSpec
    from hcad.sizing import parse_interval

    issues: list[Issue] = []
    minutes = parse_interval(interval)
    if minutes.denominator != 1:
        issues.append(Issue("--interval", f"{interval} is not a whole number of minutes", "use e.g. 10m"))
    if not 1 <= len(fields) <= 2:
        issues.append(Issue("--field", f"{len(fields)} given; a detector has 1 or 2 category fields", "give 1 or 2"))
    if len(metrics) > MAX_METRICS:
        issues.append(Issue("--metric", f"{len(metrics)} given; a detector has at most 5 features", "drop some"))
    twice = sorted({m for m in metrics if metrics.count(m) > 1})
    if twice:
        issues.append(Issue("--metric", f"{', '.join(twice)} given more than once", "name each metric once"))
    stray = [m for m in stretched if m not in metrics]
    if stray:
        issues.append(
            Issue("--stretch-metric", f"{', '.join(stray)} is not a --metric", "name metrics given with --metric")
        )
    elif stretched and not stretch:
        issues.append(Issue("--stretch-metric", "nothing is stretched with --stretch 0", "add e.g. --stretch 4"))
    stray = [m for m in alone if m not in metrics]
    if stray:
        issues.append(Issue("--alone", f"{', '.join(stray)} is not a --metric", "name metrics given with --metric"))
    elif len(set(alone)) < len(alone):
        issues.append(Issue("--alone", "a metric is given more than once", "name each metric once"))
    elif alone and len(set(metrics)) == 1:
        # The first detector already reads that metric alone: a second one would only cost a detector.
        issues.append(Issue("--alone", f"{alone[0]} is the only --metric", "add the other metrics with --metric"))
    if dest == index or dest != dest.lower() or dest.startswith(("_", "-", "+")):
        issues.append(Issue("--into", f"{dest!r} is not a new lowercase index name", "e.g. fleet-metrics-baseline"))
    if history < 1:
        issues.append(Issue("--history", "must be at least 1 day", "use e.g. 14"))
    elif season == "week" and history < 14:
        # Two past weeks (the baseline's min_days) before --from, or every day falls back to --season day.
        issues.append(Issue("--history", f"{history} days is less than the two weeks --season week compares with",
                            "use --history 14 or more (21 is better)"))  # fmt: skip
    if no_fleet and fleet_fit:
        issues.append(Issue("--fleet-fit", "fits a share of the fleet's moves, which --no-fleet keeps", "drop one"))
    if not spreads > 0:
        issues.append(Issue("--spreads", "must be above 0 (the plugin refuses a margin of 0)", "use e.g. 3"))
    if not spreads_below > 0:
        issues.append(Issue("--spreads-below", "must be above 0 (the plugin refuses a margin of 0)", "use e.g. 6"))
    now_ms = int(time.time() * 1000)  # one "now" for both ends
    s, e = _seconds(start, "--from", now_ms, issues), _seconds(end, "--to", now_ms, issues)
    if s is not None and e is not None and s >= e:
        issues.append(Issue("--to", "must be after --from", "swap them"))
    delay = None
    try:
        delay = Interval.parse(window_delay, "--window-delay")
    except ValidationError as err:
        issues.extend(err.issues)
    if output is not None and not output.parent.is_dir():
        issues.append(Issue("--output", f"directory {str(output.parent)!r} does not exist", "create it first"))
    spec = None
    try:
        spec = BaselineSpec(interval_minutes=int(minutes), days=days, mode=mode, fleet=not no_fleet, local=local,
                            season=season, scale=scale, fleet_fit=fleet_fit, stretch=stretch, knee=knee,
                            stretched=stretched)  # fmt: skip
    except ValidationError as err:
        # The spec's fields by the options that set them; a bad --interval is already said once above.
        option = {"interval_minutes": "--interval"}
        said = {i.path for i in issues}
        issues.extend(Issue(option.get(i.path, f"--{i.path.replace('_', '-')}"), i.message, i.fix)
                      for i in err.issues if option.get(i.path) not in said)  # fmt: skip
    if spec is not None:
        from hcad.quality.baseline import SUFFIX, alone_metric

        # The field a detector over m alone reads (with a local level) must not be another metric's.
        clash = [(m, f) for m in alone if m in metrics and (f := alone_metric(m, spec)) != m and f in metrics]
        issues += [Issue("--alone", f"{m}'s field {f}{SUFFIX} would be --metric {f}'s too", "rename that metric")
                   for m, f in clash]  # fmt: skip
    if issues:
        raise ValidationError(issues, source="hcad baseline")
    name = detector_name or f"{dest}-detector"
    source = Detector.hcad(name, index, time_field, list(fields), {m: ("avg", m) for m in metrics}, f"{int(minutes)}m",
                           shingle_size=shingle)  # fmt: skip
    for i in source.validate():
        if i.path == "name":
            fix = "pass --detector NAME" if detector_name is None else i.fix
            issues.append(Issue("--detector", f"{name!r}: {i.message}", fix))
        elif i.path == "shingle_size":
            issues.append(Issue("--shingle", i.message, f"{i.fix.split(';')[0]}; the default here is 2"))
    for m in alone:
        other = Detector.hcad(f"{name}-{m}", index, time_field, list(fields), {m: ("avg", m)}, f"{int(minutes)}m")
        issues += [Issue("--alone", f"{other.name!r}: {i.message}", "pass a shorter --detector NAME")
                   for i in other.validate() if i.path == "name"]  # fmt: skip
    if issues:
        raise ValidationError(issues, source="hcad baseline")
    preflight(cli.client, source, max_entities=1).raise_for_issues(f"index {index}")
    return {"source": source, "spec": spec, "dest": dest, "fields": fields, "metrics": metrics, "from_s": s,
            "to_s": e, "history_days": history, "spreads": spreads, "spreads_below": spreads_below, "shingle": shingle,
            "name": name, "window_delay": delay, "alone": alone}  # fmt: skip


def _seconds(value: str, option: str, now_ms: int, issues: list[Issue]) -> int | None:
    """``value`` (ISO-8601, epoch ms, ``now``, ``now-1h``) as epoch seconds; None (and an issue) if not a time."""
    from hcad.errors import ConfigError, Issue
    from hcad.times import parse_time

    try:
        ms = parse_time(value, option, now_ms=now_ms)
    except ConfigError:
        issues.append(Issue(option, f"{value!r} is not a time", "write e.g. now-1h, 2024-05-01 or 2024-05-01T10:00Z"))
        return None
    return None if ms is None else ms // 1000


def _write(cli: CliContext, plan: dict[str, Any]) -> tuple[int, Any]:
    """Read, compute and write (:func:`hcad.quality.loading.write_baseline`); (rows, what was written)."""
    from hcad.quality.loading import write_baseline

    src = plan["source"]
    dev = write_baseline(cli.client, src.indices[0], plan["dest"], fields=plan["fields"], metrics=plan["metrics"],
                         start_s=plan["from_s"], end_s=plan["to_s"], spec=plan["spec"], time_field=src.time_field,
                         history_days=plan["history_days"], alone=plan["alone"])  # fmt: skip
    return len(dev), dev


def _detector(plan: dict[str, Any], data: Any) -> tuple[Any, dict[str, float] | None]:
    """The detector to apply on the written index (see :func:`hcad.quality.baseline.detector_config`) and,
    with --tail, each field's tail factor (:func:`hcad.quality.baseline.tail_factor`)."""
    from hcad.quality import baseline as bl

    factors = None
    if plan["tail"]:
        factors = bl.tail_factor(data, bl.field_names(plan["metrics"]), entity_fields=plan["fields"],
                                 time_field=plan["source"].time_field)  # fmt: skip
        factors = {f: round(v, 3) for f, v in factors.items()}
    cfg = bl.detector_config(data, plan["metrics"], shingle_size=plan["shingle"], spreads=plan["spreads"],
                             spreads_below=plan["spreads_below"], tail=factors)  # fmt: skip
    about = f"deviations of {', '.join(plan['metrics'])} from their seasonal baseline (hcad baseline)"
    return _on_dest(plan, plan["name"], cfg, about), factors


def _alone_detector(plan: dict[str, Any], data: Any, metric: str) -> Any:
    """The detector beside the first over ``metric``'s deviation alone (:func:`hcad.quality.trial.alone_config`,
    as the trial's companions: the same shingle and window delay), named after the first."""
    from hcad.quality.baseline import alone_metric
    from hcad.quality.trial import alone_config

    field = alone_metric(metric, plan["spec"])
    cfg = alone_config(data, field, shingle_size=plan["shingle"])
    level = "" if field == metric else ", its recent level removed"
    about = f"the deviation of {metric} alone from its seasonal baseline{level} (hcad baseline --alone)"
    return _on_dest(plan, f"{plan['name']}-{metric}", cfg, about)


def _on_dest(plan: dict[str, Any], name: str, cfg: Any, description: str) -> Any:
    """The detector ``name`` over the written index with ``cfg``'s features, shingle and margin rules."""
    from hcad.ad.model import Detector

    src = plan["source"]
    feats = {n: (agg, fld) for n, (agg, fld) in zip(cfg.feature_names, cfg.features, strict=True)}
    return Detector.hcad(name, plan["dest"], src.time_field, list(plan["fields"]), feats, src.interval,
                         window_delay=plan["window_delay"], shingle_size=cfg.shingle_size, rules=cfg.rules(),
                         description=description)  # fmt: skip
