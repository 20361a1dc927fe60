"""Monitors against a real node.

Runs everywhere: a channel id is refused with one clear error when the notifications plugin is absent
(or the channel does not exist), before anything is created; plan without the alerting plugin exits 1
naming the plugin.

Needs the AD and alerting plugins (skipped with the reason where absent): a detector on a synthetic
fleet with injected anomalies, a historical analysis, monitors applied from YAML, a dry run over a
period with an injected anomaly fires P1 naming the injected entities, a quiet period fires nothing,
the Dashboards-style monitor is an AD monitor and runs; a second apply changes nothing. A real-time
run (1-minute interval, live data) raises an ACTIVE alert for an injected anomaly within a bound.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opensearchpy import helpers

from hcad.cli.main import main
from hcad.detector import Detector
from hcad.errors import HcadError, ValidationError
from hcad.monitors import Alerting, MonitorSpec, apply, is_ad_monitor, load_specs, plan, run
from hcad.synth import FleetSpec, fleet_labels, load_fleet


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
INTERVAL_MIN = 1
PERIODS = 3 * 24 * 60


@pytest.mark.slow
def test_monitors_name_injected_entities(ad_client, alerting_client, index_name, tmp_path):
    ad = ad_client.ad
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=INTERVAL_MIN * PERIODS)
    spec = FleetSpec(
        hosts=4,
        processes=3,
        periods=PERIODS,
        interval_minutes=INTERVAL_MIN,
        start=start,
        anomalies=4,
        kinds=("spike",),
        magnitude_scale=3.0,
        seed=11,
    )
    load_fleet(ad_client, index_name, spec, progress=False)
    labels = fleet_labels(spec)
    name = f"hcad-mon-{uuid.uuid4().hex[:8]}"
    det = ad.create(
        Detector.hcad(
            name, index_name, "@timestamp", ["host", "process"], {"cpu": ("avg", "cpu")}, "1m", window_delay="0m"
        )
    )
    monitor_names = [f"{name}-entities", f"{name}-dashboards"]
    try:
        task_id = ad.start_historical(det.id, start, now)
        ad.wait_historical(det.id, task_id, timeout=1200, poll=5)
        (tmp_path / "e.yaml").write_text(
            f"name: {monitor_names[0]}\ndetector: {name}\nresults: historical\ninterval: 10m\n"
            "thresholds: {high: 0.5, low: 0.2, confidence: 0.5}\n"
        )
        (tmp_path / "d.yaml").write_text(f"name: {monitor_names[1]}\ndetector: {name}\nkind: dashboards\n")
        specs = load_specs([tmp_path])
        first = plan(alerting_client, specs)
        assert [i.action for i in first.items] == ["create", "create"]
        assert [i.ad_monitor for i in first.items] == [True, True]
        apply(alerting_client, first)
        assert plan(alerting_client, specs).changes == 0  # idempotent

        lab = labels.iloc[0]
        period_end = lab.start + timedelta(minutes=5)
        report = run(alerting_client, monitor_names[0], period_end_ms=int(period_end.timestamp() * 1000))
        assert report.error is None
        assert [t.name for t in report.fired] == [f"{monitor_names[0]}-P1"], report.to_dict()
        named = {(e["entity"].get("host"), e["entity"].get("process")) for e in report.entities}
        assert (lab.host, lab.process) in named
        assert f"host={lab.host} process={lab.process}" in report.fired[0].messages[0]

        quiet_end = start + timedelta(hours=30)  # after model warm-up, away from injected anomalies
        if all(abs((lab.start - quiet_end).total_seconds()) > 3600 for lab in labels.itertuples()):
            quiet = run(alerting_client, monitor_names[0], period_end_ms=int(quiet_end.timestamp() * 1000))
            assert quiet.fired == [], quiet.to_dict()

        hit = Alerting(alerting_client).find(monitor_names[1])
        assert hit is not None and is_ad_monitor(hit["monitor"])
        dash = run(alerting_client, monitor_names[1])
        assert dash.error is None and len(dash.triggers) == 1
    finally:
        alerting = Alerting(alerting_client)
        for m in monitor_names:
            found = alerting.find(m)
            if found:
                alerting.delete(found["id"])
        for historical in (False, True):
            with contextlib.suppress(HcadError):
                ad.stop(det.id, historical=historical)
        ad.delete(det.id)


@pytest.mark.slow
def test_realtime_alert_for_injected_anomaly(ad_client, alerting_client, index_name):
    ad = ad_client.ad
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    spec = FleetSpec(
        hosts=2, processes=2, periods=2 * 24 * 60, interval_minutes=1, start=now - timedelta(days=2), anomalies=0
    )
    load_fleet(ad_client, index_name, spec, progress=False)
    name = f"hcad-rt-{uuid.uuid4().hex[:8]}"
    det = ad.create(
        Detector.hcad(
            name, index_name, "@timestamp", ["host", "process"], {"cpu": ("avg", "cpu")}, "1m", window_delay="0m"
        )
    )
    mname = f"{name}-entities"
    alerting = Alerting(alerting_client)
    began = time.monotonic()
    try:
        ad.start(det.id)
        spec_m = MonitorSpec.from_dict(
            {
                "name": mname,
                "detector": name,
                "interval": "1m",
                "thresholds": {"high": 0.5, "low": 0.2, "confidence": 0.3},
            }
        )
        apply(alerting_client, plan(alerting_client, [spec_m]))
        monitor_id = alerting.find(mname)["id"]
        deadline = time.monotonic() + 1800
        alerts: list = []
        while time.monotonic() < deadline:
            t = datetime.now(UTC)
            docs = [
                {
                    "_index": index_name,
                    "_source": {
                        "@timestamp": t.isoformat(),
                        "host": f"host{h}",
                        "process": f"process{p}",
                        # after 10 minutes of normal data, host0/process0 spikes
                        "cpu": 400.0 if (h, p) == (0, 0) and time.monotonic() - began > 600 else 40.0,
                        "memory": 50.0,
                        "jvmGcTime": 10.0,
                    },
                }
                for h in range(spec.hosts)
                for p in range(spec.processes)
            ]
            helpers.bulk(alerting_client, docs, refresh=True)
            alerts = [a for a in alerting.alerts(monitor_id, state="ACTIVE") if a.get("state") == "ACTIVE"]
            if alerts:
                break
            time.sleep(30)
        took = time.monotonic() - began
        print(f"\nreal-time: ACTIVE alert after {took:.0f}s (anomaly injected at 600s)")
        assert alerts, "no ACTIVE alert within 30 minutes"
    finally:
        found = alerting.find(mname)
        if found:
            alerting.delete(found["id"])
        with contextlib.suppress(HcadError):
            ad.stop(det.id)
        ad.delete(det.id)
