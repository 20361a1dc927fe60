"""``hcad detectors``: detectors as code (plan, apply, export, copy) and detector operations.

Nothing heavy is imported at module level: the AD client, YAML and tqdm load inside commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hcad.cli.common import CliContext, echo_json, echo_table, json_option, pass_cli
from hcad.cli.results import entity_label, has_plugin, iso, parse_entity, parse_range
from hcad.errors import ConfigError, HcadError, Issue, NotFound, ValidationError

if TYPE_CHECKING:
    from hcad.ad.client import AnomalyDetection
    from hcad.ad.definitions import Definition
    from hcad.ad.model import Detector

progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: when stderr is a terminal).",
)


@click.group("detectors")
def detectors() -> None:
    """Detectors as code (plan, apply, export, copy) and operations (start, stop, history, ...).

    NAME arguments take a detector's name or its id.
    """


# --------------------------------------------------------------------------- helpers
def _ad(cli: CliContext) -> AnomalyDetection:
    return cli.client.ad


def _warn(issues: list[Issue]) -> None:
    for i in issues:
        click.echo(f"hcad: warning: {i}", err=True)


def _load(paths: tuple[str, ...], cli: CliContext | None, *, offline: bool = False) -> list[Definition]:
    """Load, check client-side, then (unless offline) pre-flight against the live indices."""
    from hcad.ad.definitions import check_definitions, load_definitions, preflight_definitions

    defs = load_definitions(paths)
    check_definitions(defs)
    if cli is None or offline:
        return defs
    client = cli.client
    check_definitions(defs, server_version=client.version)
    issues, warnings = preflight_definitions(client, defs)
    _warn(warnings)
    if issues:
        raise ValidationError(issues)
    return defs


def _bar(enabled: bool | None, desc: str, as_json: bool = False) -> Any:
    from tqdm import tqdm

    show = (sys.stderr.isatty() if enabled is None else enabled) and not as_json
    return tqdm(
        total=100,
        desc=desc,
        unit="%",
        file=sys.stderr,
        disable=not show,
        bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}]",
    )


@contextmanager
def _interrupt(message: Callable[[], str]) -> Iterator[None]:
    """Turn Ctrl-C into one line saying what the server is left doing and how to resume (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        click.echo(f"\nhcad: interrupted; {message()}", err=True)
        raise click.exceptions.Exit(130) from None


# --------------------------------------------------------------------------- detectors as code
@detectors.command("plan", short_help="Show what apply would change (a readable diff).")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--hide-unchanged", is_flag=True, help="List only detectors that would change.")
@json_option
@pass_cli
def plan_cmd(cli: CliContext, paths: tuple[str, ...], hide_unchanged: bool, as_json: bool) -> None:
    """Show what 'apply PATHS' would change: create, update (field by field), unchanged, only on server.

    PATHS are YAML files or folders (searched recursively), one detector per file or a list.
    """
    from hcad.ad.plan import fetch_plan

    defs = _load(paths, cli)
    plan = fetch_plan(_ad(cli), defs)
    if as_json:
        echo_json(plan.to_dict())
        return
    click.echo(plan.render(show_unchanged=not hide_unchanged))


@detectors.command("apply", short_help="Create/update detectors to match YAML files.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--restart", is_flag=True, help="Update running detectors too: stop, update, start.")
@json_option
@pass_cli
def apply_cmd(cli: CliContext, paths: tuple[str, ...], restart: bool, as_json: bool) -> None:
    """Create and update detectors so the server matches PATHS; a second run changes nothing.

    Everything is validated first (YAML, the plugin's rules, indices and fields on the cluster, the
    plugin's own validation); if anything is wrong nothing is changed. Running detectors are only
    updated with --restart. Detectors only on the server are left alone.
    """
    from hcad.ad.plan import ApplyReport, Step, apply_plan, fetch_plan

    defs = _load(paths, cli)
    ad = _ad(cli)
    plan = fetch_plan(ad, defs)
    if not plan.has_changes:
        if as_json:
            echo_json(ApplyReport(plan).to_dict())
        else:
            click.echo(plan.summary())
        return
    report = ApplyReport(plan)

    current: list[Step] = []

    def on_step(s: Step) -> None:
        current[:] = [s]
        if not as_json:
            click.echo(f"{s.action:<7} {s.name}" + (f" ({s.detector_id})" if s.detector_id else "") + " ...")

    def resume() -> str:
        done = ", ".join(str(s) for s in report.steps) or "nothing"
        stopped = (
            f" Stopped for the update and not started again: {', '.join(report.stopped)} ('hcad detectors start NAME')."
            if report.stopped
            else ""
        )
        return f"done so far: {done}.{stopped} Run the same apply again to finish (it is idempotent)."

    try:
        with _interrupt(resume):
            apply_plan(ad, plan, restart=restart, on_step=on_step, report=report)
    except HcadError as e:
        from hcad.errors import HcadConnectionError

        lost = isinstance(e, HcadConnectionError) and current and current[0] not in report.steps
        if lost:
            # The connection broke during a request: the server may or may not have applied it.
            raise HcadConnectionError(f"{e}; whether '{current[0]}' was applied is unknown; {resume()}") from e
        if not report.steps:
            raise
        # Part of the plan was applied: say what, and what is left stopped.
        partial = HcadError(f"{e}; {resume()}")
        partial.exit_code = e.exit_code
        raise partial from e
    if as_json:
        echo_json(report.to_dict())
        return
    c = plan.counts
    click.echo(f"Applied: {c['create']} created, {c['update']} updated, {c['unchanged']} unchanged.")


@detectors.command("export", short_help="Write a server detector as YAML.")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@json_option
@pass_cli
def export_cmd(cli: CliContext, name: str, output: str | None, as_json: bool) -> None:
    """Write the YAML of server detector NAME (apply it again and nothing changes)."""
    det = _ad(cli).resolve(name)
    if as_json:
        text = __import__("json").dumps(det.to_dict(), indent=2) + "\n"
    else:
        header = (
            f"# Exported by hcad from {cli.client.settings.url} (detector id {det.id}).\n"
            f"# Apply with: hcad detectors apply {output or 'THIS_FILE'}\n"
        )
        text = header + det.to_yaml()
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output} ({det.name})", err=True)
    else:
        click.echo(text, nl=False)


