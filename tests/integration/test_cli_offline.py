"""The CLI against the real local OpenSearch, for everything that needs no AD plugin.

Pre-flight checks read the live index mapping; ``hcad results --result-index`` reads AD-shaped
result documents from a real index with a plain search (the same query the plugin's results search
runs, nested entity filter included) and writes real PNGs.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import sys
from pathlib import Path

import pytest
from cli_output import error_text

import hcad

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_cli_detectors_fake import result_docs

from hcad.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
DEF = """\
name: {name}
indices: [{index}]
time_field: "@timestamp"
category_fields: [host]
interval: 10m
features:
  cpu_avg: {{agg: avg, field: cpu}}
  mem_max: {{agg: max, field: memory}}
"""
# The plugin's result mapping, reduced to what hcad reads (anomaly-results.json at 2.19.4.0).
RESULT_MAPPING = {
    "properties": {
        "detector_id": {"type": "keyword"},
        "model_id": {"type": "keyword"},
        "task_id": {"type": "keyword"},
        "data_start_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "data_end_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "execution_start_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "execution_end_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "anomaly_grade": {"type": "double"},
        "anomaly_score": {"type": "double"},
        "confidence": {"type": "double"},
        "schema_version": {"type": "integer"},
        "feature_data": {
            "type": "nested",
            "properties": {
                "feature_id": {"type": "keyword"},
                "feature_name": {"type": "keyword"},
                "data": {"type": "double"},
            },
        },
        "entity": {"type": "nested", "properties": {"name": {"type": "keyword"}, "value": {"type": "keyword"}}},
        "expected_values": {
            "type": "nested",
            "properties": {
                "likelihood": {"type": "double"},
                "value_list": {
                    "type": "nested",
                    "properties": {"feature_id": {"type": "keyword"}, "data": {"type": "double"}},
                },
            },
        },
    }
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


error_line = error_text


@pytest.fixture
def metrics_index(os_client, index_name: str) -> str:
    # host is text, not keyword; there is no memory field.
    os_client.indices.create(
        index=index_name,
        body={
            "mappings": {
                "properties": {"@timestamp": {"type": "date"}, "host": {"type": "text"}, "cpu": {"type": "double"}}
            }
        },
    )
    return index_name


def test_preflight_reads_the_live_mapping(capsys, os_url, metrics_index, tmp_path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(DEF.format(name="it-preflight", index=metrics_index))
    for command in ("validate", "plan", "apply"):
        code, _, err = run(capsys, "--url", os_url, "detectors", command, str(f))
        line = error_line(err)
        assert code == 2, (command, err)
        assert "2 problems" in line
        assert f"{f}:4: it-preflight: category_fields: field 'host' must be keyword or ip, it is text" in line
        assert (
            f"{f}:8: it-preflight: features.mem_max: field 'memory' is not in the mappings of {metrics_index}" in line
        )


def test_preflight_missing_index(capsys, os_url, index_name, tmp_path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(DEF.format(name="it-missing", index=index_name))
    code, _, err = run(capsys, "--url", os_url, "detectors", "apply", str(f))
    assert code == 2 and f"{f}:2: it-missing: indices: no index matches {index_name}" in error_line(err)


def test_valid_definition_passes_preflight(capsys, os_client, os_url, index_name, tmp_path) -> None:
    os_client.indices.create(
        index=index_name,
        body={"mappings": {"properties": {"@timestamp": {"type": "date"}, "host": {"type": "keyword"},
                                          "cpu": {"type": "double"}, "memory": {"type": "float"}}}},
    )  # fmt: skip
    f = tmp_path / "d.yaml"
    f.write_text(DEF.format(name="it-valid", index=index_name))
    code, out, err = run(capsys, "--url", os_url, "detectors", "validate", str(f))
    assert "no documents" in err  # the density check warns about an empty index, without failing
    if "opensearch-anomaly-detection" in hcad.connect(os_url).installed_plugins:
        # The plugin's own validation (run when it is installed) refuses an empty source index: the
        # only issue, placed on the definition (seen on a 2.19.4.0 plugin).
        assert code == 2, err
        assert f"{f}:1: it-valid: detector.indices: Can't create anomaly detector as no document is found" in err
        assert "1 problem" in error_line(err) or error_line(err).count("it-valid:") == 1
    else:
        assert code == 0, err
        assert "1 detector(s) valid (files and cluster)" in out


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_results_from_a_real_result_index_with_plots(capsys, os_client, os_url, index_name, tmp_path) -> None:
    os_client.indices.create(index=index_name, body={"mappings": RESULT_MAPPING})
    docs = result_docs("det-it", hosts=("h1", "h2", "h3", "h4"), intervals=144,
                       anomalies={("h2", 40): 0.5, ("h2", 41): 0.95, ("h4", 100): 0.7})  # fmt: skip
    docs += result_docs("other-detector", hosts=("h9",), intervals=10)
    body = "".join(json.dumps({"index": {}}) + "\n" + json.dumps(d) + "\n" for d in docs)
    resp = os_client.bulk(body=body, index=index_name, refresh="true")
    assert not resp["errors"]

    plot, heat = tmp_path / "features.png", tmp_path / "heatmap.png"
    code, out, err = run(
        capsys, "--url", os_url, "results", "det-it", "--result-index", index_name,
        "--from", "2024-05-01T00:00:00Z", "--to", "2024-05-02T00:00:00Z",
        "--plot", str(plot), "--heatmap", str(heat), "--max-entities", "3",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0] == "det-it: 576 results, 3 anomalies, 2024-05-01T00:00:00Z to 2024-05-02T00:00:00Z"
    assert f"wrote {plot}" in out and f"wrote {heat}" in out
    w, h = png_size(plot)
    assert (w, h) == (1100, int((1.2 + 2.3 * 3) * 100)) and plot.stat().st_size > 30_000
    w, h = png_size(heat)
    assert w >= 600 and h >= 250 and heat.stat().st_size > 10_000

    code, out, _ = run(capsys, "--url", os_url, "results", "det-it", "--result-index", index_name,
                       "--from", "2024-05-01", "--to", "2024-05-02", "--csv")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 576 and {r["host"] for r in rows} == {"h1", "h2", "h3", "h4"}

    # The nested entity filter and the grade filter, evaluated by the real node.
    code, out, _ = run(capsys, "--url", os_url, "results", "det-it", "--result-index", index_name,
                       "--from", "2024-05-01", "--to", "2024-05-02", "--entity", "host=h2", "--anomalies-only",
                       "--json")  # fmt: skip
    got = json.loads(out)
    assert code == 0 and got["rows"] == 2
    assert [r["anomaly_grade"] for r in got["results"]] == [0.5, 0.95]
    assert got["results"][1]["cpu_avg_expected"] == pytest.approx(got["results"][1]["cpu_avg"] - 50.0)


def test_results_missing_result_index_is_one_line(capsys, os_url, index_name) -> None:
    code, _, err = run(capsys, "--url", os_url, "results", "det-x", "--result-index", index_name)
    assert code == 1 and f"result index '{index_name}' does not exist" in error_line(err)


def test_shipped_definitions_report_missing_indices_here(capsys, os_client, os_url) -> None:
    for index in ("host-cloudwatch", "fleet-metrics"):
        if os_client.indices.exists(index=index):
            pytest.skip(f"{index} exists on this cluster")
    code, _, err = run(capsys, "--url", os_url, "detectors", "plan", str(ROOT / "detectors"))
    line = error_line(err)
    assert code == 2 and "5 problems" in line
    # the blog's detector reads the blog's index; the fleet detectors read what the bridge writes
    assert line.count("no index matches host-cloudwatch") == 1 and line.count("no index matches fleet-metrics") == 4
