"""``hcad detectors`` end to end through ``main()``, against a stateful fake AD plugin.

The fake (test_cli_detectors_fake.py) answers through opensearch-py's real transport with the
plugin's response shapes, so these tests check the request sequence each command sends, its output
and exit code, and that refused commands leave the server unchanged.

The fake is for speed and error paths. Each plugin behaviour it claims (plan -> create, a second
apply changes nothing, update with seq_no, dropped values become the plugin's defaults, running
detectors need --restart, export round trip, copy, history with progress, delete) is also checked
on the real plugin by tests/integration/test_cli_detectors_live.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_output import error_text
from test_cli_detectors_fake import D, FakeAD, make_client

from hcad.cli.common import CliContext
from hcad.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
MAPPING = {
    "@timestamp": "date",
    "host": "keyword",
    "process": "keyword",
    "cpu": "double",
    "memory": "double",
    "jvmGcTime": "double",
}

CPU = """\
name: cpu-test
description: cpu per host
indices: [metrics]
time_field: "@timestamp"
category_fields: [host]
interval: 10m
window_delay: 5m
features:
  cpu_avg: {agg: avg, field: cpu}
"""

MEM = """\
- name: mem-test
  indices: [metrics]
  time_field: "@timestamp"
  category_fields: [host, process]
  interval: 10m
  features:
    mem_max: {agg: max, field: memory}
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeAD:
    fake = FakeAD(mappings={"metrics": dict(MAPPING)})
    client = make_client(fake)
    monkeypatch.setattr(CliContext, "client", property(lambda self: client))
    return fake


@pytest.fixture
def defs(tmp_path: Path) -> Path:
    d = tmp_path / "detectors"
    d.mkdir()
    (d / "cpu.yaml").write_text(CPU)
    (d / "mem.yml").write_text(MEM)
    (d / "README.md").write_text("not a definition")
    return d


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def one_line_error(err: str) -> str:
    # Pre-flight warnings (e.g. an index without documents) may come first.
    return error_text(err)


# ----------------------------------------------------------------------------- plan / apply
def test_plan_lists_creates_and_sends_nothing(capsys, server, defs) -> None:
    code, out, _ = run(capsys, "detectors", "plan", str(defs))
    assert code == 0
    assert "+ create" in out and "cpu-test" in out and "mem-test" in out
    assert f"{defs / 'cpu.yaml'}:1" in out
    assert "Plan: 2 to create, 0 to update, 0 unchanged" in out
    assert server.ad_writes() == []


def test_apply_twice_second_run_changes_nothing(capsys, server, defs) -> None:
    code, out, _ = run(capsys, "detectors", "apply", str(defs))
    assert code == 0, out
    assert "Applied: 2 created" in out
    assert [m for m, _ in server.ad_writes()] == ["POST", "POST"]
    # validate-first: both validations come before the first create
    ad_paths = [(m, u) for m, u, _, _ in server.calls if u.startswith(D)]
    first_create = ad_paths.index(("POST", D))
    assert [u for _, u in ad_paths[:first_create]].count(f"{D}/_validate/detector") == 2
    stored = server.snapshot()

    code, out, _ = run(capsys, "detectors", "apply", str(defs))
    assert code == 0
    assert "No changes: 2 detector(s) match the server." in out
    assert [m for m, _ in server.ad_writes()] == ["POST", "POST"]
    assert server.snapshot() == stored

    code, out, _ = run(capsys, "detectors", "apply", str(defs), "--json")
    assert json.loads(out)["changed"] is False


