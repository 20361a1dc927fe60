"""Detector model: API round-trip, YAML round-trip, builders, client-side validation, diff, version gates.

The server-shaped JSON in tests/data/ad was constructed from the AD plugin's 2.19.4.0 source
(see tests/data/ad/README.md), not captured from a server.
"""

from __future__ import annotations

import copy
import html
import json
from pathlib import Path

import pytest

from hcad.ad.model import (
    Condition,
    Detector,
    Feature,
    Imputation,
    Interval,
    Rule,
)
from hcad.errors import UnsupportedFeature, ValidationError

DATA = Path(__file__).resolve().parent.parent / "data" / "ad"


def load(name: str):
    return json.loads((DATA / name).read_text())


def good() -> Detector:
    return Detector.hcad(
        "fleet-cpu",
        "metrics-*",
        "@timestamp",
        ["host", "process"],
        {"cpu_avg": ("avg", "cpu"), "mem_max": {"agg": "max", "field": "mem"}},
        "10m",
    )


@pytest.mark.parametrize("fixture", ["detector_get_full.json", "detector_get_minimal.json"])
def test_server_json_round_trips_identically(fixture):
    resp = load(fixture)
    doc = resp["anomaly_detector"]
    det = Detector.from_response(resp)
    # Every field but the description, which is read as written: the plugin HTML-encodes it each time
    # it writes it out (GET of the stored, already encoded text gives "&amp;amp;") and encodes it on
    # its side when it is sent back.
    assert det.to_api() == dict(doc, description=html.unescape(html.unescape(doc["description"])))
    assert (det.id, det.seq_no, det.primary_term, det.version) == (
        resp["_id"],
        resp["_seq_no"],
        resp["_primary_term"],
        resp["_version"],
    )


def test_from_api_types_every_field():
    det = Detector.from_response(load("detector_get_full.json"))
    assert det.interval == Interval(10, "Minutes")
    assert det.window_delay == Interval(1)
    assert det.category_fields == ["host", "process"]
    assert [f.name for f in det.features] == ["cpu_avg", "mem_max", "latency_p95"]
    assert det.features[0].simple == ("avg", "cpu")
    assert det.features[2].simple is None and det.features[2].enabled is False
    assert det.imputation == Imputation("FIXED_VALUES", {"cpu_avg": 0.0, "mem_max": 1.5})
    assert det.rules is not None and det.rules[1].conditions[0] == Condition(
        "mem_max", "ACTUAL_IS_BELOW_EXPECTED", None, None
    )
    assert det.result_index_ttl == 60 and det.flatten_custom_result_index is False
    assert det.detector_type == "MULTI_ENTITY" and det.is_hc


def test_unknown_fields_are_kept_and_read_only_fields_not_sent():
    det = Detector.from_response(load("detector_get_minimal.json"))
    assert det.extra == {"a_field_from_a_future_version": {"nested": [1, 2, 3]}}
    body = det.to_request()
    assert body["a_field_from_a_future_version"] == {"nested": [1, 2, 3]}
    for key in ("last_update_time", "schema_version", "detector_type", "user"):
        assert key not in body
    assert det.interval == Interval(30, "Seconds") and str(det.interval) == "30s"


def test_yaml_round_trip_and_friendly_keys():
    det = Detector.from_response(load("detector_get_full.json"))
    text = det.to_yaml()
    assert "interval: 10m" in text
    assert "agg: avg" in text and "field: cpu" in text
    assert "last_update_time" not in text and "schema_version" not in text
    back = Detector.from_yaml(text)
    assert back.diff(det) == []
    assert back.to_dict() == det.to_dict()
    # description is HTML-encoded by the server; YAML holds the plain text.
    assert back.description == "CPU & memory per host/process"


