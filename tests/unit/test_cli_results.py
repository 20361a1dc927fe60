"""``hcad results`` and ``hcad top`` through ``main()`` against the fake AD plugin."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from test_cli_detectors import CPU, MAPPING, one_line_error, run
from test_cli_detectors_fake import D, FakeAD, make_client, result_docs

from hcad.cli.common import CliContext
from hcad.cli.results import parse_entity
from hcad.errors import HcadError
from hcad.times import parse_time

NOW = 1_714_608_000_000  # 2024-05-02T00:00:00Z


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> FakeAD:
    fake = FakeAD(mappings={"metrics": dict(MAPPING)})
    client = make_client(fake)
    monkeypatch.setattr(CliContext, "client", property(lambda self: client))
    (tmp_path / "cpu.yaml").write_text(CPU)
    run(capsys, "detectors", "apply", str(tmp_path / "cpu.yaml"))
    det_id, _ = fake.by_name("cpu-test")
    fake.results = result_docs(det_id, anomalies={("h2", 10): 0.4, ("h2", 11): 0.9, ("h3", 30): 0.6})
    return fake


def test_parse_time_and_entity() -> None:
    assert parse_time("now", "--from", now_ms=NOW) == NOW
    assert parse_time("now-7d", "--from", now_ms=NOW) == NOW - 7 * 86_400_000
    assert parse_time("-24h", "--from", now_ms=NOW) == NOW - 86_400_000
    assert parse_time("2024-05-02", "--from") == NOW
    assert parse_time("2024-05-02T00:00:00Z", "--from") == NOW
    assert parse_time(str(NOW), "--from") == NOW
    # OpenSearch date math: rounding down in UTC (weeks from Monday), m is minutes, M and y are refused.
    assert parse_time("now-1d/d", "--from", now_ms=NOW + 5 * 3_600_000) == NOW - 86_400_000
    assert parse_time("now/w", "--from", now_ms=NOW) == NOW - 3 * 86_400_000  # 2024-05-02 is a Thursday
    assert parse_time("now-90m", "--from", now_ms=NOW) == NOW - 90 * 60_000
    for bad, said in (("now-1M", "unit 'M' is not one of s, m (minutes)"), ("now-1y", "unit 'y'"),
                      ("1714608000", "looks like epoch seconds; give milliseconds (1714608000000)")):  # fmt: skip
        with pytest.raises(HcadError, match=re.escape(said)):
            parse_time(bad, "--from", now_ms=NOW)
    assert parse_entity("host=h1, process=p2") == {"host": "h1", "process": "p2"}


def test_bad_time_and_entity_are_usage_errors(capsys, server) -> None:
    code, _, err = run(capsys, "results", "cpu-test", "--from", "yesterday")
    assert code == 2 and "--from 'yesterday' is not a time" in one_line_error(err)
    code, _, err = run(capsys, "results", "cpu-test", "--entity", "host")
    assert code == 2 and "field=value" in one_line_error(err)
    code, _, err = run(capsys, "results", "cpu-test", "--from", "2024-05-02", "--to", "2024-05-01")
    assert code == 2 and "is not after" in one_line_error(err)


def test_results_table_and_query(capsys, server) -> None:
    code, out, _ = run(capsys, "results", "cpu-test", "--from", "2024-05-01", "--to", "2024-05-02", "--limit", "5")
    assert code == 0
    assert out.splitlines()[0] == "cpu-test: 144 results, 3 anomalies, 2024-05-01T00:00:00Z to 2024-05-02T00:00:00Z"
    assert "time (UTC)        entity   grade  confidence  cpu_avg  mem_max" in out
    assert "(showing 5 of 144 rows" in out
    body = next(c for c in server.calls if c[1] == f"{D}/results/_search")[3]
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"detector_id": server.by_name("cpu-test")[0]}} in filters
    assert {"range": {"data_start_time": {"gte": 1714521600000, "lt": NOW, "format": "epoch_millis"}}} in filters


def test_results_entity_and_anomalies_only_filters(capsys, server) -> None:
    code, _, _ = run(capsys, "results", "cpu-test", "--entity", "host=h2", "--anomalies-only", "--json")
    assert code == 0
    filters = next(c for c in server.calls if c[1] == f"{D}/results/_search")[3]["query"]["bool"]["filter"]
    assert {"range": {"anomaly_grade": {"gt": 0}}} in filters
    nested = [f["nested"] for f in filters if "nested" in f]
    assert nested[0]["path"] == "entity" and {"term": {"entity.value": "h2"}} in nested[0]["query"]["bool"]["filter"]


def test_results_csv_json_and_plots(capsys, server, tmp_path) -> None:
    code, out, _ = run(capsys, "results", "cpu-test", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 144 and {"host", "anomaly_grade", "cpu_avg", "cpu_avg_expected"} <= set(rows[0])
    plot, heat = tmp_path / "p.png", tmp_path / "h.png"
    code, out, _ = run(capsys, "results", "cpu-test", "--plot", str(plot), "--heatmap", str(heat), "--json")
    assert code == 0
    got = json.loads(out)
    assert got["rows"] == 144 and got["anomalies"] == 3 and got["files"] == [str(plot), str(heat)]
    assert got["results"][0]["data_start_time"].startswith("2024-05-01T00:00:00")
    for p in (plot, heat):
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_results_historical_latest_task(capsys, server) -> None:
    det_id, _ = server.by_name("cpu-test")
    server.tasks[det_id] = {"task_id": "t-42", "state": "FINISHED", "task_progress": 1.0}
    code, out, _ = run(capsys, "results", "cpu-test", "--historical")
    assert code == 0 and "task t-42" in out
    body = next(c for c in server.calls if c[1] == f"{D}/results/_search")[3]
    assert {"term": {"task_id": "t-42"}} in body["query"]["bool"]["filter"]
    assert not [f for f in body["query"]["bool"]["filter"] if "range" in f]  # whole run


def test_results_nothing_to_plot_is_exit_1(capsys, server, tmp_path) -> None:
    server.results = []
    code, _, err = run(capsys, "results", "cpu-test", "--plot", str(tmp_path / "p.png"))
    assert code == 1 and "nothing to plot" in one_line_error(err)


def test_top_realtime_and_historical(capsys, server) -> None:
    det_id, _ = server.by_name("cpu-test")
    server.top = {"buckets": [{"key": {"host": "h2"}, "doc_count": 2, "max_anomaly_grade": 0.9},
                              {"key": {"host": "h3"}, "doc_count": 1, "max_anomaly_grade": 0.6}]}  # fmt: skip
    code, out, _ = run(capsys, "top", "cpu-test", "--from", "2024-05-01", "--to", "2024-05-02")
    assert code == 0
    assert "top 2 entities by severity, 2024-05-01T00:00:00Z to 2024-05-02T00:00:00Z" in out
    assert "1  host=h2  0.9        2" in out
    _, url, params, body = server.calls[-1]
    assert url == f"{D}/{det_id}/results/_topAnomalies" and params == {}
    assert body == {"size": 10, "order": "severity", "start_time_ms": 1714521600000, "end_time_ms": NOW}

    code, _, err = run(capsys, "top", "cpu-test", "--historical")
    assert code == 1 and "no historical analysis found" in one_line_error(err)

    # The plugin needs a time range for historical top anomalies too: the run's own date range is sent.
    rng = {"start_time": 1714000000000, "end_time": 1714500000000}
    server.tasks[det_id] = {"task_id": "t1", "state": "FINISHED", "task_progress": 1.0, "detection_date_range": rng}
    code, out, err = run(capsys, "top", "cpu-test", "--historical", "--by", "host", "--order", "occurrence", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["top"][0] == {"entity": {"host": "h2"}, "anomalies": 2, "max_anomaly_grade": 0.9}
    _, _, params, body = server.calls[-1]
    assert params == {"historical": "true"}
    assert body == {"size": 10, "order": "occurrence", "category_field": ["host"], "task_id": "t1",
                    "start_time_ms": 1714000000000, "end_time_ms": 1714500000000}  # fmt: skip

    code, _, err = run(capsys, "top", "cpu-test", "--by", "process")
    assert code == 2 and "not a category field" in one_line_error(err)


def test_top_needs_hc_detector(capsys, server, tmp_path) -> None:
    (tmp_path / "single.yaml").write_text(CPU.replace("cpu-test", "single").replace("category_fields: [host]\n", ""))
    run(capsys, "detectors", "apply", str(tmp_path / "single.yaml"))
    code, _, err = run(capsys, "top", "single")
    assert code == 2 and "high-cardinality" in one_line_error(err)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["top", "cpu-test", "--size", "0"], "Invalid value for '--size': 0 is not in the range 1<=x<=1000"),
        (["top", "cpu-test", "--from", "yesterday"], "--from 'yesterday' is not a time"),
        (["detectors", "history", "cpu-test", "--from", "garbage"], "--from 'garbage' is not a time"),
        (["detectors", "history", "cpu-test", "--from", "now", "--to", "now-1d"], "is not after --from now"),
        (["entities", "idx", "-f", "a", "-f", "b", "-f", "c"], "3 --field options given; the plugin allows at most 2"),
        (["entities", "idx", "-f", "host", "--from", "garbage"], "--from 'garbage' is not a time"),
        (["entities", "idx", "-f", "host", "--from", "now", "--to", "now-1d"], "--to now-1d is not after --from now"),
        (["entities", "idx", "-f", "host", "--interval", "7x"], "--interval '7x' is not an interval"),
    ],
)
def test_bad_input_is_said_before_the_server_is_asked(capsys, monkeypatch, args, said) -> None:
    def no_server(self):
        raise AssertionError("the server was asked")

    monkeypatch.setattr(CliContext, "client", property(no_server))
    code, _, err = run(capsys, *args)
    assert code == 2 and said in (err if said.startswith("Invalid value") else one_line_error(err)), err
