"""Issue 13: the detector model parses what the plugin's parser parses (2.19.4.0) and keeps what it is given.

Each test is one case from the issue; the facts are from the plugin's source (``AnomalyDetector.parse``,
``Config``, ``Feature``, ``Rule``, ``Condition``, ``ImputationOption``, ``TimeConfiguration``) and were
checked against a live 2.19.4 node in tests/integration/test_detector_model_live.py.
"""

from __future__ import annotations

import json

import pytest

from hcad.ad.definitions import load_file
from hcad.ad.model import Condition, Detector, Feature, Imputation, Interval, Rule
from hcad.errors import ValidationError


def body(**changes: object) -> dict:
    """A plugin JSON body as a user writes it (docs style)."""
    doc: dict = {
        "name": "docs-example",
        "description": "from the docs",
        "time_field": "timestamp",
        "indices": ["server-metrics"],
        "feature_attributes": [
            {"feature_name": "cpu", "feature_enabled": True, "aggregation_query": {"cpu": {"avg": {"field": "cpu"}}}},
            {"feature_name": "mem", "feature_enabled": True, "aggregation_query": {"mem": {"max": {"field": "mem"}}}},
        ],
        "detection_interval": {"period": {"interval": 1, "unit": "Minutes"}},
        "window_delay": {"period": {"interval": 1, "unit": "Minutes"}},
        "category_field": ["host"],
    }
    doc.update(changes)
    return doc


def paths(det: Detector) -> list[str]:
    return [i.path for i in det.validate()]


def yaml_again(det: Detector) -> Detector:
    return Detector.from_yaml(det.to_yaml())


LOWER_CASE_RULE = {
    "action": "ignore_anomaly",
    "conditions": [
        {"feature_name": "cpu", "threshold_type": "actual_over_expected_ratio", "operator": "lte", "value": 0.3},
        {"feature_name": "mem", "threshold_type": "actual_is_below_expected", "operator": None},
    ],
}


@pytest.mark.parametrize("method", ["zero", "previous", "Zero", "PREVIOUS"])
def test_enum_names_in_any_case_are_read_as_the_plugin_upper_cases_them(method):
    det = Detector.from_api(body(rules=[LOWER_CASE_RULE], imputation_option={"method": method}))
    assert det.validate() == []
    assert det.imputation == Imputation(method.upper())
    assert det.rules == [
        Rule(
            [
                Condition("cpu", "ACTUAL_OVER_EXPECTED_RATIO", "LTE", 0.3),
                Condition("mem", "ACTUAL_IS_BELOW_EXPECTED", None, None),
            ],
            "IGNORE_ANOMALY",
        )
    ]
    # written back in the server's spelling, and the same through YAML
    sent = det.to_request()
    assert sent["rules"][0]["action"] == "IGNORE_ANOMALY" and sent["imputation_option"] == {"method": method.upper()}
    assert yaml_again(det).to_request() == sent


def test_fixed_values_in_lower_case_and_unknown_enum_names_are_refused_with_the_choices():
    fill = [{"feature_name": "cpu", "data": 1}, {"feature_name": "mem", "data": 2}]
    assert Detector.from_api(body(imputation_option={"method": "fixed_values", "default_fill": fill})).validate() == []
    bad = Detector.from_api(
        body(imputation_option={"method": "linear"}, rules=[{**LOWER_CASE_RULE, "action": "alert"}])
    )
    issues = {i.path: i for i in bad.validate()}
    assert issues["imputation.method"].message == "'LINEAR' is not supported"
    assert "zero" in issues["imputation.method"].fix
    assert issues["rules[0].action"].message == "'ALERT' is not supported"


def test_a_detector_without_detection_interval_is_valid_and_uses_the_plugins_default():
    doc = body()
    del doc["detection_interval"]
    det = Detector.from_api(doc)
    assert det.interval is None and det.validate() == []
    assert "detection_interval" not in det.to_request()  # so _suggest can be asked for one
    again = yaml_again(det)
    assert again.interval is None and again.validate() == []
    # the plugin stores 10 minutes: no change against the server's copy
    stored = Detector.from_api(body(detection_interval={"period": {"interval": 10, "unit": "Minutes"}}))
    assert det.diff(stored) == []
    assert det.diff(Detector.from_api(body())) == ["interval: (default '600s') -> '60s'"]


