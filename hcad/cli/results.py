"""``hcad results`` and ``hcad top``: a detector's anomaly results as a table, CSV or plots.

pandas and matplotlib are imported inside the commands, so ``hcad --help`` stays fast.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from hcad.cli.common import CliContext, echo_json, echo_table, json_option, pass_cli
from hcad.errors import ConfigError, HcadError, NotFound
from hcad.times import parse_time

if TYPE_CHECKING:
    import pandas as pd

    from hcad.ad.model import Detector

AD_PLUGIN = "opensearch-anomaly-detection"


def parse_range(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """``--from`` and ``--to`` as epoch ms (:func:`parse_time`, one "now" for both); a range that ends
    before it starts is an error."""
    now = int(time.time() * 1000)
    start_ms, end_ms = parse_time(start, "--from", now_ms=now), parse_time(end, "--to", now_ms=now)
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ConfigError(f"--to {end} is not after --from {start}")
    return start_ms, end_ms


def parse_entity(value: str | None) -> dict[str, str] | None:
    """``host=h1,process=p2`` → ``{"host": "h1", "process": "p2"}``."""
    if not value:
        return None
    out: dict[str, str] = {}
    for part in value.split(","):
        name, sep, val = part.partition("=")
        if not sep or not name.strip() or not val.strip():
            raise ConfigError(f"--entity {value!r}: write it as field=value[,field=value], e.g. host=h1,process=p2")
        out[name.strip()] = val.strip()
    return out


def iso(ms: int | None) -> str:
    """Epoch ms → ``2024-05-01T10:00:00Z``."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entity_label(row: Mapping[str, Any], cats: Sequence[str]) -> str:
    """``host=h1,process=p2`` for a row (``-`` for a single-stream detector)."""
    return ",".join(f"{c}={row.get(c)}" for c in cats) or "-"


def has_plugin(client: Any) -> bool:
    """Whether the anomaly-detection plugin is installed (False when the check itself fails)."""
    try:
        return AD_PLUGIN in client.installed_plugins
    except HcadError:
        return False


def resolve_for_results(cli: CliContext, name: str, result_index: str | None) -> tuple[Detector | None, str]:
    """The detector and its id; with a plain ``result_index``, NAME is taken as the id when there is no
    plugin or no such detector (results stay in a custom result index after the detector is deleted)."""
    client = cli.client
    if result_index and not has_plugin(client):
        return None, name
    try:
        det = client.ad.resolve(name)
    except NotFound:
        if result_index:
            return None, name
        raise
    assert det.id is not None
    return det, det.id


def plain_search(client: Any, index: str) -> Any:
    """A search function over ``index`` with the ordinary ``_search`` API (no plugin involved)."""
    from hcad.transport import translate_errors

    def run(body: dict[str, Any]) -> Mapping[str, Any]:
        with translate_errors(f"searching results in {index}", not_found=f"result index {index!r} does not exist"):
            return dict(client.search(index=index, body=body))

    return run


