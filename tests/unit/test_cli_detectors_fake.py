"""A stateful stand-in for an OpenSearch node with the anomaly-detection plugin, for CLI tests.

Requests go through opensearch-py's real transport into a recording ``Connection``; the answers have
the plugin's shapes (2.19.4.0 source: ``GetAnomalyDetectorResponse``, ``AnomalyDetector.toXContent``
with the defaults its parser and constructor fill in, ``ADTask``, ``AnomalyResultBucket``, the REST
handlers' error messages). It keeps detectors, jobs and historical tasks, so a test can assert that
a refused command left the server unchanged. Not a test module: it holds no tests; what it claims
about the plugin is checked against the real one in tests/integration/test_cli_detectors_live.py.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any
from urllib.parse import unquote

from fake_transport import recording_client

from hcad.connection import HcadClient

D = "/_plugins/_anomaly_detection/detectors"


def error(status: int, reason: str, etype: str = "illegal_argument_exception") -> tuple[int, dict[str, Any]]:
    cause = {"type": etype, "reason": reason}
    return status, {"error": {"root_cause": [cause], **cause}, "status": status}


def default_rules(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Config.getDefaultRule: ignore anomalies within 20% of expected, per enabled feature."""
    return [
        {
            "action": "IGNORE_ANOMALY",
            "conditions": [
                {"feature_name": f["feature_name"], "threshold_type": t, "operator": "LTE", "value": 0.2}
                for t in ("ACTUAL_OVER_EXPECTED_RATIO", "EXPECTED_OVER_ACTUAL_RATIO")
            ],
        }
        for f in features
        if f.get("feature_enabled", True)
    ]