def test_yaml_from_file_and_api_form(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text(good().to_yaml())
    assert Detector.from_yaml(p).to_request() == good().to_request()
    api = tmp_path / "d.json"
    api.write_text(json.dumps(load("detector_get_minimal.json")))
    assert Detector.from_yaml(str(api)).name == "orders.total"


def test_yaml_errors_name_the_key_and_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nindices: [a]\ntime_field: t\nfeatures: {}\nintreval: 10m\n")
    with pytest.raises(ValidationError) as e:
        Detector.from_yaml(p)
    assert str(p) in str(e.value) and "intreval" in str(e.value) and "'interval'" in str(e.value)
    p.write_text("name: [unclosed\n")
    with pytest.raises(ValidationError, match="not valid YAML at line"):
        Detector.from_yaml(p)


def test_builder_request_shape():
    body = good().to_request()
    assert body["category_field"] == ["host", "process"]
    assert body["detection_interval"] == {"period": {"interval": 10, "unit": "Minutes"}}
    assert body["window_delay"] == {"period": {"interval": 1, "unit": "Minutes"}}
    assert body["feature_attributes"][1] == {
        "feature_name": "mem_max",
        "feature_enabled": True,
        "aggregation_query": {"mem_max": {"max": {"field": "mem"}}},
    }
    assert "feature_id" not in body["feature_attributes"][0]
    # The defaults issue 17's tuning chose (hcad.ad.limits), unless the caller says otherwise: shingle 2 and
    # no rule of hcad's (the plugin's default 20% rule applies).
    assert body["shingle_size"] == 2
    assert "rules" not in body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", Interval(10)),
        ("30s", Interval(30, "Seconds")),
        ("1h", Interval(60)),
        ("2d", Interval(2880)),
        (5, Interval(5)),
    ],
)
def test_interval_parse(text, expected):
    assert Interval.parse(text) == expected
    assert Interval.parse(str(expected)) == expected


def test_interval_parse_rejects_garbage():
    with pytest.raises(ValidationError, match="interval: '10 parsecs' is not an interval"):
        Interval.parse("10 parsecs")


def test_feature_helpers():
    assert Feature.count("n", "req").aggregation_query == {"n": {"value_count": {"field": "req"}}}
    assert Feature.sum("s", "b").simple == ("sum", "b")
    assert Feature.metric("m", "average", "x").simple == ("avg", "x")
    with pytest.raises(ValidationError, match=r"features\.p\.agg: .median. is not supported"):
        Feature.metric("p", "median", "x")
    raw = Feature.raw("p95", {"p95": {"percentiles": {"field": "lat", "percents": [95]}}})
    assert raw.fields_used() == [("percentiles", "lat")]


def test_valid_detector_has_no_issues():
    assert good().validate() == []
    assert Detector.from_response(load("detector_get_full.json")).validate() == []