@pytest.mark.parametrize("key", ["name", "time_field"])
def test_an_empty_name_or_time_field_in_yaml_is_empty_not_the_word_none(key, tmp_path):
    text = "name: d\nindices: [i]\ntime_field: t\nfeatures: {c: {agg: avg, field: x}}\n".replace(
        f"{key}: {'d' if key == 'name' else 't'}\n", f"{key}:\n"
    )
    det = Detector.from_yaml(text)
    assert getattr(det, key) == ""
    assert key in paths(det)
    p = tmp_path / "d.yaml"
    p.write_text(text)
    defs, issues = load_file(p)
    assert issues == [] and defs[0].detector.validate()[0].path == key


@pytest.mark.parametrize("unit", ["Millis", "Hours", "DAYS"])
def test_a_unit_other_than_minutes_or_seconds_is_kept_and_reported(unit):
    det = Detector.from_api(body(detection_interval={"period": {"interval": 5, "unit": unit}}))
    assert det.interval == Interval(5, unit)
    assert "interval.period.unit" in paths(det)
    again = yaml_again(det)
    assert again.interval == Interval(5, unit) and again.to_request() == det.to_request()
    assert "interval.period.unit" in paths(again)


def test_units_in_any_case_are_written_as_the_server_writes_them():
    det = Detector.from_api(body(detection_interval={"period": {"interval": 5, "unit": "MINUTES"}}))
    assert det.interval == Interval(5) and det.to_request()["detection_interval"]["period"]["unit"] == "Minutes"
    no_unit = Detector.from_api(body(window_delay={"period": {"interval": 5}}))
    assert "window_delay.period.unit" in paths(no_unit)  # the plugin refuses a missing unit
    assert "window_delay.period.unit" in paths(yaml_again(no_unit))


NESTED_EXTRAS = {
    "feature_attributes": [
        {"feature_name": "cpu", "feature_enabled": True, "importance": 3,
         "aggregation_query": {"cpu": {"avg": {"field": "cpu"}}}},
        {"feature_name": "mem", "feature_enabled": True, "aggregation_query": {"mem": {"max": {"field": "mem"}}}},
    ],
    "detection_interval": {"period": {"interval": 1, "unit": "Minutes", "note": "x"}},
    "imputation_option": {"method": "ZERO", "integerSensitive": False, "default_fill": []},
    "rules": [{"action": "IGNORE_ANOMALY", "origin": "ui",
               "conditions": [{"feature_name": "cpu", "threshold_type": "ACTUAL_OVER_EXPECTED_RATIO",
                               "operator": "LTE", "value": 0.2, "importance": "high"}]}],
    "detection_date_range": {"start_time": 1, "end_time": 2},
    "a_top_level_future_field": {"nested": [1]},
}  # fmt: skip


def test_unknown_keys_are_kept_at_every_depth_in_both_forms():
    doc = body(**NESTED_EXTRAS)
    det = Detector.from_api(doc)
    assert det.to_api() == doc
    again = yaml_again(det)
    assert again.to_api() == doc
    assert again.detection_date_range == {"start_time": 1, "end_time": 2}
    assert det.features[0].extra == {"importance": 3}
    assert det.imputation is not None and det.imputation.default_fill == {}


def test_unknown_objects_inside_nested_objects_are_refused_as_the_plugins_parser_cannot_skip_them():
    assert Detector.from_api(body(**NESTED_EXTRAS)).validate() == []  # plain values are fine
    doc = body(
        imputation_option={"method": "ZERO", "x": {"a": 1}},
        window_delay={"period": {"interval": 1, "unit": "Minutes"}, "note": "x"},
        rules=[{"action": "IGNORE_ANOMALY", "conditions": [{"feature_name": "cpu", "threshold_type":
                "ACTUAL_IS_OVER_EXPECTED", "tags": ["a"]}]}],
    )  # fmt: skip
    doc["feature_attributes"][0]["importance"] = {"a": 1}
    det = Detector.from_api(doc)
    assert sorted(paths(det)) == [
        "features.cpu.importance", "imputation.x", "rules[0].conditions[0].tags", "window_delay.note",
    ]  # fmt: skip
    assert sorted(paths(yaml_again(det))) == sorted(paths(det))


