"""``hcad detectors recommend``: interval, shingle size and (``--trial``) the winning config, from an
index's own data. pandas and the backtest load inside the command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from hcad.cli.common import CliContext, echo_json, echo_table, json_option, pass_cli
from hcad.cli.results import has_plugin, iso, parse_range
from hcad.errors import ConfigError, HcadError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hcad.ad.answers import Suggestion
    from hcad.quality.trial import Candidate


# --------------------------------------------------------------------------- recommend
class _InRange:
    """A client whose searches see only documents with ``time_field`` in ``[start_ms, end_ms)``.

    :func:`hcad.quality.recommend.recommend_from_index` takes no time range; every search it sends goes
    through here, so both its entity listing and its document reads are limited to the range.
    """

    def __init__(self, client: Any, time_field: str, start_ms: int | None, end_ms: int | None) -> None:
        self._client = client
        bounds: dict[str, Any] = {"format": "epoch_millis"}
        if start_ms is not None:
            bounds["gte"] = start_ms
        if end_ms is not None:
            bounds["lt"] = end_ms
        self._range = {"range": {time_field: bounds}}

    def search(self, *args: Any, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        body = dict(body or {})
        query = body.get("query")
        body["query"] = {"bool": {"filter": [query, self._range] if query else [self._range]}}
        return self._client.search(*args, body=body, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _period_text(value: Any) -> str:
    """``{"period": {"interval": 10, "unit": "Minutes"}}`` (the plugin's form) as ``10m``; others as they are."""
    if isinstance(value, dict) and isinstance(value.get("period"), dict):
        from hcad.ad.model import Interval

        try:
            return str(Interval.from_api(value))
        except ValidationError:
            pass
    return str(value)


def _history_text(s: Suggestion) -> str:
    if s.history is None or s.interval is None:
        return "-"
    minutes = s.history_minutes or 0
    span = f"{minutes / 1440:.1f} days" if minutes >= 1440 else f"{minutes / 60:.1f} h"
    return f"{s.history} x {s.interval} ({span})"


def _suggest_rows(
    interval_minutes: int, shingle: int, det: Any, plugin_own: Suggestion, for_ours: Suggestion
) -> list[list[str]]:
    """Rows of hcad's proposal beside the plugin's ``_suggest`` (its interval, then at hcad's interval)."""
    ours = f"{interval_minutes}m"
    plugin_history = _history_text(plugin_own)
    if for_ours.history is not None and str(for_ours.interval) != str(plugin_own.interval):
        plugin_history += f"; at {ours}: {_history_text(for_ours)}"
    delay = for_ours.window_delay
    return [
        ["interval", ours, str(plugin_own.interval) if plugin_own.interval else "-"],
        ["shingle size", str(shingle), "- (not suggested)"],
        ["history", "plugin default (shingle + its minimum samples)", plugin_history],
        ["window delay", str(det.window_delay) if det.window_delay else "-", f"{delay} at {ours}" if delay else "-"],
    ]


@click.command("recommend", short_help="Propose interval and shingle size from an index's data.")
@click.argument("index")
@click.option("--field", "-f", "fields", multiple=True, required=True, help="Category field (entity); repeat for two.")
@click.option(
    "--feature",
    "features",
    multiple=True,
    required=True,
    metavar="AGG:FIELD",
    help="A feature, e.g. avg:jvmGcTime; repeat for a detector over several (at most 5). The first "
    "sets the interval and shingle size; --trial tries detectors over all of them.",
)
@click.option("--time-field", default="@timestamp", show_default=True, help="The index's date field.")
@click.option("--from", "start", default=None, help="Only documents from here: ISO-8601, epoch ms or now-7d.")
@click.option("--to", "end", default=None, help="Only documents before here (default: all).")
@click.option("--max-entities", default=50, show_default=True, type=click.IntRange(min=1), help="Entities inspected.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=0), help="Entities listed (sparsest).")
@click.option("--trial", is_flag=True,
              help="Also try detector configs on this data with injected anomalies (the plugin's model run "
              "locally; needs Java) and propose the one that wins.")  # fmt: skip
@click.option("--alone", "alone", multiple=True, metavar="FIELD",
              help="--trial: also try the baseline route with a detector of its own over FIELD (one of several "
              "features' fields) beside it, and inject slow leaks into FIELD: for a metric whose slow changes "
              "matter, such as memory. Repeat for more.")  # fmt: skip
@click.option("--stretch", "stretch", multiple=True, metavar="FIELD",
              help="--trial: also try the baseline against any past day in the level form with FIELD's deviations "
              "stretched past 4.5 spreads (hcad baseline --season anyday --mode level --stretch): for a metric whose "
              "events are only a few spreads beyond its normal tail, such as GC time on a fleet with peak-traffic "
              "days. Repeat for more.")  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=int, help="--trial: where anomalies are injected.")
@json_option
@pass_cli
def recommend_cmd(
    cli: CliContext,
    index: str,
    fields: tuple[str, ...],
    features: tuple[str, ...],
    time_field: str,
    start: str | None,
    end: str | None,
    max_entities: int,
    limit: int,
    trial: bool,
    alone: tuple[str, ...],
    stretch: tuple[str, ...],
    seed: int,
    as_json: bool,
) -> None:
    """Propose a detector interval and shingle size for INDEX from its own data.

    Reads the newest documents of up to --max-entities entities (hcad.quality.recommend.recommend_from_index):
    the spacing of the data, the share of intervals with data, the (first) feature's dominant period. Then
    measures each entity's density at the proposed interval (the pre-flight check: the plugin needs
    data in 25% of the intervals of the model's history), and on OpenSearch 3.3+ asks the plugin's
    own _suggest API as well: its interval with the history counted in it, and history and window delay
    at the proposed interval, printed beside hcad's proposal.

    With --trial it also adds labelled anomalies (spikes, outages, level shifts up and down sized by
    each series' own noise) to the documents it read, runs the plugin's defaults, hcad's defaults and
    variations of shingle size, rule and confidence threshold through the local backtest at the proposed
    interval, and proposes the config with the best F1 within 0.1 false alarms per entity per day
    (hcad.quality.trial). The candidates include the baseline route: the feature as a deviation from
    each entity's own past days (what `hcad baseline` writes) under hcad baseline's detector; when it
    wins, the command to write those fields is printed. With several --feature options every config is a
    detector over all of them (anomalies are injected into each); --alone FIELD also tries each baseline-route
    config with a detector over FIELD alone beside it, and adds slow leaks in FIELD to the injected anomalies
    (held out on business fleets, a second detector over memory found the memory leaks the detector over every
    metric missed: detectors/README.md). Real anomalies already in the data count as
    false alarms for every config alike, so the ranking is fair and the false-alarm rates are upper
    bounds.
    """
    import dataclasses

    from hcad.ad.client import AnomalyDetection
    from hcad.ad.model import FEATURE_AGGS, SINCE, Detector, Interval
    from hcad.ad.preflight import preflight
    from hcad.quality.recommend import read_documents, recommend_from_index

    pairs = _features(features, FEATURE_AGGS)
    agg, fld = pairs[0]
    metrics = list(dict.fromkeys(f for _a, f in pairs))  # each field once, in the order given
    if len(fields) > 2:
        raise ConfigError(f"{len(fields)} --field options given; the plugin allows at most 2 category fields")
    for option, given in (("--alone", alone), ("--stretch", stretch)):
        if given and not trial:
            raise ConfigError(f"{option} is tried by --trial; add --trial")
        stray = [f for f in given if f not in metrics]
        if stray:
            raise ConfigError(f"{option} {stray[0]} is not a --feature field; name one of {', '.join(metrics)}")
    if alone and len(metrics) == 1:
        # The baseline route's configs already read that field alone; the pair would only cost a detector.
        raise ConfigError(f"--alone {alone[0]} is the only --feature field; add the others with --feature")
    start_ms, end_ms = parse_range(start, end)
    client = cli.client
    source: Any = client if start_ms is None and end_ms is None else _InRange(client, time_field, start_ms, end_ms)
    frame = read_documents(source, index, list(fields), metrics, time_field=time_field, max_entities=max_entities)
    rec = recommend_from_index(
        source, index, list(fields), fld, time_field=time_field, max_entities=max_entities, frame=frame
    )

    # The detector these choices give, checked against the data like 'apply' does.
    det = Detector.hcad(
        "hcad-recommend",
        index,
        time_field,
        list(fields),
        {f"{f}_{a}": (a, f) for a, f in pairs},
        f"{rec.interval_minutes}m",
        shingle_size=rec.shingle_size,
    )
    interval = Interval(rec.interval_minutes)
    lookback = None
    if start_ms is not None and end_ms is not None:
        lookback = max(1, -(-(end_ms - start_ms) // (interval.seconds * 1000)))
    check = preflight(client, det, max_entities=max_entities, lookback_intervals=lookback, end=end_ms)
    check.raise_for_issues(f"feature{'s' if len(features) > 1 else ''} {', '.join(features)} on {index}")

    version = client.version
    plugin_own: Suggestion | None = None  # the plugin's own interval, and history in its intervals
    for_ours: Suggestion | None = None  # history and window delay at hcad's interval
    suggest_note = ""
    if version < SINCE["_suggest"]:
        suggest_note = (
            f"not available: the plugin's _suggest API needs OpenSearch {'.'.join(map(str, SINCE['_suggest']))}+, "
            f"the server is {'.'.join(map(str, version))}"
        )
    elif not has_plugin(client):
        suggest_note = "not available: the anomaly-detection plugin is not installed"
    else:
        ad = AnomalyDetection(client, check_plugin=False)
        # Two questions, since the plugin answers history and window delay in the body's interval: its
        # own interval (asked without one) with the history counted in it, then history and window delay
        # at the interval hcad proposes.
        unsized = dataclasses.replace(det, interval=None)
        try:
            plugin_own = ad.suggestion(unsized, ("detection_interval", "history"))
            for_ours = ad.suggestion(det, ("history", "window_delay"))
        except HcadError as e:  # hcad's own proposal stands without it
            suggest_note = f"failed: {e}"

    tried = None
    if trial:
        from hcad.quality.trial import TIGHT_RULE, candidates
        from hcad.quality.trial import trial as run_trial

        # A tight rule only where the data have no daily rhythm (trial.TIGHT_RULE says why).
        tight = rec.dominant_period_minutes is None
        tried = run_trial(
            frame, list(fields), metrics, time_field=time_field, interval_minutes=rec.interval_minutes,
            configs=[_with_features(c, pairs) for c in candidates(metrics, rec.shingle_size, alone=alone, tight=tight,
                                                                   stretch=stretch)],
            seed=seed,
        )  # fmt: skip
        if not tight:
            skipped = (f"rules as tight as {TIGHT_RULE:.0%} were not tried: the data have a daily rhythm "
                       f"({rec.dominant_period_minutes:g} min), where such a rule flags every day busier than "
                       "the ones tried (held out, about 10x the false-alarm budget; detectors/README.md)")  # fmt: skip
            tried = dataclasses.replace(tried, notes=(*tried.notes, skipped))

    if as_json:
        echo_json(
            {
                "index": index,
                "fields": list(fields),
                "feature": {"agg": agg, "field": fld},
                "features": [{"agg": a, "field": f} for a, f in pairs],
                "range": {"from": start_ms, "to": end_ms},
                "recommendation": rec.to_dict(),
                "density_per_entity": check.density,
                "intervals_checked": check.intervals_checked,
                "sparse_entities": check.sparse_entities,
                "warnings": [str(w) for w in check.warnings],
                "suggest": None
                if plugin_own is None or for_ours is None
                else {
                    "plugin_interval": plugin_own.to_dict(),
                    "at_recommended_interval": for_ours.to_dict(),
                    "raw": [plugin_own.raw, for_ours.raw],
                },
                "suggest_note": suggest_note or None,
                "trial": tried.to_dict() if tried is not None else None,
            }
        )
        return
    rng = (
        f", {iso(start_ms) if start_ms else 'start'} to {iso(end_ms) if end_ms else 'end'}"
        if source is not client
        else ""
    )
    named = ", ".join(f"{a}({f})" for a, f in pairs)
    click.echo(f"{index}: {rec.entities} entities ({', '.join(fields)}), feature{'s' if len(pairs) > 1 else ''} "
               f"{named}{rng}")  # fmt: skip
    spacing = f"{rec.data_interval_minutes:g} min" if rec.data_interval_minutes else "unknown"
    click.echo(f"  data spacing       {spacing} per entity")
    period = rec.dominant_period_minutes
    click.echo(f"  dominant period    {f'{period:g} min ({period / 60:.1f} h)' if period else 'none found'}")
    click.echo(
        f"  interval           {rec.interval_minutes}m  (intervals with data: {rec.density:.0%} median entity, "
        f"{rec.density_min:.0%} sparsest)"
    )
    click.echo(f"  shingle size       {rec.shingle_size}")
    click.echo("  why:")
    for r in rec.reasons:
        click.echo(f"    - {r}")
    click.echo(
        f"density per entity at {interval} over the last {check.intervals_checked} intervals "
        f"({len(check.sparse_entities)} of {check.entities_checked} below the plugin's 25%):"
    )
    rows = sorted(check.density.items(), key=lambda kv: (kv[1], kv[0]))[:limit]
    if rows:
        echo_table([[k, f"{v:.0%}"] for k, v in rows], ["entity", "density"])
    if len(check.density) > len(rows):
        click.echo(f"  ... {len(check.density) - len(rows)} more (--limit, --json)")
    for w in check.warnings:
        click.echo(f"hcad: warning: {w}", err=True)
    if plugin_own is not None and for_ours is not None:
        click.echo(f"hcad (from the data) beside the plugin's _suggest (OpenSearch {'.'.join(map(str, version))}):")
        echo_table(_suggest_rows(rec.interval_minutes, rec.shingle_size, det, plugin_own, for_ours),
                   ["", "hcad", "plugin _suggest"])  # fmt: skip
    else:
        click.echo(f"plugin _suggest: {suggest_note}")
    if tried is not None:
        click.echo(f"configs tried on this data at {rec.interval_minutes}m with {tried.events} injected anomalies:")
        table = []
        for res in sorted(tried.results, key=lambda t: (-t.scores.f1, t.scores.false_alarms_per_entity_day)):
            s = res.scores
            mark = "*" if res is tried.winner else ""
            table.append([f"{mark}{res.candidate.name}", f"{s.precision:.2f}", f"{s.recall:.2f}", f"{s.f1:.2f}",
                          f"{s.false_alarms_per_entity_day:.2f}"])  # fmt: skip
        echo_table(table, ["config", "precision", "recall", "F1", "false alarms/entity/day"])
        click.echo(f"proposed: {tried.reason}")
        won = tried.winner.candidate
        if won.baseline is not None:
            command = baseline_command(won, index, fields, metrics, rec.interval_minutes,
                                       _baseline_from(frame, time_field))  # fmt: skip
            which = "the detectors it prints (an alert on any)" if won.alone else "the detector it prints"
            click.echo(f"  to run it: {command}, then apply {which} (run it again with --from now-1h for newer data)")
        for note in tried.notes:
            click.echo(f"  note: {note}")
        for res in tried.results:
            if (res is tried.winner or res.candidate.name == "plugin defaults") and res.scores.missed_by:
                why = ", ".join(f"{n} {cause}" for cause, n in res.scores.missed_by.items())
                click.echo(f"  missed by {res.candidate.name}: {why}")


def baseline_command(
    candidate: Candidate, index: str, fields: Sequence[str], metrics: Sequence[str], interval_minutes: int, start: str
) -> str:
    """The ``hcad baseline`` command that writes the fields a baseline-route ``candidate`` read in the trial."""
    from hcad.quality.baseline import RECOMMENDED_KNEE, RECOMMENDED_SHINGLE

    up, down = candidate.spreads
    b = candidate.baseline
    weekly = b is not None and b.season == "week"
    form = f"--mode {b.mode} " if b is not None and b.mode != "ratio" else ""
    if b is not None and b.stretch:
        form += f"--stretch {b.stretch:g} " + "".join(f"--stretch-metric {m} " for m in b.stretched)
        form += f"--knee {b.knee:g} " if b.knee != RECOMMENDED_KNEE else ""
    season = f"--season {b.season} " if b is not None and b.season != "day" else ""
    season += "--history 21 " if weekly else ""  # three past weeks for the first day written
    tail = "" if candidate.tail == weekly else ("--tail " if candidate.tail else "--no-tail ")  # the season's default
    shingle = f"--shingle {candidate.shingle_size} " if candidate.shingle_size != RECOMMENDED_SHINGLE else ""
    return (
        f"hcad baseline {index} --into {index}-vs-baseline "
        + " ".join(f"-f {f}" for f in fields)
        + "".join(f" -m {m}" for m in metrics)
        + f" --interval {interval_minutes}m --spreads {up:g} --spreads-below {down:g} "
        + season
        + form
        + tail
        + shingle
        + "".join(f"--alone {m} " for m in candidate.alone)
        + f"--from {start} --to now"
    )


def _baseline_from(frame: Any, time_field: str) -> str:
    """Where ``hcad baseline`` could start writing for the documents read: their last 7 days, after the
    first day (which has no past day to compare with)."""
    import pandas as pd

    t = pd.to_datetime(frame[time_field], utc=True)
    start = max(t.min() + pd.Timedelta(days=1), t.max() - pd.Timedelta(days=7)).floor("D")
    return str(start.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _features(given: Sequence[str], aggs: Sequence[str]) -> list[tuple[str, str]]:
    """The --feature options as (agg, field) pairs; a one-line error for a malformed, repeated or sixth one."""
    from hcad.ad.limits import DEFAULT_MAX_FEATURES

    pairs: list[tuple[str, str]] = []
    for feature in given:
        agg, sep, fld = feature.partition(":")
        agg = {"count": "value_count", "average": "avg", "mean": "avg"}.get(agg.lower(), agg.lower())
        if not sep or not fld or agg not in aggs:
            known = ", ".join(aggs)
            raise ConfigError(f"--feature {feature!r} is not AGG:FIELD; write e.g. avg:cpu (AGG one of {known})")
        if (agg, fld) in pairs:
            raise ConfigError(f"--feature {feature!r} is given twice; give each feature once")
        pairs.append((agg, fld))
    if len(pairs) > DEFAULT_MAX_FEATURES:
        raise ConfigError(
            f"{len(pairs)} --feature options given; the plugin allows {DEFAULT_MAX_FEATURES} per detector by default "
            f"(plugins.anomaly_detection.max_anomaly_features): give at most {DEFAULT_MAX_FEATURES}"
        )
    return pairs


def _with_features(candidate: Candidate, pairs: Sequence[tuple[str, str]]) -> Candidate:
    """A raw-metric candidate over the user's features, aggregations included (candidates() averages each
    field once); a baseline-route one as it is (its deviation fields are averaged whatever the feature's
    aggregation)."""
    import dataclasses

    if candidate.baseline is not None:
        return candidate
    return dataclasses.replace(candidate, features=tuple(pairs))
