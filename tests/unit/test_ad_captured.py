"""hcad against responses captured from a real anomaly-detection plugin 2.19.4.0 (tests/data/ad/captured).

Each file is what that plugin answered (built from its public source, on OpenSearch 2.19.4 without
the lang-painless module); these tests check that hcad reads each one as it reads the constructed
fixtures next to it, and maps the plugin's real error answers.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
from test_ad import D, Server, make_client

from hcad.ad import DetectorState, validation_issues
from hcad.detector import Detector
from hcad.errors import ServerError, ValidationError
from hcad.results import results_frame

CAPTURED = Path(__file__).resolve().parent.parent / "data" / "ad" / "captured"


def load(name: str) -> Any:
    return json.loads((CAPTURED / name).read_text())


def test_get_with_job_and_task_round_trips():
    resp = load("detector_get_job_task.json")
    det = Detector.from_response(resp)
    doc = resp["anomaly_detector"]
    # GET HTML-encodes the stored (already encoded) description a second time.
    assert "&amp;amp;" in doc["description"]
    assert det.description == "CPU & memory <per> host/process"
    assert det.to_api() == dict(doc, description=html.unescape(html.unescape(doc["description"])))
    assert det.category_fields == ["host", "process"] and det.shingle_size == 4 and det.history == 36
    state = DetectorState(det, resp["anomaly_detector_job"], resp["realtime_task"], resp["historical_analysis_task"])
    assert state.realtime_running and not state.historical_running
    assert state.historical_task is not None and state.historical_task["detection_date_range"]["end_time"] > 0
    # the server's filter and imputation (default_fill in its own order) are no change from the definition sent
    sent = det.copy(
        filter_query={"bool": {"filter": [{"exists": {"field": "cpu"}}]}},
        imputation=type(det.imputation)("FIXED_VALUES", {"cpu_avg": 0.0, "mem_max": 1.5}),
    )
    assert sent.diff(det) == []


def test_profile_preview_stats_results_validation():
    prof = load("profile_all.json")
    assert prof["state"] == "RUNNING" and prof["init_progress"] == {"percentage": "100%"}
    assert all(m["model_size_in_bytes"] > 0 for m in prof["models"]) and prof["model_count"] == len(prof["models"])
    assert sum(m["model_size_in_bytes"] for m in prof["models"]) == prof["total_size_in_bytes"]
    preview = load("preview.json")
    frame = results_frame(preview["anomaly_result"], ["host", "process"])
    assert len(frame) == 2 and {"cpu_avg", "mem_max", "threshold"} <= set(frame)
    docs = load("result_docs.json")
    frame = results_frame(docs, ["host", "process"])
    anomaly = frame[frame["anomaly_grade"] > 0].iloc[0]
    assert anomaly["cpu_expected"] == pytest.approx(40.242645263671875) and anomaly["task_id"]
    stats = load("stats.json")
    assert stats["hc_detector_count"] >= 1 and all("model_count" in n for n in stats["nodes"].values())
    (issue,) = validation_issues(load("validate_issues.json"))
    assert issue.path == "detector.feature_attributes.cpu_avg" or issue.path.startswith("detector.feature_attributes")
    assert validation_issues(load("validate_model.json"))


@pytest.mark.parametrize(
    ("key", "call", "expected"),
    [
        ("stop_historical_not_started", lambda ad: ad.stop("abc", historical=True), {"_id": "abc"}),
        ("create_bad_name", lambda ad: ad.create(Detector.from_api({"name": "ok", "time_field": "t"}), check=False),
         ValidationError),
        ("create_three_category_fields",
         lambda ad: ad.create(Detector.from_api({"name": "ok", "time_field": "t"}), check=False), ValidationError),
        ("start_again_without_painless", lambda ad: ad.start("abc"), ServerError),
    ],
)  # fmt: skip
def test_real_error_answers(key, call, expected):
    body = load("errors.json")[key]
    server = Server()
    for method, path in (("POST", f"{D}/abc/_stop"), ("POST", D), ("POST", f"{D}/abc/_start")):
        server.route(method, path, body, body["status"])
    ad = make_client(server).ad
    if isinstance(expected, dict):
        assert call(ad) == expected
    else:
        with pytest.raises(expected):
            call(ad)