@click.command("results")
@click.argument("name")
@click.option("--from", "start", default=None, help="Start: now-24h (default), ISO-8601 or epoch ms.")
@click.option("--to", "end", default=None, help="End: now (default), ISO-8601 or epoch ms.")
@click.option("--entity", help="Only this entity: host=h1,process=p2.")
@click.option("--anomalies-only", is_flag=True, help="Only results with anomaly grade > 0.")
@click.option(
    "--historical",
    "historical",
    is_flag=False,
    flag_value="latest",
    default=None,
    metavar="[TASK]",
    help="Results of a historical analysis: the latest run, or the task id given.",
)
@click.option("--realtime-only", is_flag=True, help="Leave out historical-analysis results.")
@click.option(
    "--result-index",
    metavar="INDEX",
    help="Read a custom result index with a plain search (NAME may then be the detector id; no plugin needed).",
)
@click.option("--csv", "as_csv", is_flag=True, help="Print every row as CSV.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write feature values with anomaly grade (PNG).")
@click.option("--heatmap", type=click.Path(dir_okay=False), help="Write an entities x time heatmap of max grade.")
@click.option("--max-entities", default=8, show_default=True, help="Entities in --plot (the most anomalous).")
@click.option("--limit", default=50, show_default=True, help="Rows shown in the table (--csv/--json show all).")
@json_option
@pass_cli
def results(
    cli: CliContext,
    name: str,
    start: str | None,
    end: str | None,
    entity: str | None,
    anomalies_only: bool,
    historical: str | None,
    realtime_only: bool,
    result_index: str | None,
    as_csv: bool,
    plot: str | None,
    heatmap: str | None,
    max_entities: int,
    limit: int,
    as_json: bool,
) -> None:
    """Anomaly results of detector NAME: a table, --csv, --json, --plot and --heatmap PNGs.

    Real-time results default to the last 24 hours; --historical shows a historical analysis
    (the whole run unless --from/--to narrow it).
    """
    from hcad.ad.results import read_results

    ent = parse_entity(entity)
    start_ms, end_ms = parse_range(start if start is not None or historical is not None else "now-24h", end)
    if historical and realtime_only:
        raise ConfigError("--historical and --realtime-only exclude each other; pick one")
    det, det_id = resolve_for_results(cli, name, result_index)
    task_id = None
    if historical:
        task_id = historical if historical != "latest" else _latest_task(cli, det_id)
    cats = det.category_fields if det is not None else None

    if result_index:
        search = plain_search(cli.client, result_index)
        frame = read_results(
            search, det_id, start_ms, end_ms, category_fields=cats, entity=ent, only_anomalies=anomalies_only,
            task_id=task_id, realtime_only=realtime_only,
        )  # fmt: skip
    else:
        assert det is not None
        frame = cli.client.ad.results(
            det, start_ms, end_ms, entity=ent, only_anomalies=anomalies_only, task_id=task_id,
            realtime_only=realtime_only,
        )  # fmt: skip
    cats = list(cats or _category_columns(frame))
    label = det.name if det is not None else det_id
    span = f"{iso(start_ms) if start_ms else 'start'} to {iso(end_ms) if end_ms else 'now'}"
    written = _write_plots(frame, label, cats, plot, heatmap, max_entities)

    if as_csv:
        frame.to_csv(sys.stdout, index=False)
        return
    if as_json:
        echo_json(
            {
                "detector": label,
                "detector_id": det_id,
                "task_id": task_id,
                "from": iso(start_ms) if start_ms else None,
                "to": iso(end_ms) if end_ms else None,
                "rows": len(frame),
                "anomalies": int((frame["anomaly_grade"] > 0).sum()) if len(frame) else 0,
                "files": written,
                "results": _records(frame),
            }
        )
        return
    n_anom = int((frame["anomaly_grade"] > 0).sum()) if len(frame) else 0
    click.echo(
        f"{label}: {len(frame):,} results, {n_anom:,} anomalies, {span}" + (f", task {task_id}" if task_id else "")
    )
    if len(frame):
        feats = _feature_columns(frame, cats)
        shown = frame.sort_values("data_start_time").head(limit) if limit > 0 else frame.iloc[0:0]
        rows = [
            [
                r["data_start_time"].strftime("%Y-%m-%d %H:%M"),
                entity_label({str(k): v for k, v in r.items()}, cats),
                r["anomaly_grade"],
                r["confidence"],
                *[r[f] for f in feats],
            ]
            for _, r in shown.iterrows()
        ]
        echo_table(rows, ["time (UTC)", "entity", "grade", "confidence", *feats])
        if len(frame) > len(shown):
            click.echo(f"(showing {len(shown)} of {len(frame):,} rows; --csv or --json for all, --anomalies-only)")
    for path in written:
        click.echo(f"wrote {path}")


def _latest_task(cli: CliContext, det_id: str) -> str:
    task = cli.client.ad.get_state(det_id).historical_task
    if not task or not task.get("task_id"):
        raise HcadError(f"detector {det_id} has no historical analysis; run 'hcad detectors history NAME' first")
    return str(task["task_id"])


def _category_columns(frame: pd.DataFrame) -> list[str]:
    cols = list(frame.columns)
    if "data_end_time" in cols and "anomaly_grade" in cols:
        return cols[cols.index("data_end_time") + 1 : cols.index("anomaly_grade")]
    return []