def _paths(det: Detector, **kw) -> list[str]:
    return [i.path for i in det.validate(**kw)]


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"name": "has space"}, "name", "contains ' '"),
        ({"name": "x" * 65}, "name", "65 characters"),
        ({"description": "d" * 1001}, "description", "1001 characters"),
        ({"interval": Interval(0)}, "interval", "must be positive"),
        ({"interval": Interval(5, "Hours")}, "interval.period.unit", "not supported"),
        ({"window_delay": Interval(-1)}, "window_delay", "must not be negative"),
        ({"shingle_size": 0}, "shingle_size", "out of range"),
        ({"shingle_size": 129}, "shingle_size", "out of range"),
        ({"category_fields": ["a", "b", "c"]}, "category_fields", "limit is 2"),
        ({"result_index": "my-results"}, "result_index", "does not start with"),
        ({"result_index": "opensearch-ad-plugin-result-Fleet"}, "result_index", "characters other than"),
        ({"result_index": "opensearch-ad-plugin-result-" + "a" * 230}, "result_index", "258 characters"),
        ({"result_index_ttl": 30}, "result_index_ttl", "only applies to a custom result index"),
        ({"flatten_custom_result_index": True}, "flatten_custom_result_index", "only applies"),
        ({"imputation": Imputation("LINEAR")}, "imputation.method", "not supported"),
        ({"imputation": Imputation("FIXED_VALUES", {"cpu_avg": 1})}, "imputation.default_fill", "mem_max"),
        ({"imputation": Imputation("FIXED_VALUES", {})}, "imputation.default_fill", "is empty"),
        ({"recency_emphasis": 1}, "recency_emphasis", "greater than 1"),
        ({"history": 10001}, "history", "out of range"),
        (
            {"rules": [Rule([Condition("nope", "ACTUAL_OVER_EXPECTED_RATIO", "LTE", 0.2)])]},
            "rules[0].conditions[0].feature_name",
            "not a feature",
        ),
        (
            {"rules": [Rule([Condition("cpu_avg", "ACTUAL_OVER_EXPECTED_RATIO", "LTE", -1)])]},
            "rules[0].conditions[0].value",
            "positive",
        ),
        (
            {"rules": [Rule([Condition("cpu_avg", "ACTUAL_IS_OVER_EXPECTED", "LTE", 0.2)])]},
            "rules[0].conditions[0]",
            "takes no operator",
        ),
        (
            {"rules": [Rule([Condition("cpu_avg", "BIGGER", "LTE", 0.2)])]},
            "rules[0].conditions[0].threshold_type",
            "not supported",
        ),
        ({"rules": [Rule([], "ALERT")]}, "rules[0].action", "not supported"),
    ],
)
def test_each_limit_gives_an_issue_with_path_and_fix(change, path, words):
    det = good()
    for k, v in change.items():
        setattr(det, k, v)
    issues = det.validate()
    assert path in [i.path for i in issues]
    issue = next(i for i in issues if i.path == path)
    assert words in issue.message
    assert issue.fix, f"{path} has no fix"


def test_feature_limits():
    det = good().copy(rules=None)  # the builder's rules name its features, replaced below
    det.features = [Feature.avg(f"f{i}", "x") for i in range(6)]
    assert "features" in _paths(det)
    assert _paths(det, max_features=6) == []
    det.features = [Feature.avg("a", "x"), Feature.avg("a", "y")]
    assert "features.a" in _paths(det)
    det.features = [
        Feature.raw("a", {"same": {"avg": {"field": "x"}}}),
        Feature.raw("b", {"same": {"max": {"field": "x"}}}),
    ]
    assert any("aggregation name 'same'" in i.message for i in det.validate())
    assert "category_fields" not in _paths(good(), category_field_limit=2)


def test_check_reports_all_problems_at_once():
    det = good()
    det.name = "bad name"
    det.shingle_size = 500
    det.result_index = "x"
    with pytest.raises(ValidationError) as e:
        det.check()
    assert len(e.value.issues) == 3
    assert "3 problems" in str(e.value) and "\n" not in str(e.value)
    assert e.value.exit_code == 2


def test_version_gates():
    det = good()
    assert det.unsupported_by((2, 9, 0)) == []
    det.imputation = Imputation("ZERO")
    det.rules = [Rule.ignore_within("cpu_avg")]
    det.result_index = "opensearch-ad-plugin-result-x"
    det.flatten_custom_result_index = True
    paths = {i.path for i in det.unsupported_by((2, 16, 0))}
    assert paths == {"imputation", "flatten_custom_result_index"}
    assert {i.path for i in det.unsupported_by((2, 14, 0))} >= {"rules", "imputation"}
    assert det.unsupported_by((2, 19, 4)) == []
    with pytest.raises(UnsupportedFeature, match=r"needs OpenSearch 2\.17\.0\+, the server is 2\.16\.0"):
        det.require_supported((2, 16, 0))
    det.rules = [Rule([Condition("cpu_avg", "ACTUAL_IS_OVER_EXPECTED", None, None)])]
    assert "rules.threshold_type.ACTUAL_IS_OVER_EXPECTED" in {i.path for i in det.unsupported_by((2, 18, 0))}


