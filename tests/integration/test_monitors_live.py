"""Monitors against a real node.

Runs everywhere: a channel id is refused with one clear error when the notifications plugin is absent
(or the channel does not exist), before anything is created; plan without the alerting plugin exits 1
naming the plugin.

Needs the AD and alerting plugins (skipped with the reason where absent): a detector on a synthetic
fleet with injected anomalies (tests/integration/live_fleet.py), a historical analysis, monitors applied
from YAML; dry runs over the periods of the injected anomalies fire P1 naming the injected entity for
most of them, quiet periods never fire P1 (the plugin's forest is random: see MIN_NAMED_P1), the
Dashboards-style monitor is an AD monitor and runs; a second apply changes nothing. A real-time
run (1-minute interval, live data) raises an ACTIVE alert for an injected anomaly within a bound.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from live_fleet import PERIODS, delete_monitors, historical_fleet, ms
from opensearchpy import helpers

from hcad.ad.model import Detector
from hcad.alerting.drift import read_daily_grades
from hcad.alerting.monitors import (
    Alerting,
    MonitorSpec,
    apply,
    is_ad_monitor,
    load_specs,
    plan,
    preview_body,
    run,
)
from hcad.alerting.run import _instant
from hcad.cli.main import main
from hcad.errors import HcadError, ValidationError
from hcad.quality.synth import FleetSpec, create_fleet_index, fleet_frame


def test_channel_is_checked_before_anything(os_client, tmp_path):
    spec = MonitorSpec.from_dict({"name": f"hcad-it-{uuid.uuid4().hex[:6]}", "detector": "any", "channel": "nope"})
    with pytest.raises(ValidationError) as e:
        plan(os_client, [spec])
    msg = str(e.value)
    if "opensearch-notifications" in os_client.installed_plugins:
        assert "notification channel 'nope' does not exist" in msg
    else:
        assert "notifications plugin (opensearch-notifications) is not installed" in msg
    if "opensearch-alerting" in os_client.installed_plugins:
        assert Alerting(os_client).find(spec.name) is None


def test_plan_without_alerting_names_the_plugin(os_client, os_url, tmp_path, capsys):
    if "opensearch-alerting" in os_client.installed_plugins:
        pytest.skip("the alerting plugin is installed here")
    (tmp_path / "m.yaml").write_text("name: m\ndetector: detect_gc_time\n")
    with pytest.raises(SystemExit) as e:
        main(["--url", os_url, "monitors", "plan", str(tmp_path)])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("hcad: error: the opensearch-alerting plugin is not installed") and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------- with plugins
# The plugin's forest is randomised: an injected spike gets a high grade most of the time, not every
# time, and a quiet stretch gets a middling grade now and then. With 12 injected spikes, "at least 9
# paged P1 and named" and "no P1 in any quiet window" hold with a wide margin (see the printed
# summary) while a monitor that named the wrong entities, or paged on noise, still fails.
MIN_NAMED_P1 = 9
QUIET_WINDOWS = 5


@pytest.mark.slow
def test_monitors_name_injected_entities(ad_client, alerting_client, index_name, tmp_path):
    ad = ad_client.ad
    with historical_fleet(ad_client, index_name) as fleet:
        name, det, task_id = fleet.name, fleet.detector, fleet.task_id
        monitor_names = [f"{name}-entities", f"{name}-dashboards"]
        try:
            (tmp_path / "e.yaml").write_text(
                f"name: {monitor_names[0]}\ndetector: {name}\nresults: historical\ninterval: 10m\nenabled: false\n"
                "thresholds: {high: 0.5, low: 0.2, confidence: 0.5}\n"
            )
            (tmp_path / "d.yaml").write_text(f"name: {monitor_names[1]}\ndetector: {name}\nkind: dashboards\n")
            specs = load_specs([tmp_path])
            first = plan(alerting_client, specs)
            assert [i.action for i in first.items] == ["create", "create"]
            assert [i.ad_monitor for i in first.items] == [True, True]
            apply(alerting_client, first)
            assert plan(alerting_client, specs).changes == 0  # idempotent

            outcomes = []
            for lab in fleet.labels.itertuples():  # a window of 10 minutes around each injected spike
                report = run(alerting_client, monitor_names[0], period_end_ms=ms(lab.start + timedelta(minutes=5)))
                assert report.error is None, report.to_dict()
                assert len(report.fired) <= 1, report.to_dict()  # one tier per run, the highest reached
                named = {(e["entity"].get("host"), e["entity"].get("process")) for e in report.entities}
                fired = [t.name for t in report.fired]
                if (lab.host, lab.process) in named:
                    assert fired, report.to_dict()  # an entity is listed only when a tier fires
                    assert f"- host={lab.host} process={lab.process} grade " in report.fired[0].messages[0]
                top = max((e["anomaly_grade"] for e in report.entities), default=0.0)
                outcomes.append((lab.host, lab.process, fired, (lab.host, lab.process) in named, top, lab.start))
            quiet = []
            for end in fleet.quiet_ends(QUIET_WINDOWS):
                report = run(alerting_client, monitor_names[0], period_end_ms=ms(end))
                assert report.error is None, report.to_dict()
                quiet.append((end, [t.name for t in report.fired], report.entities))
            print("\ninjected (host, process, fired, named, top grade, start):")
            for o in outcomes:
                print("  ", o)
            print("quiet windows (end, fired, entities):")
            for q in quiet:
                print("  ", q)
            p1 = f"{monitor_names[0]}-P1"
            named_p1 = [o for o in outcomes if o[2] == [p1] and o[3]]
            assert len(named_p1) >= MIN_NAMED_P1, outcomes
            assert all(p1 not in fired for _, fired, _ in quiet), quiet

            # the server's mustache rendering equals chevron's on the same context
            chevron = pytest.importorskip("chevron")
            stored = Alerting(alerting_client).find(monitor_names[0])["monitor"]
            period_end = named_p1[0][5] + timedelta(minutes=5)
            resp = Alerting(alerting_client).execute(body=preview_body(stored), period_end_ms=ms(period_end))
            [p1_result] = [t for t in resp["trigger_results"].values() if t["triggered"]]
            [server_text] = [a["output"]["message"] for a in p1_result["action_results"].values()]
            ctx = {
                "monitor": {"name": monitor_names[0]},
                "trigger": {"name": p1_result["name"], "severity": "1"},
                "periodStart": _instant(resp["period_start"]),
                "periodEnd": _instant(resp["period_end"]),
                "results": resp["input_results"]["results"],
            }
            assert chevron.render(stored["ui_metadata"]["hcad"]["message"], {"ctx": ctx}) == server_text

            # drift reads the same historical run through the AD results search (real-time: none yet)
            def search(body):
                return ad.search_results(body)

            days = read_daily_grades(search, det.id, days=4, end=fleet.end, task_id=task_id)
            assert sum(d.count for d in days) > 0.9 * PERIODS * fleet.spec.entity_count
            assert all(d.mean is None or 0 <= d.mean <= 1 for d in days)
            assert sum(d.count for d in read_daily_grades(search, det.id, days=4, end=fleet.end)) == 0

            hit = Alerting(alerting_client).find(monitor_names[1])
            assert hit is not None and is_ad_monitor(hit["monitor"])
            # Dashboards' window is execution_end_time over the last 2 intervals (no task_id filter): run it
            # just after the historical run wrote its strongest anomaly
            top = ad.search_results(
                {
                    "size": 1,
                    "query": {"bool": {"filter": [{"term": {"detector_id": det.id}}, {"term": {"task_id": task_id}}]}},
                    "sort": [{"anomaly_grade": "desc"}, {"confidence": "desc"}],
                }
            )["hits"]["hits"][0]["_source"]
            dash = run(alerting_client, monitor_names[1], period_end_ms=int(top["execution_end_time"]) + 1000)
            assert dash.error is None and len(dash.triggers) == 1
            if top["anomaly_grade"] > 0.7 and top["confidence"] > 0.7:
                assert [t.name for t in dash.fired] == [f"{monitor_names[1]}-trigger"], dash.to_dict()
                m = re.search(r"- Entity: host=(\S+) process=(\S+) \n", dash.fired[0].messages[0])
                assert m and (m.group(1), m.group(2)) in fleet.injected
        finally:
            delete_monitors(alerting_client, monitor_names)


RT_HISTORY_DAYS = 2
RT_BOUND_S = 20 * 60  # the whole real-time test: model initialisation + injected anomaly + alert
# A real-time entity model starts with a low confidence (about 0.19 on 2.19.4.0 after initialising from
# history) that grows by about 0.02 per interval; the anomaly is injected once the injected entity's
# results are confident enough for the monitor, else the alert would only measure that warm-up. The
# monitor's threshold sits just above the starting confidence so the warm-up costs two or three
# intervals, not six (what the test measures is the path from anomaly to alert, not the warm-up).
RT_CONFIDENCE = 0.2
RT_ANOMALY_INTERVALS = 5
RT_INJECTED = ("host0", "process0")


def _cpu_docs(index: str, rows) -> list[dict]:
    return [
        {
            "_index": index,
            "_id": f"{r.host}-{r.process}-{r.ts:%Y%m%dT%H%M}",
            "_source": {"@timestamp": f"{r.ts:%Y-%m-%dT%H:%M:%SZ}", "host": r.host, "process": r.process, "cpu": r.cpu},
        }
        for r in rows
    ]


def _latest_confidence(ad, detector_id: str, entity: tuple[str, str]) -> float:
    """Confidence of the entity's latest real-time result (0 when there is none yet)."""
    body = {
        "size": 1,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"detector_id": detector_id}},
                    {"exists": {"field": "anomaly_grade"}},
                    *(
                        {
                            "nested": {
                                "path": "entity",
                                "query": {
                                    "bool": {"filter": [{"term": {"entity.name": k}}, {"term": {"entity.value": v}}]}
                                },
                            }
                        }
                        for k, v in zip(("host", "process"), entity, strict=True)
                    ),
                ],
                "must_not": [{"exists": {"field": "task_id"}}],
            }
        },
        "sort": [{"execution_end_time": "desc"}],
    }
    hits = ad.search_results(body).get("hits", {}).get("hits", [])
    return float(hits[0]["_source"].get("confidence") or 0) if hits else 0.0