def _feature_columns(frame: pd.DataFrame, cats: Sequence[str]) -> list[str]:
    from hcad.ad.plots import feature_columns

    return feature_columns(frame, cats)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for k, v in rec.items():
            if v is None or (isinstance(v, float) and v != v):
                clean[str(k)] = None
            elif hasattr(v, "isoformat"):
                clean[str(k)] = v.isoformat()
            else:
                clean[str(k)] = v
        out.append(clean)
    return out


def _write_plots(
    frame: pd.DataFrame, label: str, cats: list[str], plot: str | None, heatmap: str | None, max_entities: int
) -> list[str]:
    if not plot and not heatmap:
        return []
    if not len(frame):
        raise HcadError(f"{label}: no results in the range, nothing to plot; widen --from/--to or check the detector")
    from hcad.ad.plots import plot_features, plot_heatmap

    written = []
    if plot:
        written.append(str(plot_features(frame, plot, category_fields=cats, max_entities=max_entities, title=label)))
    if heatmap:
        written.append(str(plot_heatmap(frame, heatmap, category_fields=cats, title=label)))
    return written


@click.command("top")
@click.argument("name")
@click.option(
    "--historical",
    "historical",
    is_flag=False,
    flag_value="latest",
    default=None,
    metavar="[TASK]",
    help="Rank a historical analysis: the latest run, or the task id given.",
)
@click.option("--by", "by", multiple=True, metavar="FIELD", help="Group by these category fields (e.g. --by host).")
@click.option("--from", "start", default=None, help="Real-time start: now-24h (default), ISO-8601 or epoch ms.")
@click.option("--to", "end", default=None, help="Real-time end: now (default).")
@click.option("--size", default=10, show_default=True, type=click.IntRange(1, 1000), help="Number of entities.")
@click.option(
    "--order",
    type=click.Choice(["severity", "occurrence"]),
    default="severity",
    show_default=True,
    help="Rank by maximum grade or by number of anomalies.",
)
@json_option
@pass_cli
def top(
    cli: CliContext,
    name: str,
    historical: str | None,
    by: tuple[str, ...],
    start: str | None,
    end: str | None,
    size: int,
    order: str,
    as_json: bool,
) -> None:
    """The most anomalous entities of high-cardinality detector NAME (the plugin's _topAnomalies)."""
    start_ms = parse_time(start, "--from")  # before asking the server anything
    end_ms = parse_time(end, "--to")
    ad = cli.client.ad
    det = ad.resolve(name)
    assert det.id is not None
    if not det.is_hc:
        raise ConfigError(f"{det.name} has no category fields; top entities need a high-cardinality detector")
    unknown = [b for b in by if b not in (det.category_fields or [])]
    if unknown:
        raise ConfigError(
            f"--by {', '.join(unknown)}: not a category field of {det.name} "
            f"(it has {', '.join(det.category_fields or [])})"
        )
    task_id = None
    if historical is None:
        start_ms = start_ms if start_ms is not None else parse_time("now-24h", "--from")
        end_ms = end_ms if end_ms is not None else parse_time("now", "--to")
    elif historical != "latest":
        task_id = historical
    frame = ad.top_anomalies(
        det.id, historical=historical is not None, task_id=task_id, size=size, order=order,
        category_fields=list(by) or None, start=start_ms, end=end_ms,
    )  # fmt: skip
    cats = list(by) or list(det.category_fields or [])
    rows: list[dict[str, Any]] = [
        {"entity": {c: r.get(c) for c in cats if c in frame.columns}, "anomalies": int(r["doc_count"]),
         "max_anomaly_grade": float(r["max_anomaly_grade"])}
        for r in frame.to_dict(orient="records")
    ]  # fmt: skip
    if as_json:
        echo_json({"detector": det.name, "detector_id": det.id, "historical": historical, "order": order, "top": rows})
        return
    what = f"historical analysis {task_id or '(latest)'}" if historical else f"{iso(start_ms)} to {iso(end_ms)}"
    click.echo(f"{det.name}: top {len(rows)} entities by {order}, {what}")
    if not rows:
        click.echo("no anomalies found")
        return
    echo_table(
        [[i + 1, entity_label(r["entity"], cats), r["max_anomaly_grade"], r["anomalies"]] for i, r in enumerate(rows)],
        ["#", "entity", "max grade", "anomalies"],
    )