def test_diff_ignores_server_defaults_and_shows_real_changes():
    local = good()
    # What the server returns after creating `local`: defaults filled in, ids assigned.
    server_doc = copy.deepcopy(local.to_api())
    server_doc.update(
        {
            "filter_query": {"match_all": {"boost": 1.0}},
            "recency_emphasis": 2560,
            "history": 34,  # 32 + the builder's shingle size 2
            "schema_version": 0,
            "last_update_time": 1,
            "detector_type": "MULTI_ENTITY",
        }
    )
    for i, f in enumerate(server_doc["feature_attributes"]):
        f["feature_id"] = f"id{i}"
    server = Detector.from_api(server_doc, id="abc")
    assert local.diff(server) == []
    assert local.diff(server, ignore_server_defaults=False) != []
    changed = local.copy(interval=Interval(20), shingle_size=16)
    changed.features[0] = Feature.max("cpu_avg", "cpu")
    lines = changed.diff(server)
    assert "interval: '1200s' -> '600s'" in lines
    assert "shingle_size: 16 -> 2" in lines
    assert any(line.startswith("features.cpu_avg.aggregation_query:") for line in lines)
    assert changed.id is None


def test_single_stream_builder():
    d = Detector.single_stream("orders", "orders", "ts", {"total": ("sum", "amount")}, "5m")
    assert d.category_fields is None and not d.is_hc
    assert "category_field" not in d.to_request()


FILE = """\
name: fleet-cpu
indices: [metrics-*]
time_field: "@timestamp"
category_fields: [host]
interval: 10m
features:
  cpu_avg: {agg: avg, field: cpu}
"""


def stored(det: Detector, **filled: object) -> Detector:
    """What the plugin stores for ``det``: its request plus the defaults its parser fills in."""
    doc = det.to_request()
    shingle = doc.get("shingle_size", 8)
    doc.setdefault("shingle_size", shingle)
    doc.setdefault("history", 32 + shingle)
    doc.setdefault("recency_emphasis", 2560)
    doc.setdefault("rules", [Rule.ignore_within(f.name).to_api() for f in det.features])
    doc.update(filled)
    return Detector.from_api(doc, id="abc")


def test_diff_value_dropped_from_the_file_means_the_plugin_default():
    # The server holds shingle_size 16 (and the history the plugin derived from it, 32 + 16).
    server = stored(Detector.from_yaml(FILE + "shingle_size: 16\n"))
    assert (server.shingle_size, server.history) == (16, 48)
    dropped = Detector.from_yaml(FILE)  # the file no longer sets it: the plugin's default 8 (history 40)
    lines = server.diff(dropped)  # plan's direction: server -> file
    assert "shingle_size: 16 -> (default 8)" in lines
    assert "history: 48 -> (default 40)" in lines
    assert dropped.diff(server) == ["shingle_size: (default 8) -> 16", "history: (default 40) -> 48"]
    # What the plugin stores after the update matches the file again.
    assert stored(dropped).diff(dropped) == []
    assert dropped.diff(stored(dropped)) == []
    # An explicit history the server holds and the file drops is a change too.
    assert Detector.from_yaml(FILE).diff(stored(Detector.from_yaml(FILE), history=100)) == [
        "history: (default 40) -> 100"
    ]
    # Rules dropped from the file mean the plugin's default rule (ratio 0.2), not "unchanged".
    custom = stored(Detector.from_yaml(FILE), rules=[Rule.ignore_within("cpu_avg", 0.05).to_api()])
    assert [line.split(":")[0] for line in custom.diff(dropped)] == ["rules"]