@pytest.mark.slow
def test_realtime_alert_for_injected_anomaly(ad_client, alerting_client, index_name):
    """Real-time detector (1-minute interval) on live-written data continuing a synthetic fleet; after
    the models are ready, host0/process0's cpu spikes for a few intervals; the entities monitor
    (1-minute schedule) raises an ACTIVE alert, and a dry run at the alert's time names the entity.
    Prints the timings (seconds): from the start to profile state RUNNING, to the injected entity's first
    graded real-time result and to its results being confident enough; from the first anomalous
    document written to the ACTIVE alert."""
    ad = ad_client.ad
    began = time.monotonic()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(days=RT_HISTORY_DAYS)
    spec = FleetSpec(
        hosts=2,
        processes=2,
        periods=RT_HISTORY_DAYS * 1440 + RT_BOUND_S // 60 + 5,
        interval_minutes=1,
        start=start,
        anomalies=0,
        metrics=("cpu",),
        seed=5,
    )
    frame = fleet_frame(spec).rename(columns={"@timestamp": "ts"})
    sigma = float(frame.groupby(["host", "process"])["cpu"].diff().std())
    create_fleet_index(ad_client, index_name, spec)
    history = frame[frame.ts <= now]
    live = frame[frame.ts > now].sort_values("ts")
    helpers.bulk(ad_client, _cpu_docs(index_name, history.itertuples()), chunk_size=5000)
    ad_client.indices.refresh(index=index_name)
    name = f"hcad-rt-{uuid.uuid4().hex[:8]}"
    det = ad.create(
        Detector.hcad(
            name, index_name, "@timestamp", ["host", "process"], {"cpu": ("avg", "cpu")}, "1m", window_delay="0m"
        )
    )
    mname = f"{name}-entities"
    alerting = Alerting(alerting_client)
    timings: dict[str, float] = {}
    try:
        ad.start(det.id)
        started = time.monotonic()
        spec_m = MonitorSpec.from_dict(
            {
                "name": mname,
                "detector": name,
                "interval": "1m",
                "thresholds": {"high": 0.5, "low": 0.2, "confidence": RT_CONFIDENCE},
            }
        )
        apply(alerting_client, plan(alerting_client, [spec_m]))
        monitor_id = alerting.find(mname)["id"]
        written = 0
        inject_from: datetime | None = None
        injected_at: float | None = None
        alerts: list = []
        while time.monotonic() - began < RT_BOUND_S:
            t = datetime.now(UTC)
            due = live.iloc[written:][live.ts.iloc[written:] <= t]
            if len(due):
                rows = due.copy()
                if inject_from is not None:
                    hit = (
                        (rows.host == RT_INJECTED[0])
                        & (rows.process == RT_INJECTED[1])
                        & (rows.ts >= inject_from)
                        & (rows.ts < inject_from + timedelta(minutes=RT_ANOMALY_INTERVALS))
                    )
                    rows.loc[hit, "cpu"] += 25 * sigma
                    if hit.any() and injected_at is None:
                        injected_at = time.monotonic()
                helpers.bulk(alerting_client, _cpu_docs(index_name, rows.itertuples()), refresh=True)
                written += len(due)
            if "ready" not in timings:
                state = str(ad.profile(det.id, ["state"]).get("state", "")).upper()
                if state == "RUNNING":
                    timings["ready"] = time.monotonic() - started
            elif inject_from is None:
                confidence = _latest_confidence(ad, det.id, RT_INJECTED)
                if confidence > 0 and "first_result" not in timings:
                    timings["first_result"] = time.monotonic() - started
                if confidence >= RT_CONFIDENCE + 0.02:
                    timings["confident"] = time.monotonic() - started
                    inject_from = (t + timedelta(minutes=1)).replace(second=0, microsecond=0)
            if injected_at is not None:
                alerts = [
                    a
                    for a in alerting.alerts(monitor_id, state="ACTIVE")
                    if a.get("state") == "ACTIVE" and a.get("start_time", 0) >= inject_from.timestamp() * 1000
                ]
                if alerts:
                    timings["alert"] = time.monotonic() - injected_at
                    break
            time.sleep(5)
        print(f"\nreal-time timings (s): {timings} (detector started {started - began:.0f}s into the test)")
        assert "ready" in timings, f"detector not RUNNING within {RT_BOUND_S}s"
        assert alerts, f"no ACTIVE alert within {RT_BOUND_S}s (anomaly injected from {inject_from})"
        report = run(alerting_client, mname, period_end_ms=int(alerts[0]["start_time"]))
        named = {(e["entity"].get("host"), e["entity"].get("process")) for e in report.entities}
        assert RT_INJECTED in named, report.to_dict()
    finally:
        found = alerting.find(mname)
        if found:
            alerting.delete(found["id"])
        with contextlib.suppress(HcadError):
            ad.stop(det.id)
        ad.delete(det.id)
