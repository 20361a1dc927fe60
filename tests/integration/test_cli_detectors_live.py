"""``hcad detectors`` against the real anomaly-detection plugin: each behaviour the unit tests
(tests/unit/test_cli_detectors.py) check on a hand-written simulator of the plugin, checked here on
the plugin itself, so the simulator cannot drift from it unnoticed.

plan -> create; apply twice -> no changes (the stored document is untouched); a changed field is
planned as an update and applied with the stored seq_no; a value dropped from the file becomes the
plugin's default; a running detector is refused without --restart (server unchanged) and updated
with it; export round trip; copy of a running detector; history with a progress bar; delete.

One small fleet (4 entities, ~2.8 days of 10-minute data) is shared by the module; every detector
gets a unique name and is deleted afterwards. About 15 s on 2 cores.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hcad.cli.main import main
from hcad.quality.loading import load_fleet
from hcad.quality.synth import FleetSpec

SPEC = FleetSpec.blog(hosts=2, processes=2, periods=400, anomalies=4, seed=21)

CPU = """\
name: {name}
description: cpu per host
indices: [{index}]
time_field: "@timestamp"
category_fields: [host]
interval: 10m
window_delay: 5m
features:
  cpu_avg: {{agg: avg, field: cpuTime}}
"""

GC = """\
- name: {name}
  indices: [{index}]
  time_field: "@timestamp"
  category_fields: [host, process]
  interval: 10m
  features:
    gc_max: {{agg: max, field: jvmGcTime}}