def test_builder_defaults_are_the_tuned_ones_unless_the_caller_says_otherwise():
    # One place for the constants (hcad.ad.limits); the evaluation harness reads the same ones.
    from hcad.ad.model import (
        RECOMMENDED_MIN_CONFIDENCE,
        RECOMMENDED_MIN_GRADE,
        RECOMMENDED_RULE_RATIO,
        RECOMMENDED_SHINGLE_SIZE,
    )
    from hcad.quality import evaluate

    assert (
        evaluate.RECOMMENDED["shingle_size"],
        evaluate.RECOMMENDED["rule_ratio"],
        evaluate.RECOMMENDED["min_grade"],
        evaluate.RECOMMENDED["min_confidence"],
    ) == (RECOMMENDED_SHINGLE_SIZE, RECOMMENDED_RULE_RATIO, RECOMMENDED_MIN_GRADE, RECOMMENDED_MIN_CONFIDENCE)
    assert (RECOMMENDED_SHINGLE_SIZE, RECOMMENDED_RULE_RATIO) == (2, None)  # what scripts/tune_defaults.py chose
    feats = {"cpu_avg": ("avg", "cpu"), "off": {"agg": "max", "field": "cpu", "enabled": False}}
    det = Detector.hcad("d", "i", "t", ["host"], feats)
    assert (det.shingle_size, det.rules, det.has_builder_rules) == (2, None, False)
    assert "rules" not in det.to_request() and det.effective_shingle_size == 2
    plain = Detector.hcad("d", "i", "t", ["host"], feats, plugin_defaults=True)
    assert (plain.shingle_size, plain.rules, plain.effective_shingle_size) == (None, None, 8)
    d = Detector.hcad("d", "i", "t", ["host"], feats, shingle_size=8, rules=[Rule.ignore_within("cpu_avg", 0.3)])
    assert (d.shingle_size, d.rules, d.has_builder_rules) == (8, [Rule.ignore_within("cpu_avg", 0.3)], False)
    single = Detector.single_stream("s", "i", "t", feats)
    assert (single.shingle_size, single.rules) == (None, None)
    assert Detector.single_stream("s", "i", "t", feats, plugin_defaults=False).shingle_size == 2


def test_builder_rules_when_the_default_has_a_rule(monkeypatch):
    """The builder-rules machinery (a default rule per enabled feature, dropped for servers without rules)
    for a default with a rule ratio, as hcad shipped before issue 17 and may again."""
    import hcad.ad.model as model

    monkeypatch.setattr(model, "RECOMMENDED_RULE_RATIO", 0.05)
    monkeypatch.setattr(model, "RECOMMENDED_SHINGLE_SIZE", 4)
    feats = {"cpu_avg": ("avg", "cpu"), "off": {"agg": "max", "field": "cpu", "enabled": False}}
    det = Detector.hcad("d", "i", "t", ["host"], feats)
    assert det.shingle_size == 4
    assert det.rules == [Rule.ignore_within("cpu_avg", 0.05)]  # enabled features only
    assert det.has_builder_rules and det.check() is det
    # plugin_defaults leaves both to the plugin (shingle 8, the 20% rule).
    plain = Detector.hcad("d", "i", "t", ["host"], feats, plugin_defaults=True)
    assert (plain.shingle_size, plain.rules, plain.effective_shingle_size) == (None, None, 8)
    assert "rules" not in plain.to_request() and "shingle_size" not in plain.to_request()
    # Each one the caller passes wins on its own; None means "the plugin's default".
    mine = [Rule.ignore_within("cpu_avg", 0.3)]
    d = Detector.hcad("d", "i", "t", ["host"], feats, shingle_size=8, rules=mine)
    assert (d.shingle_size, d.rules, d.has_builder_rules) == (8, mine, False)
    d = Detector.hcad("d", "i", "t", ["host"], feats, shingle_size=None)
    assert (d.shingle_size, d.rules) == (None, [Rule.ignore_within("cpu_avg", 0.05)])
    d = Detector.hcad("d", "i", "t", ["host"], feats, rules=None)
    assert (d.shingle_size, d.rules) == (4, None)
    assert Detector.hcad("d", "i", "t", ["host"], feats, plugin_defaults=True, shingle_size=4).shingle_size == 4
    # A rule edited after building is the caller's.
    det.rules[0].conditions[0].value = 0.1
    assert not det.has_builder_rules
    # Single-stream detectors were not part of the evaluation: plugin defaults unless asked.
    single = Detector.single_stream("s", "i", "t", feats)
    assert (single.shingle_size, single.rules) == (None, None)
    assert Detector.single_stream("s", "i", "t", feats, plugin_defaults=False).shingle_size == 4
    # YAML carries the rules as the caller's (a file states what it wants).
    again = Detector.from_yaml(Detector.hcad("d", "i", "t", ["host"], feats).to_yaml())
    assert again.rules == [Rule.ignore_within("cpu_avg", 0.05)] and not again.has_builder_rules


