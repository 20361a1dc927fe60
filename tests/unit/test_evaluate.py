"""hcad.quality.evaluate: configs, grid, harness with a custom engine, report outputs; hcad.quality.recommend."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from hcad.errors import ConfigError, HcadError, ValidationError
from hcad.quality import evaluate as ev
from hcad.quality import synth
from hcad.quality.recommend import recommend
from hcad.quality.synth import FleetSpec

SPEC = FleetSpec.blog(hosts=2, processes=2, periods=400, anomalies=8, start=datetime(2024, 1, 1, tzinfo=UTC))


def oracle(spec: FleetSpec, extra_fp: int = 0):
    """An engine that flags exactly the labelled intervals (plus ``extra_fp`` early false flags)."""
    labels = synth.fleet_labels(spec)

    def engine(cfg: ev.EvalConfig) -> pd.DataFrame:
        rows = []
        for _, lab in labels.iterrows():
            for t in pd.date_range(lab.start, lab.end, freq=f"{cfg.interval_minutes}min", inclusive="left"):
                rows.append({"host": lab.host, "process": lab.process, "data_start_time": t, "anomaly_grade": 0.8})
        for i in range(extra_fp):
            t = spec.start + pd.Timedelta(minutes=10 * i)
            rows.append({"host": "host0", "process": "process0", "data_start_time": t, "anomaly_grade": 0.3})
        return pd.DataFrame(rows)

    return engine


def test_config_label_detector_and_validation() -> None:
    cfg = ev.EvalConfig(features=(("max", "cpuTime"), ("avg", "jvmGcTime")), interval_minutes=20, rule_ratio=0.05)
    assert cfg.label == "20m s8 max(cpuTime)+avg(jvmGcTime) rule=0.05"
    detector = cfg.detector("fleet-idx", "d1")
    detector.check()  # what hcad.ad.client checks before sending: the plugin would accept it
    det = detector.to_request()
    assert det["category_field"] == ["host", "process"]
    assert det["shingle_size"] == 8
    assert det["detection_interval"]["period"]["interval"] == 20
    assert [f["feature_name"] for f in det["feature_attributes"]] == ["cpuTime_max", "jvmGcTime_avg"]
    assert len(det["rules"]) == 2
    assert "rules" not in ev.EvalConfig().detector("i").to_request()
    with pytest.raises(ValidationError) as e:
        ev.EvalConfig(features=(("median", "cpu"),), shingle_size=0, imputation="LINEAR", rule_ratio=0)
    assert {i.path for i in e.value.issues} == {"features", "shingle_size", "imputation", "rule_ratio"}


def test_margin_rules_per_feature() -> None:
    cfg = ev.EvalConfig(features=(("avg", "cpu_vs_baseline"), ("avg", "gc_vs_baseline")), rule_margins=(0.25, 0.4))
    assert cfg.label.endswith("margin=0.25/0.4")
    detector = cfg.detector("fleet-idx", "d1")
    detector.check()
    rules = detector.to_request()["rules"]
    assert [(c["feature_name"], c["threshold_type"], c["value"]) for r in rules for c in r["conditions"]] == [
        ("cpu_vs_baseline_avg", "ACTUAL_OVER_EXPECTED_MARGIN", 0.25),
        ("cpu_vs_baseline_avg", "EXPECTED_OVER_ACTUAL_MARGIN", 0.25),
        ("gc_vs_baseline_avg", "ACTUAL_OVER_EXPECTED_MARGIN", 0.4),
        ("gc_vs_baseline_avg", "EXPECTED_OVER_ACTUAL_MARGIN", 0.4),
    ]
    with pytest.raises(ValidationError) as e:
        ev.EvalConfig(features=(("avg", "a"), ("avg", "b")), rule_margins=(0.1,), rule_ratio=0.2)
    assert [i.message for i in e.value.issues if i.path == "rule_margins"] == [
        "cannot be combined with rule_ratio",
        "needs one margin per feature (2)",
    ]
    with pytest.raises(ValidationError, match="must be > 0"):
        ev.EvalConfig(features=(("avg", "a"),), rule_margins=(0.0,))


def test_margins_below_the_expected_value_can_differ() -> None:
    feats = (("avg", "cpu_vs_baseline"), ("avg", "gc_vs_baseline"))
    cfg = ev.EvalConfig(features=feats, rule_margins=(0.25, 0.4), rule_margins_below=(0.5, 0.8))
    assert cfg.label.endswith("margin=0.25/0.4 below=0.5/0.8")
    detector = cfg.detector("fleet-idx", "d1")
    detector.check()
    rules = detector.to_request()["rules"]
    assert [(c["feature_name"], c["threshold_type"], c["value"]) for r in rules for c in r["conditions"]] == [
        ("cpu_vs_baseline_avg", "ACTUAL_OVER_EXPECTED_MARGIN", 0.25),
        ("cpu_vs_baseline_avg", "EXPECTED_OVER_ACTUAL_MARGIN", 0.5),
        ("gc_vs_baseline_avg", "ACTUAL_OVER_EXPECTED_MARGIN", 0.4),
        ("gc_vs_baseline_avg", "EXPECTED_OVER_ACTUAL_MARGIN", 0.8),
    ]
    same = ev.EvalConfig(features=feats, rule_margins=(0.25, 0.4), rule_margins_below=(0.25, 0.4))
    assert same.label.endswith("margin=0.25/0.4")
    with pytest.raises(ValidationError) as e:
        ev.EvalConfig(features=feats, rule_margins_below=(0.5, 0.0))
    assert [i.message for i in e.value.issues if i.path == "rule_margins_below"] == [
        "needs rule_margins (the margins above)",
        "every margin must be > 0 (the plugin refuses 0)",
    ]
    with pytest.raises(ValidationError, match="needs one margin per feature"):
        ev.EvalConfig(features=feats, rule_margins=(0.25, 0.4), rule_margins_below=(0.5,))


def test_grid_is_the_cartesian_product() -> None:
    g = ev.grid(features=[(("avg", "a"),), (("max", "a"),)], intervals=(10, 20), shingles=(4, 8, 16))
    assert len(g) == 12
    assert len({c.label for c in g}) == 12
    assert len(ev.default_grid(SPEC)) == 3 * 2 * 3 * 2  # cpuTime, jvmGcTime, both


def test_perfect_engine_scores_one_and_false_flags_lower_precision() -> None:
    rep = ev.evaluate(SPEC, [ev.EvalConfig()], oracle(SPEC), progress=False)
    s = rep.results[0].scores
    assert s is not None and (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)
    flagged = int(synth.fleet_labels(SPEC)["length"].sum())
    rep2 = ev.evaluate(SPEC, [ev.EvalConfig()], oracle(SPEC, extra_fp=5), progress=False)
    s2 = rep2.results[0].scores
    assert s2 is not None and s2.fp_intervals == 5
    assert s2.precision == pytest.approx(flagged / (flagged + 5))
    assert s2.alarms - s2.true_alarms == 1  # five consecutive false flags are one alarm


def test_failing_config_is_reported_and_the_rest_still_run(tmp_path) -> None:
    good = oracle(SPEC)

    def engine(cfg: ev.EvalConfig) -> pd.DataFrame:
        if cfg.shingle_size == 4:
            raise HcadError("the plugin refused")
        return good(cfg)

    rep = ev.evaluate(SPEC, ev.grid(shingles=(4, 8)), engine, progress=False)
    assert [r.error for r in rep.results] == ["the plugin refused", None]
    assert rep.best() is rep.results[1]
    d = json.loads(rep.write_json(tmp_path / "r.json").read_text())
    assert d["engine"] == "custom" and d["best"] == rep.results[1].config.label
    assert d["configs"][0]["scores"] is None and d["configs"][1]["scores"]["recall"] == 1.0
    assert d["reference"]["blog"] == {"precision": 0.57, "recall": 0.61}
    png = rep.plot(tmp_path / "pr.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_only_events_on_the_config_fields_are_scored() -> None:
    a = synth.AnomalySpec("host0", "process0", SPEC.start + pd.Timedelta(minutes=3000), 2, "spike", 9.0, ("cpuTime",))
    spec = FleetSpec.blog(hosts=2, processes=2, periods=400, anomalies=(a,), start=SPEC.start)
    gc_only = ev.evaluate(spec, [ev.EvalConfig(features=(("avg", "jvmGcTime"),))], oracle(spec), progress=False)
    assert gc_only.results[0].scores.events == 0  # type: ignore[union-attr]
    cpu = ev.evaluate(spec, [ev.EvalConfig(features=(("avg", "cpuTime"),))], oracle(spec), progress=False)
    assert cpu.results[0].scores.events == 1  # type: ignore[union-attr]


def test_evaluate_rejects_bad_engine_and_empty_grid() -> None:
    with pytest.raises(ConfigError, match="not one of"):
        ev.evaluate(SPEC, [ev.EvalConfig()], "sagemaker", progress=False)
    with pytest.raises(ConfigError, match="needs a client"):
        ev.evaluate(SPEC, [ev.EvalConfig()], "plugin", progress=False)
    with pytest.raises(ConfigError, match="no configs"):
        ev.evaluate(SPEC, [], oracle(SPEC), progress=False)


def test_recommend_on_dense_daily_data() -> None:
    frame = synth.fleet_frame(FleetSpec.blog(hosts=3, processes=2, periods=144 * 4, anomalies=0))
    rec = recommend(frame, ["host", "process"], "cpuTime")
    assert rec.interval_minutes == 10 and rec.data_interval_minutes == 10
    assert rec.density == 1.0 and rec.entities == 6
    assert rec.dominant_period_minutes == pytest.approx(1440, abs=20)
    # A day (144 intervals) is far longer than a shingle: recommend falls back to hcad's default shingle
    # size (RECOMMENDED) instead of one cycle, and says so. Which default is best is the grid's
    # question (scripts/evaluate.py), not this test's.
    assert rec.shingle_size == ev.RECOMMENDED["shingle_size"]
    assert any("longer than a shingle" in r and "hcad's default" in r for r in rec.reasons)


def test_recommend_widens_the_interval_for_sparse_data_and_short_cycles() -> None:
    # 30% of 10-minute docs missing: a 20-minute bucket is empty with probability 0.3² = 0.09,
    # so 20 minutes is the first interval with ≥ 90% of buckets filled.
    sparse = FleetSpec.blog(hosts=3, processes=3, periods=2000, anomalies=0, missing_rate=0.3, seed=3)
    rec = recommend(synth.fleet_frame(sparse), ["host", "process"], "cpuTime")
    assert rec.density_by_interval[10] == pytest.approx(0.7, abs=0.03)
    assert rec.interval_minutes == 20
    # An hourly cycle is 6 ten-minute intervals: the shingle covers one cycle.
    hourly = FleetSpec.blog(hosts=2, processes=2, periods=600, anomalies=0, periods_minutes=(60,))
    rec2 = recommend(synth.fleet_frame(hourly), ["host", "process"], "jvmGcTime")
    assert rec2.dominant_period_minutes == 60 and rec2.shingle_size == 6
    assert any("covers one cycle" in r for r in rec2.reasons)


def test_recommend_errors_name_the_problem() -> None:
    frame = synth.fleet_frame(SPEC)
    with pytest.raises(ConfigError, match=r"lack columns \['gcTime'\]"):
        recommend(frame, ["host"], "gcTime")
    with pytest.raises(ConfigError, match="no documents"):
        recommend(frame.iloc[0:0], ["host"], "cpuTime")


def test_configs_differing_only_in_trigger_thresholds_share_one_run() -> None:
    calls = []
    good = oracle(SPEC, extra_fp=3)

    def engine(cfg: ev.EvalConfig) -> pd.DataFrame:
        calls.append(cfg.label)
        return good(cfg)

    configs = ev.grid(shingles=(4, 8), min_grades=(0.0, 0.5))
    rep = ev.evaluate(SPEC, configs, engine, progress=False)
    assert len(calls) == 2
    by_label = {r.config.label: r.scores for r in rep.results}
    # the oracle's false flags have grade 0.3: a 0.5 trigger removes exactly them
    assert by_label["10m s8 avg(jvmGcTime) rule=default"].fp_intervals == 3  # type: ignore[union-attr]
    assert by_label["10m s8 avg(jvmGcTime) rule=default grade>0.5"].fp_intervals == 0  # type: ignore[union-attr]