def test_fill_entries_keep_their_unknown_keys():
    fill = [{"feature_name": "cpu", "data": 1.5, "unit": "pct"}, {"feature_name": "mem", "data": 0}]
    doc = body(imputation_option={"method": "FIXED_VALUES", "default_fill": fill})
    det = Detector.from_api(doc)
    assert det.to_api() == doc and yaml_again(det).to_api() == doc


@pytest.mark.parametrize(("given", "read"), [("false", False), ("true", True), (False, False)])
def test_feature_enabled_as_text_is_read_as_the_plugin_reads_it(given, read):
    doc = body()
    doc["feature_attributes"][1]["feature_enabled"] = given
    det = Detector.from_api(doc)
    assert det.features[1].enabled is read
    assert det.to_request()["feature_attributes"][1]["feature_enabled"] is read
    assert yaml_again(det).features[1].enabled is read


def test_feature_enabled_that_is_no_boolean_is_refused_with_its_path():
    doc = body()
    doc["feature_attributes"][0]["feature_enabled"] = "no"
    with pytest.raises(ValidationError, match=r"feature_attributes\[0\]\.feature_enabled: 'no' is not true or false"):
        Detector.from_api(doc)


def test_feature_enabled_left_out_is_kept_out_and_reported():
    doc = body()
    del doc["feature_attributes"][0]["feature_enabled"]
    det = Detector.from_api(doc)
    assert det.features[0].enabled is None and "feature_enabled" not in det.to_request()["feature_attributes"][0]
    assert "features.cpu.enabled" in paths(det)
    assert yaml_again(det).features[0].enabled is None


def test_fixed_values_with_an_empty_default_fill_is_refused_as_2_19_does():
    for fill in ([], None):
        imp = {"method": "FIXED_VALUES"} if fill is None else {"method": "FIXED_VALUES", "default_fill": fill}
        det = Detector.from_api(body(imputation_option=imp))
        assert "imputation.default_fill" in paths(det)
        assert "imputation.default_fill" in paths(yaml_again(det))
    # also with no enabled feature at all (the plugin's check does not depend on them)
    det = Detector.from_api(body(imputation_option={"method": "FIXED_VALUES", "default_fill": []}))
    det.features = [Feature.metric("cpu", "avg", "cpu", enabled=False)]
    assert "imputation.default_fill" in paths(det)


def test_what_the_plugin_accepts_in_rules_is_accepted():
    # no conditions, a ratio without operator: the plugin parses, stores and reads back each
    rules = [
        {"action": "ignore_anomaly", "conditions": [
            {"feature_name": "cpu", "threshold_type": "ACTUAL_OVER_EXPECTED_RATIO", "value": 0.2}]},
        {"action": "IGNORE_ANOMALY", "conditions": []},
    ]  # fmt: skip
    det = Detector.from_api(body(rules=rules, imputation_option={"method": "ZERO", "default_fill": []}))
    assert det.validate() == []
    again = yaml_again(det)
    assert again.to_request() == det.to_request() and again.validate() == []


def test_what_the_plugin_stores_but_cannot_read_back_is_refused():
    # a rule without action, a condition without threshold type: stored as null, then GET answers 500
    no_action = Detector.from_api(body(rules=[{"conditions": []}]))
    assert {i.path: i.message for i in no_action.validate()} == {"rules[0].action": "is missing"}
    assert yaml_again(no_action).rules[0].action is None  # type: ignore[index]
    assert "rules[0].action" in paths(yaml_again(no_action))
    rules = [{"action": "IGNORE_ANOMALY", "conditions": [{"feature_name": "cpu", "operator": "LTE", "value": 0.2}]}]
    issues = {i.path: i.message for i in Detector.from_api(body(rules=rules)).validate()}
    assert issues == {"rules[0].conditions[0].threshold_type": "is missing"}