def test_builder_rules_are_left_out_for_servers_without_rules_and_user_rules_are_refused(monkeypatch):
    import hcad.ad.model as model

    monkeypatch.setattr(model, "RECOMMENDED_RULE_RATIO", 0.05)  # a default with a rule (see above)
    monkeypatch.setattr(model, "RECOMMENDED_SHINGLE_SIZE", 4)
    det = good()
    assert det.unsupported_by((2, 14, 0)) == []  # left out, not refused
    old, notes = det.for_version((2, 14, 0))
    assert old.rules is None and old.shingle_size == 4 and det.rules is not None
    assert [n.path for n in notes] == ["rules"]
    assert "need OpenSearch 2.15.0+, the server is 2.14.0" in notes[0].message
    assert det.for_version((2, 15, 0)) == (det, [])
    same = [Rule.ignore_within("cpu_avg", 0.05), Rule.ignore_within("mem_max", 0.05)]
    assert det.rules == same and det.copy().has_builder_rules
    mine = det.copy(rules=same)  # the same values, but assigned by the caller: the caller's choice
    assert mine.for_version((2, 14, 0)) == (mine, [])
    assert [i.path for i in mine.unsupported_by((2, 14, 0))] == ["rules"]


# A filter as written in a definition, and as the 2.19.4.0 plugin returns it (GET detector): every
# query builder writes its defaults back (boost, adjust_pure_negative, match options, range bounds).
FILTER_SENT = {
    "bool": {
        "filter": {"term": {"host": "a"}},
        "must": [
            {"range": {"cpu": {"gte": 1, "lt": 5}}},
            {"terms": {"host": ["a", "b"]}},
            {"match": {"host": "a"}},
            {"match_phrase": {"host": "a"}},
            {"prefix": {"host": "a"}},
            {"wildcard": {"host": "a*"}},
            {"query_string": {"query": "host:a"}},
        ],
        "must_not": [{"exists": {"field": "process"}}],
        "should": [{"range": {"@timestamp": {"gte": "now-1d"}}}],
        "minimum_should_match": 1,
    }
}
MATCH_DEFAULTS = {
    "operator": "OR", "prefix_length": 0, "max_expansions": 50, "fuzzy_transpositions": True, "lenient": False,
    "zero_terms_query": "NONE", "auto_generate_synonyms_phrase_query": True, "boost": 1.0,
}  # fmt: skip
QUERY_STRING_DEFAULTS = {
    "fields": [], "type": "best_fields", "default_operator": "or", "max_determinized_states": 10000,
    "enable_position_increments": True, "fuzziness": "AUTO", "fuzzy_prefix_length": 0, "fuzzy_max_expansions": 50,
    "phrase_slop": 0, "escape": False, "auto_generate_synonyms_phrase_query": True, "fuzzy_transpositions": True,
    "boost": 1.0,
}  # fmt: skip
FILTER_STORED = {
    "bool": {
        "must": [
            {"range": {"cpu": {"from": 1, "to": 5, "include_lower": True, "include_upper": False, "boost": 1.0}}},
            {"terms": {"host": ["a", "b"], "boost": 1.0}},
            {"match": {"host": {"query": "a", **MATCH_DEFAULTS}}},
            {"match_phrase": {"host": {"query": "a", "slop": 0, "zero_terms_query": "NONE", "boost": 1.0}}},
            {"prefix": {"host": {"value": "a", "boost": 1.0}}},
            {"wildcard": {"host": {"wildcard": "a*", "boost": 1.0}}},
            {"query_string": {"query": "host:a", **QUERY_STRING_DEFAULTS}},
        ],
        "filter": [{"term": {"host": {"value": "a", "boost": 1.0}}}],
        "must_not": [{"exists": {"field": "process", "boost": 1.0}}],
        "should": [
            {
                "range": {
                    "@timestamp": {
                        "from": "now-1d", "to": None, "include_lower": True, "include_upper": True, "boost": 1.0,
                    }
                }
            }
        ],
        "adjust_pure_negative": True,
        "minimum_should_match": "1",
        "boost": 1.0,
    }
}  # fmt: skip


