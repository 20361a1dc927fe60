"""``hcad monitors`` (plan | apply | list | channels | get | delete | run) and ``hcad drift``.

Monitors and their notification channels as code live in ``monitors/*.yaml`` (see
``monitors/README.md``); every file is validated and every detector and channel resolved before
anything is written.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from hcad.cli.common import CliContext, echo_json, echo_table, json_option, pass_cli
from hcad.errors import ConfigError

DEFAULT_PATHS = ("monitors",)


@click.group()
def monitors() -> None:
    """Alerting monitors wired to detectors (monitors as code)."""


def _paths(paths: tuple[str, ...]) -> list[str]:
    return list(paths or DEFAULT_PATHS)


def _print_channels(the_plan: Any) -> None:
    if the_plan.channels:
        rows = [(c.action, c.name, c.type, c.channel_id, ", ".join(c.changes) or "-") for c in the_plan.channels]
        echo_table(rows, ["action", "channel", "type", "id", "changes"])
        click.echo()


def _print_plan(the_plan: Any) -> None:
    _print_channels(the_plan)
    rows = [
        (
            i.action,
            i.name,
            i.detector,
            i.kind,
            "yes" if i.ad_monitor else "no",
            i.channel,
            ", ".join(i.changes) or "-",
        )
        for i in the_plan.items
    ]
    if rows:
        echo_table(rows, ["action", "monitor", "detector", "kind", "ad monitor", "channel", "changes"])
    click.echo(f"{the_plan.changes} change(s)")


@monitors.command("plan")
@click.argument("paths", nargs=-1, type=click.Path())
@json_option
@pass_cli
def plan_cmd(cli: CliContext, paths: tuple[str, ...], as_json: bool) -> None:
    """Show what 'apply' would create or update, channels and monitors (PATHS: files or folders,
    default monitors/)."""
    from hcad.alerting.monitors import load_specs, plan

    specs = load_specs(_paths(paths))
    the_plan = plan(cli.client, specs)
    if as_json:
        echo_json(the_plan.to_dict())
    else:
        _print_plan(the_plan)


@monitors.command("apply")
@click.argument("paths", nargs=-1, type=click.Path())
@json_option
@pass_cli
def apply_cmd(cli: CliContext, paths: tuple[str, ...], as_json: bool) -> None:
    """Create or update channels and monitors from files (PATHS: files or folders, default monitors/);
    nothing is written unless every file is valid."""
    from hcad.alerting.monitors import apply, load_specs, plan

    specs = load_specs(_paths(paths))
    the_plan = plan(cli.client, specs)
    done = apply(cli.client, the_plan)
    if as_json:
        channels = [c.to_dict() for c in the_plan.channels]
        echo_json({"changes": the_plan.changes, "channels": channels, "monitors": done})
    else:
        _print_channels(the_plan)
        if done:
            echo_table([(d["action"], d["name"], d["monitor_id"]) for d in done], ["action", "monitor", "id"])
        click.echo(f"{the_plan.changes} change(s)")


@monitors.command("channels")
@json_option
@pass_cli
def channels_cmd(cli: CliContext, as_json: bool) -> None:
    """List the notification channels on the cluster (a monitor's 'channel' is a name or id of these)."""
    from hcad.alerting.monitors import Notifications

    rows = Notifications(cli.client).channels()
    if as_json:
        echo_json(rows)
        return
    echo_table(
        [(r.get("name"), r.get("config_id"), r.get("config_type"), r.get("is_enabled")) for r in rows],
        ["name", "id", "type", "enabled"],
    )


@monitors.command("list")
@json_option
@pass_cli
def list_cmd(cli: CliContext, as_json: bool) -> None:
    """List monitors (those built by hcad show their detector and kind)."""
    from hcad.alerting.monitors import Alerting, is_ad_monitor

    rows = []
    for hit in Alerting(cli.client).search():
        m = hit["monitor"]
        meta = (m.get("ui_metadata") or {}).get("hcad") or {}
        spec = meta.get("spec") or {}
        rows.append(
            {
                "id": hit["id"],
                "name": m.get("name"),
                "enabled": m.get("enabled"),
                "monitor_type": m.get("monitor_type"),
                "detector": spec.get("detector"),
                "detector_id": meta.get("detector_id"),
                "kind": spec.get("kind"),
                "ad_monitor": is_ad_monitor(m),
            }
        )
    if as_json:
        echo_json(rows)
        return
    echo_table(
        [(r["name"], r["id"], r["enabled"], r["kind"], r["detector"], r["ad_monitor"]) for r in rows],
        ["name", "id", "enabled", "kind", "detector", "ad monitor"],
    )


@monitors.command("get")
@click.argument("name_or_id")
@json_option
@pass_cli
def get_cmd(cli: CliContext, name_or_id: str, as_json: bool) -> None:
    """Show one monitor (by name or id) as stored."""
    from hcad.alerting.monitors import Alerting

    hit = Alerting(cli.client).resolve(name_or_id)
    if as_json:
        echo_json(hit)
        return
    import yaml

    click.echo(f"# id {hit['id']}")
    click.echo(yaml.safe_dump(hit["monitor"], sort_keys=False, allow_unicode=True, width=120).rstrip())


@monitors.command("delete")
@click.argument("name_or_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_cli
def delete_cmd(cli: CliContext, name_or_id: str, yes: bool, as_json: bool) -> None:
    """Delete one monitor (by name or id)."""
    from hcad.alerting.monitors import Alerting

    if not yes and not sys.stdin.isatty():
        raise ConfigError(f"refusing to delete monitor {name_or_id} without confirmation; pass --yes")
    alerting = Alerting(cli.client)
    hit = alerting.resolve(name_or_id)
    name = hit["monitor"].get("name")
    if not yes:
        click.confirm(f"Delete monitor {name!r} ({hit['id']})?", abort=True, err=True)  # stdout stays JSON
    alerting.delete(hit["id"])
    if as_json:
        echo_json({"deleted": hit["id"], "name": name})
    else:
        click.echo(f"deleted monitor {name!r} ({hit['id']})")


@monitors.command("run")
@click.argument("name_or_id")
@click.option("--period-end", metavar="TIME", help="End of the period to evaluate (now-1h, ISO-8601, epoch ms).")
@json_option
@pass_cli
def run_cmd(cli: CliContext, name_or_id: str, period_end: str | None, as_json: bool) -> None:
    """Dry-run a monitor (_execute, nothing is sent) and print what would fire, with its message."""
    from hcad.alerting.monitors import run
    from hcad.times import parse_time

    report = run(cli.client, name_or_id, period_end_ms=parse_time(period_end, "--period-end"))
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(f"monitor {report.monitor}: period {report.period_start} to {report.period_end}")
    if report.error:
        click.echo(f"error: {report.error}")
    for t in report.triggers:
        state = "FIRES" if t.triggered else "quiet"
        click.echo(f"  {state:5}  {t.name} (severity {t.severity})" + (f"  error: {t.error}" if t.error else ""))
        if t.triggered:
            for msg in t.messages:
                click.echo("    " + msg.replace("\n", "\n    "))
    if not report.fired:
        click.echo("nothing would fire")


@click.command()
@click.argument("name", required=False)
@click.option("--detector-id", metavar="ID", help="Read results of this detector id directly (no AD lookup).")
@click.option("--index", metavar="PATTERN", help="Results index to read [default: the detector's result index].")
@click.option("--task-id", metavar="ID", help="Judge one historical analysis run instead of real-time results.")
@click.option("--window", "window_days", type=int, default=14, show_default=True, help="Baseline window (days).")
@click.option("-k", "k", type=float, default=1.5, show_default=True, help="Breach when |mean-baseline| > k*sigma.")
@click.option("--consecutive", type=int, default=3, show_default=True, help="Breaches in a row that mean drift.")
@click.option("--days", type=int, help="Days of results to read [default: window + 14].")
@click.option("--end", metavar="TIME", help="Last day to read (ISO-8601, now-1d, epoch ms) [default: today].")
@click.option("--retrain", is_flag=True, help="If drifted: stop and restart the detector and record the event.")
@json_option
@pass_cli
def drift(
    cli: CliContext,
    name: str | None,
    detector_id: str | None,
    index: str | None,
    task_id: str | None,
    window_days: int,
    k: float,
    consecutive: int,
    days: int | None,
    end: str | None,
    retrain: bool,
    as_json: bool,
) -> None:
    """Watch a detector's daily mean anomaly grade for drift (NAME, or --detector-id with --index)."""
    from hcad.alerting import drift as dr
    from hcad.alerting.monitors import AD_RESULT_INDEX
    from hcad.errors import NotFound
    from hcad.times import parse_time

    if (name is None) == (detector_id is None):
        raise ConfigError("give a detector NAME or --detector-id ID (not both)")
    if retrain and detector_id is not None:
        raise ConfigError("--retrain needs the detector NAME (it stops and starts it through the AD plugin)")
    if retrain and task_id:
        raise ConfigError("--retrain judges real-time results; drop --task-id")
    config = dr.DriftConfig(window_days=window_days, k=k, consecutive=consecutive)
    end_ms = parse_time(end, "--end")
    end_dt = datetime.fromtimestamp(end_ms / 1000, tz=UTC) if end_ms is not None else None
    client = cli.client
    detector_name = name
    if name is not None:
        det = client.ad.resolve(name)
        assert det.id is not None
        detector_id, detector_name = det.id, det.name
        pattern = index or (f"{det.result_index}*" if det.result_index else None)

        def search(body: dict[str, Any]) -> Any:
            try:
                return client.ad.search_results(body, result_index=pattern, only_custom_result_index=bool(pattern))
            except NotFound:
                return {}
    else:
        target = index or AD_RESULT_INDEX

        def search(body: dict[str, Any]) -> Any:
            from hcad.transport import translate_errors

            try:
                with translate_errors(f"searching results in {target}"):
                    return client.search(index=target, body=body)
            except NotFound:
                return {}

    assert detector_id is not None
    series = dr.read_daily_grades(search, detector_id, days=days or window_days + 14, end=end_dt, task_id=task_id)
    after = dr.last_retrain(client, detector_id) if not task_id else None
    report = dr.evaluate(dr.since(series, after), config)
    action = "none"
    if report.drifted and retrain:
        state = client.ad.get_state(detector_id)
        if not state.realtime_running:
            raise ConfigError(f"detector {detector_name!r} is not running real-time detection; nothing to retrain")
        client.ad.stop(detector_id)
        client.ad.start(detector_id)  # the plugin trains new models when a detector starts
        dr.record_event(client, dr.drift_event(detector_id, str(detector_name), report, "retrained"))
        action = "retrained"
    elif report.drifted:
        action = "report-only"
    out = {"detector": detector_name, "detector_id": detector_id, "since_retrain": after, "action": action}
    if as_json:
        echo_json({**out, **report.to_dict()})
        return
    rows = [
        (d.day.isoformat(), d.count, d.mean, d.baseline, d.sigma, d.deviation, "BREACH" if d.breach else "", d.streak)
        for d in report.days
    ]
    echo_table(rows, ["day", "results", "mean grade", "baseline", "sigma", "deviation", "breach", "streak"])
    if report.drifted:
        click.echo(
            f"DRIFTED: {consecutive} consecutive breaches from {report.drift_start} "
            f"(confirmed {report.drift_confirmed}); action: {action}"
        )
        if action == "report-only":
            click.echo("run again with --retrain to stop and restart the detector (new models are trained)")
    else:
        click.echo(f"no drift ({report.evaluated} day(s) judged, current streak {report.current_streak})")
