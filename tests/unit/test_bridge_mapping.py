"""Bridge config validation, time handling, document ids and the pure transform."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hcad.bridge.mapping import (
    Accumulator,
    Entity,
    MetricSpec,
    Series,
    align_down,
    check_retention,
    doc_id,
    index_template,
    iso,
    live_end,
    load_config,
    make_doc,
    parse_config,
    parse_duration,
    parse_time,
    series_for,
)
from hcad.errors import ConfigError, ValidationError

BASE: dict[str, Any] = {
    "index": "host-cloudwatch",
    "metrics": {
        "cpu": {"namespace": "AWS/EC2", "metric": "CPUUtilization", "stat": "Average"},
        "network_in": {"namespace": "AWS/EC2", "metric": "NetworkIn", "stat": "Sum"},
    },
}


def test_minimal_config_defaults():
    c = parse_config(BASE)
    assert c.period == 60 and c.lag == 120 and c.overlap == 300
    assert c.fields == ("cpu", "network_in")
    assert c.fetch.queries_per_call == 500 and c.fetch.tps < 50
    assert c.opensearch.bulk_docs == 500


@pytest.mark.parametrize(
    ("value", "seconds"), [(60, 60), ("60s", 60), ("5m", 300), ("2h", 7200), ("1d", 86400), (" 90 ", 90)]
)
def test_parse_duration(value, seconds):
    assert parse_duration(value, "x") == seconds


@pytest.mark.parametrize("value", ["5 minutes", "-1m", "1.5m", True, "10ms", ""])
def test_parse_duration_rejects(value):
    with pytest.raises(ConfigError, match="x: "):
        parse_duration(value, "x")


def test_every_problem_reported_with_its_path():
    raw = {
        "index": "Bad Index",
        "period": "45s",
        "colour": "blue",
        "metrics": {
            "host": {"namespace": "a", "metric": "b", "stat": "Average"},
            "cpu": {"namespace": "AWS/EC2", "stat": "Mean"},
            "proc": {"namespace": "n", "metric": "m", "stat": "p99", "per_process": True},
        },
        "fetch": {"queries_per_call": 501},
    }
    with pytest.raises(ValidationError) as ei:
        parse_config(raw, source="b.yaml")
    paths = {i.path for i in ei.value.issues}
    assert paths == {
        "index",
        "period",
        "colour",
        "metrics.host",
        "metrics.cpu.metric",
        "metrics.cpu.stat",
        "metrics.proc.per_process",
        "fetch.queries_per_call",
    }
    assert ei.value.exit_code == 2 and str(ei.value).startswith("b.yaml: 8 problems")


def test_high_resolution_periods_allowed():
    assert parse_config({**BASE, "period": "10s"}).period == 10


def test_load_config_yaml_json_and_errors(tmp_path):
    y = tmp_path / "b.yaml"
    y.write_text("index: x\nmetrics:\n  cpu: {namespace: AWS/EC2, metric: CPUUtilization, stat: Average}\n")
    assert load_config(y).index == "x"
    assert load_config(json.dumps(BASE)).index == "host-cloudwatch"
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("index: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid"):
        load_config(bad)


def test_example_config_is_valid():
    from pathlib import Path

    c = load_config(Path(__file__).resolve().parents[2] / "hcad" / "bridge" / "example-config.yaml")
    assert {"cpu", "memory", "network_in", "network_out"} <= set(c.fields)
    assert any(m.per_process for m in c.metrics) and c.process_dimension


def test_doc_id_is_stable_and_unambiguous():
    a = doc_id("web-1", None, 1_700_000_040)
    assert a == doc_id("web-1", None, 1_700_000_040)
    assert len(a) == 20 and a.replace("-", "").replace("_", "").isalnum()
    others = {
        doc_id("web-1", None, 1_700_000_100),
        doc_id("web-2", None, 1_700_000_040),
        doc_id("web-1", "java", 1_700_000_040),
        doc_id("web-1", "", 1_700_000_040),
        doc_id("a|b", None, 0),
        doc_id("a", "b", 0),
    }
    assert a not in others and len(others) == 6


def test_make_doc_shape():
    assert make_doc(Entity("h1"), 1_700_000_040, {"cpu": 1.5}) == {
        "@timestamp": "2023-11-14T22:14:00Z",
        "host": "h1",
        "cpu": 1.5,
    }
    assert make_doc(Entity("h1", "java"), 0, {})["process"] == "java"


def test_time_helpers():
    assert align_down(1_700_000_059, 60) == 1_700_000_040
    c = parse_config({**BASE, "lag": "2m"})
    assert live_end(1_700_000_300, c) == align_down(1_700_000_300 - 120, 60)
    assert parse_time("2025-01-31T00:00Z", "--from") == 1738281600
    assert parse_time("2025-01-31", "--from") == 1738281600
    assert parse_time("now-2h", "--from", now=10_000) == 10_000 - 7200
    # the CLI's date math (hcad.times): rounding down and epoch milliseconds, in seconds here
    assert parse_time("now-1d/d", "backfill.from", now=1738281600 + 5 * 3600) == 1738281600 - 86400
    assert parse_time("1738281600000", "backfill.from") == 1738281600
    with pytest.raises(ConfigError, match="--to 'soon' is not a time"):
        parse_time("soon", "--to")
    with pytest.raises(ConfigError, match=r"backfill\.from 1738281600 looks like epoch seconds"):
        parse_time("1738281600", "backfill.from")
    assert iso(0) == "1970-01-01T00:00:00Z"


def test_retention_guard():
    day = 86400
    check_retention(0, 14 * day, 60)
    with pytest.raises(ConfigError, match=r"15 days.*at least 300s"):
        check_retention(0, 16 * day, 60)
    check_retention(0, 60 * day, 300)
    with pytest.raises(ConfigError, match=r"63 days.*at least 3600s"):
        check_retention(0, 64 * day, 300)
    with pytest.raises(ConfigError, match=r"3 h|0.125 days"):
        check_retention(0, 4 * 3600, 10)


def test_accumulator_merges_fields_and_keeps_the_straddling_entity():
    cpu = MetricSpec("cpu", "AWS/EC2", "CPUUtilization", "Average")
    mem = MetricSpec("memory", "CWAgent", "mem", "Average")
    a, b = Entity("a"), Entity("b")
    acc = Accumulator()
    acc.add(Series(a, cpu), [120.0, 60.0], [2.0, 1.0])
    acc.add(Series(a, mem), [60.0], [float("nan")])  # non-finite values are dropped
    acc.add(Series(b, cpu), [60.0], [5.0])
    first = list(acc.pop_docs(keep=b))
    assert first == [
        (doc_id("a", None, 60), make_doc(a, 60, {"cpu": 1.0})),
        (doc_id("a", None, 120), make_doc(a, 120, {"cpu": 2.0})),
    ]
    acc.add(Series(b, mem), [60.0], [7.0])
    assert list(acc.pop_docs()) == [(doc_id("b", None, 60), make_doc(b, 60, {"cpu": 5.0, "memory": 7.0}))]
    assert acc.pending == {}


def test_series_for_applies_host_and_process_metrics():
    c = parse_config(
        {
            **BASE,
            "entity": {"host_dimension": "InstanceId", "process_dimension": "pidname"},
            "metrics": {
                **BASE["metrics"],
                "proc_cpu": {"namespace": "CWAgent", "metric": "procstat_cpu", "stat": "Average", "per_process": True},
            },
        }
    )
    s = list(series_for(c, [(Entity("h"), None), (Entity("h", "java"), None), (Entity("g"), ("cpu",))]))
    assert [(x.entity, x.spec.field) for x in s] == [
        (Entity("h"), "cpu"),
        (Entity("h"), "network_in"),
        (Entity("h", "java"), "proc_cpu"),
        (Entity("g"), "cpu"),
    ]
    assert c.dimensions_for(s[2]) == [{"Name": "InstanceId", "Value": "h"}, {"Name": "pidname", "Value": "java"}]


def test_index_template_maps_every_field():
    c = parse_config({**BASE, "opensearch": {"number_of_shards": 3, "number_of_replicas": 0}})
    t = index_template(c)
    assert t["index_patterns"] == ["host-cloudwatch"]
    props = t["template"]["mappings"]["properties"]
    assert props == {
        "@timestamp": {"type": "date"},
        "host": {"type": "keyword"},
        "process": {"type": "keyword"},
        "cpu": {"type": "double"},
        "network_in": {"type": "double"},
    }
    assert t["template"]["settings"] == {"number_of_shards": 3, "number_of_replicas": 0}