def test_server_written_filter_is_no_change():
    from hcad.ad.model import canonical_query

    assert canonical_query(FILTER_STORED) == canonical_query(FILTER_SENT)
    mine = Detector.hcad("d", "i", "@timestamp", ["host"], {"cpu": ("avg", "cpu")}, "10m", filter_query=FILTER_SENT)
    server = mine.copy(filter_query=FILTER_STORED)
    assert mine.diff(server) == []
    assert server.diff(mine.copy(filter_query={"bool": {"filter": [{"term": {"host": "b"}}]}}))
    # an export writes the short form, which is still a valid query
    assert server.to_dict()["filter"]["bool"]["filter"] == [{"term": {"host": "a"}}]
    assert server.to_dict()["filter"]["bool"]["must"][0] == {"range": {"cpu": {"gte": 1, "lt": 5}}}


def test_description_is_read_as_written_however_often_the_plugin_encoded_it():
    from hcad.ad.model import unescape_description

    text = 'CPU & memory <per> host\'s "process"'
    once = "CPU &amp; memory &lt;per&gt; host&#39;s &#34;process&#34;"  # create response, search hit
    twice = once.replace("&", "&amp;")  # GET (2.19.4.0)
    assert unescape_description(once) == unescape_description(twice) == text
    det = Detector.from_response({"_id": "x", "anomaly_detector": {**load("detector_get_full.json")["anomaly_detector"],
                                                                    "description": twice}})  # fmt: skip
    assert det.description == text and det.to_api()["description"] == text
    assert det.diff(det.copy(description=once)) == []


def test_hcad_builder_reads_extra_settings_as_the_yaml_form_does():
    base = dict(name="x", index="i", time_field="t", features={"c": ("avg", "cpu")})
    d = Detector.hcad(**base, category_fields="host", frequency="1h", imputation="zero")
    assert d.category_fields == ["host"]  # one field given as a string, not its letters
    body = d.to_request()
    assert body["frequency"] == {"period": {"interval": 60, "unit": "Minutes"}}
    assert body["imputation_option"] == {"method": "ZERO"}
    assert d.validate() == []
    same = Detector.hcad(**base, category_fields=["host"], frequency="1h", imputation={"method": "zero"})
    assert same.to_request() == body
    with pytest.raises(ValidationError, match=r"frequncy: is not a Detector setting .did you mean 'frequency'"):
        Detector.hcad(**base, category_fields=["host"], frequncy="1h")


@pytest.mark.parametrize(
    ("change", "path", "need"),
    [
        ({"shingle_size": "2"}, "shingle_size", "a whole number"),
        ({"shingle_size": 2.5}, "shingle_size", "a whole number"),
        ({"history": "40"}, "history", "a whole number"),
        ({"name": 123}, "name", "a string"),
        ({"description": 5}, "description", "a string"),
        ({"filter_query": "x"}, "filter_query", "a query mapping"),
    ],
)
def test_a_value_of_the_wrong_type_is_an_issue_not_a_crash(change, path, need):
    base = dict(name="x", index="i", time_field="t", category_fields=["host"], features={"c": ("avg", "cpu")})
    (issue,) = Detector.hcad(**{**base, **change}).validate()
    assert issue.path == path and issue.fix.startswith(f"give {need}")
    raw = Detector(name="x", indices=["i"], time_field="t", features=["cpu"])  # a Feature was meant
    with pytest.raises(ValidationError, match="features: is list"):
        raw.check()