@detectors.command("copy", short_help="Clone a detector under a new name, for tuning.")
@click.argument("name")
@click.argument("new_name")
@click.option("--start", "start_it", is_flag=True, help="Start real-time detection on the copy.")
@json_option
@pass_cli
def copy_cmd(cli: CliContext, name: str, new_name: str, start_it: bool, as_json: bool) -> None:
    """Clone detector NAME as NEW_NAME, for tuning; the original is not touched (nor stopped)."""
    ad = _ad(cli)
    src = ad.resolve(name)
    if ad.find(new_name) is not None:
        raise ConfigError(f"a detector named {new_name!r} already exists; pick another NEW_NAME")
    new = ad.create(src.copy(name=new_name))
    assert new.id is not None
    if start_it:
        ad.start(new.id)
    if as_json:
        echo_json({"source": src.name, "source_id": src.id, "name": new.name, "id": new.id, "started": start_it})
        return
    click.echo(f"created {new.name} ({new.id}) from {src.name} ({src.id})" + (", started" if start_it else ""))
    if not start_it:
        click.echo(f"next: edit it ('hcad detectors export {new.name}'), or 'hcad detectors history {new.name}'")


# --------------------------------------------------------------------------- operations
@detectors.command("list", short_help="List detectors with their state.")
@click.option("--state/--no-state", default=True, help="Look up each detector's job state (one request each).")
@json_option
@pass_cli
def list_cmd(cli: CliContext, state: bool, as_json: bool) -> None:
    """Every detector on the cluster, with its state."""
    ad = _ad(cli)
    found = sorted(ad.search(), key=lambda d: d.name)
    rows = []
    for d in found:
        row: dict[str, Any] = {
            "name": d.name,
            "id": d.id,
            "indices": d.indices,
            "category_fields": d.category_fields or [],
            "interval": str(d.interval) if d.interval else None,
            "features": [f.name for f in d.features],
        }
        if state:
            assert d.id is not None
            row["state"] = _state_word(ad, d.id)
        rows.append(row)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no detectors (create some with 'hcad detectors apply detectors/')")
        return
    headers = ["name", "id", *(["state"] if state else []), "interval", "entity", "indices", "features"]
    echo_table(
        [
            [
                r["name"],
                r["id"],
                *([r["state"]] if state else []),
                r["interval"],
                ",".join(r["category_fields"]) or "-",
                ",".join(r["indices"]),
                ",".join(r["features"]),
            ]
            for r in rows
        ],
        headers,
    )


