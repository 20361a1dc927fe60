"""Monitors against a real node.

Runs everywhere: a channel id is refused with one clear error when the notifications plugin is absent
(or the channel does not exist), before anything is created; plan without the alerting plugin exits 1
naming the plugin.

Needs the AD and alerting plugins (skipped with the reason where absent): a detector on a synthetic
fleet with injected anomalies (tests/integration/live_fleet.py), a historical analysis, monitors applied
from YAML; dry runs over the periods of the injected anomalies fire P1 naming the injected entity for
most of them, quiet periods never fire P1 (the plugin's forest is random: see MIN_NAMED_P1), the
Dashboards-style monitor is an AD monitor and runs; a second apply changes nothing. The real-time path
(a 1-minute detector on live data, an ACTIVE alert naming the injected entity, delivered to a webhook)
is tested end to end in test_live_pipeline.py.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from live_fleet import PERIODS, delete_monitors, historical_fleet, ms

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
from hcad.errors import ValidationError


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
                # the window holds the whole historical run (written within seconds), so the message names
                # the run's strongest result: the top one or one tied with it (a false positive can tie)
                tied = ad.search_results(
                    {
                        "size": 100,
                        "query": {
                            "bool": {
                                "filter": [
                                    {"term": {"detector_id": det.id}},
                                    {"term": {"task_id": task_id}},
                                    {"term": {"anomaly_grade": top["anomaly_grade"]}},
                                    {"term": {"confidence": top["confidence"]}},
                                ]
                            }
                        },
                    }
                )["hits"]["hits"]
                strongest = {tuple(e["value"] for e in h["_source"]["entity"]) for h in tied}
                assert m and (m.group(1), m.group(2)) in strongest, (m and m.groups(), strongest)
        finally:
            delete_monitors(alerting_client, monitor_names)
