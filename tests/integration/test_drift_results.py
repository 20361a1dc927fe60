"""Drift on a real node: an index shaped like the AD results index (its 2.19.4.0 mapping, the fields
used here), filled with result documents for three detectors (stable, one-off spike, sustained shift)
plus a historical run, read back through the real query path and through ``hcad drift``.

Needs only plain OpenSearch (no AD plugin), so it runs on the local node.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from opensearchpy import helpers

from hcad.alerting.drift import evaluate, read_daily_grades
from hcad.cli.main import main

END = datetime(2024, 5, 14, tzinfo=UTC)  # the last day read is 2024-05-14
DAYS = 40
ENTITIES = 4
PER_DAY = 24  # one result per entity per hour

MAPPING = {
    "dynamic": False,
    "properties": {
        "detector_id": {"type": "keyword"},
        "anomaly_grade": {"type": "double"},
        "confidence": {"type": "double"},
        "data_start_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "data_end_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "execution_end_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "entity": {"type": "nested", "properties": {"name": {"type": "keyword"}, "value": {"type": "keyword"}}},
        "model_id": {"type": "keyword"},
        "task_id": {"type": "keyword"},
    },
}


def daily_level(kind: str, day: int) -> float:
    v = 0.03 + 0.006 * math.sin(2 * math.pi * day / 7)
    if kind == "spike" and day == 30:
        v += 0.25
    if kind == "shift" and day >= 30:
        v += 0.04
    return v


def docs(index: str, detector_id: str, kind: str, task_id: str | None = None):
    first = END - timedelta(days=DAYS - 1)
    for day in range(DAYS):
        level = daily_level(kind, day)
        for h in range(PER_DAY):
            for e in range(ENTITIES):
                # grades spread around the day's level; their mean per day is exactly the level
                grade = level * (1 + 0.5 * ((e % 2) * 2 - 1))
                start = first + timedelta(days=day, hours=h)
                src = {
                    "detector_id": detector_id,
                    "anomaly_grade": grade,
                    "confidence": 0.95,
                    "data_start_time": int(start.timestamp() * 1000),
                    "data_end_time": int((start + timedelta(minutes=10)).timestamp() * 1000),
                    "execution_end_time": int((start + timedelta(minutes=11)).timestamp() * 1000),
                    "entity": [{"name": "host", "value": f"host{e}"}],
                    "model_id": f"{detector_id}_entity_host{e}",
                }
                if task_id:
                    src["task_id"] = task_id
                yield {"_index": index, "_source": src}


@pytest.fixture
def results_index(os_client, index_name):
    os_client.indices.create(index=index_name, body={"mappings": MAPPING})
    for det, kind in (("det-stable", "stable"), ("det-spike", "spike"), ("det-shift", "shift")):
        helpers.bulk(os_client, docs(index_name, det, kind))
    # a historical run of the stable detector that saw the shift: only visible with its task id
    helpers.bulk(os_client, docs(index_name, "det-stable", "shift", task_id="task-1"))
    os_client.indices.refresh(index=index_name)
    return index_name


def test_only_sustained_shift_drifts_on_real_results(os_client, results_index):
    def search(body):
        return os_client.search(index=results_index, body=body)

    verdicts = {}
    for det in ("det-stable", "det-spike", "det-shift"):
        series = read_daily_grades(search, det, days=DAYS, end=END)
        assert len(series) == DAYS and all(g.count == ENTITIES * PER_DAY for g in series)
        assert series[30].mean == pytest.approx(daily_level(det.split("-")[1], 30))
        verdicts[det] = evaluate(series)
    assert {d: r.drifted for d, r in verdicts.items()} == {"det-stable": False, "det-spike": False, "det-shift": True}
    assert verdicts["det-shift"].drift_start == (END - timedelta(days=DAYS - 1 - 30)).date()

    historical = evaluate(read_daily_grades(search, "det-stable", days=DAYS, end=END, task_id="task-1"))
    assert historical.drifted  # the historical run's results, not the real-time ones


def test_drift_cli_reads_an_index_directly(os_url, results_index, capsys):
    args = ["--url", os_url, "drift", "--detector-id", "det-shift", "--index", results_index]
    with pytest.raises(SystemExit) as e:
        main([*args, "--end", "2024-05-14", "--days", str(DAYS), "--json"])
    assert e.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["drifted"] is True and out["action"] == "report-only" and len(out["days"]) == DAYS
    with pytest.raises(SystemExit) as e:
        main([*args[:4], "det-spike", *args[5:], "--end", "2024-05-14", "--days", str(DAYS)])
    assert e.value.code == 0
    assert "no drift" in capsys.readouterr().out


def test_drift_cli_refuses_retrain_without_a_name(os_url, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--url", os_url, "drift", "--detector-id", "x", "--retrain"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("hcad: error: --retrain needs the detector NAME") and err.count("\n") == 1
