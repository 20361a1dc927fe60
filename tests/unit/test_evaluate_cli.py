"""``hcad eval``: argument handling, exit codes, and one real local-TRCF run when Java and jars exist."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hcad.cli.evaluate import build_configs, parse_features, parse_rule
from hcad.errors import ConfigError, HcadError
from hcad.quality.synth import FleetSpec

ROOT = Path(__file__).resolve().parents[2]


def hcad(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hcad", *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_parsers() -> None:
    assert parse_features("avg:cpu, MAX:jvmGcTime") == (("avg", "cpu"), ("max", "jvmGcTime"))
    with pytest.raises(ConfigError, match="AGG:FIELD"):
        parse_features("cpu")
    assert parse_rule("default") is None and parse_rule("0.05") == 0.05
    for bad in ("0", "-1"):
        with pytest.raises(ConfigError, match="ratio must be > 0"):
            parse_rule(bad)


def test_axes_multiply_and_defaults_fill_the_rest() -> None:
    spec = FleetSpec.blog()
    configs = build_configs(spec, ("avg:cpuTime", "max:cpuTime"), (), (4, 8), (), ("default", "0.1"), (), (), False)
    assert len(configs) == 8
    assert {c.interval_minutes for c in configs} == {10}
    assert {c.rule_ratio for c in configs} == {None, 0.1}
    (one,) = build_configs(spec, (), (), (), (), (), (), (), False)
    assert one.features == (("avg", "cpuTime"), ("avg", "jvmGcTime"))
    with pytest.raises(ConfigError, match="drop --grid"):
        build_configs(spec, (), (), (4,), (), (), (), (), True)
    hourly = build_configs(spec, (), ("10m", "1h", "30"), (), (), (), (), (), False)
    assert [c.interval_minutes for c in hourly] == [10, 60, 30]
    with pytest.raises(ConfigError, match="--interval '30s' is not a whole number of minutes"):
        build_configs(spec, (), ("30s",), (), (), (), (), (), False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--feature", "avg:cpu"], "['cpu'] are not fields of the dataset"),
        (["--dataset", "nowhere.json"], "neither blog, fleet, business nor a JSON spec file"),
        (["--hosts", "0"], "Invalid value for '--hosts'"),
        (["--shingle", "64"], "Invalid value for '--shingle': 64 is not in the range 1<=x<=32"),
        (["--interval", "7x"], "--interval '7x' is not an interval"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message) -> None:
    proc = hcad("eval", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_spec_file_dataset_with_bad_content(tmp_path) -> None:
    bad = tmp_path / "spec.json"
    bad.write_text(json.dumps({"hosts": 2, "colour": "red"}))
    proc = hcad("eval", "--dataset", str(bad))
    assert proc.returncode == 2 and "unknown keys ['colour']" in proc.stderr


def test_backtest_run_end_to_end_writes_outputs(tmp_path) -> None:
    import pandas as pd

    from hcad.quality import backtest, synth
    from hcad.quality import evaluate as ev
    from hcad.quality.backtest.jvm import fetch_jars
    from hcad.quality.synth import AnomalySpec

    fetch_jars()  # the subprocess below would fetch them too; doing it here keeps its output clean
    iv = pd.Timedelta(minutes=10)
    start = FleetSpec().start
    # Two 12σ spikes late in the series (after 400 intervals of training): with both metrics, shingle 4
    # and a 5% rule the seeded local TRCF flags both for seeds 0-2, so recall 1 is what the data give.
    events = tuple(AnomalySpec(f"host{h}", "process0", start + (400 + 50 * h) * iv, 2, "spike", 12.0) for h in range(2))
    spec = FleetSpec.blog(hosts=2, processes=1, periods=500, anomalies=events)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec.to_dict()))
    out = tmp_path / "out"
    args = ["--feature", "avg:cpuTime,avg:jvmGcTime", "--shingle", "4", "--rule", "0.05", "--min-confidence", "0"]
    args += ["--min-grade", "0"]
    proc = hcad("eval", "--dataset", str(spec_file), *args, "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["engine"] == "backtest" and "not plugin numbers" in report["note"]
    (cfg,) = report["configs"]
    scores = cfg["scores"]
    assert (scores["events"], scores["detected"], scores["recall"]) == (2, 2, 1.0)
    assert 900 < cfg["results"] <= 2 * 500  # about one result per entity and interval
    # The reported scores are those of the run: the same seeded local TRCF run in-process, scored by
    # the module docstring's definitions written out here (flags: grade > 0; an event's window is
    # [start - 2 iv, end + 2 iv), the CLI's default tolerance; a flag covers [t, t + iv)).
    config = ev.EvalConfig(features=(("avg", "cpuTime"), ("avg", "jvmGcTime")), shingle_size=4, rule_ratio=0.05)
    results = backtest.run(synth.fleet_frame(spec), config.detector("x"), seed=spec.seed)
    assert len(results) == cfg["results"]
    flags = results[results["anomaly_grade"] > 0]
    windows = [(e.host, e.process, e.start - 2 * iv, e.start + (e.length + 2) * iv) for e in events]

    def inside(f, w) -> bool:  # type: ignore[no-untyped-def]
        t = pd.Timestamp(f.data_start_time)
        return bool((f.host, f.process) == w[:2] and t < w[3] and t + iv > w[2])

    tp = sum(any(inside(f, w) for w in windows) for f in flags.itertuples())
    assert scores["tp_intervals"] == tp and scores["fp_intervals"] == len(flags) - tp
    assert scores["precision"] == tp / len(flags)
    assert (out / "pr.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "labels.csv").read_text().count("\n") == 1 + 2  # header and the two events


class _FakeIndices:
    def __init__(self) -> None:
        self.created: set[str] = set()
        self.deleted: list[str] = []

    def exists(self, index: str) -> bool:
        return index in self.created

    def delete(self, index: str, ignore_unavailable: bool = False) -> None:
        self.deleted.append(index)
        self.created.discard(index)


class _FakeClient:
    def __init__(self) -> None:
        self.indices = _FakeIndices()

    def require_plugin(self, plugin: str) -> None:
        pass


@pytest.mark.parametrize("failure", [HcadError("bulk failed"), KeyboardInterrupt()])
@pytest.mark.parametrize("keep", [False, True])
def test_plugin_engine_deletes_its_index_when_loading_fails(monkeypatch, capsys, failure, keep) -> None:
    import hcad.cli.common
    import hcad.quality.loading
    from hcad.cli.main import main

    client = _FakeClient()

    def failing_load(c, name, spec, progress=False):
        c.indices.created.add(name)  # half loaded
        raise failure

    monkeypatch.setattr(hcad.cli.common.CliContext, "client", property(lambda self: client))
    monkeypatch.setattr(hcad.quality.loading, "load_fleet", failing_load)
    with pytest.raises(SystemExit) as e:
        main(["eval", "--engine", "plugin", "--dataset", "blog", "--hosts", "2", *(["--keep-index"] if keep else [])])
    assert e.value.code != 0
    (name,) = client.indices.deleted
    assert name.startswith("hcad-eval-") and client.indices.created == set()
    assert "Traceback" not in capsys.readouterr().err