def test_rules_without_features_are_refused_even_without_conditions():
    det = Detector.from_api(body(feature_attributes=[], rules=[{"action": "IGNORE_ANOMALY", "conditions": []}]))
    assert paths(det) == ["rules"]
    assert Detector.from_api(body(feature_attributes=[], rules=[])).validate() == []


def test_null_where_the_plugin_expects_an_object_is_refused():
    det = Detector.from_api(body(detection_interval=None, rules=None))
    assert {"detection_interval", "rules"} <= set(paths(det))
    assert det.to_api()["detection_interval"] is None


def test_numbers_as_text_are_read_as_numbers():
    cond = {"feature_name": "cpu", "threshold_type": "actual_over_expected_ratio", "operator": "lte", "value": "0.3"}
    det = Detector.from_api(body(shingle_size="8", rules=[{"action": "ignore_anomaly", "conditions": [cond]}]))
    assert Detector.from_api(body(shingle_size=8.7)).shingle_size == 8  # as the plugin stores it
    assert det.shingle_size == 8 and det.rules is not None and det.rules[0].conditions[0].value == 0.3
    assert det.validate() == []


@pytest.mark.parametrize("wrap", [False, True])
def test_validate_reads_a_plugin_json_body_file(tmp_path, wrap):
    doc = body(rules=[LOWER_CASE_RULE], imputation_option={"method": "zero"})
    p = tmp_path / "docs.json"
    # tabs and 1e5 as a docs page or a GET might have them (YAML would refuse the one and misread the other)
    text = json.dumps({"_id": "x", "anomaly_detector": doc} if wrap else doc, indent="\t")
    p.write_text(text.replace('"value": 0.3', '"value": 3e-1'))
    defs, issues = load_file(p)
    assert issues == []
    assert defs[0].detector.validate() == []
    assert defs[0].detector.rules is not None and defs[0].detector.rules[0].conditions[0].value == 0.3
    assert Detector.from_yaml(p).to_request() == defs[0].detector.to_request()  # the library reads it the same


def test_a_plugin_json_body_with_problems_names_file_and_line(tmp_path):
    doc = body()
    doc["feature_attributes"][1]["feature_enabled"] = "maybe"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc, indent=2))
    _, issues = load_file(p)
    assert len(issues) == 1
    line = next(i for i, t in enumerate(p.read_text().splitlines(), 1) if '"maybe"' in t)
    assert issues[0].path == f"{p}:{line}: feature_attributes[1].feature_enabled"
    p.write_text("{not json")
    _, issues = load_file(p)
    assert issues[0].path == f"{p}:1" and "not valid JSON" in issues[0].message


def test_suggest_can_be_asked_for_a_detector_without_an_interval():
    # The point of _suggest (3.3+): a detector that does not know its interval yet.
    from test_ad import D, Server, make_client

    server = Server(version="3.3.0")
    server.route(
        "POST", f"{D}/_suggest/detection_interval", {"interval": {"period": {"interval": 5, "unit": "Minutes"}}}
    )
    doc = body()
    del doc["detection_interval"]
    out = make_client(server).ad.suggest(Detector.from_api(doc), ["detection_interval"])
    assert out["interval"]["period"]["interval"] == 5
    sent = server.ad_calls()[-1][3]
    assert "detection_interval" not in (sent if isinstance(sent, dict) else json.loads(sent))


def test_cli_validate_offline_reads_a_plugin_json_body(tmp_path, capsys):
    from hcad.cli.main import main

    ok, bad = tmp_path / "ok.json", tmp_path / "bad.json"
    ok.write_text(json.dumps(body(rules=[LOWER_CASE_RULE], imputation_option={"method": "zero"})))
    bad.write_text(json.dumps(body(imputation_option={"method": "FIXED_VALUES", "default_fill": []})))
    with pytest.raises(SystemExit) as e:
        main(["detectors", "validate", "--offline", str(ok)])
    assert e.value.code in (0, None) and "1 detector(s) valid" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["detectors", "validate", "--offline", str(bad)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "imputation.default_fill: is empty" in err and "Traceback" not in err