def _state_word(ad: AnomalyDetection, det_id: str) -> str:
    s = ad.get_state(det_id)
    words = ["running" if s.realtime_running else "stopped"]
    if s.historical_running:
        words.append("historical running")
    return ", ".join(words)


@detectors.command("get", short_help="Show a detector, its job and historical run.")
@click.argument("name")
@json_option
@pass_cli
def get_cmd(cli: CliContext, name: str, as_json: bool) -> None:
    """A detector's configuration, real-time job and latest historical analysis."""
    ad = _ad(cli)
    det = ad.resolve(name)
    assert det.id is not None
    st = ad.get_state(det.id)
    if as_json:
        echo_json(
            {
                "id": det.id,
                "anomaly_detector": st.detector.to_api(),
                "anomaly_detector_job": st.job,
                "realtime_task": st.realtime_task,
                "historical_analysis_task": st.historical_task,
            }
        )
        return
    d = st.detector
    click.echo(f"{d.name}  (id {det.id})")
    click.echo(f"  state         {_state_word(ad, det.id)}")
    click.echo(f"  indices       {', '.join(d.indices)}  (time field {d.time_field})")
    click.echo(f"  entity        {', '.join(d.category_fields or []) or '(single stream)'}")
    click.echo(
        f"  interval      {d.interval}, window delay {d.window_delay or '0m'}, shingle {d.effective_shingle_size}"
    )
    for f in d.features:
        simple = f.simple
        how = f"{simple[0]}({simple[1]})" if simple else str(f.aggregation_query)
        click.echo(f"  feature       {f.name} = {how}" + ("" if f.enabled else "  (disabled)"))
    if d.result_index:
        click.echo(f"  result index  {d.result_index}")
    h = st.historical_task
    if h:
        rng = h.get("detection_date_range") or {}
        click.echo(
            f"  historical    {h.get('state')} {float(h.get('task_progress') or 0):.0%} (task {h.get('task_id')}, "
            f"{iso(rng.get('start_time'))} to {iso(rng.get('end_time'))})"
        )


@detectors.command("delete", short_help="Delete a detector.")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--stop", "stop_first", is_flag=True, help="Stop real-time detection and historical analysis first.")
@json_option
@pass_cli
def delete_cmd(cli: CliContext, name: str, yes: bool, stop_first: bool, as_json: bool) -> None:
    """Delete a detector (its results stay in the result index). A running one needs --stop."""
    if not yes and not sys.stdin.isatty():  # before asking the server anything
        raise ConfigError(f"refusing to delete detector {name} without confirmation; pass --yes")
    ad = _ad(cli)
    det = ad.resolve(name)
    assert det.id is not None
    if not yes:
        click.confirm(f"Delete detector {det.name} ({det.id})?", abort=True, err=True)  # stdout stays JSON
    st = ad.get_state(det.id)
    if (st.realtime_running or st.historical_running) and not stop_first:
        what = "real-time detection" if st.realtime_running else "historical analysis"
        from hcad.errors import Conflict

        raise Conflict(f"{det.name} is running ({what}); nothing was deleted. Pass --stop to stop it and delete")
    if stop_first:
        if st.realtime_running:
            ad.stop(det.id)
        if st.historical_running:
            ad.stop(det.id, historical=True)
    ad.delete(det.id)
    if as_json:
        echo_json({"deleted": det.name, "id": det.id})
    else:
        click.echo(f"deleted {det.name} ({det.id})")