class FakeAD:
    """Detectors, jobs, tasks, results and index mappings of one fake cluster."""

    def __init__(
        self,
        plugins: tuple[str, ...] = ("opensearch-job-scheduler", "opensearch-anomaly-detection"),
        mappings: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.plugins = plugins
        # index -> {field: type}
        self.mappings: dict[str, dict[str, str]] = mappings if mappings is not None else {}
        self.detectors: dict[str, dict[str, Any]] = {}  # id -> {doc, seq_no, version}
        self.jobs: dict[str, bool] = {}
        self.tasks: dict[str, dict[str, Any]] = {}  # detector id -> latest historical task
        self.results: list[dict[str, Any]] = []
        self.top: dict[str, Any] = {"buckets": []}
        self.validate_answer: dict[str, Any] = {}
        self.calls: list[tuple[str, str, dict[str, Any], Any]] = []
        self._next = 0
        self._seq = 0
        self.task_step = 0.5  # historical progress per poll

    # ----------------------------------------------------------------- helpers for tests
    def ad_writes(self) -> list[tuple[str, str]]:
        """(method, path) of every AD request that changes state (create, update, delete, start, stop)."""
        out = []
        for m, url, _p, _b in self.calls:
            if not url.startswith(D):
                continue
            if m in ("PUT", "DELETE") or (m == "POST" and (url == D or url.endswith(("/_start", "/_stop")))):
                out.append((m, url))
        return out

    def snapshot(self) -> str:
        """Everything the server holds, to compare before and after a refused command."""
        return json.dumps([self.detectors, self.jobs, self.tasks], sort_keys=True)

    def by_name(self, name: str) -> tuple[str, dict[str, Any]]:
        for i, d in self.detectors.items():
            if d["doc"]["name"] == name:
                return i, d["doc"]
        raise KeyError(name)

    # ----------------------------------------------------------------- request handling
    def handle(self, method: str, url: str, params: dict[str, Any], body: Any) -> tuple[int, Any]:
        self.calls.append((method, url, dict(params), body))
        path = unquote(url.split("?")[0])
        if path == "/" and method in ("GET", "HEAD"):
            return 200, {"version": {"number": "2.19.4", "distribution": "opensearch"}, "cluster_name": "fake"}
        if path == "/_cat/plugins":
            return 200, [{"name": "n1", "component": p, "version": "2.19.4.0"} for p in self.plugins]
        if path.startswith(D):
            if "opensearch-anomaly-detection" not in self.plugins:
                return error(400, f"no handler found for uri [{path}] and method [{method}]")
            return self.ad(method, path[len(D) :], params, body)
        return self.index_api(method, path, params, body)

    def index_api(self, method: str, path: str, params: dict[str, Any], body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        names = parts[0].split(",") if parts else []
        found = {n: self.mappings[n] for n in names if n in self.mappings}
        if len(parts) == 1 and method == "GET":
            if len(found) != len(names):
                missing = next(n for n in names if n not in self.mappings)
                return error(404, f"no such index [{missing}]", "index_not_found_exception")
            return 200, {n: {"mappings": {"properties": {}}} for n in found}
        if len(parts) >= 4 and parts[1] == "_mapping" and parts[2] == "field":
            fields = parts[3].split(",")
            return 200, {
                n: {
                    "mappings": {
                        f: {"full_name": f, "mapping": {f.split(".")[-1]: {"type": m[f]}}} for f in fields if f in m
                    }
                }
                for n, m in found.items()
            }
        if len(parts) == 2 and parts[1] == "_search":
            # Pre-flight density: no documents -> a warning, never a blocking issue.
            return 200, {"hits": {"total": {"value": 0}, "hits": []}, "aggregations": {"latest": {"value": None}}}
        return error(404, f"fake: no route {method} {path}", "fake")

    def _store(self, det_id: str, body: dict[str, Any]) -> dict[str, Any]:
        doc = copy.deepcopy(body)
        for i, f in enumerate(doc.get("feature_attributes") or []):
            f.setdefault("feature_id", f"{det_id}-f{i}")
            f.setdefault("feature_enabled", True)
        doc.setdefault("description", "")
        doc.setdefault("filter_query", {"match_all": {"boost": 1.0}})
        doc.setdefault("window_delay", {"period": {"interval": 0, "unit": "Seconds"}})
        doc.setdefault("detection_interval", {"period": {"interval": 10, "unit": "Minutes"}})
        doc.setdefault("shingle_size", 8)
        doc.setdefault("recency_emphasis", 2560)
        doc.setdefault("history", 32 + doc["shingle_size"])
        doc["schema_version"] = 0
        doc["last_update_time"] = 1714521600000
        doc["detector_type"] = "MULTI_ENTITY" if doc.get("category_field") else "SINGLE_ENTITY"
        if not doc.get("rules"):
            doc["rules"] = default_rules(doc.get("feature_attributes") or [])
        for unit in ("detection_interval", "window_delay"):
            p = doc[unit]["period"]
            p["unit"] = p["unit"].capitalize()
        self._seq += 1
        prev = self.detectors.get(det_id)
        self.detectors[det_id] = {"doc": doc, "seq_no": self._seq, "version": (prev["version"] + 1) if prev else 1}
        return self._envelope(det_id)

    def _envelope(self, det_id: str) -> dict[str, Any]:
        d = self.detectors[det_id]
        return {"_id": det_id, "_version": d["version"], "_primary_term": 1, "_seq_no": d["seq_no"],
                "anomaly_detector": copy.deepcopy(d["doc"])}  # fmt: skip

    def _running(self, det_id: str) -> bool:
        task = self.tasks.get(det_id)
        return self.jobs.get(det_id, False) or bool(task and task["state"] not in ("FINISHED", "FAILED", "STOPPED"))

    def ad(self, method: str, rest: str, params: dict[str, Any], body: Any) -> tuple[int, Any]:
        if rest == "" and method == "POST":
            if any(d["doc"]["name"] == body["name"] for d in self.detectors.values()):
                return error(
                    400,
                    f"Cannot create anomaly detector with name [{body['name']}] as it's already used by another "
                    "detector",
                )
            self._next += 1
            det_id = f"det{self._next:03d}"
            return 201, self._store(det_id, body)
        if rest == "/_search":
            q = (body or {}).get("query") or {}
            hits = []
            for i, d in sorted(self.detectors.items()):
                name = (q.get("term") or {}).get("name.keyword")
                if name is not None and d["doc"]["name"] != name:
                    continue
                hits.append({"_id": i, "_seq_no": d["seq_no"], "_primary_term": 1, "_version": d["version"],
                             "_source": copy.deepcopy(d["doc"])})  # fmt: skip
            if not self.detectors:
                return error(404, "no such index [.opendistro-anomaly-detectors]", "index_not_found_exception")
            return 200, {"hits": {"total": {"value": len(hits)}, "hits": hits}}
        if rest.startswith("/_validate"):
            return 200, copy.deepcopy(self.validate_answer)
        if rest == "/_preview":
            return 200, {"anomaly_result": copy.deepcopy(self.results), "anomaly_detector": body["detector"]}
        if rest.startswith("/results/_search"):
            hits = [{"_id": str(i), "_source": r, "sort": [r["data_start_time"], r.get("model_id"), 0, 0]}
                    for i, r in enumerate(self.results)]  # fmt: skip
            return 200, {"hits": {"total": {"value": len(hits)}, "hits": hits}}
        m = re.match(r"^/([^/]+)(/.*)?$", rest)
        if not m:
            return error(404, f"fake: no route {method} {rest}", "fake")
        det_id, sub = m.group(1), m.group(2) or ""
        if det_id not in self.detectors:
            return error(404, f"Can't find config with id: {det_id}", "status_exception")
        if sub == "" and method == "GET":
            resp = self._envelope(det_id)
            if params.get("job") == "true":
                resp["anomaly_detector_job"] = {"name": det_id, "enabled": self.jobs.get(det_id, False)}
            if params.get("task") == "true":
                resp["realtime_task"] = None
                task = self.tasks.get(det_id)
                if task and task["state"] not in ("FINISHED", "FAILED", "STOPPED"):
                    task["task_progress"] = min(1.0, task["task_progress"] + self.task_step)
                    task["state"] = "FINISHED" if task["task_progress"] >= 1.0 else "RUNNING"
                resp["historical_analysis_task"] = copy.deepcopy(task)
            return 200, resp
        if sub == "" and method == "PUT":
            if self._running(det_id):
                return error(400, f"Detector job is running: {det_id}")
            cur = self.detectors[det_id]
            if "if_seq_no" in params and int(params["if_seq_no"]) != cur["seq_no"]:
                return error(409, f"[{det_id}]: version conflict, required seqNo [{params['if_seq_no']}]",
                             "version_conflict_engine_exception")  # fmt: skip
            if body.get("category_field") != cur["doc"].get("category_field"):
                return error(400, "Can't change category field")
            return 200, self._store(det_id, body)
        if sub == "" and method == "DELETE":
            if self._running(det_id):
                return error(400, f"Detector job is running: {det_id}")
            del self.detectors[det_id]
            return 200, {"_id": det_id, "result": "deleted"}
        if sub == "/_start":
            if body:
                if self._running(det_id) and det_id in self.tasks:
                    return error(400, "Detector is already running")
                task_id = f"task-{det_id}-{len(self.calls)}"
                self.tasks[det_id] = {
                    "task_id": task_id, "state": "CREATED", "task_progress": 0.0, "detector_id": det_id,
                    "task_type": "HISTORICAL_HC_DETECTOR",
                    "detection_date_range": {"start_time": body["start_time"], "end_time": body["end_time"]},
                }  # fmt: skip
                return 200, {"_id": task_id, "_version": 1, "_seq_no": 1, "_primary_term": 1}
            self.jobs[det_id] = True
            return 200, {"_id": det_id, "_version": 1, "_seq_no": 1, "_primary_term": 1}
        if sub == "/_stop":
            if params.get("historical") == "true":
                task = self.tasks.get(det_id)
                if not task or task["state"] in ("FINISHED", "FAILED", "STOPPED"):
                    return error(400, "Detector not started")  # what the 2.19.4.0 plugin answers
                task["state"] = "STOPPED"
            else:
                self.jobs[det_id] = False
            return 200, {"_id": det_id}
        if sub.startswith("/_profile"):
            return 200, {
                "state": "RUNNING" if self.jobs.get(det_id) else "DISABLED",
                "init_progress": {"percentage": "100%"},
                "total_entities": 3,
                "active_entities": 2,
                "models": [
                    {
                        "model_id": f"{det_id}_entity_a",
                        "entity": [{"name": "host", "value": "h1"}],
                        "model_size_in_bytes": 470491,
                        "node_id": "n1",
                    }
                ],
            }
        if sub == "/_preview":
            return 200, {
                "anomaly_result": copy.deepcopy(self.results),
                "anomaly_detector": self.detectors[det_id]["doc"],
            }
        if sub == "/results/_topAnomalies":
            # SearchTopAnomalyResultRequest.validate() (2.19.4.0), historical or not
            if (body or {}).get("start_time_ms") is None or (body or {}).get("end_time_ms") is None:
                return error(
                    400, "Validation Failed: 1: Must set both start time and end time with epoch of milliseconds;"
                )
            if params.get("historical") == "true" and det_id not in self.tasks:
                return error(404, f"No historical tasks found for detector ID {det_id}", "resource_not_found_exception")
            return 200, copy.deepcopy(self.top)
        return error(404, f"fake: no route {method} {rest}", "fake")


def make_client(server: FakeAD) -> HcadClient:
    """A real HcadClient whose HTTP connection is answered by ``server``."""
    return recording_client(server.handle)


def result_docs(
    detector_id: str = "det001",
    hosts: tuple[str, ...] = ("h1", "h2", "h3"),
    intervals: int = 48,
    start_ms: int = 1714521600000,
    anomalies: dict[tuple[str, int], float] | None = None,
    missing: set[tuple[str, int]] | None = None,
    task_id: str | None = None,
) -> list[dict[str, Any]]:
    """AD result documents (AnomalyResult.toXContent shape) for ``hosts`` x 10-minute ``intervals``.

    ``anomalies`` maps (host, interval number) to a grade; ``missing`` leaves those results out.
    """
    anomalies = anomalies or {}
    missing = missing or set()
    step = 600_000
    docs = []
    for h in hosts:
        for i in range(intervals):
            if (h, i) in missing:
                continue
            t = start_ms + i * step
            grade = anomalies.get((h, i), 0.0)
            cpu = 40.0 + 10.0 * ((i % 12) / 12) + (50.0 if grade else 0.0)
            doc: dict[str, Any] = {
                "detector_id": detector_id,
                "data_start_time": t,
                "data_end_time": t + step,
                "execution_start_time": t + step + 60_000,
                "execution_end_time": t + step + 61_000,
                "anomaly_score": 2.0 if grade else 0.3,
                "anomaly_grade": grade,
                "confidence": 0.95,
                "feature_data": [
                    {"feature_id": "f-cpu", "feature_name": "cpu_avg", "data": cpu},
                    {"feature_id": "f-mem", "feature_name": "mem_max", "data": 60.0 + (i % 5)},
                ],
                "entity": [{"name": "host", "value": h}],
                "model_id": f"{detector_id}_entity_{h}",
                "schema_version": 7,
            }
            if grade:
                doc["expected_values"] = [
                    {"likelihood": 1.0, "value_list": [{"feature_id": "f-cpu", "data": cpu - 50.0},
                                                       {"feature_id": "f-mem", "data": 60.0}]}
                ]  # fmt: skip
            if task_id:
                doc["task_id"] = task_id
            docs.append(doc)
    return docs
