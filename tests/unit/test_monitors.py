"""hcad.alerting.monitors: spec validation, the monitors built from a detector, message rendering, plan/apply
request sequences against a recording fake transport, and dry-run reports.

Server responses are the fixtures in tests/data/alerting, captured from a real alerting 2.19.4.0 node
(see its README and capture.py); the message template is rendered locally with chevron (a mustache
implementation) against a ctx laid out as alerting's ``QueryLevelTriggerExecutionContext.asTemplateArg``
and compared with the message the real server rendered for the same results.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fake_transport import recording_client

from hcad.ad.model import Detector
from hcad.alerting.monitors import (
    AD_RESULT_INDEX,
    UI_METADATA_USER_AGENT,
    Alerting,
    MonitorSpec,
    apply,
    build_monitor,
    diff,
    is_ad_monitor,
    load_specs,
    plan,
    preview_body,
    run,
    run_report,
)
from hcad.alerting.run import _instant
from hcad.connection import HcadClient
from hcad.errors import ConfigError, PluginMissing, ValidationError

DATA = Path(__file__).resolve().parent.parent / "data" / "alerting"
ROOT = Path(__file__).resolve().parent.parent.parent
M = "/_plugins/_alerting/monitors"
AD_SEARCH = "/_plugins/_anomaly_detection/detectors/_search"
DET_ID = "fkzfBX0BHok1ZbMqLMdu"
ALL = ("opensearch-anomaly-detection", "opensearch-alerting", "opensearch-notifications")


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def gc_detector(**kw: Any) -> Detector:
    det = Detector.hcad(
        "detect_gc_time",
        "host-cloudwatch",
        "@timestamp",
        ["host", "process"],
        {"jvmGcTime average": ("avg", "jvmGcTime")},
        kw.pop("interval", "10m"),
        **kw,
    )
    det.id = DET_ID
    return det


# The captured monitors (tests/data/alerting) were built with these thresholds, hcad's defaults until the
# tuned ones (low 0.3, confidence 0.9) replaced them.
CAPTURED_THRESHOLDS = {"high": 0.7, "low": 0.35, "confidence": 0.7}


def spec(**kw: Any) -> MonitorSpec:
    return MonitorSpec.from_dict(
        {"name": "gc-time-entities", "detector": "detect_gc_time", "thresholds": CAPTURED_THRESHOLDS, **kw}
    )


# ------------------------------------------------------------------------------------------------ spec
@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"thresholds": {"high": 1.5}}, "thresholds.high", "[0, 1]"),
        ({"thresholds": {"confidence": -0.1}}, "thresholds.confidence", "[0, 1]"),
        ({"thresholds": {"low": 0.7, "high": 0.7}}, "thresholds.low", "below high"),
        ({"thresholds": {"low": 0.9, "high": 0.5}}, "thresholds.low", "below high"),
        ({"top": 0}, "top", "1..100"),
        ({"kind": "bucket"}, "kind", "entities, dashboards"),
        ({"throttle": "10m"}, "throttle", "needs a channel"),
        ({"interval": "ten"}, "interval", "minutes"),
        ({"treshold": 1}, "treshold", "unknown field"),
    ],
)
def test_bad_spec_names_the_field(data, path, words):
    with pytest.raises(ValidationError) as e:
        spec(**data)
    assert [i.path for i in e.value.issues] == [path]
    assert words in str(e.value) and "\n" not in str(e.value)
    assert e.value.exit_code == 2


def test_spec_requires_name_and_detector():
    with pytest.raises(ValidationError) as e:
        MonitorSpec.from_dict({})
    assert {i.path for i in e.value.issues} == {"name", "detector"}


def test_defaults_are_documented_values():
    s = MonitorSpec.from_dict({"name": "gc-time-entities", "detector": "detect_gc_time"})
    assert (s.kind, s.top, s.high, s.low, s.confidence, s.results) == ("entities", 10, 0.7, 0.3, 0.9, "realtime")
    d = MonitorSpec.from_dict({"name": "d", "detector": "x", "kind": "dashboards"})
    assert (d.high, d.confidence) == (0.7, 0.7)  # what Dashboards builds
    given = {"name": "d", "detector": "x", "kind": "dashboards", "thresholds": {"confidence": 0.5}}
    assert MonitorSpec.from_dict(given).confidence == 0.5


def test_load_specs_reports_every_bad_file_and_duplicates(tmp_path):
    (tmp_path / "a.yaml").write_text("name: one\ndetector: d\nthresholds: {high: 2}\n")
    (tmp_path / "b.yaml").write_text("name: two\ndetector: d\nthresholds: {low: 0.8, high: 0.5}\n")
    (tmp_path / "c.yaml").write_text("name: three\ndetector: d\n")
    (tmp_path / "d.yaml").write_text("name: three\ndetector: e\n")
    (tmp_path / "e.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ValidationError) as e:
        load_specs([tmp_path])
    paths = [i.path for i in e.value.issues]
    assert f"{tmp_path / 'a.yaml'}: thresholds.high" in paths
    assert f"{tmp_path / 'b.yaml'}: thresholds.low" in paths
    assert f"{tmp_path / 'd.yaml'}: name" in paths
    assert str(tmp_path / "e.yaml") in paths
    assert len(paths) == 4


def test_shipped_monitor_files_are_valid():
    specs = load_specs([ROOT / "monitors"])
    assert {s.detector for s in specs} == {"detect_gc_time", "fleet-cpu"}
    assert load_specs(str(ROOT / "monitors")) == specs  # one folder as a string, not its characters


# ------------------------------------------------------------------------------------------------ builders
def test_dashboards_monitor_is_the_familiar_one():
    body = build_monitor(gc_detector(), spec(kind="dashboards"))
    assert is_ad_monitor(body)
    assert body["schedule"] == {"period": {"interval": 20, "unit": "MINUTES"}}
    search = body["inputs"][0]["search"]
    assert search["indices"] == [".opendistro-anomaly-results*"]
    q = search["query"]
    assert q["size"] == 1
    assert q["sort"] == [{"anomaly_grade": "desc"}, {"confidence": "desc"}]
    rng = q["query"]["bool"]["filter"][0]["range"]["execution_end_time"]
    assert (rng["from"], rng["to"]) == ("{{period_end}}||-20m", "{{period_end}}")
    assert q["query"]["bool"]["filter"][1] == {"term": {"detector_id": {"value": DET_ID}}}
    assert q["aggregations"] == {"max_anomaly_grade": {"max": {"field": "anomaly_grade"}}}
    [trigger] = body["triggers"]
    script = trigger["query_level_trigger"]["condition"]["script"]
    assert script["lang"] == "painless"
    assert script["source"].endswith(
        "ctx.results[0].aggregations.max_anomaly_grade.value > 0.7"
        " && ctx.results[0].hits.hits[0]._source.confidence > 0.7"
    )
    assert trigger["query_level_trigger"]["actions"] == []  # no channel: a valid monitor without actions


def test_entities_monitor_tiers_and_query():
    body = build_monitor(gc_detector(), spec(thresholds={"high": 0.8, "low": 0.4, "confidence": 0.9}, top=5))
    assert is_ad_monitor(body)
    p1, p2 = (t["query_level_trigger"] for t in body["triggers"])
    assert (p1["name"], p1["severity"], p2["name"], p2["severity"]) == (
        "gc-time-entities-P1",
        "1",
        "gc-time-entities-P2",
        "2",
    )
    assert p1["condition"]["script"]["source"].endswith("max_anomaly_grade.value >= 0.8")
    assert p2["condition"]["script"]["source"].endswith(
        "max_anomaly_grade.value >= 0.4 && ctx.results[0].aggregations.max_anomaly_grade.value < 0.8"
    )
    q = body["inputs"][0]["search"]["query"]
    assert q["size"] == 5
    assert q["collapse"] == {"field": "model_id"}
    assert q["sort"][0] == {"anomaly_grade": {"order": "desc"}}
    filters = q["query"]["bool"]["filter"]
    assert {"term": {"detector_id": DET_ID}} in filters
    assert {"range": {"anomaly_grade": {"gte": 0.4}}} in filters
    assert {"range": {"confidence": {"gte": 0.9}}} in filters
    [window] = [f["range"]["execution_end_time"] for f in filters if "execution_end_time" in f.get("range", {})]
    # the monitor's 20-minute interval, ending a minute before the run (results are indexed after they execute)
    assert (window["from"], window["to"]) == ("{{period_end}}||-21m", "{{period_end}}||-1m")
    assert q["query"]["bool"]["must_not"] == [{"exists": {"field": "task_id"}}]


def test_historical_mode_selects_task_results_by_data_time():
    q = build_monitor(gc_detector(), spec(results="historical"))["inputs"][0]["search"]["query"]
    filters = q["query"]["bool"]["filter"]
    assert {"exists": {"field": "task_id"}} in filters
    assert any(f.get("range", {}).get("data_end_time", {}).get("from") == "{{period_end}}||-20m" for f in filters)
    assert "must_not" not in q["query"]["bool"]


def test_interval_is_twice_the_detector_interval_or_given():
    assert build_monitor(gc_detector(interval="30s"), spec())["schedule"]["period"]["interval"] == 1
    assert build_monitor(gc_detector(interval="1h"), spec())["schedule"]["period"]["interval"] == 120
    assert build_monitor(gc_detector(), spec(interval="1h"))["schedule"]["period"]["interval"] == 60


def test_custom_result_index_is_not_an_ad_monitor():
    det = gc_detector(result_index="opensearch-ad-plugin-result-gc")
    body = build_monitor(det, spec(kind="dashboards"))
    assert body["inputs"][0]["search"]["indices"] == ["opensearch-ad-plugin-result-gc*"]
    assert not is_ad_monitor(body)
    assert not is_ad_monitor({"inputs": [{"search": {"indices": [AD_RESULT_INDEX, "other"]}}]})


def test_channel_adds_one_action_per_trigger_with_throttle():
    body = build_monitor(gc_detector(), spec(channel="chan-1", throttle="30m"))
    for t in body["triggers"]:
        [a] = t["query_level_trigger"]["actions"]
        assert a["destination_id"] == "chan-1"
        assert a["message_template"]["lang"] == "mustache"
        assert a["throttle_enabled"] is True and a["throttle"] == {"value": 30, "unit": "MINUTES"}


def test_detector_without_id_is_refused():
    det = gc_detector()
    det.id = None
    with pytest.raises(ConfigError, match="no id"):
        build_monitor(det, spec())


# ------------------------------------------------------------------------------------------------ message
def test_entities_message_renders_like_the_server():
    chevron = pytest.importorskip("chevron")
    body = build_monitor(gc_detector(), spec())
    template = body["triggers"][0]["query_level_trigger"]
    fired = load("execute_fired.json")
    ctx = {
        "ctx": {
            "monitor": {"name": "gc-time-entities"},
            "trigger": {"name": template["name"], "severity": template["severity"]},
            "periodStart": _instant(fired["period_start"]),
            "periodEnd": _instant(fired["period_end"]),
            "results": fired["input_results"]["results"],
        }
    }
    text = chevron.render(body["ui_metadata"]["hcad"]["message"], ctx)
    [p1] = [t for t in fired["trigger_results"].values() if t["triggered"]]
    [server_text] = [a["output"]["message"] for a in p1["action_results"].values()]
    assert text == server_text  # the server's mustache rendering is the truth
    assert text == (
        "gc-time-entities: gc-time-entities-P1 (severity 1)\n"
        "Detector: detect_gc_time (fkzfBX0BHok1ZbMqLMdu)\n"
        "Period: 2024-12-08T01:01:15.919Z to 2024-12-08T01:21:15.919Z\n"
        "Max anomaly grade: 0.93 over 2 anomalous entities (grade >= 0.35, confidence >= 0.7); "
        "top 10 by grade (host, process):\n"
        "- host=host107 process=process622 grade 0.93 confidence 0.99 data_end_time 1733620200000\n"
        "    jvmGcTime average: 812.5 (expected 95.0)\n"
        "- host=host141 process=process54 grade 0.41 confidence 0.97 data_end_time 1733620200000\n"
        "    jvmGcTime average: 233.0 (expected 120.5)\n"
    )


def test_period_is_rendered_as_java_instant():
    assert _instant(1733619675919) == "2024-12-08T01:01:15.919Z"
    assert _instant(1733619660000) == "2024-12-08T01:01:00Z"


# ------------------------------------------------------------------------------------------------ fake server
class Server:
    """Answers requests from a route table and records them."""

    def __init__(self, plugins: tuple[str, ...] = ALL):
        self.calls: list[tuple[str, str, dict[str, Any], Any]] = []
        self.headers: list[dict[str, str]] = []
        self.routes: list[tuple[str, re.Pattern[str], Any]] = []
        self.route("GET", "/", {"version": {"number": "2.19.4"}})
        self.route("GET", "/_cat/plugins", [{"name": "n1", "component": p, "version": "2.19.4"} for p in plugins])

    def route(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.routes.insert(0, (method, re.compile(path + "$"), (status, body)))

    def handle(self, method: str, url: str, params: dict[str, Any], body: Any) -> tuple[int, Any]:
        self.calls.append((method, url, dict(params or {}), body))
        for m, pat, (status, resp) in self.routes:
            if m == method and pat.match(url):
                return status, resp(url, params, body) if callable(resp) else resp
        return 404, {"error": {"root_cause": [{"type": "x", "reason": f"no route {method} {url}"}]}, "status": 404}

    def plugin_calls(self) -> list[tuple[str, str]]:
        return [(c[0], c[1]) for c in self.calls if c[1].startswith("/_plugins")]

    def writes(self) -> list[tuple[str, str]]:
        return [(m, u) for m, u in self.plugin_calls() if m in ("PUT", "DELETE") or (m == "POST" and _write(u))]


def _write(url: str) -> bool:
    return url == M or url.endswith("/_execute")


def make_client(server: Server) -> HcadClient:
    return recording_client(
        lambda method, url, params, body: server.handle(method, url.split("?")[0], params, body),
        on_headers=server.headers.append,
    )


def detector_hits(*dets: Detector) -> dict[str, Any]:
    return {
        "hits": {
            "total": {"value": len(dets), "relation": "eq"},
            "hits": [
                {"_id": d.id, "_seq_no": 1, "_primary_term": 1, "_version": 1, "_source": d.to_api()} for d in dets
            ],
        }
    }


NO_MONITORS = {"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}
STORED = load("monitor_get_entities.json")
MON_ID = STORED["_id"]
CREATED = {"_id": MON_ID, "_version": 1, "_seq_no": 0, "_primary_term": 1, "monitor": {}}


@pytest.fixture
def server() -> Server:
    s = Server()
    s.route("POST", AD_SEARCH, detector_hits(gc_detector()))
    s.route("POST", f"{M}/_search", NO_MONITORS)
    s.route("POST", M, CREATED, 201)
    s.route("GET", "/_plugins/_notifications/configs", {"config_list": [], "total_hits": 0})
    return s


def test_apply_creates_after_checking_everything(server):
    client = make_client(server)
    the_plan = plan(client, [spec()])
    assert [i.action for i in the_plan.items] == ["create"]
    assert server.writes() == []  # plan writes nothing
    done = apply(client, the_plan)
    assert done == [{"name": "gc-time-entities", "action": "create", "monitor_id": MON_ID}]
    assert server.plugin_calls() == [("POST", AD_SEARCH), ("POST", f"{M}/_search"), ("POST", M)]
    ad_query = server.calls[[c[1] for c in server.calls].index(AD_SEARCH)][3]["query"]
    assert ad_query == {"term": {"name.keyword": "detect_gc_time"}}
    mon_query = server.calls[[c[1] for c in server.calls].index(f"{M}/_search")][3]["query"]
    assert mon_query == {"term": {"monitor.name.keyword": "gc-time-entities"}}
    sent = server.calls[-1][3]
    assert sent["name"] == "gc-time-entities" and sent["inputs"][0]["search"]["indices"] == [AD_RESULT_INDEX]


def test_second_apply_changes_nothing(server):
    server.route("POST", f"{M}/_search", load("monitor_search_entities.json"))
    client = make_client(server)
    the_plan = plan(client, [spec()])
    assert [(i.action, i.changes) for i in the_plan.items] == [("unchanged", [])]
    apply(client, the_plan)
    assert server.writes() == []


def test_changed_threshold_updates_with_seq_no(server):
    server.route("POST", f"{M}/_search", load("monitor_search_entities.json"))
    server.route("PUT", f"{M}/{MON_ID}", CREATED)
    client = make_client(server)
    the_plan = plan(client, [spec(thresholds={"high": 0.9})])
    [item] = the_plan.items
    assert item.action == "update" and "triggers" in item.changes and "query" in item.changes
    apply(client, the_plan)
    method, url, params, body = server.calls[-1]
    assert (method, url) == ("PUT", f"{M}/{MON_ID}")
    assert {k: str(v) for k, v in params.items()} == {"if_seq_no": str(STORED["_seq_no"]), "if_primary_term": "1"}
    assert body["triggers"][0]["query_level_trigger"]["condition"]["script"]["source"].endswith(">= 0.9")


def test_monitors_are_read_with_their_ui_metadata(server):
    """alerting drops ui_metadata from GET and _search unless the User-Agent names OpenSearch-Dashboards."""
    assert "OpenSearch-Dashboards" in UI_METADATA_USER_AGENT
    server.route("POST", f"{M}/_search", load("monitor_search_entities.json"))
    server.route("GET", f"{M}/{MON_ID}", STORED)
    alerting = Alerting(make_client(server))
    assert "hcad" in alerting.find("gc-time-entities")["monitor"]["ui_metadata"]
    assert "hcad" in alerting.get(MON_ID)["monitor"]["ui_metadata"]
    reads = [h for c, h in zip(server.calls, server.headers, strict=True) if c[1].startswith(M)]
    assert [h.get("user-agent") for h in reads] == [UI_METADATA_USER_AGENT] * 2


def test_monitor_without_ui_metadata_is_an_update():
    """What a plain GET returns (no ui_metadata): hcad cannot tell its query, so apply rewrites it."""
    stored = copy.deepcopy(STORED["monitor"])
    del stored["ui_metadata"]
    assert diff(build_monitor(gc_detector(), spec()), stored) == ["query (not built by hcad or edited elsewhere)"]


def test_monitor_edited_elsewhere_is_an_update():
    stored = load("monitor_get_entities.json")["monitor"]
    built = build_monitor(gc_detector(), spec())
    assert diff(built, stored) == []
    edited = copy.deepcopy(stored)
    del edited["ui_metadata"]["hcad"]  # Dashboards rewrites ui_metadata on edit
    assert diff(built, edited) == ["query (not built by hcad or edited elsewhere)"]
    edited = copy.deepcopy(stored)
    edited["enabled"] = False
    assert diff(built, edited) == ["enabled"]


def test_unknown_detector_is_one_error_and_nothing_written(server):
    server.route("POST", AD_SEARCH, detector_hits())
    with pytest.raises(ValidationError) as e:
        plan(make_client(server), [spec(detector="nope")])
    assert len(e.value.issues) == 1 and "no detector is named 'nope'" in str(e.value)
    assert server.writes() == [] and ("POST", f"{M}/_search") not in server.plugin_calls()


def test_channel_needs_the_notifications_plugin(server):
    s = Server(plugins=("opensearch-anomaly-detection", "opensearch-alerting"))
    with pytest.raises(ValidationError) as e:
        plan(make_client(s), [spec(channel="chan-1")])
    assert "notifications plugin" in str(e.value) and "chan-1" in str(e.value)
    assert s.writes() == [] and not any("_notifications" in u for _, u in s.plugin_calls())


def test_channel_error_wins_over_missing_plugins():
    s = Server(plugins=("opensearch-job-scheduler",))
    with pytest.raises(ValidationError, match="notifications plugin"):
        plan(make_client(s), [spec(channel="chan-1")])
    with pytest.raises(PluginMissing, match="opensearch-alerting"):
        plan(make_client(s), [spec()])


def test_nonexistent_channel_is_one_error(server):
    server.route(
        "GET",
        "/_plugins/_notifications/configs/nope",
        {"error": {"root_cause": [{"type": "status_exception", "reason": "Config nope not found"}]}, "status": 404},
        404,
    )
    with pytest.raises(ValidationError) as e:
        plan(make_client(server), [spec(channel="nope")])
    assert [str(i) for i in e.value.issues] == [
        "gc-time-entities: channel: notification channel 'nope' does not exist: no channels file declares it and "
        "no channel on the server has that name or id (declare it under 'channels:' in a channels file, or give "
        "the name or id of an existing channel listed by 'hcad monitors channels')"
    ]
    assert server.writes() == []


def test_existing_channel_passes(server):
    server.route("GET", "/_plugins/_notifications/configs/chan-1", {"config_list": [{"config_id": "chan-1"}]})
    [item] = plan(make_client(server), [spec(channel="chan-1")]).items
    assert item.action == "create"


def test_all_issues_reported_together(server):
    server.route("POST", AD_SEARCH, detector_hits())
    server.route("GET", "/_plugins/_notifications/configs/nope", {"status": 404}, 404)
    specs = [spec(channel="nope"), MonitorSpec.from_dict({"name": "b", "detector": "other"})]
    with pytest.raises(ValidationError) as e:
        plan(make_client(server), specs)
    assert len(e.value.issues) == 3  # a bad channel and two unknown detectors
    assert server.writes() == []


# ------------------------------------------------------------------------------------------------ run
def test_run_report_fired():
    monitor = load("monitor_get_entities.json")["monitor"]
    report = run_report(monitor, load("execute_fired.json"))
    assert [t.name for t in report.fired] == ["gc-time-entities-P1"]
    assert (report.period_start, report.period_end) == ("2024-12-08T01:01:15.919Z", "2024-12-08T01:21:15.919Z")
    assert report.fired[0].severity == "1"
    assert "host=host107 process=process622 grade 0.93" in report.fired[0].messages[0]
    assert report.entities[0] == {
        "entity": {"host": "host107", "process": "process622"},
        "anomaly_grade": 0.93,
        "confidence": 0.99,
        "data_end_time": 1733620200000,
    }


def test_run_report_quiet():
    report = run_report(load("monitor_get_entities.json")["monitor"], load("execute_quiet.json"))
    assert report.fired == [] and report.entities == [] and len(report.triggers) == 2


def test_preview_body_adds_actions_only_where_missing():
    monitor = load("monitor_get_entities.json")["monitor"]
    body = preview_body(monitor)
    for t in body["triggers"]:
        [a] = t["query_level_trigger"]["actions"]
        assert a["destination_id"] == "hcad-dry-run"
        assert a["message_template"]["source"] == monitor["ui_metadata"]["hcad"]["message"]
    assert "last_update_time" not in body and "data_sources" not in body
    assert monitor["triggers"][0]["query_level_trigger"]["actions"] == []  # the stored copy is untouched
    with_channel = build_monitor(gc_detector(), spec(channel="c"))
    assert preview_body(with_channel)["triggers"] == with_channel["triggers"]


def test_run_executes_a_dry_run_with_period_end(server):
    server.route("POST", f"{M}/_search", load("monitor_search_entities.json"))
    server.route("POST", f"{M}/_execute", load("execute_fired.json"))
    report = run(make_client(server), "gc-time-entities", period_end_ms=1733620875919)
    method, url, params, body = server.calls[-1]
    assert (method, url) == ("POST", f"{M}/_execute")
    assert params == {"dryrun": "true", "period_end": "1733620875919ms"}
    assert body["name"] == "gc-time-entities"
    assert [t.name for t in report.fired] == ["gc-time-entities-P1"]


def test_result_lag_in_seconds_shortens_the_realtime_window_shift():
    """``result_lag: 15s``: the window is the monitor interval ending 15 s before the run (upper bound
    exclusive, so consecutive windows tile); without it the window ends a minute before, as before."""
    s = spec(result_lag="15s")
    assert s.result_lag_seconds == 15 and s.to_dict()["result_lag"] == 15
    filters = build_monitor(gc_detector(), s)["inputs"][0]["search"]["query"]["query"]["bool"]["filter"]
    [window] = [f["range"]["execution_end_time"] for f in filters if "execution_end_time" in f.get("range", {})]
    assert (window["from"], window["to"], window["include_upper"]) == (
        "{{period_end}}||-1215s",
        "{{period_end}}||-15s",
        False,
    )
    assert spec(result_lag="2m").result_lag_seconds == 120 and spec(result_lag=0).result_lag_seconds == 0
    assert "result_lag" not in spec().to_dict()
    with pytest.raises(ValidationError, match="result_lag"):
        spec(result_lag="soon")


def test_a_spec_built_in_python_is_checked_too():
    from hcad.alerting.spec import MonitorSpec

    with pytest.raises(ValidationError) as e:
        MonitorSpec(name="m", detector="d", kind="bogus", high=5, low=9, top=-3)
    paths = [i.path for i in e.value.issues]
    assert paths == ["kind", "top", "high", "low"], e.value.issues
    with pytest.raises(ValidationError, match=r"low \(0.8\) must be below high \(0.6\)"):
        MonitorSpec(name="m", detector="d", high=0.6, low=0.8)
    assert MonitorSpec(name="m", detector="d", result_lag_seconds=0).result_lag_seconds == 0
