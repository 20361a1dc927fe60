"""Parsing the AD plugin's profile and detector documents (shapes from the plugin's toXContent)."""

from __future__ import annotations

import pytest

from hcad.errors import ConfigError, NotFound
from hcad.sizing.entities import (
    entity_query,
    facts_from_detector,
    interval_expr,
    model_size_from_profile,
    parse_model_profile,
)

# GET _plugins/_anomaly_detection/detectors/{id}/_profile/models, as ConfigProfile.toXContent writes it:
# models[] from ModelProfileOnNode (model_id, entity, model_size_in_bytes, node_id), then
# total_size_in_bytes and model_count. The sizes are what a 2.19 node reports for 2 features, shingle 8.
PROFILE = {
    "models": [
        {
            "model_id": "fkzfBX0BHok1ZbMqLMdu_entity_GOIubzeHCXV-k6y_AA4K3Q",
            "entity": [{"name": "host", "value": "host141"}, {"name": "process", "value": "process54"}],
            "model_size_in_bytes": 475160,
            "node_id": "OcxBDJKYRYKwCLDtWUKItQ",
        },
        {
            "model_id": "fkzfBX0BHok1ZbMqLMdu_entity_x2",
            "entity": [{"name": "host", "value": "host7"}, {"name": "process", "value": "process1"}],
            "model_size_in_bytes": 475160,
            "node_id": "Zq0",
        },
    ],
    "total_size_in_bytes": 950320,
    "model_count": 2,
}


def test_parse_models() -> None:
    models = parse_model_profile(PROFILE)
    assert [m.size_bytes for m in models] == [475160, 475160]
    assert models[0].entity == (("host", "host141"), ("process", "process54"))
    assert models[1].node_id == "Zq0"
    assert model_size_from_profile(PROFILE) == 475160


def test_single_stream_model_without_entity_and_zero_size() -> None:
    # ModelProfile omits `entity` for single-stream detectors and `model_size_in_bytes` when it is 0.
    body = {"models": [{"model_id": "d_model_rcf_0", "node_id": "n1"}, {"model_id": "x", "model_size_in_bytes": 9}]}
    models = parse_model_profile(body)
    assert models[0].entity == () and models[0].size_bytes is None
    assert model_size_from_profile(body) == 9


def test_profile_without_models_is_not_found() -> None:
    with pytest.raises(NotFound, match="no models in memory"):
        model_size_from_profile({"total_size_in_bytes": 0}, "abc")


def test_facts_from_detector() -> None:
    det = {
        "name": "detect_gc_time",
        "time_field": "@timestamp",
        "indices": ["host-cloudwatch"],
        "category_field": ["host", "process"],
        "feature_attributes": [
            {"feature_id": "a", "feature_name": "gc", "feature_enabled": True, "aggregation_query": {}},
            {"feature_id": "b", "feature_name": "cpu", "feature_enabled": False, "aggregation_query": {}},
        ],
        "detection_interval": {"period": {"interval": 10, "unit": "Minutes"}},
        "shingle_size": 4,
    }
    f = facts_from_detector(det)
    assert f == {
        "features": 1,
        "shingle_size": 4,
        "interval_minutes": 10.0,
        "frequency_minutes": None,
        "category_fields": ("host", "process"),
        "index": "host-cloudwatch",
        "time_field": "@timestamp",
        "result_index": None,
        "filter_query": None,
    }
    del det["shingle_size"]
    assert facts_from_detector(det)["shingle_size"] == 8
    # 3.3+: the real-time job's frequency (a multiple of the interval), when the detector has one.
    det["frequency"] = {"period": {"interval": 60, "unit": "Minutes"}}
    assert facts_from_detector(det)["frequency_minutes"] == 60


def test_interval_expr() -> None:
    assert interval_expr(10) == "10m"
    assert interval_expr(1.5) == "90s"
    with pytest.raises(ConfigError, match="greater than zero"):
        interval_expr(0)


def test_entity_query_requires_every_field() -> None:
    q = entity_query(["host", "process"], "ts", "now-7d", None)
    assert {"exists": {"field": "host"}} in q["bool"]["filter"]
    assert {"exists": {"field": "process"}} in q["bool"]["filter"]
    assert {"range": {"ts": {"gte": "now-7d"}}} in q["bool"]["filter"]


def test_facts_carry_result_index_and_filter_query_and_counting_applies_the_filter() -> None:
    from hcad.sizing.entities import entity_query

    f = facts_from_detector(
        {"indices": ["i"], "result_index": "opensearch-ad-plugin-result-x",
         "filter_query": {"bool": {"filter": [{"terms": {"entity": ["a", "b"]}}]}}}
    )  # fmt: skip
    assert f["result_index"] == "opensearch-ad-plugin-result-x"
    q = entity_query(["entity"], "@timestamp", "now-1h", None, require_fields=False, filter_query=f["filter_query"])
    assert {"bool": {"filter": [{"terms": {"entity": ["a", "b"]}}]}} in q["bool"]["filter"]
    # the plugin's default filter (match_all) adds nothing
    q = entity_query(["entity"], "@timestamp", None, None, require_fields=False, filter_query={"match_all": {}})
    assert q == {"match_all": {}}
