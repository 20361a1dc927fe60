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

import pandas as pd
import pytest
from test_ad import D, Server, make_client

from hcad.ad.answers import DetectorState, validation_issues
from hcad.ad.model import Detector
from hcad.ad.results import results_frame
from hcad.errors import Issue, ServerError, ValidationError
from hcad.sizing import estimate_entity_model_size
from hcad.sizing.entities import model_size_from_profile, parse_model_profile

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


def test_profile_models_are_the_estimators_bytes_for_that_detector():
    prof = load("profile_all.json")
    det = Detector.from_response(load("detector_get_job_task.json"))
    server = Server()
    server.route("GET", f"{D}/abc/_profile", prof)
    assert make_client(server).ad.profile("abc") == prof
    models = parse_model_profile(prof)
    assert sorted(m.entity for m in models) == [
        (("host", f"host{h}"), ("process", f"process{p}")) for h in range(2) for p in range(2)
    ]
    # Every entity model is the plugin's closed-form estimate for this detector: 2 enabled features,
    # shingle 4 (MemoryTracker.estimateTRCFModelSize), byte for byte.
    expected = estimate_entity_model_size(len(det.features), det.shingle_size or 0, "2.19").bytes
    assert expected == 412168
    assert [m.size_bytes for m in models] == [expected] * 4
    assert model_size_from_profile(prof) == expected
    assert prof["total_size_in_bytes"] == 4 * expected


def test_preview_and_result_documents_as_frames():
    server = Server()
    server.route("POST", f"{D}/abc/_preview", load("preview.json"))
    preview = make_client(server).ad.preview("abc", 1795478400000, 1795482000000)
    frame = results_frame(preview["anomaly_result"], ["host", "process"])
    assert frame[["host", "process", "cpu_avg", "mem_max", "anomaly_grade"]].to_dict("records") == [
        {"host": "host0", "process": "process0", "cpu_avg": 24.3723, "mem_max": 57.5511, "anomaly_grade": 0.0},
        {"host": "host1", "process": "process1", "cpu_avg": 49.2671, "mem_max": 54.32, "anomaly_grade": 0.0},
    ]
    assert list(frame["data_start_time"]) == [pd.Timestamp(1795478460000, unit="ms", tz="UTC")] * 2

    frame = results_frame(load("result_docs.json"), ["host", "process"])
    assert len(frame) == 2
    (anomaly,) = frame[frame["anomaly_grade"] > 0].itertuples()
    assert (anomaly.host, anomaly.process, anomaly.anomaly_grade) == ("host0", "process2", 0.625)
    assert anomaly.cpu_expected == pytest.approx(40.242645263671875)
    assert anomaly.memory_expected == pytest.approx(65.828201)
    assert anomaly.task_id == "X_KSDKIBZpRAn5ypBC_P"
    assert anomaly.data_start_time == pd.Timestamp("2026-11-20T05:17:00Z")


def test_stats_are_returned_as_the_plugin_sent_them():
    stats = load("stats.json")
    server = Server()
    server.route("GET", "/_plugins/_anomaly_detection/stats", stats)
    got = make_client(server).ad.stats()
    assert got == stats and got["hc_detector_count"] == 2
    assert server.ad_calls()[-1][:2] == ("GET", "/_plugins/_anomaly_detection/stats")


def test_validation_answers_become_issues_naming_the_field():
    assert validation_issues(load("validate_issues.json")) == [
        Issue("detector.feature_attributes.cpu_avg", "Feature has an invalid query returning empty aggregated data", "")
    ]
    assert validation_issues(load("validate_model.json")) == [
        Issue(
            "model.detection_interval",
            "The selected interval might collect sparse data. Consider changing interval length to: 1",
            "suggested value: {'period': {'interval': 1, 'unit': 'Minutes'}}",
        )
    ]


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