"""


def run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["--url", url, *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture(scope="module")
def fleet(ad_client) -> Iterator[str]:
    index = f"hcad-test-cli-detectors-live-{uuid.uuid4().hex[:6]}"
    load_fleet(ad_client, index, SPEC, progress=False)
    yield index
    ad_client.indices.delete(index=index, ignore_unavailable=True)


@pytest.fixture
def names(ad_client) -> Iterator[dict[str, str]]:
    """Unique detector names for one test; every detector with one of them is stopped and deleted after."""
    suffix = uuid.uuid4().hex[:6]
    out = {k: f"it-live-{suffix}-{k}" for k in ("cpu", "gc", "copy")}
    yield out
    ad = ad_client.ad
    for name in out.values():
        det = ad.find(name)
        if det is not None and det.id is not None:
            for historical in (False, True):
                ad.stop(det.id, historical=historical)
            ad.delete(det.id)


@pytest.fixture
def defs(tmp_path: Path, fleet: str, names: dict[str, str]) -> Path:
    d = tmp_path / "detectors"
    d.mkdir()
    (d / "cpu.yaml").write_text(CPU.format(name=names["cpu"], index=fleet))
    (d / "gc.yml").write_text(GC.format(name=names["gc"], index=fleet))
    return d


def stored(ad_client, name: str) -> tuple[str, dict, int]:
    """(id, the plugin's document, seq_no) of the detector named ``name``."""
    det = ad_client.ad.find(name)
    assert det is not None and det.id is not None, f"{name} is not on the server"
    resp = ad_client.transport.perform_request("GET", f"/_plugins/_anomaly_detection/detectors/{det.id}")
    return det.id, resp["anomaly_detector"], int(resp["_seq_no"])


def test_plan_then_apply_creates_and_a_second_apply_changes_nothing(capsys, ad_client, os_url, defs, names):
    code, out, err = run(capsys, os_url, "detectors", "plan", str(defs))
    assert code == 0, err
    assert "+ create" in out and names["cpu"] in out and names["gc"] in out
    assert "Plan: 2 to create, 0 to update, 0 unchanged" in out
    assert ad_client.ad.find(names["cpu"]) is None and ad_client.ad.find(names["gc"]) is None  # plan sent nothing

    code, out, err = run(capsys, os_url, "detectors", "apply", str(defs))
    assert code == 0, err
    assert "Applied: 2 created" in out
    cpu_id, cpu_doc, cpu_seq = stored(ad_client, names["cpu"])
    gc_id, gc_doc, gc_seq = stored(ad_client, names["gc"])
    assert cpu_doc["category_field"] == ["host"] and gc_doc["category_field"] == ["host", "process"]
    assert cpu_doc["window_delay"]["period"] == {"interval": 5, "unit": "Minutes"}

    # The plugin's stored documents (with the defaults it fills in) read back as "no change".
    code, out, err = run(capsys, os_url, "detectors", "apply", str(defs))
    assert code == 0, err
    assert "No changes: 2 detector(s) match the server" in out  # others may share the cluster
    assert stored(ad_client, names["cpu"]) == (cpu_id, cpu_doc, cpu_seq)
    assert stored(ad_client, names["gc"]) == (gc_id, gc_doc, gc_seq)
    code, out, _ = run(capsys, os_url, "detectors", "plan", str(defs), "--json")
    assert code == 0 and json.loads(out)["has_changes"] is False


def test_changed_field_is_planned_and_applied_then_a_dropped_value_is_the_plugin_default(
    capsys, ad_client, os_url, defs, names, fleet
):
    cpu_file = defs / "cpu.yaml"
    cpu_file.write_text(CPU.format(name=names["cpu"], index=fleet) + "shingle_size: 16\n")
    assert run(capsys, os_url, "detectors", "apply", str(defs))[0] == 0
    _, doc, seq = stored(ad_client, names["cpu"])
    assert (doc["shingle_size"], doc["history"]) == (16, 48)  # history = 32 + shingle when not given

    changed = CPU.format(name=names["cpu"], index=fleet).replace("interval: 10m", "interval: 20m")
    cpu_file.write_text(changed.replace("cpu per host", "CPU") + "shingle_size: 16\n")
    code, out, err = run(capsys, os_url, "detectors", "plan", str(defs))
    assert code == 0, err
    assert "~ update" in out and "interval: '600s' -> '1200s'" in out and "description: 'cpu per host' -> 'CPU'" in out
    assert "Plan: 0 to create, 1 to update, 1 unchanged" in out
    assert stored(ad_client, names["cpu"])[2] == seq  # plan changed nothing

    code, out, err = run(capsys, os_url, "detectors", "apply", str(defs))
    assert code == 0 and "1 updated" in out, err
    _, doc, seq2 = stored(ad_client, names["cpu"])
    assert seq2 > seq and doc["detection_interval"]["period"]["interval"] == 20 and doc["description"] == "CPU"

    cpu_file.write_text(changed.replace("cpu per host", "CPU"))  # shingle_size removed from the file
    code, out, err = run(capsys, os_url, "detectors", "plan", str(defs))
    assert code == 0, err
    assert "shingle_size: 16 -> (default 8)" in out and "history: 48 -> (default 40)" in out
    code, out, err = run(capsys, os_url, "detectors", "apply", str(defs))
    assert code == 0 and "1 updated" in out, err
    _, doc, _ = stored(ad_client, names["cpu"])
    assert (doc["shingle_size"], doc["history"]) == (8, 40)  # what the plugin fills in for "not given"
    code, out, _ = run(capsys, os_url, "detectors", "plan", str(defs), "--json")
    assert json.loads(out)["has_changes"] is False


def test_running_detector_needs_restart_and_is_left_unchanged(capsys, ad_client, os_url, defs, names, fleet):
    assert run(capsys, os_url, "detectors", "apply", str(defs))[0] == 0
    cpu_id, before, seq = stored(ad_client, names["cpu"])
    code, out, err = run(capsys, os_url, "detectors", "start", names["cpu"])
    assert code == 0, err
    assert ad_client.ad.get_state(cpu_id).realtime_running

    (defs / "cpu.yaml").write_text(
        CPU.format(name=names["cpu"], index=fleet).replace("window_delay: 5m", "window_delay: 7m")
    )
    code, out, err = run(capsys, os_url, "detectors", "plan", str(defs))
    assert code == 0 and "[running: updated only with --restart]" in out, err

    code, _, err = run(capsys, os_url, "detectors", "apply", str(defs))
    assert code == 1 and f"{names['cpu']} is running" in err and "--restart" in err and "nothing was changed" in err
    assert stored(ad_client, names["cpu"]) == (cpu_id, before, seq)
    assert ad_client.ad.get_state(cpu_id).realtime_running

    # The plugin refuses to update a running detector, so --restart stops it, updates it and starts it again.
    code, _, err = run(capsys, os_url, "detectors", "apply", str(defs), "--restart")
    assert code == 0, err
    state = ad_client.ad.get_state(cpu_id)
    assert state.realtime_running and str(state.detector.window_delay) == "7m"


def test_export_round_trips_and_copy_leaves_the_running_original_alone(
    capsys, ad_client, os_url, defs, names, tmp_path
):
    assert run(capsys, os_url, "detectors", "apply", str(defs))[0] == 0
    cpu_id, original, seq = stored(ad_client, names["cpu"])

    exported = tmp_path / "exported.yaml"
    code, _, err = run(capsys, os_url, "detectors", "export", names["cpu"], "-o", str(exported))
    assert code == 0 and "wrote" in err, err
    data = yaml.safe_load(exported.read_text())
    assert (data["name"], data["interval"], data["window_delay"]) == (names["cpu"], "10m", "5m")
    code, out, err = run(capsys, os_url, "detectors", "plan", str(exported))
    assert code == 0 and f"= unchanged       {names['cpu']}" in out and "No changes: 1 detector(s)" in out, err
    code, out, err = run(capsys, os_url, "detectors", "apply", str(exported))
    assert code == 0 and "No changes: 1 detector(s)" in out, err
    assert stored(ad_client, names["cpu"])[2] == seq

    assert run(capsys, os_url, "detectors", "start", names["cpu"])[0] == 0
    code, out, err = run(capsys, os_url, "detectors", "copy", names["cpu"], names["copy"], "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["source_id"] == cpu_id and res["name"] == names["copy"] and res["started"] is False
    copy_id, copy_doc, _ = stored(ad_client, names["copy"])
    assert copy_id != cpu_id
    assert [f["aggregation_query"] for f in copy_doc["feature_attributes"]] == [
        f["aggregation_query"] for f in original["feature_attributes"]
    ]
    assert copy_doc["category_field"] == original["category_field"]
    assert stored(ad_client, names["cpu"]) == (cpu_id, original, seq)
    assert ad_client.ad.get_state(cpu_id).realtime_running and not ad_client.ad.get_state(copy_id).realtime_running
    code, _, err = run(capsys, os_url, "detectors", "copy", names["cpu"], names["copy"])
    assert code == 2 and "already exists" in err


def test_history_with_progress_then_delete(capsys, ad_client, os_url, defs, names):
    assert run(capsys, os_url, "detectors", "apply", str(defs))[0] == 0
    gc_id, _, _ = stored(ad_client, names["gc"])
    start, end = SPEC.start.isoformat(), SPEC.end.isoformat()
    code, out, err = run(capsys, os_url, "detectors", "history", names["gc"], "--from", start, "--to", end,
                         "--poll", "1", "--timeout", "600", "--progress")  # fmt: skip
    assert code == 0, err
    assert f"started historical analysis of {names['gc']}, 2024-01-01T00:00:00Z to " in out and "finished" in out
    assert "100%" in err and f"history {names['gc']}" in err
    task = ad_client.ad.get_state(gc_id).historical_task
    assert task is not None and task["state"] == "FINISHED"
    assert task["detection_date_range"] == {
        "start_time": int(SPEC.start.timestamp() * 1000),
        "end_time": int(SPEC.end.timestamp() * 1000),
    }
    # FINISHED can come before the plugin's result write queue has flushed (2.19.4.0: one entity's
    # results missing right after it); `history` waits (wait_historical) until the results have settled,
    # so one read right after it must hold every entity.
    frame = ad_client.ad.results(gc_id, task_id=task["task_id"])
    assert set(zip(frame["host"], frame["process"], strict=True)) == set(SPEC.entities())

    assert run(capsys, os_url, "detectors", "start", names["gc"])[0] == 0
    code, _, err = run(capsys, os_url, "detectors", "delete", names["gc"], "--yes")
    assert code == 1 and "is running" in err
    assert ad_client.ad.exists(gc_id)
    code, out, err = run(capsys, os_url, "detectors", "delete", names["gc"], "--yes", "--stop", "--json")
    assert code == 0, err
    assert json.loads(out) == {"deleted": names["gc"], "id": gc_id}
    assert not ad_client.ad.exists(gc_id) and ad_client.ad.find(names["gc"]) is None