@detectors.command("start", short_help="Start real-time detection (--wait for init).")
@click.argument("name")
@click.option("--wait", is_flag=True, help="Wait until the entities' models write graded results, with a progress bar.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait with --wait.")
@click.option(
    "--entities",
    "share",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="With --wait: the share of the plugin's entity count that must have graded results (an entity "
    "without current data never gets one, so a fleet with retired hosts wants less than 1).",
)
@click.option(
    "--min-confidence",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="With --wait: count only results at least this confident (e.g. a monitor's threshold).",
)
@progress_option
@json_option
@pass_cli
def start_cmd(
    cli: CliContext,
    name: str,
    wait: bool,
    timeout: float,
    share: float,
    min_confidence: float,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Start real-time detection; with --wait, until its models really detect (graded results per
    entity, not the RUNNING state the plugin reports at once)."""
    ad = _ad(cli)
    det = ad.resolve(name)
    assert det.id is not None
    ad.start(det.id)
    out: dict[str, Any] = {"name": det.name, "id": det.id, "started": True}
    if not as_json:
        click.echo(f"started {det.name} ({det.id})")
    if wait:
        bar = _bar(progress, f"initializing {det.name}", as_json)

        def on_poll(pct: float, _prof: Any) -> None:
            bar.update(max(0.0, pct - bar.n))

        msg = f"{det.name} keeps initializing on the server; follow it with 'hcad detectors profile {det.name}'"
        try:
            with _interrupt(lambda: msg):
                prof = ad.wait_initialized(
                    det.id, entities=share, min_confidence=min_confidence, timeout=timeout, progress=on_poll
                )
                out["profile"] = prof
        finally:
            bar.close()
        if not as_json:
            click.echo(
                f"{det.name} is detecting: {prof['entities_ready']} of {prof['entities_total']} "
                "entities have graded results"
            )
    if as_json:
        echo_json(out)


@detectors.command("stop", short_help="Stop real-time detection or historical analysis.")
@click.argument("name")
@click.option("--historical", is_flag=True, help="Stop the historical analysis instead of real-time detection.")
@json_option
@pass_cli
def stop_cmd(cli: CliContext, name: str, historical: bool, as_json: bool) -> None:
    """Stop real-time detection (or, with --historical, the historical analysis)."""
    ad = _ad(cli)
    det = ad.resolve(name)
    assert det.id is not None
    ad.stop(det.id, historical=historical)
    what = "historical analysis of " if historical else ""
    if as_json:
        echo_json({"name": det.name, "id": det.id, "stopped": "historical" if historical else "realtime"})
    else:
        click.echo(f"stopped {what}{det.name} ({det.id})")


@detectors.command("profile", short_help="State, entities, model sizes, init progress.")
@click.argument("name")
@click.option("--type", "types", multiple=True, help="Profile types (state, models, init_progress, ...).")
@click.option("--entity", help="Profile one entity: host=h1,process=p2.")
@json_option
@pass_cli
def profile_cmd(cli: CliContext, name: str, types: tuple[str, ...], entity: str | None, as_json: bool) -> None:
    """State, initialization, entities and model memory of a detector (or one entity)."""
    ad = _ad(cli)
    det = ad.resolve(name)
    assert det.id is not None
    ent = parse_entity(entity)
    prof = ad.profile(det.id, list(types) or None, entity=ent, all_=not types and not ent)
    if as_json:
        echo_json(prof)
        return
    click.echo(f"{det.name}  (id {det.id})" + (f"  entity {entity}" if entity else ""))
    if "state" in prof:
        click.echo(f"  state              {prof['state']}")
    if prof.get("error"):
        click.echo(f"  error              {prof['error']}")
    init = prof.get("init_progress") or {}
    if init:
        left = init.get("estimated_minutes_left")
        click.echo(
            f"  initialized        {init.get('percentage', '-')}"
            + (f" (about {left} minutes left, {init.get('needed_shingles')} shingles needed)" if left else "")
        )
    for key, label in (("total_entities", "total entities"), ("active_entities", "active entities")):
        if key in prof:
            click.echo(f"  {label:<18} {int(prof[key]):,}")
    models = prof.get("models") or []
    if models:
        size = sum(int(m.get("model_size_in_bytes") or 0) for m in models)
        click.echo(f"  models             {len(models):,} on this page, {size:,} bytes")
        per = size // len(models) if models else 0
        click.echo(f"  model size         {per:,} bytes per entity (use it with 'hcad size')")
    if "total_size_in_bytes" in prof:
        click.echo(f"  memory             {int(prof['total_size_in_bytes']):,} bytes")
    task = prof.get("ad_task") or {}
    if task:
        click.echo(f"  historical task    {task.get('state')} {task.get('task_progress', '')}")


@detectors.command("validate", short_help="Check definitions without changing anything.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--offline", is_flag=True, help="Check the files only; do not contact the cluster.")
@click.option("--model", "model", is_flag=True, help="Also run the plugin's model validation (data density).")
@json_option
@pass_cli
def validate_cmd(cli: CliContext, paths: tuple[str, ...], offline: bool, model: bool, as_json: bool) -> None:
    """Check definitions without changing anything: YAML and the plugin's rules, then (unless --offline)
    indices and fields on the cluster and the plugin's own validation when it is installed."""
    defs = _load(paths, cli, offline=offline)
    notes: list[str] = []
    issues: list[Issue] = []
    if not offline:
        if has_plugin(cli.client):
            ad = _ad(cli)
            existing = {d.name for d in ad.search()}
            for d in defs:
                det = d.detector.copy()
                if det.name in existing:
                    import uuid

                    # Validation rejects a taken name first; the server copy will be updated, not created.
                    det.name = f"hcad-validate-{uuid.uuid4().hex[:12]}"
                for kind in ("detector", "model") if model else ("detector",):
                    for i in ad.validate(det, kind=kind):
                        issues.append(
                            Issue(f"{d.where}: {d.name}: {i.path}", i.message.replace(det.name, d.name), i.fix)
                        )
        else:
            notes.append("the plugin's own validation was skipped: the anomaly-detection plugin is not installed")
    if as_json:
        echo_json(
            {
                "valid": not issues,
                "detectors": [{"name": d.name, "source": d.where} for d in defs],
                "issues": [str(i) for i in issues],
                "notes": notes,
            }
        )
    else:
        for n in notes:
            click.echo(f"note: {n}", err=True)
    if issues:
        raise ValidationError(issues)
    if not as_json:
        checked = "files only" if offline else "files and cluster"
        for d in defs:
            click.echo(f"ok  {d.name}  ({d.where})")
        click.echo(f"{len(defs)} detector(s) valid ({checked})")


@detectors.command("preview", short_help="Try a detector on past data; nothing is saved.")
@click.argument("target")
@click.option("--from", "start", default="now-7d", show_default=True, help="Start: ISO-8601, epoch ms or now-7d.")
@click.option("--to", "end", default="now", show_default=True, help="End.")
@click.option("--name", "pick", help="With a file holding several detectors: the one to preview.")
@click.option("--limit", default=20, show_default=True, help="Anomalies shown.")
@json_option
@pass_cli
def preview_cmd(
    cli: CliContext, target: str, start: str, end: str, pick: str | None, limit: int, as_json: bool
) -> None:
    """Run a detector (server NAME, or a YAML FILE) over past data without saving anything.

    The plugin previews at most 5 entities and needs 400+ data points.
    """
    from hcad.ad.results import results_frame

    start_ms, end_ms = parse_range(start, end)
    assert start_ms is not None and end_ms is not None
    ad = _ad(cli)
    det: Detector | str
    if Path(target).is_file():
        defs = _load((target,), cli)
        chosen = [d for d in defs if pick in (None, d.name)]
        if len(chosen) != 1:
            names = ", ".join(d.name for d in defs)
            raise ConfigError(f"{target} defines {names}; pick one with --name")
        det = chosen[0].detector
        label = det.name
    else:
        found = ad.resolve(target)
        assert found.id is not None
        det, label = found.id, found.name
    resp = ad.preview(det, start_ms, end_ms)
    frame = results_frame(resp.get("anomaly_result") or [])
    if as_json:
        echo_json(resp)
        return
    anomalies = frame[frame["anomaly_grade"] > 0] if len(frame) else frame
    from hcad.ad.plots import category_columns

    cats = category_columns(frame)
    ents = frame[cats].drop_duplicates().shape[0] if cats and len(frame) else (1 if len(frame) else 0)
    click.echo(f"{label}: preview {iso(start_ms)} to {iso(end_ms)}: {len(frame):,} results, {ents} entities, "
               f"{len(anomalies):,} anomalies")  # fmt: skip
    if len(anomalies):
        top = anomalies.sort_values("anomaly_grade", ascending=False).head(limit)
        echo_table(
            [
                [
                    r["data_start_time"].strftime("%Y-%m-%d %H:%M"),
                    entity_label({c: r[c] for c in cats}, cats),
                    r["anomaly_grade"],
                    r["confidence"],
                ]
                for _, r in top.iterrows()
            ],
            ["time (UTC)", "entity", "grade", "confidence"],
        )


@detectors.command("history", short_help="Run historical analysis with a progress bar.")
@click.argument("name")
@click.option("--from", "start", default="now-30d", show_default=True, help="Start: ISO-8601, epoch ms or now-30d.")
@click.option("--to", "end", default="now", show_default=True, help="End.")
@click.option("--no-wait", is_flag=True, help="Start and return; follow with --attach or 'hcad detectors get'.")
@click.option("--attach", is_flag=True, help="Do not start a run: wait for the latest one to finish.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between progress checks.")
@click.option(
    "--slot-wait",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for a free historical task slot when other analyses hold them all.",
)
@progress_option
@json_option
@pass_cli
def history_cmd(
    cli: CliContext,
    name: str,
    start: str,
    end: str,
    no_wait: bool,
    attach: bool,
    timeout: float,
    poll: float,
    slot_wait: float,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Run historical analysis of NAME over --from..--to and wait for it with a progress bar.

    Ctrl-C stops waiting, not the analysis: it keeps running on the server ('--attach' resumes
    waiting, 'hcad detectors stop NAME --historical' stops it).
    """
    start_ms = end_ms = None
    if not attach:  # the range is checked before the server is asked anything
        start_ms, end_ms = parse_range(start, end)
    ad = _ad(cli)
    det = ad.resolve(name)
    assert det.id is not None
    det_id = det.id
    if attach:
        task = ad.get_state(det_id).historical_task
        if not task or not task.get("task_id"):
            raise NotFound(f"{det.name} has no historical analysis to attach to; start one without --attach")
        task_id = str(task["task_id"])
    else:
        assert start_ms is not None and end_ms is not None
        task_id = ad.start_historical(det_id, start_ms, end_ms, slot_wait=slot_wait, detector=det)
        if not as_json:
            click.echo(f"started historical analysis of {det.name}, {iso(start_ms)} to {iso(end_ms)} (task {task_id})")
    out: dict[str, Any] = {"name": det.name, "id": det_id, "task_id": task_id}
    if no_wait:
        if as_json:
            echo_json(out)
        else:
            click.echo(f"follow it with 'hcad detectors history {det.name} --attach'")
        return
    bar = _bar(progress, f"history {det.name}", as_json)

    def on_poll(pct: float, _task: Any) -> None:
        bar.update(max(0.0, min(100.0, pct) - bar.n))

    def resume() -> str:
        return (
            f"historical analysis {task_id} of {det.name} keeps running on the server. Resume waiting with "
            f"'hcad detectors history {det.name} --attach'; stop it with 'hcad detectors stop {det.name} --historical'"
        )

    try:
        with _interrupt(resume):
            task = ad.wait_historical(det_id, task_id, timeout=timeout, poll=poll, progress=on_poll)
    except HcadError as e:
        from hcad.errors import HcadConnectionError, ServerError

        if not isinstance(e, HcadConnectionError) and not (isinstance(e, ServerError) and (e.status or 0) >= 429):
            raise
        # The cluster went away while waiting; the analysis itself may well still be running there.
        raise type(e)(f"{e}; {resume().replace('keeps running', 'may still be running')}") from e
    finally:
        bar.close()
    out["task"] = task
    if as_json:
        echo_json(out)
        return
    click.echo(f"historical analysis of {det.name} finished (task {task_id})")
    click.echo(f"next: 'hcad top {det.name} --historical', 'hcad results {det.name} --historical --plot out.png'")


# The recommend command lives in its own module (it is long); it is a subcommand of this group.
from hcad.cli.recommend import recommend_cmd  # noqa: E402

detectors.add_command(recommend_cmd)