def test_plan_shows_field_diff_and_apply_updates_with_seq_no(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    (defs / "cpu.yaml").write_text(CPU.replace("interval: 10m", "interval: 20m").replace("cpu per host", "CPU"))
    code, out, _ = run(capsys, "detectors", "plan", str(defs))
    assert code == 0
    assert "~ update" in out and "cpu-test" in out
    assert "interval: '600s' -> '1200s'" in out
    assert "description: 'cpu per host' -> 'CPU'" in out
    assert "= unchanged" in out and "mem-test" in out
    det_id, _ = server.by_name("cpu-test")
    seq = server.detectors[det_id]["seq_no"]

    code, out, _ = run(capsys, "detectors", "apply", str(defs))
    assert code == 0 and "1 updated" in out
    put = [c for c in server.calls if c[0] == "PUT"]
    assert len(put) == 1 and put[0][1] == f"{D}/{det_id}"
    assert put[0][2] == {"if_seq_no": seq, "if_primary_term": 1}
    assert server.detectors[det_id]["doc"]["detection_interval"]["period"]["interval"] == 20

    code, out, _ = run(capsys, "detectors", "plan", str(defs), "--json")
    assert json.loads(out)["has_changes"] is False


def test_value_dropped_from_the_file_is_planned_and_applied_as_the_plugin_default(capsys, server, defs) -> None:
    (defs / "cpu.yaml").write_text(CPU + "shingle_size: 16\n")
    run(capsys, "detectors", "apply", str(defs))
    det_id, doc = server.by_name("cpu-test")
    assert (doc["shingle_size"], doc["history"]) == (16, 48)
    (defs / "cpu.yaml").write_text(CPU)  # shingle_size removed: the file now means the plugin's default
    code, out, _ = run(capsys, "detectors", "plan", str(defs))
    assert code == 0
    assert "~ update" in out and "Plan: 0 to create, 1 to update, 1 unchanged" in out
    assert "shingle_size: 16 -> (default 8)" in out and "history: 48 -> (default 40)" in out
    code, out, _ = run(capsys, "detectors", "apply", str(defs))
    assert code == 0 and "1 updated" in out
    put = [c for c in server.calls if c[0] == "PUT"]
    assert len(put) == 1 and "shingle_size" not in put[0][3] and "history" not in put[0][3]
    doc = server.detectors[det_id]["doc"]
    assert (doc["shingle_size"], doc["history"]) == (8, 40)
    code, out, _ = run(capsys, "detectors", "plan", str(defs), "--json")
    assert json.loads(out)["has_changes"] is False


def test_running_detector_needs_restart_and_is_left_unchanged(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    det_id, _ = server.by_name("cpu-test")
    server.jobs[det_id] = True
    (defs / "cpu.yaml").write_text(CPU.replace("window_delay: 5m", "window_delay: 7m"))
    before, writes = server.snapshot(), len(server.ad_writes())

    code, out, err = run(capsys, "detectors", "plan", str(defs))
    assert code == 0 and "[running: updated only with --restart]" in out

    code, _, err = run(capsys, "detectors", "apply", str(defs))
    line = one_line_error(err)
    assert code == 1
    assert "cpu-test is running" in line and "--restart" in line and "nothing was changed" in line
    assert server.snapshot() == before and len(server.ad_writes()) == writes

    code, out, _ = run(capsys, "detectors", "apply", str(defs), "--restart")
    assert code == 0
    assert [(m, u.rsplit("/", 1)[-1]) for m, u in server.ad_writes()[writes:]] == [
        ("POST", "_stop"),
        ("PUT", det_id),
        ("POST", "_start"),
    ]
    assert server.jobs[det_id] is True
    assert server.detectors[det_id]["doc"]["window_delay"]["period"]["interval"] == 7


def test_changed_category_field_is_refused_before_any_request(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    (defs / "cpu.yaml").write_text(CPU.replace("[host]", "[host, process]"))
    before, writes = server.snapshot(), len(server.ad_writes())
    code, out, _ = run(capsys, "detectors", "plan", str(defs))
    assert "(cannot change: recreate)" in out
    code, _, err = run(capsys, "detectors", "apply", str(defs))
    line = one_line_error(err)
    assert code == 2
    assert "category_fields" in line and "cannot change on an existing detector" in line
    assert server.snapshot() == before and len(server.ad_writes()) == writes


def test_only_on_server_is_reported_and_left_alone(capsys, server, defs, tmp_path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(CPU.replace("cpu-test", "someone-elses"))
    run(capsys, "detectors", "apply", str(other))
    code, out, _ = run(capsys, "detectors", "apply", str(defs))
    assert code == 0
    assert "someone-elses" in server.snapshot()
    code, out, _ = run(capsys, "detectors", "plan", str(defs))
    assert "? only on server" in out and "someone-elses" in out
    assert "1 only on the server (left alone)" in out


def test_server_validation_failure_changes_nothing(capsys, server, defs) -> None:
    server.validate_answer = {"detector": {"feature_attributes": {"message": "Feature has invalid query"}}}
    code, _, err = run(capsys, "detectors", "apply", str(defs))
    line = one_line_error(err)
    assert code == 2 and "Feature has invalid query" in line and "cpu.yaml" in line
    assert server.ad_writes() == [] and server.detectors == {}


def test_plugin_missing_is_one_line_exit_1(capsys, monkeypatch, defs) -> None:
    fake = FakeAD(plugins=("opensearch-job-scheduler",), mappings={"metrics": dict(MAPPING)})
    client = make_client(fake)
    monkeypatch.setattr(CliContext, "client", property(lambda self: client))
    code, _, err = run(capsys, "detectors", "apply", str(defs))
    line = one_line_error(err)
    assert code == 1 and "opensearch-anomaly-detection plugin is not installed" in line


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("files", "code", "needles"),
    [
        ({"a.yaml": "name: x\nindices: [metrics\ntime_field: t\n"}, 2, ["a.yaml:3", "not valid YAML"]),
        ({"a.yaml": CPU.replace("interval:", "intervl:")}, 2, ["a.yaml:6: intervl: unknown key", "'interval'"]),
        (
            {"a.yaml": CPU.replace("window_delay: 5m", "shingle_size: eight")},
            2,
            ["a.yaml:7: shingle_size", "whole number"],
        ),
        ({"a.yaml": CPU.replace("[host]", "host")}, 2, ["a.yaml:5: category_fields", "expected a list"]),
        ({"a.yaml": CPU, "b.yaml": CPU}, 2, ["b.yaml:1: name", "'cpu-test' is also defined at", "a.yaml:1"]),
        ({"a.yaml": CPU.replace("[metrics]", "[nope]")}, 2, ["a.yaml:3: cpu-test: indices", "no index matches nope"]),
        ({"a.yaml": CPU.replace("field: cpu", "field: cpuu")}, 2, ["a.yaml:9: cpu-test: features.cpu_avg", "'cpuu'"]),
        ({"a.yaml": CPU.replace("[host]", "[cpu]")}, 2, ["cpu-test: category_fields", "keyword or ip"]),
        ({"a.yaml": CPU.replace("cpu-test", "bad name!")}, 2, ["a.yaml:1: name", "contains"]),
        ({"a.yaml": "42\n"}, 2, ["a.yaml:1", "expected a detector mapping"]),
    ],
    ids=[
        "yaml",
        "unknown-key",
        "wrong-type",
        "wrong-type-list",
        "duplicate",
        "no-index",
        "no-field",
        "field-type",
        "bad-name",
        "scalar",
    ],
)
def test_bad_input_one_line_and_server_unchanged(capsys, server, tmp_path, files, code, needles) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    before = server.snapshot()
    for command in ("plan", "apply", "validate"):
        got, _, err = run(capsys, "detectors", command, str(tmp_path))
        line = one_line_error(err)
        assert got == code, (command, err)
        for n in needles:
            assert n in line, (command, n, line)
    assert server.snapshot() == before and server.ad_writes() == []


def test_missing_path_and_empty_folder(capsys, server, tmp_path) -> None:
    code, _, err = run(capsys, "detectors", "apply", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in one_line_error(err)
    code, _, err = run(capsys, "detectors", "plan", str(tmp_path))
    assert code == 2 and "holds no .yaml or .yml file" in one_line_error(err)


def test_debug_shows_traceback(capsys, server, tmp_path) -> None:
    (tmp_path / "a.yaml").write_text(CPU.replace("interval:", "intervl:"))
    code, _, err = run(capsys, "--debug", "detectors", "apply", str(tmp_path))
    assert code == 2 and "Traceback" in err and "hcad: error:" in err


# ----------------------------------------------------------------------------- export / copy
def test_export_round_trips_through_apply(capsys, server, defs, tmp_path) -> None:
    run(capsys, "detectors", "apply", str(defs))
    out_file = tmp_path / "exported" / "cpu.yaml"
    out_file.parent.mkdir()
    code, _, err = run(capsys, "detectors", "export", "cpu-test", "-o", str(out_file))
    assert code == 0 and "wrote" in err
    text = out_file.read_text()
    assert text.startswith("# Exported by hcad")
    data = yaml.safe_load(text)
    assert data["name"] == "cpu-test" and data["interval"] == "10m" and data["window_delay"] == "5m"
    writes = len(server.ad_writes())
    code, out, _ = run(capsys, "detectors", "apply", str(out_file))
    assert code == 0 and "No changes" in out
    assert len(server.ad_writes()) == writes
    # by id, to stdout, and as JSON
    det_id, _ = server.by_name("cpu-test")
    code, out, _ = run(capsys, "detectors", "export", det_id)
    assert code == 0 and "name: cpu-test" in out
    code, out, _ = run(capsys, "detectors", "export", "cpu-test", "--json")
    assert json.loads(out)["features"] == {"cpu_avg": {"agg": "avg", "field": "cpu", "id": f"{det_id}-f0"}}


def test_copy_clones_without_touching_running_original(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    det_id, original = server.by_name("cpu-test")
    server.jobs[det_id] = True
    before = json.dumps(server.detectors[det_id], sort_keys=True)
    code, out, _ = run(capsys, "detectors", "copy", "cpu-test", "cpu-test-tuning", "--json")
    assert code == 0
    res = json.loads(out)
    assert res["source_id"] == det_id and res["name"] == "cpu-test-tuning" and res["started"] is False
    _, new_doc = server.by_name("cpu-test-tuning")
    assert (
        new_doc["feature_attributes"][0]["aggregation_query"] == original["feature_attributes"][0]["aggregation_query"]
    )
    assert json.dumps(server.detectors[det_id], sort_keys=True) == before and server.jobs[det_id] is True
    assert not [w for w in server.ad_writes() if w[1].endswith("_stop")]
    code, _, err = run(capsys, "detectors", "copy", "cpu-test", "cpu-test-tuning")
    assert code == 2 and "already exists" in one_line_error(err)


# ----------------------------------------------------------------------------- operations
def test_list_get_profile(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    det_id, _ = server.by_name("cpu-test")
    server.jobs[det_id] = True
    code, out, _ = run(capsys, "detectors", "list")
    assert code == 0
    assert "cpu-test" in out and "running" in out and "mem-test" in out and "host,process" in out
    code, out, _ = run(capsys, "detectors", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["cpu-test"]["state"] == "running" and rows["mem-test"]["state"] == "stopped"

    code, out, _ = run(capsys, "detectors", "get", "cpu-test")
    assert code == 0 and f"cpu-test  (id {det_id})" in out and "cpu_avg = avg(cpu)" in out
    code, out, _ = run(capsys, "detectors", "get", det_id, "--json")
    got = json.loads(out)
    assert got["anomaly_detector"]["name"] == "cpu-test" and got["anomaly_detector_job"]["enabled"] is True

    code, out, _ = run(capsys, "detectors", "profile", "cpu-test")
    assert code == 0 and "RUNNING" in out and "470,491 bytes per entity" in out
    code, out, _ = run(capsys, "detectors", "profile", "cpu-test", "--entity", "host=h1", "--json")
    assert json.loads(out)["state"] == "RUNNING"
    method, url, _, body = server.calls[-1]
    assert (method, url) == ("POST", f"{D}/{det_id}/_profile") and body == {"entity": [{"name": "host", "value": "h1"}]}


def test_unknown_detector_is_one_line_exit_1(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    code, _, err = run(capsys, "detectors", "get", "nope")
    assert code == 1 and "no detector is named or has the id 'nope'" in one_line_error(err)


def test_start_stop_delete(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    det_id, _ = server.by_name("mem-test")
    code, out, _ = run(capsys, "detectors", "start", "mem-test")
    assert code == 0 and server.jobs[det_id] is True and "started mem-test" in out
    code, _, err = run(capsys, "detectors", "delete", "mem-test", "--yes")
    assert code == 1 and "is running" in one_line_error(err) and det_id in server.detectors
    code, out, _ = run(capsys, "detectors", "stop", "mem-test", "--json")
    assert code == 0 and json.loads(out)["stopped"] == "realtime" and server.jobs[det_id] is False
    code, _, err = run(capsys, "detectors", "delete", "mem-test")
    assert code == 2 and "--yes" in one_line_error(err) and det_id in server.detectors
    code, out, _ = run(capsys, "detectors", "delete", "mem-test", "--yes", "--json")
    assert code == 0 and json.loads(out) == {"deleted": "mem-test", "id": det_id}
    assert det_id not in server.detectors


def test_delete_with_stop_stops_first(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    det_id, _ = server.by_name("mem-test")
    server.jobs[det_id] = True
    code, _, _ = run(capsys, "detectors", "delete", "mem-test", "--yes", "--stop")
    assert code == 0
    assert [(m, u.rsplit("/", 1)[-1]) for m, u in server.ad_writes()[-2:]] == [("POST", "_stop"), ("DELETE", det_id)]


def test_history_waits_with_progress_bar(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    det_id, _ = server.by_name("cpu-test")
    server.task_step = 0.25
    code, out, err = run(
        capsys, "detectors", "history", "cpu-test", "--from", "2024-01-01", "--to", "2024-01-08",
        "--poll", "0", "--progress",
    )  # fmt: skip
    assert code == 0, err
    assert "started historical analysis of cpu-test, 2024-01-01T00:00:00Z to 2024-01-08T00:00:00Z" in out
    assert "finished" in out
    assert "100%" in err and "history cpu-test" in err
    start = [c for c in server.calls if c[1].endswith("/_start")]
    assert start[0][3] == {"start_time": 1704067200000, "end_time": 1704672000000}
    assert server.tasks[det_id]["state"] == "FINISHED"
    polls = [c for c in server.calls if c[0] == "GET" and c[1] == f"{D}/{det_id}" and c[2].get("task") == "true"]
    assert len(polls) == 4


def test_history_no_wait_and_attach(capsys, server, defs) -> None:
    run(capsys, "detectors", "apply", str(defs))
    det_id, _ = server.by_name("cpu-test")
    code, out, _ = run(capsys, "detectors", "history", "cpu-test", "--from", "now-7d", "--no-wait", "--json")
    assert code == 0
    task_id = json.loads(out)["task_id"]
    assert server.tasks[det_id]["task_id"] == task_id and server.tasks[det_id]["state"] == "CREATED"
    code, out, _ = run(capsys, "detectors", "history", "cpu-test", "--attach", "--poll", "0", "--json")
    assert code == 0 and json.loads(out)["task"]["state"] == "FINISHED"
    assert len([c for c in server.calls if c[1].endswith("/_start")]) == 1


def test_history_ctrl_c_leaves_task_running_and_says_how_to_resume(capsys, server, defs, monkeypatch) -> None:
    from hcad.ad.client import AnomalyDetection

    run(capsys, "detectors", "apply", str(defs))
    det_id, _ = server.by_name("cpu-test")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(AnomalyDetection, "wait_historical", interrupted)
    code, _, err = run(capsys, "detectors", "history", "cpu-test", "--from", "now-7d")
    assert code == 130
    assert "keeps running on the server" in err and "--attach" in err and "stop cpu-test --historical" in err
    assert "Traceback" not in err
    assert server.tasks[det_id]["state"] == "CREATED"  # not stopped
    assert not [c for c in server.calls if c[1].endswith("/_stop")]


def test_apply_ctrl_c_during_restart_says_what_to_do(capsys, server, defs, monkeypatch) -> None:
    from hcad.ad.client import AnomalyDetection

    run(capsys, "detectors", "apply", str(defs))
    det_id, _ = server.by_name("cpu-test")
    server.jobs[det_id] = True
    (defs / "cpu.yaml").write_text(CPU.replace("window_delay: 5m", "window_delay: 7m"))

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(AnomalyDetection, "update", interrupted)
    code, _, err = run(capsys, "detectors", "apply", str(defs), "--restart")
    assert code == 130
    assert "stop cpu-test" in err and "not started again: cpu-test" in err and "Run the same apply again" in err


def test_validate_offline_and_with_server(capsys, server, defs) -> None:
    code, out, _ = run(capsys, "detectors", "validate", str(defs), "--offline")
    assert code == 0 and "2 detector(s) valid (files only)" in out
    assert server.calls == []
    code, out, _ = run(capsys, "detectors", "validate", str(defs), "--model", "--json")
    assert code == 0 and json.loads(out)["valid"] is True
    kinds = [u.rsplit("/", 1)[-1] for _, u, _, _ in server.calls if "_validate" in u]
    assert kinds == ["detector", "model", "detector", "model"]


def test_preview_file_and_server_detector(capsys, server, defs) -> None:
    server.results = json.loads((ROOT / "tests" / "data" / "ad" / "result_docs.json").read_text())
    code, out, _ = run(
        capsys, "detectors", "preview", str(defs / "cpu.yaml"), "--from", "2024-05-01", "--to", "2024-05-02"
    )
    assert code == 0
    assert "cpu-test: preview 2024-05-01T00:00:00Z to 2024-05-02T00:00:00Z: 2 results" in out
    assert "1 anomalies" in out and "host=h007,process=java" in out
    _, url, _, body = server.calls[-1]
    assert url == f"{D}/_preview" and body["detector"]["name"] == "cpu-test" and body["period_start"] == 1714521600000
    run(capsys, "detectors", "apply", str(defs))
    code, out, _ = run(capsys, "detectors", "preview", "mem-test", "--json")
    assert code == 0 and len(json.loads(out)["anomaly_result"]) == 2
    calls = len(server.calls)
    for target in (str(defs / "mem.yml"), "mem-test"):
        code, _, err = run(capsys, "detectors", "preview", target, "--from", "2024-05-02", "--to", "2024-05-01")
        assert code == 2 and "--to 2024-05-01 is not after --from 2024-05-02" in one_line_error(err)
    assert len(server.calls) == calls  # refused before the server is asked (or the name resolved)


def test_shipped_definitions_are_valid_offline(capsys) -> None:
    code, out, err = run(capsys, "detectors", "validate", str(ROOT / "detectors"), "--offline", "--json")
    assert code == 0, err
    names = {d["name"] for d in json.loads(out)["detectors"]}
    assert {"detect_gc_time", "fleet-cpu", "fleet-memory", "fleet-network", "fleet-process"} <= names


def test_every_command_has_json_and_help(capsys) -> None:
    from hcad.cli.detectors import detectors

    for name, cmd in detectors.commands.items():
        assert any("--json" in p.opts for p in cmd.params), name
        code, out, _ = run(capsys, "detectors", name, "--help")
        assert code == 0 and "Usage: hcad detectors " + name in out
