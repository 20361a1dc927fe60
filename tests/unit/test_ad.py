"""AnomalyDetection client: request shapes per endpoint, error mapping, version gates, waiting.

A client whose transport records every call (opensearch-py ``connection_class``) stands in for the
server; responses are the server-shaped fixtures in tests/data/ad, constructed from the AD plugin's
2.19.4.0 source (REST handlers and toXContent) and compared with a real 2.19.4.0 plugin's answers
(tests/data/ad/captured, read in test_ad_captured.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_transport import recording_client

from hcad.ad.answers import validation_issues
from hcad.ad.client import AnomalyDetection
from hcad.ad.model import Detector, Imputation
from hcad.connection import HcadClient
from hcad.errors import (
    ConfigError,
    Conflict,
    HcadError,
    NotFound,
    PluginMissing,
    ServerError,
    UnsupportedFeature,
    ValidationError,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "ad"
D = "/_plugins/_anomaly_detection/detectors"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@dataclass
class Reply:
    """What a callable route answers when the status changes from call to call."""

    status: int
    body: Any


class Server:
    """Answers requests from a route table and records them."""

    def __init__(self, version: str = "2.19.4", plugins: tuple[str, ...] = ("opensearch-anomaly-detection",)):
        self.calls: list[tuple[str, str, dict[str, Any], Any]] = []
        self.routes: list[tuple[str, re.Pattern[str], Any]] = []
        self.route("GET", "/", {"version": {"number": version}})
        self.route("GET", "/_cat/plugins", [{"name": "n1", "component": p, "version": version} for p in plugins])

    def route(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.routes.insert(0, (method, re.compile(path + "$"), (status, body)))

    def handle(self, method: str, url: str, params: dict[str, Any], body: Any) -> tuple[int, Any]:
        self.calls.append((method, url, dict(params or {}), body))
        for m, pat, answer in self.routes:
            if m == method and pat.match(url):
                status, resp = answer
                out = resp(url, params, body) if callable(resp) else resp
                return (out.status, out.body) if isinstance(out, Reply) else (status, out)
        return 404, {"error": {"root_cause": [{"type": "x", "reason": f"no route {method} {url}"}]}, "status": 404}

    def ad_calls(self) -> list[tuple[str, str, dict[str, Any], Any]]:
        return [c for c in self.calls if c[1].startswith("/_plugins")]


def make_client(server: Server) -> HcadClient:
    return recording_client(server.handle)


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def ad(server: Server) -> AnomalyDetection:
    return make_client(server).ad


def detector() -> Detector:
    return Detector.hcad(
        "fleet-cpu", "metrics-*", "@timestamp", ["host", "process"], {"cpu_avg": ("avg", "cpu")}, "10m"
    )


def err(status: int, reason: str, etype: str = "status_exception") -> dict[str, Any]:
    return {
        "error": {"root_cause": [{"type": etype, "reason": reason}], "type": etype, "reason": reason},
        "status": status,
    }


def test_plugin_missing_names_plugin_and_cluster():
    client = make_client(Server(plugins=("opensearch-job-scheduler",)))
    with pytest.raises(PluginMissing) as e:
        _ = client.ad
    msg = str(e.value)
    assert "opensearch-anomaly-detection" in msg and "http://fake:9200" in msg and "\n" not in msg


def test_create_sends_detector_and_returns_stored(ad, server):
    server.route("POST", D, load("detector_get_full.json"), 201)
    det = ad.create(detector())
    method, url, params, body = server.ad_calls()[-1]
    assert (method, url, params) == ("POST", D, {})
    assert body == detector().to_request()
    assert det.id == "f1Yx2ZABcD3eF4gH5iJ6" and det.seq_no == 17


def test_invalid_detector_sends_no_request(ad, server):
    bad = detector()
    bad.name = "no spaces allowed"
    bad.shingle_size = 0
    with pytest.raises(ValidationError) as e:
        ad.create(bad)
    assert {i.path for i in e.value.issues} == {"name", "shingle_size"}
    assert server.ad_calls() == []


def test_raw_invalid_detector_maps_server_400_to_validation_error(ad, server):
    server.route(
        "POST", D, err(400, "Valid characters for name are a-z, A-Z, 0-9, -(hyphen), _(underscore) and .(period)"), 400
    )
    bad = detector()
    bad.name = "no spaces allowed"
    with pytest.raises(ValidationError, match="Valid characters for name") as e:
        ad.create(bad, check=False)
    assert e.value.exit_code == 2
    assert server.ad_calls()[-1][3]["name"] == "no spaces allowed"


def test_name_taken_is_conflict(ad, server):
    reason = "Cannot create anomaly detector with name [fleet-cpu] as it's already used by another detector"
    server.route("POST", D, err(409, reason), 409)
    with pytest.raises(Conflict, match=re.escape(reason)):
        ad.create(detector())


def test_unsupported_fields_refused_before_sending():
    server = Server(version="2.16.0")
    ad = make_client(server).ad
    det = detector()
    det.imputation = Imputation("ZERO")
    with pytest.raises(UnsupportedFeature, match=r"imputation: needs OpenSearch 2\.17\.0"):
        ad.create(det)
    assert server.ad_calls() == []


def test_get_and_state(ad, server):
    server.route("GET", f"{D}/f1Yx2ZABcD3eF4gH5iJ6", load("detector_get_full.json"))
    det = ad.get("f1Yx2ZABcD3eF4gH5iJ6")
    assert det.name == "fleet-cpu" and server.ad_calls()[-1][2] == {}
    st = ad.get_state("f1Yx2ZABcD3eF4gH5iJ6")
    assert server.ad_calls()[-1][2] == {"job": "true", "task": "true"}
    assert st.historical_task and st.historical_task["task_id"] == "hT9k2ZABcD3eF4gH5iJ7"
    assert not st.realtime_running and not st.historical_running


def test_get_missing_is_not_found(ad, server):
    server.route("GET", f"{D}/nope", err(404, "Can't find config with id: nope"), 404)
    with pytest.raises(NotFound, match="detector 'nope' does not exist"):
        ad.get("nope")


def test_update_uses_optimistic_concurrency(ad, server):
    resp = load("detector_get_full.json")
    server.route("GET", f"{D}/f1Yx2ZABcD3eF4gH5iJ6", resp)
    server.route("PUT", f"{D}/f1Yx2ZABcD3eF4gH5iJ6", resp)
    det = ad.get("f1Yx2ZABcD3eF4gH5iJ6")
    det.description = "new"
    ad.update(det.id, det)
    method, _url, params, body = server.ad_calls()[-1]
    assert method == "PUT" and params == {"if_seq_no": 17, "if_primary_term": 1}
    assert body["description"] == "new" and "last_update_time" not in body and "user" not in body


def test_update_running_detector_is_conflict_with_stop_hint(ad, server):
    server.route("PUT", f"{D}/abc", err(400, "Job is running: abc"), 400)
    with pytest.raises(Conflict) as e:
        ad.update("abc", detector())
    assert "Job is running" in str(e.value) and "hcad detectors stop abc" in str(e.value)


def test_update_stale_version_is_conflict(ad, server):
    server.route(
        "PUT", f"{D}/abc", err(409, "version conflict, required seqNo [3]", "version_conflict_engine_exception"), 409
    )
    with pytest.raises(Conflict, match="changed on the server"):
        ad.update("abc", detector(), if_seq_no=3, if_primary_term=1)


def test_update_immutable_field_is_validation_error(ad, server):
    server.route("PUT", f"{D}/abc", err(400, "Can't change category field"), 400)
    with pytest.raises(ValidationError, match="create a new detector"):
        ad.update("abc", detector())


def test_delete_search_find(ad, server):
    server.route("DELETE", f"{D}/abc", {"_index": ".opendistro-anomaly-detectors", "_id": "abc", "result": "deleted"})
    assert ad.delete("abc")["result"] == "deleted"
    doc = load("detector_get_full.json")["anomaly_detector"]
    server.route(
        "POST",
        f"{D}/_search",
        {"hits": {"total": {"value": 1}, "hits": [{"_id": "abc", "_seq_no": 4, "_primary_term": 1, "_source": doc}]}},
    )
    found = ad.find("fleet-cpu")
    assert found is not None and found.id == "abc" and found.seq_no == 4
    assert server.ad_calls()[-1][3] == {"query": {"term": {"name.keyword": "fleet-cpu"}}, "size": 2}


def test_validate_paths_and_issues(ad, server):
    server.route("POST", f"{D}/_validate", {})
    assert ad.validate(detector()) == []
    server.route("POST", f"{D}/_validate/model", load("validate_model.json"))
    issues = ad.validate(detector(), "model")
    assert server.ad_calls()[-1][1] == f"{D}/_validate/model"
    assert issues[0].path == "model.detection_interval" and "20" in issues[0].fix
    with pytest.raises(ConfigError):
        ad.validate(detector(), "everything")


def test_validation_issues_sub_issues():
    issues = validation_issues(load("validate_issues.json"))
    assert [i.path for i in issues] == ["detector.feature_attributes.cpu_avg"]


def test_suggest_gated_on_2x(ad, server):
    with pytest.raises(
        UnsupportedFeature, match=r"not supported by this server version \(2\.19\.4\); it needs 3\.3\.0"
    ):
        ad.suggest(detector())
    assert server.ad_calls() == []


def test_suggest_on_3_3():
    server = Server(version="3.3.0")
    server.route(
        "POST", f"{D}/_suggest/detection_interval,history", {"interval": {"period": {"interval": 5, "unit": "Minutes"}}}
    )
    ad = make_client(server).ad
    assert "interval" in ad.suggest(detector(), ["detection_interval", "history"])


def test_preview_body(ad, server):
    server.route("POST", f"{D}/_preview", load("preview.json"))
    out = ad.preview(detector(), "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z")
    body = server.ad_calls()[-1][3]
    assert body["period_start"] == 1714521600000 and body["period_end"] == 1714608000000
    assert body["detector"]["name"] == "fleet-cpu"
    assert out["anomaly_result"][0]["anomaly_grade"] == 0.87
    server.route("POST", f"{D}/abc/_preview", load("preview.json"))
    ad.preview("abc", 0, 1000)
    assert server.ad_calls()[-1][3] == {"period_start": 0, "period_end": 1000, "detector_id": "abc"}


def test_start_stop_historical(ad, server):
    server.route("GET", f"{D}/abc", load("detector_get_full.json"))
    server.route("POST", f"{D}/abc/_start", lambda u, p, b: {"_id": "task1" if b else "abc"})
    server.route("POST", f"{D}/abc/_stop", {"_id": "abc"})
    assert ad.start("abc") == "abc"
    assert server.ad_calls()[-1][3] is None
    assert ad.start_historical("abc", "2024-05-01T00:00:00Z", "2024-05-06T00:00:00Z") == "task1"
    assert server.ad_calls()[-1][3] == {"start_time": 1714521600000, "end_time": 1714953600000}
    ad.stop("abc", historical=True)
    assert server.ad_calls()[-1][2] == {"historical": "true"}
    with pytest.raises(ConfigError, match="end must be after start"):
        ad.start_historical("abc", 10, 5)


def test_profile_types_and_entity(ad, server):
    server.route("GET", f"{D}/abc/_profile.*", load("profile.json"))
    server.route("POST", f"{D}/abc/_profile.*", {"init_progress": {"percentage": "40%"}})
    prof = ad.profile("abc", all_=True)
    assert prof["models"][0]["model_size_in_bytes"] == 724806
    assert server.ad_calls()[-1][1:3] == (f"{D}/abc/_profile", {"_all": "true"})
    ad.profile("abc", ["models", "init_progress"])
    assert server.ad_calls()[-1][1] == f"{D}/abc/_profile/models,init_progress"
    ad.profile("abc", ["init_progress"], entity={"host": "h1", "process": "java"})
    assert server.ad_calls()[-1][3] == {
        "entity": [{"name": "host", "value": "h1"}, {"name": "process", "value": "java"}]
    }
    with pytest.raises(ConfigError, match="not one of"):
        ad.profile("abc", ["bogus"])


def test_stats_paths(ad, server):
    server.route("GET", "/_plugins/_anomaly_detection/.*stats.*", load("stats.json"))
    assert ad.stats()["hc_detector_count"] == 1
    ad.stats("model_count", node_id="node-1")
    assert server.ad_calls()[-1][1] == "/_plugins/_anomaly_detection/node-1/stats/model_count"
    ad.stats("model_count,hc_detector_count")
    assert server.ad_calls()[-1][1] == "/_plugins/_anomaly_detection/stats/model_count,hc_detector_count"
    calls = len(server.ad_calls())
    for kwargs, what in (({"node_id": 5}, "node_id is int 5"), ({"node_id": ""}, "node_id is empty"),
                         ({"stat": ["model_count"]}, "stat is list"), ({"stat": ""}, "stat is empty")):  # fmt: skip
        with pytest.raises(ConfigError, match=what):
            ad.stats(**kwargs)
    assert len(server.ad_calls()) == calls  # refused before any request


def test_results_use_custom_result_index(ad, server):
    full = load("detector_get_full.json")
    docs = load("result_docs.json")
    server.route("GET", f"{D}/f1Yx2ZABcD3eF4gH5iJ6", full)
    server.route(
        "POST",
        f"{D}/results/_search.*",
        lambda u, p, b: {
            "hits": {
                "total": {"value": 2},
                "hits": [{"_id": str(i), "_source": d, "sort": [d["data_start_time"]]} for i, d in enumerate(docs)],
            }
        },
    )
    df = ad.results("f1Yx2ZABcD3eF4gH5iJ6", "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z", only_anomalies=True)
    _method, url, params, body = server.ad_calls()[-1]
    assert url == f"{D}/results/_search/opensearch-ad-plugin-result-fleet*"
    assert params == {"only_query_custom_result_index": "true"}
    assert {"range": {"anomaly_grade": {"gt": 0}}} in body["query"]["bool"]["filter"]
    assert len(df) == 2 and df.columns[2:4].tolist() == ["host", "process"]


def test_top_anomalies_body(ad, server):
    server.route("POST", f"{D}/abc/results/_topAnomalies", load("top_anomalies.json"))
    server.route("GET", f"{D}/abc", load("detector_get_full.json"))
    df = ad.top_anomalies("abc", historical=True, size=3, order="occurrence")
    # The plugin refuses a request without start and end, historical or not (400 "Must set both start
    # time and end time"): a historical one gets its run's detection_date_range.
    want = {"size": 3, "order": "occurrence", "task_id": "hT9k2ZABcD3eF4gH5iJ7"}
    want |= {"start_time_ms": 1714000000000, "end_time_ms": 1714500000000}
    assert server.ad_calls()[-1][2:] == ({"historical": "true"}, want)
    assert df["host"].iloc[0] == "h007"
    ad.top_anomalies("abc", historical=True, task_id="other", start=5, end=6)
    assert server.ad_calls()[-1][3] == {"size": 10, "order": "severity", "task_id": "other", "start_time_ms": 5,
                                        "end_time_ms": 6}  # fmt: skip
    with pytest.raises(ConfigError, match="need start and end"):
        ad.top_anomalies("abc")
    with pytest.raises(ConfigError, match="must be a whole number from 1 to 1000"):
        ad.top_anomalies("abc", historical=True, size=1001)


def test_delete_results_and_tasks(ad, server):
    server.route("DELETE", f"{D}/results", {"deleted": 3})
    assert ad.delete_results({"term": {"detector_id": "abc"}})["deleted"] == 3
    assert server.ad_calls()[-1][3] == {"query": {"term": {"detector_id": "abc"}}}
    with pytest.raises(ConfigError):
        ad.delete_results({})
    server.route("POST", f"{D}/tasks/_search", {"hits": {"hits": [{"_id": "t1", "_source": {"state": "FINISHED"}}]}})
    assert ad.search_tasks({"term": {"detector_id": "abc"}}) == [{"state": "FINISHED", "task_id": "t1"}]


def test_server_error_keeps_plugin_message(ad, server):
    server.route("POST", f"{D}/abc/_start", err(500, "Models memory usage exceeds our limit."), 500)
    with pytest.raises(ServerError, match="Models memory usage exceeds our limit") as e:
        ad.start("abc")
    assert e.value.status == 500


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def _running_hc(server: Server) -> None:
    full = load("detector_get_full.json")
    full["anomaly_detector_job"]["enabled"] = True
    server.route("GET", f"{D}/abc", full)


def _graded(server: Server, answers: Any) -> list[Any]:
    """Results searches answer with the next model ids in ``answers``; returns the request bodies."""
    bodies: list[Any] = []

    def handle(url: str, params: Any, body: Any) -> Any:
        bodies.append(body)
        ids = next(answers)
        return {
            "hits": {"total": {"value": 3 * len(ids), "relation": "eq"}, "hits": []},
            "aggregations": {"models": {"buckets": [{"key": m, "doc_count": 3} for m in ids]}},
        }

    server.route("POST", f"{D}/results/_search.*", handle)
    return bodies


def test_wait_initialized_waits_for_graded_results_not_running_state(ad, server):
    # The plugin says RUNNING at once; ready is when the entities' models write graded results.
    _running_hc(server)
    server.route("GET", f"{D}/abc/_profile/.*", {"state": "RUNNING", "total_entities": 4, "models": []})
    bodies = _graded(server, iter([[], ["m1", "m2"], ["m1", "m2", "m3", "m4"]]))
    clock = Clock()
    seen: list[float] = []
    prof = ad.wait_initialized("abc", poll=10, progress=lambda pct, _: seen.append(pct), sleep=clock.sleep, clock=clock)
    assert seen == [0.0, 50.0, 100.0] and clock.t == 20
    assert prof["entities_ready"] == 4 and prof["entities_total"] == 4
    q = bodies[0]["query"]["bool"]
    assert {"range": {"execution_end_time": {"gte": 1714521600000}}} in q["filter"]  # since the job's enabled_time
    assert {"exists": {"field": "anomaly_grade"}} in q["filter"]
    assert q["must_not"] == [{"exists": {"field": "task_id"}}]  # real-time results only


def test_wait_initialized_share_of_entities_and_confidence(ad, server):
    _running_hc(server)
    server.route("GET", f"{D}/abc/_profile/.*", {"state": "RUNNING", "total_entities": 10, "models": []})
    bodies = _graded(server, iter([[f"m{i}" for i in range(7)], [f"m{i}" for i in range(8)]]))
    clock = Clock()
    prof = ad.wait_initialized("abc", entities=0.75, min_confidence=0.5, poll=10, sleep=clock.sleep, clock=clock)
    assert prof["entities_ready"] == 8 and clock.t == 10  # 7 of 10 < 75%, 8 of 10 >= 75%
    assert {"range": {"confidence": {"gte": 0.5}}} in bodies[0]["query"]["bool"]["filter"]


def test_wait_initialized_timeout_says_what_an_entity_needs(ad, server):
    _running_hc(server)
    model = {"model_id": "m2", "entity": [{"name": "host", "value": "h2"}, {"name": "process", "value": "p1"}]}
    server.route("GET", f"{D}/abc/_profile/.*", {"state": "RUNNING", "total_entities": 2, "models": [model]})
    server.route(
        "POST",
        f"{D}/abc/_profile/init_progress",
        {"init_progress": {"percentage": "40%", "estimated_minutes_left": 190, "needed_shingles": 19}},
    )
    _graded(server, iter([["m1"]] * 10))
    clock = Clock()
    with pytest.raises(HcadError) as e:
        ad.wait_initialized("abc", timeout=30, poll=10, sleep=clock.sleep, clock=clock)
    assert str(e.value) == (
        "detector abc not ready after 30s: 1 of 2 entities have graded results (waiting for 2); host=h2,process=p1 "
        "is at 40% and needs 19 more intervals of data (about 190 minutes); give entities more history before "
        "starting (hcad detectors preflight shows it per entity)"
    )
    entity_call = next(c for c in server.calls if c[0] == "POST" and c[1].endswith("/_profile/init_progress"))
    assert entity_call[3] == {"entity": [{"name": "host", "value": "h2"}, {"name": "process", "value": "p1"}]}


def test_wait_initialized_single_stream_times_out_with_the_models_progress(ad, server):
    full = load("detector_get_full.json")
    full["anomaly_detector_job"]["enabled"] = True
    del full["anomaly_detector"]["category_field"]
    server.route("GET", f"{D}/abc", full)
    server.route(
        "GET", f"{D}/abc/_profile/.*", {"state": "INIT", "init_progress": {"percentage": "25%", "needed_shingles": 24}}
    )
    server.route("POST", f"{D}/results/_search.*", {"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}})
    clock = Clock()
    seen: list[float] = []
    with pytest.raises(HcadError) as e:
        ad.wait_initialized(
            "abc", timeout=20, poll=10, progress=lambda p, _: seen.append(p), sleep=clock.sleep, clock=clock
        )
    assert str(e.value) == (
        "detector abc not ready after 20s: no graded result yet (the model is at 25%, needs 24 more intervals of data)"
    )
    assert seen == [25.0, 25.0, 25.0]
    assert not [c for c in server.calls if "composite" in str(c[3])]  # no entity lookup for one model


def test_wait_initialized_stopped_job_and_bad_arguments(ad, server):
    server.route("GET", f"{D}/abc", load("detector_get_full.json"))  # job enabled: false
    with pytest.raises(ConfigError, match="not running real-time detection; start it first"):
        ad.wait_initialized("abc")
    with pytest.raises(ConfigError, match=r"entities=1.5"):
        ad.wait_initialized("abc", entities=1.5)
    _running_hc(server)
    server.route("GET", f"{D}/abc/_profile/.*", {"state": "DISABLED", "error": "No data in the window"})
    with pytest.raises(ServerError, match="stopped while initializing: No data in the window"):
        ad.wait_initialized("abc")


def test_wait_historical(ad, server):
    full = load("detector_get_full.json")
    states = iter([("RUNNING", 0.3), ("RUNNING", 0.6), ("FINISHED", 1.0)])

    def answer(u, p, b):
        s, prog = next(states)
        return dict(full, historical_analysis_task=dict(full["historical_analysis_task"], state=s, task_progress=prog))

    server.route("GET", f"{D}/abc", answer)
    # After FINISHED the results keep arriving for a while (the plugin's write queue): 40, 55, 55, 55.
    counts = iter([40, 55, 55, 55, 99])
    server.route(
        "POST",
        f"{D}/results/_search.*",
        lambda u, p, b: {"hits": {"total": {"value": next(counts), "relation": "eq"}, "hits": []}},
    )
    clock = Clock()
    seen: list[float] = []
    task = ad.wait_historical(
        "abc", "hT9k2ZABcD3eF4gH5iJ7", progress=lambda p, _: seen.append(round(p)), sleep=clock.sleep, clock=clock
    )
    assert task["state"] == "FINISHED" and seen == [30, 60, 100]
    searches = [c for c in server.calls if "/results/_search" in c[1]]
    assert len(searches) == 4 and clock.t == 5 + 5 + 2 + 2 + 2  # two polls of the task, three of the results
    assert searches[0][3]["query"] == {"term": {"task_id": "hT9k2ZABcD3eF4gH5iJ7"}}


def test_wait_historical_failed(ad, server):
    full = load("detector_get_full.json")
    full["historical_analysis_task"].update(state="FAILED", error="There is no data in the detection date range")
    server.route("GET", f"{D}/abc", full)
    with pytest.raises(ServerError, match="failed: There is no data"):
        ad.wait_historical("abc", sleep=lambda s: None)


def test_wait_historical_failed_names_the_entity_tasks_errors(ad, server):
    """A failed high-cardinality run often has no error of its own: its entity tasks have them."""
    full = load("detector_get_full.json")
    full["historical_analysis_task"].update(state="FAILED", error="", task_id="run-1")
    server.route("GET", f"{D}/abc", full)
    msg = " max(start normalization, output after) should be at least 48"
    hits = [{"_id": f"e{i}", "_source": {"state": "FAILED", "error": msg, "parent_task_id": "run-1"}} for i in range(3)]
    hits.append({"_id": "e9", "_source": {"state": "FAILED", "error": "", "parent_task_id": "run-1"}})
    server.route("POST", f"{D}/tasks/_search", {"hits": {"hits": hits}})
    expected = r"abc failed: max\(start normalization, output after\) should be at least 48 \(3 entities\)$"
    with pytest.raises(ServerError, match=expected):
        ad.wait_historical("abc", sleep=lambda s: None)
    [search] = [c for c in server.ad_calls() if c[1].endswith("tasks/_search")]
    assert {"term": {"parent_task_id": "run-1"}} in search[3]["query"]["bool"]["filter"]


def test_builder_default_rules_are_dropped_with_a_warning_before_2_15_and_user_rules_refused(monkeypatch):
    import hcad.ad.model as model
    from hcad.ad.model import Rule

    # hcad's default has no rule since issue 17; the machinery is for a default with one.
    monkeypatch.setattr(model, "RECOMMENDED_RULE_RATIO", 0.05)
    monkeypatch.setattr(model, "RECOMMENDED_SHINGLE_SIZE", 4)

    server = Server(version="2.14.0")
    server.route("POST", D, load("detector_get_full.json"), 201)
    ad = make_client(server).ad
    with pytest.warns(UserWarning, match=r"'fleet-cpu': rules: the default ignore-within-0\.05 rules were left out"):
        ad.create(detector())
    (_m, _u, _p, body) = server.ad_calls()[-1]
    assert "rules" not in body and body["shingle_size"] == 4
    mine = detector().copy(rules=[Rule.ignore_within("cpu_avg", 0.05)])
    with pytest.raises(UnsupportedFeature, match=r"rules: needs OpenSearch 2\.15\.0\+, the server is 2\.14\.0"):
        ad.create(mine)
    assert len(server.ad_calls()) == 1
    # On 2.15+ the builder's rules are sent as they are.
    new = Server(version="2.15.0")
    new.route("POST", D, load("detector_get_full.json"), 201)
    make_client(new).ad.create(detector())
    assert new.ad_calls()[-1][3]["rules"] == [Rule.ignore_within("cpu_avg", 0.05).to_api()]


def test_top_anomalies_without_painless_are_computed_from_results(ad, server):
    """The plugin reads category values with a painless script; without lang-painless it answers 500."""
    server.route("POST", f"{D}/abc/results/_topAnomalies", err(500, "script_lang not supported [painless]"), 500)
    server.route("GET", f"{D}/abc", load("detector_get_full.json"))
    docs = load("result_docs.json")
    more = dict(docs[0], data_start_time=docs[0]["data_start_time"] + 600_000, anomaly_grade=0.5)
    hits = [{"_id": str(i), "_source": d, "sort": [i]} for i, d in enumerate([*docs, more])]
    server.route("POST", f"{D}/results/_search/.*", {"hits": {"total": {"value": 3}, "hits": hits}})
    with pytest.warns(UserWarning, match="lang-painless"):
        df = ad.top_anomalies("abc", historical=True, size=5)
    assert df.to_dict(orient="records") == [
        {"host": "h007", "process": "java", "doc_count": 2, "max_anomaly_grade": 0.91}
    ]
    _, url, _, body = server.ad_calls()[-1]
    assert url == f"{D}/results/_search/opensearch-ad-plugin-result-fleet*"
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"task_id": "hT9k2ZABcD3eF4gH5iJ7"}} in filters
    assert {"range": {"anomaly_grade": {"gt": 0}}} in filters
    assert {"range": {"data_end_time": {"gte": 1714000000000, "lte": 1714500000000, "format": "epoch_millis"}}} in (
        filters
    )


@pytest.mark.parametrize("reason", ["Detector not started", "No running task found"])
def test_stop_historical_when_none_runs_is_not_an_error(ad, server, reason):
    # The 2.19.4.0 plugin answers 400 here (before any run, and after the last one finished), while
    # stopping a stopped real-time job is a 200.
    server.route("POST", f"{D}/abc/_stop", err(400, reason), 400)
    assert ad.stop("abc", historical=True) == {"_id": "abc"}
    with pytest.raises(ServerError, match=reason):
        ad.stop("abc")


@pytest.mark.parametrize(
    ("etype", "reason"),
    [
        ("status_exception", "Valid characters for name are a-z, A-Z, 0-9, -(hyphen), _(underscore) and .(period)"),
        ("validation_exception", "Currently we only support up to 2 categorical field/s"),
    ],
)
def test_parse_time_rejection_is_a_500_and_a_validation_error(ad, server, etype, reason):
    """AnomalyDetector.parse() errors reach the client as HTTP 500 on the real plugin."""
    server.route("POST", D, err(500, reason, etype), 500)
    with pytest.raises(ValidationError, match="the server rejected the detector"):
        ad.create(detector(), check=False)
    server.route("POST", D, err(500, "circuit breaker", "circuit_breaking_exception"), 500)
    with pytest.raises(ServerError):
        ad.create(detector(), check=False)


def test_missing_painless_is_named_on_restart(ad, server):
    server.route("POST", f"{D}/abc/_start", err(400, "script_lang not supported [painless]"), 400)
    with pytest.raises(ServerError, match="no lang-painless module"):
        ad.start("abc")


def test_historical_refuses_a_shingle_the_plugins_batch_task_cannot_build(ad, server):
    full = load("detector_get_full.json")
    full["anomaly_detector"]["shingle_size"] = 33  # the plugin fails every entity task above 32 (seen on 2.19.4.0)
    server.route("GET", f"{D}/abc", full)
    with pytest.raises(ValidationError, match=r"detector abc: shingle_size: 33 is above 32: .*shingle_size ≤ 32"):
        ad.start_historical("abc", 1_000, 2_000)
    assert [c for c in server.ad_calls() if c[0] == "POST"] == []  # refused before anything started
    full["anomaly_detector"]["shingle_size"] = 32
    server.route("POST", f"{D}/abc/_start", {"_id": "task-32"})
    assert ad.start_historical("abc", 1_000, 2_000) == "task-32"
    # The caller's detector saves the GET; it is read only when it is the one being started.
    gets = len([c for c in server.ad_calls() if c[0] == "GET"])
    mine = dataclasses.replace(ad.get("abc"), id="abc")  # the fixture carries another id
    gets += 1
    too_long = dataclasses.replace(mine, shingle_size=33)
    with pytest.raises(ValidationError, match="shingle_size: 33 is above 32"):
        ad.start_historical("abc", 1_000, 2_000, detector=too_long)
    assert ad.start_historical("abc", 1_000, 2_000, detector=mine) == "task-32"
    assert len([c for c in server.ad_calls() if c[0] == "GET"]) == gets
    other = dataclasses.replace(too_long, id="other")  # not this detector: its shingle is not trusted
    assert ad.start_historical("abc", 1_000, 2_000, detector=other) == "task-32"
    assert len([c for c in server.ad_calls() if c[0] == "GET"]) == gets + 1


def test_start_historical_waits_for_a_free_task_slot(ad, server):
    server.route("GET", f"{D}/abc", load("detector_get_full.json"))
    no_slot = err(400, "No available task slot")
    server.route("POST", f"{D}/abc/_start", no_slot, 400)
    clock = Clock()
    with pytest.raises(Conflict, match=r"no free historical task slot on the cluster \(other analyses hold them\)"):
        ad.start_historical("abc", 1_000, 2_000, sleep=clock.sleep, clock=clock)
    assert clock.t == 0  # no slot_wait: no retry
    with pytest.raises(Conflict, match="after waiting 30s"):
        ad.start_historical("abc", 1_000, 2_000, slot_wait=30, sleep=clock.sleep, clock=clock)
    assert clock.t == 30  # retried every 10 s while the wait lasted
    # A slot frees on the third try.
    tries = iter([(400, no_slot), (400, no_slot), (200, {"_id": "task-1"})])
    server.route("POST", f"{D}/abc/_start", lambda u, p, b: Reply(*next(tries)))
    clock = Clock()
    assert ad.start_historical("abc", 1_000, 2_000, slot_wait=60, sleep=clock.sleep, clock=clock) == "task-1"
    assert clock.t == 20
    # Other refusals are not retried.
    server.route("POST", f"{D}/abc/_start", err(400, "Detector job is running"), 400)
    with pytest.raises(Conflict, match="stop it first"):
        ad.start_historical("abc", 1_000, 2_000, slot_wait=60, sleep=clock.sleep, clock=clock)
    assert clock.t == 20
