"""Property tests for the detector model (issue 13): bodies generated across the plugin's grammar.

Each example is a detector body in the server's spelling (``canonical``) and the same body as a user may
write it (``spelled``: enum names and units in any case, booleans and numbers as text, keys the plugin
defaults left out). Asserted for every example:

- API: ``from_api(canonical).to_api() == canonical`` and ``from_api(spelled).to_api() == canonical``;
- YAML: ``from_yaml(to_yaml())`` sends the same request;
- validation: the verdict is the same for the canonical body, the spelled body and the YAML copy.

Valid and invalid bodies are both generated (bad names, units, enum names, limits, missing fill values),
so the verdict check covers refusals as much as acceptances. Derandomized and capped for CI.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hcad.ad.model import Detector

CI = settings(max_examples=80, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FEATURE_NAMES = ("cpu", "mem", "disk", "net")
ABSENT = object()


def spellings(word: str) -> st.SearchStrategy[str]:
    """``word`` as the plugin accepts it: any case (it upper-cases enum names before reading them)."""
    return st.sampled_from(sorted({word, word.lower(), word.upper(), word.capitalize()}))


@st.composite
def interval(draw: st.DrawFn, *, allow_bad: bool = True) -> tuple[dict, dict]:
    value = draw(st.integers(-2, 120) if allow_bad else st.integers(1, 120))
    unit = draw(st.sampled_from(["Minutes", "Seconds", "Minutes", "Seconds", "Millis", "Hours"]))
    spelled_unit = draw(spellings(unit)) if unit in ("Minutes", "Seconds") else unit
    spelled_value: Any = draw(st.sampled_from([value, str(value)]))
    return (
        {"period": {"interval": value, "unit": unit}},
        {"period": {"interval": spelled_value, "unit": spelled_unit}},
    )


@st.composite
def feature(draw: st.DrawFn, name: str) -> tuple[dict, dict]:
    agg = draw(st.sampled_from(["avg", "max", "min", "sum", "value_count", "cardinality"]))
    agg_name = draw(st.sampled_from([name, name, "shared"]))  # "shared" twice is refused
    canon: dict[str, Any] = {"feature_name": name}
    spelled: dict[str, Any] = {"feature_name": name}
    if draw(st.booleans()):
        canon["feature_id"] = spelled["feature_id"] = f"id-{name}"
    enabled = draw(st.sampled_from([True, True, True, False, ABSENT]))
    if enabled is not ABSENT:
        canon["feature_enabled"] = enabled
        spelled["feature_enabled"] = draw(st.sampled_from([enabled, str(enabled).lower()]))
    canon["aggregation_query"] = {agg_name: {agg: {"field": draw(st.sampled_from(["cpu", "mem", "v"]))}}}
    spelled["aggregation_query"] = copy.deepcopy(canon["aggregation_query"])
    if draw(st.integers(0, 4)) == 0:
        canon["importance"] = spelled["importance"] = draw(st.integers(0, 9))
    return canon, spelled


@st.composite
def condition(draw: st.DrawFn, features: list[str]) -> tuple[dict, dict]:
    name = draw(st.sampled_from([*features, "ghost", None] if features else ["ghost", None]))
    kind = draw(
        st.sampled_from(
            [
                "ACTUAL_OVER_EXPECTED_RATIO",
                "EXPECTED_OVER_ACTUAL_RATIO",
                "ACTUAL_OVER_EXPECTED_MARGIN",
                "EXPECTED_OVER_ACTUAL_MARGIN",
                "ACTUAL_IS_OVER_EXPECTED",
                "ACTUAL_IS_BELOW_EXPECTED",
                "BIGGER",
                None,
            ]
        )
    )
    operator = draw(st.sampled_from(["LTE", "LTE", None]))
    value = draw(st.sampled_from([0.2, 0.05, 1, -1, 0, None]))
    canon: dict[str, Any] = {"feature_name": name, "threshold_type": kind, "operator": operator}
    spelled: dict[str, Any] = {}
    if name is not None or draw(st.booleans()):
        spelled["feature_name"] = name
    if kind is not None or draw(st.booleans()):
        spelled["threshold_type"] = draw(spellings(kind)) if kind else kind
    if operator is not None or draw(st.booleans()):
        spelled["operator"] = draw(spellings(operator)) if operator else operator
    if value is not None:
        canon["value"] = value
        spelled["value"] = draw(st.sampled_from([value, str(value)])) if isinstance(value, float) else value
    if draw(st.integers(0, 5)) == 0:
        canon["note"] = spelled["note"] = "kept"
    return canon, spelled


@st.composite
def rule(draw: st.DrawFn, features: list[str]) -> tuple[dict, dict]:
    action = draw(st.sampled_from(["IGNORE_ANOMALY", "IGNORE_ANOMALY", "ALERT", None]))
    conds = draw(st.lists(condition(features), max_size=3))
    canon = {"action": action, "conditions": [c for c, _ in conds]}
    spelled: dict[str, Any] = {"conditions": [s for _, s in conds]}
    if action is not None or draw(st.booleans()):
        spelled["action"] = draw(spellings(action)) if action else action
    return canon, spelled


@st.composite
def imputation(draw: st.DrawFn, features: list[str]) -> tuple[dict, dict]:
    method = draw(st.sampled_from(["ZERO", "PREVIOUS", "FIXED_VALUES", "FIXED_VALUES", "LINEAR"]))
    canon: dict[str, Any] = {"method": method}
    spelled: dict[str, Any] = {}
    if method != "ZERO" or draw(st.booleans()):  # ZERO is the plugin's default method
        spelled["method"] = draw(spellings(method))
    fill = draw(st.sampled_from(["none", "empty", "all", "some"]))
    if fill != "none":
        names = [] if fill == "empty" else features if fill == "all" else features[:1]
        canon["default_fill"] = [{"feature_name": n, "data": float(i)} for i, n in enumerate(names)]
        spelled["default_fill"] = copy.deepcopy(canon["default_fill"])
    if draw(st.integers(0, 4)) == 0:
        canon["integerSensitive"] = spelled["integerSensitive"] = False
    return canon, spelled


@st.composite
def body(draw: st.DrawFn) -> tuple[dict, dict]:
    """(canonical, spelled) detector bodies."""
    canon: dict[str, Any] = {}
    spelled: dict[str, Any] = {}

    def put(key: str, c: Any, s: Any = ABSENT) -> None:
        canon[key] = c
        spelled[key] = c if s is ABSENT else s

    put("name", draw(st.sampled_from(["fleet-cpu", "a.b_c", "has space", "", "x" * 65])))
    put("description", draw(st.sampled_from(["", "CPU per host", "d" * 1001])))
    put("time_field", draw(st.sampled_from(["@timestamp", "ts", ""])))
    put("indices", draw(st.lists(st.sampled_from(["metrics-*", "logs"]), max_size=2, unique=True)))
    names = draw(st.lists(st.sampled_from(FEATURE_NAMES), max_size=6))  # repeats are refused
    feats = [draw(feature(n)) for n in names]
    put("feature_attributes", [c for c, _ in feats], [s for _, s in feats])
    if draw(st.integers(0, 3)) > 0:
        put("detection_interval", *draw(interval()))
    if draw(st.booleans()):
        put("window_delay", *draw(interval()))
    if draw(st.booleans()):
        put("category_field", draw(st.lists(st.sampled_from(["host", "process", "az"]), max_size=3)))
    if draw(st.booleans()):
        put("filter_query", draw(st.sampled_from([{"term": {"env": "prod"}}, {"range": {"v": {"gte": 1}}}])))
    for key, values in (
        ("shingle_size", [1, 4, 8, 128, 129, 0]),
        ("recency_emphasis", [2560, 1, 100]),
        ("history", [40, 0, 10001]),
        ("suggested_seasonality", [8, 0, 300]),
    ):
        if draw(st.booleans()):
            v = draw(st.sampled_from(values))
            put(key, v, draw(st.sampled_from([v, str(v)])))
    if draw(st.booleans()):
        put("result_index", draw(st.sampled_from(["opensearch-ad-plugin-result-fleet", "my-results"])))
    for key in ("result_index_min_size", "result_index_ttl"):
        if draw(st.integers(0, 3)) == 0:
            put(key, draw(st.sampled_from([30, 0])))
    if draw(st.integers(0, 3)) == 0:
        put("flatten_custom_result_index", draw(st.booleans()))
    enabled = [c["feature_name"] for c, _ in feats if c.get("feature_enabled") is True]
    if draw(st.booleans()):
        put("imputation_option", *draw(imputation(sorted(set(enabled)))))
    if draw(st.booleans()):
        rules = draw(st.lists(rule([c["feature_name"] for c, _ in feats]), max_size=3))
        put("rules", [c for c, _ in rules], [s for _, s in rules])
    if draw(st.integers(0, 4)) == 0:
        put("ui_metadata", {"features": {"cpu": {"aggregationBy": "avg"}}})
    if draw(st.integers(0, 4)) == 0:
        put("detection_date_range", {"start_time": 1, "end_time": 2})
    if draw(st.integers(0, 4)) == 0:
        put("a_future_field", {"nested": [1, {"x": None}]})
    if draw(st.integers(0, 8)) == 0:
        put(draw(st.sampled_from(["rules", "detection_interval", "imputation_option"])), None)
    return canon, spelled


def verdict(det: Detector) -> list[tuple[str, str]]:
    return sorted((i.path, i.message) for i in det.validate())


@CI
@given(body())
def test_api_round_trip_reads_as_the_plugin_does(pair_: tuple[dict, dict]) -> None:
    canon, spelled = pair_
    det = Detector.from_api(canon)
    assert det.to_api() == canon
    from_user = Detector.from_api(spelled)
    assert from_user.to_api() == canon
    assert verdict(from_user) == verdict(det)


@CI
@given(body())
def test_yaml_round_trip_keeps_the_request_and_the_verdict(pair_: tuple[dict, dict]) -> None:
    canon, _ = pair_
    det = Detector.from_api(canon)
    again = Detector.from_yaml(det.to_yaml())
    assert again.to_request() == det.to_request()
    assert verdict(again) == verdict(det)
    # and a second trip changes nothing more
    assert Detector.from_yaml(again.to_yaml()).to_dict() == again.to_dict()


@CI
@given(body())
def test_the_json_body_read_as_a_definition_file_is_the_same_detector(pair_: tuple[dict, dict]) -> None:
    _, spelled = pair_
    assert Detector.from_dict(spelled).to_api() == Detector.from_api(spelled).to_api()
