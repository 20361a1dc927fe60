"""Local backtest: model parameters (also read back from the Java TRCF), buckets, engine rules, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hcad.errors import ConfigError, ValidationError
from hcad.quality.backtest import BacktestConfig, Condition, Rule, backtest, feature, model_params, to_buckets
from hcad.quality.backtest.buckets import bucket_documents
from hcad.quality.backtest.engine import run_entity
from hcad.quality.backtest.model import build_trcf, read_back

ROOT = Path(__file__).resolve().parents[2]
T0 = pd.Timestamp("2024-01-01T00:00:00Z")


@pytest.fixture(scope="module")
def jars() -> list[Path]:
    """The RCF jars in the cache (fetched with mvn when missing, as a fresh machine would)."""
    from hcad.quality.backtest.jvm import fetch_jars

    return fetch_jars()


def cfg(**kw) -> BacktestConfig:
    base = dict(features=(feature("cpu", "avg", "cpu"),), interval_minutes=10, category_fields=("host",))
    base.update(kw)
    return BacktestConfig(**base)


def wave_docs(hosts=("a", "b"), n=600, spikes=(), dips=(), seed=0, drop=()) -> pd.DataFrame:
    """One document per 10-minute interval per host: a daily cosine plus noise, spikes (+40) and
    dips (-35)."""
    rng = np.random.default_rng(seed)
    frames = []
    for h in hosts:
        i = np.arange(n)
        cpu = 50 + 10 * np.cos(2 * np.pi * i / 144) + rng.normal(0, 1, n)
        cpu[list(spikes)] += 40
        cpu[list(dips)] -= 35
        keep = np.setdiff1d(i, np.asarray(drop, dtype=int))
        frames.append(
            pd.DataFrame({"@timestamp": T0 + pd.to_timedelta(keep * 10, unit="m"), "host": h, "cpu": cpu[keep]})
        )
    return pd.concat(frames, ignore_index=True)


def flagged_at(rows: pd.DataFrame) -> list[int]:
    hits = rows[rows.anomaly_grade > 0]
    return list(((hits["data_start_time"] - T0) / pd.Timedelta("10min")).astype(int))


# ------------------------------------------------------------------ parameters (pure)
def test_params_mirror_plugin_defaults_and_default_rule():
    p = model_params(cfg(features=(feature("cpu", "avg", "cpu"), feature("gc", "max", "gc"))))
    assert (p.number_of_trees, p.sample_size, p.output_after, p.dimensions) == (50, 256, 32, 16)
    assert p.time_decay == pytest.approx(1 / 2560)
    assert p.initial_accept_fraction == pytest.approx(32 / 256)
    assert p.anomaly_rate == pytest.approx(0.005)
    assert (p.forest_mode, p.imputation_method, p.transform_method) == ("STREAMING_IMPUTE", "PREVIOUS", "NORMALIZE")
    assert p.default_rule is True
    assert p.ignore_near_expected == {"above_ratio": (0.2, 0.2), "below_ratio": (0.2, 0.2)}


def test_params_shingle_one_is_standard_and_rules_replace_default():
    rules = (
        Rule((Condition("cpu", "ACTUAL_OVER_EXPECTED_MARGIN", 5.0), Condition("cpu", "ACTUAL_IS_BELOW_EXPECTED"))),
    )
    p = model_params(cfg(shingle_size=1, rules=rules, recency_emphasis=100))
    assert (p.forest_mode, p.imputation_method, p.dimensions) == ("STANDARD", None, 1)
    assert p.default_rule is False
    assert p.ignore_near_expected == {"above": (5.0,)}
    assert p.direction_rules == (("cpu", "ACTUAL_IS_BELOW_EXPECTED"),)
    assert p.time_decay == pytest.approx(0.01)
    assert model_params(cfg(default_rule=False)).ignore_near_expected == {}


def test_detector_imputation_without_default_fill():
    """A detector's ``imputation: {method: zero}`` has no default_fill (the plugin needs one only for
    FIXED_VALUES); the backtest used to fail on it with a TypeError."""
    from hcad.ad.model import Detector, Imputation

    for method in ("ZERO", "PREVIOUS"):
        d = Detector.hcad("d", "idx", "ts", ["host"], {"cpu": ("avg", "cpu")}, "5m", imputation=Imputation(method))
        c = BacktestConfig.from_detector(d)
        assert (c.imputation, c.default_fill) == (method, {})


def test_from_detector_adapter():
    from hcad.ad.model import Detector

    feats = {"cpu": ("avg", "cpu"), "n": ("count", "pid")}
    d = Detector.hcad("d1", "idx", "ts", ["host", "process"], feats, "5m", plugin_defaults=True)
    c = BacktestConfig.from_detector(d)
    assert c.category_fields == ("host", "process")
    assert [(f.name, f.agg, f.field) for f in c.features] == [("cpu", "avg", "cpu"), ("n", "value_count", "pid")]
    assert (c.interval_minutes, c.shingle_size, c.time_field, c.indices) == (5, 8, "ts", ("idx",))
    assert c.rules is None and model_params(c).default_rule
    # hcad's builder defaults (shingle 2, no rule of its own) reach the model, which keeps the plugin's rule.
    c2 = BacktestConfig.from_detector(Detector.hcad("d2", "idx", "ts", ["host"], feats, "5m"))
    assert c2.shingle_size == 2 and c2.rules is None and model_params(c2).default_rule
    # Explicit rules replace the default rule.
    from hcad.ad.model import Rule as AdRule

    rules = [AdRule.ignore_within("cpu", 0.05), AdRule.ignore_within("n", 0.05)]
    c3 = BacktestConfig.from_detector(Detector.hcad("d3", "idx", "ts", ["host"], feats, "5m", rules=rules))
    assert c3.rules and len(c3.rules) == 2 and not model_params(c3).default_rule


# ------------------------------------------------------------------ the Java model
def test_java_model_is_built_with_plugin_parameters(jars):
    c = cfg(
        features=(feature("cpu", "avg", "cpu"), feature("gc", "max", "gc"), feature("n", "count", "pid")),
        shingle_size=4,
        imputation="FIXED_VALUES",
        default_fill={"cpu": 1.5, "gc": 2.5, "n": 3.5},
        rules=(
            Rule(
                (Condition("gc", "EXPECTED_OVER_ACTUAL_RATIO", 0.3), Condition("n", "ACTUAL_OVER_EXPECTED_MARGIN", 7))
            ),
        ),
    )
    p = model_params(c)
    got = read_back(build_trcf(p, seed=3))
    assert got["dimensions"] == 12 and got["shingle_size"] == 4
    assert (got["number_of_trees"], got["sample_size"]) == (50, 256)
    assert got["time_decay"] == pytest.approx(1 / 2560)
    # RCF holds back one shingle: the forest outputs after 32 - (shingle - 1) updates.
    assert got["output_after"] == 32 - 3
    assert got["initial_accept_fraction"] == pytest.approx(0.125)
    assert got["bounding_box_cache_fraction"] == 1.0
    assert (got["precision"], got["compact"], got["parallel"], got["internal_shingling"]) == (
        "FLOAT_32",
        True,
        False,
        True,
    )
    assert (got["forest_mode"], got["transform_method"], got["imputation_method"]) == (
        "STREAMING_IMPUTE",
        "NORMALIZE",
        "FIXED_VALUES",
    )
    assert got["fill_values"] == (1.5, 2.5, 3.5)
    assert got["anomaly_rate"] == pytest.approx(0.005)
    assert got["auto_adjust"] is True
    assert got["ignore_near_expected"]["below_ratio"] == pytest.approx((0, 0.3, 0))
    assert got["ignore_near_expected"]["above"] == pytest.approx((0, 0, 7))
    assert got["ignore_near_expected"]["above_ratio"] == (0, 0, 0)


@pytest.mark.parametrize("batch", [True, False], ids=["java-batch", "python-per-point"])
def test_sequential_fast_path_equals_pointwise(jars, batch):
    from hcad.quality.backtest.jvm import rcf

    if batch and rcf().Batch is None:
        pytest.skip(f"no batch helper here: {rcf().batch_note}")
    c = cfg()
    p = model_params(c)
    b = to_buckets(wave_docs(hosts=("a",), n=400, spikes=(300,)), c)
    t = (b["data_start_time"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().astype("int64").to_numpy()
    v = b[["cpu"]].to_numpy()
    fast = run_entity(("a",), t, v, p, c, seed=11, batch=batch)
    slow = run_entity(("a",), t, v, p, c, seed=11, force_pointwise=True, batch=batch)
    np.testing.assert_array_equal(fast.grade, slow.grade)
    np.testing.assert_array_equal(fast.confidence, slow.confidence)
    np.testing.assert_array_equal(fast.score, slow.score)
    assert fast.grade[300] > 0


def test_fidelity_smoke_flags_injected_spikes(jars):
    out = backtest(wave_docs(n=600, spikes=(250,), dips=(450,)), cfg(), seed=5)
    assert set(out["host"]) == {"a", "b"}
    for h in ("a", "b"):
        rows = out[out["host"] == h]
        # the spike and the dip, and nothing else in 600 noisy intervals
        assert flagged_at(rows) == [250, 450], h
        spike, dip = rows[rows.anomaly_grade > 0].to_dict(orient="records")
        assert spike["cpu"] > spike["cpu_expected"] + 20 and dip["cpu"] < dip["cpu_expected"] - 20
        assert spike["confidence"] > 0.8
    assert out.attrs["default_rule"] is True


def test_suppressed_by_names_the_correction_that_zeroed_a_score_above_threshold(jars):
    # The same +40 spike every 5 hours: once the forest holds earlier ones, samples near a new spike
    # explain it and RCF zeroes its grade (CONDITIONAL_FORECAST) although its score passes the threshold.
    spikes = tuple(range(200, 560, 30))
    out = backtest(wave_docs(hosts=("a",), n=600, spikes=spikes), cfg(), seed=5)
    named = out[out["suppressed_by"].notna()]
    assert len(named) and set(named["suppressed_by"]) <= {
        "NOISE", "MULTI_MODE", "ANOMALY_IN_SHINGLE", "CONDITIONAL_FORECAST", "FORECAST", "DATA_DRIFT",
        "ALERT_ONCE", "DIRECTION_RULE",
    }  # fmt: skip
    # a correction only ever zeroes a score the threshold alone would have flagged
    assert (named["anomaly_grade"] == 0).all() and (named["anomaly_score"] > named["threshold"]).all()
    at = ((named["data_start_time"] - T0) / pd.Timedelta("10min")).astype(int)
    assert "CONDITIONAL_FORECAST" in set(named.loc[at.isin(spikes), "suppressed_by"])
    assert out.loc[out["anomaly_grade"] > 0, "suppressed_by"].isna().all()


def test_plugin_range_rules_last_bucket_and_short_entities(jars):
    docs = pd.concat([wave_docs(hosts=("a",), n=100), wave_docs(hosts=("tiny",), n=20)], ignore_index=True)
    out = backtest(docs, cfg(), seed=1)
    assert set(out["host"]) == {"a"}
    # the interval holding the entity's last document is not scored (the plugin's end is exclusive)
    assert len(out) == 99
    assert out["data_start_time"].max() == T0 + pd.Timedelta(minutes=10 * 98)
    assert "not enough data" in out.attrs["skipped"]["tiny"]
    clipped = backtest(docs, cfg(), seed=1, start="2024-01-01T02:00:00Z", end="2024-01-01T12:00:00Z")
    assert clipped["data_start_time"].min() == T0 + pd.Timedelta(hours=2)
    assert clipped["data_start_time"].max() == T0 + pd.Timedelta(hours=12) - pd.Timedelta(minutes=10)


def test_missing_buckets_left_out_or_imputed(jars):
    drop = (50, 51, 52, 70)
    docs = wave_docs(hosts=("a",), n=120, drop=drop)
    plain = backtest(docs, cfg(), seed=2)
    idx = set(((plain["data_start_time"] - T0) / pd.Timedelta("10min")).astype(int))
    assert idx.isdisjoint(drop) and len(plain) == 119 - len(drop)
    assert not plain["imputed"].any()
    zero = backtest(docs, cfg(imputation="ZERO"), seed=2)
    assert len(zero) == 119
    imputed = set(((zero.loc[zero.imputed, "data_start_time"] - T0) / pd.Timedelta("10min")).astype(int))
    assert imputed == set(drop)


def test_entities_filter_and_argument_order(jars):
    docs = wave_docs(hosts=("a", "b", "c"), n=80)
    out = backtest(cfg(), docs, entities=[("b",)], seed=1)  # detector first reads naturally too
    assert set(out["host"]) == {"b"}


# ------------------------------------------------------------------ buckets
def test_bucket_documents_aggregates_like_opensearch():
    ts = pd.to_datetime(
        ["2024-01-01T00:01:00Z", "2024-01-01T00:09:59Z", "2024-01-01T00:10:00Z", "2024-01-01T00:35:00Z"], utc=True
    )
    docs = pd.DataFrame({"@timestamp": ts, "host": "a", "cpu": [1.0, 3.0, np.nan, 10.0], "pid": ["x", "y", "x", None]})
    c = cfg(
        features=(
            feature("avg_cpu", "avg", "cpu"),
            feature("sum_cpu", "sum", "cpu"),
            feature("n", "count", "pid"),
            feature("u", "cardinality", "pid"),
        )
    )
    b = bucket_documents(docs, c)
    starts = list(((b["data_start_time"] - T0) / pd.Timedelta("1min")).astype(int))
    assert starts == [0, 10, 30]  # epoch-aligned, empty 00:20 bucket absent (not zero-filled)
    assert list(b["avg_cpu"][:1]) == [2.0] and np.isnan(b["avg_cpu"][1]) and b["avg_cpu"][2] == 10.0
    assert list(b["sum_cpu"]) == [4.0, 0.0, 10.0]
    assert list(b["n"]) == [2.0, 1.0, 0.0]
    assert list(b["u"]) == [2.0, 1.0, 0.0]


def test_documents_and_buckets_without_an_entity_are_dropped_and_counted():
    docs = pd.DataFrame(
        {
            "@timestamp": [T0, T0, T0, T0 + pd.Timedelta(minutes=10), T0],
            "host": ["a", None, np.nan, "a", "b"],
            "process": ["p", "p", "q", None, "q"],
            "cpu": [1.0, 50.0, 60.0, 70.0, 2.0],
        }
    )
    c = cfg(category_fields=("host", "process"))
    b = bucket_documents(docs, c)
    # No fake (NaN, ...) entity, and the dropped documents do not leak into a real one.
    assert b[["host", "process"]].values.tolist() == [["a", "p"], ["b", "q"]]
    assert list(b["cpu"]) == [1.0, 2.0]
    assert b.attrs["dropped"]["documents"] == 3
    assert "3 documents with an empty category field (host, process)" in b.attrs["dropped"]["reason"]
    assert bucket_documents(docs.dropna(), c).attrs["dropped"] == {}
    buckets = b.assign(host=["a", None])
    kept = to_buckets(buckets, c)
    assert kept["host"].tolist() == ["a"] and kept.attrs["dropped"]["buckets"] == 1
    with pytest.raises(ValidationError, match="2 documents with an empty category field"):
        bucket_documents(docs.iloc[1:3], c)


def test_backtest_reports_dropped_documents(jars):
    docs = wave_docs(hosts=("a", "b"), n=80)
    docs.loc[docs.index[:5], "host"] = None
    out = backtest(docs, cfg(), seed=1)
    assert set(out["host"]) == {"a", "b"} and out.attrs["entities"] == 2
    assert out.attrs["dropped"]["documents"] == 5


# ------------------------------------------------------------------ bad input
def _buckets(times, values=None) -> pd.DataFrame:
    return pd.DataFrame(
        {"host": "a", "data_start_time": pd.to_datetime(times, utc=True), "cpu": values or [1.0] * len(times)}
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pd.DataFrame(), "empty"),
        (_buckets(["2024-01-01T00:10:00Z", "2024-01-01T00:00:00Z"]), "not sorted"),
        (_buckets(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]), "duplicate time"),
        (_buckets(["2024-01-01T00:03:00Z"]), "not aligned"),
        (_buckets(["2024-01-01T00:00:00Z"]).assign(cpu=["high"]), "not numeric"),
        (pd.DataFrame({"@timestamp": [T0], "host": ["a"], "cpu": ["x"]}), "not numeric"),
        (pd.DataFrame({"@timestamp": [T0], "host": ["a"]}), "cpu: column missing"),
    ],
)
def test_bad_input_gives_one_line_validation_error(data, message):
    with pytest.raises(ValidationError) as e:
        backtest(data, cfg())
    assert message in str(e.value) and "\n" not in str(e.value)
    assert e.value.exit_code == 2


@pytest.mark.parametrize("shingle", [0, 129])
def test_shingle_out_of_range(shingle):
    with pytest.raises(ValidationError, match=r"shingle_size: .* out of range .*use 1 to 128"):
        backtest(wave_docs(n=50), cfg(shingle_size=shingle))


def test_shingle_above_what_historical_analysis_builds_is_refused_like_the_plugin():
    # The plugin's historical analysis fails every entity above 32 (tests/integration/test_ad_acceptance.py).
    with pytest.raises(ValidationError, match=r"shingle_size: 33 is above 32: the plugin's historical analysis"):
        backtest(wave_docs(n=50), cfg(shingle_size=33))
    assert len(backtest(wave_docs(n=120), cfg(shingle_size=32))) > 0


def test_bad_rules_and_imputation_are_named():
    bad = cfg(imputation="FIXED_VALUES", rules=(Rule((Condition("nope", "ACTUAL_OVER_EXPECTED_RATIO", 0.1),)),))
    with pytest.raises(ValidationError) as e:
        backtest(wave_docs(n=50), bad)
    assert "imputation.default_fill" in str(e.value) and "unknown feature 'nope'" in str(e.value)


def test_missing_jar_and_bad_heap_are_clear(tmp_path, monkeypatch):
    from hcad.quality.backtest import jvm

    monkeypatch.setenv("HCAD_JAR_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"randomcutforest-core-4\.2\.0\.jar not found; run scripts/fetch_rcf_jars"):
        jvm.find_jars()
    monkeypatch.setenv("HCAD_JVM_HEAP", "lots")
    with pytest.raises(ConfigError, match="HCAD_JVM_HEAP='lots'"):
        jvm.heap_size()


def test_missing_mvn_and_jars_is_clear(tmp_path, monkeypatch):
    from hcad.quality.backtest import jvm

    monkeypatch.setattr(jvm.shutil, "which", lambda _name: None)
    with pytest.raises(ConfigError, match="mvn not found"):
        jvm.fetch_jars(tmp_path)


def test_mvn_timeout_is_one_line(tmp_path, monkeypatch):
    from hcad.errors import HcadError
    from hcad.quality.backtest import jvm

    def slow(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw.get("timeout"))

    monkeypatch.setattr(jvm.shutil, "which", lambda _name: "/usr/bin/mvn")
    monkeypatch.setattr(jvm.subprocess, "run", slow)
    with pytest.raises(HcadError, match=r"mvn did not fetch .*randomcutforest-core:4\.2\.0 within 600 s") as e:
        jvm.fetch_jars(tmp_path)
    assert "\n" not in str(e.value) and str(tmp_path) in str(e.value)


@pytest.mark.parametrize("value", ["", "NaT", "yesterday-ish"])
def test_empty_or_bad_from_is_a_config_error_naming_from(value, tmp_path, capsys):
    from hcad.quality.backtest import _epoch_s

    with pytest.raises(ConfigError, match=f"start {value!r} is not a time"):
        _epoch_s(value, "start")
    d, docs = _detector_and_docs(tmp_path)
    assert _cli_main("backtest", d, "--data", docs, "--from", value) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hcad: error: --from {value!r} is not a time") and "Traceback" not in err


def test_from_and_to_take_relative_times_and_epoch_ms(tmp_path, capsys):
    d, docs = _detector_and_docs(tmp_path)
    assert _cli_main("backtest", d, "--data", docs, "--from", "now", "--to", "now-1h") == 2
    assert "hcad: error: --to now-1h is not after --from now" in capsys.readouterr().err
    # The same range in ISO-8601 and in epoch ms gives the same run.
    wave_docs(n=600).to_csv(docs, index=False)
    lo, hi = T0 + pd.Timedelta(hours=24), T0 + pd.Timedelta(hours=72)
    runs = []
    for a, b in ((lo.isoformat(), hi.isoformat()), (str(lo.value // 10**6), str(hi.value // 10**6))):
        assert _cli_main("backtest", d, "--data", docs, "--from", a, "--to", b, "--json") == 0
        runs.append(json.loads(capsys.readouterr().out)["summary"])
    assert runs[0] == runs[1] and runs[0]["points"] == 2 * 288, runs  # two hosts, two days of 10 minutes


def test_unreadable_data_is_one_line(tmp_path, capsys, monkeypatch):
    import pandas

    d, _docs = _detector_and_docs(tmp_path)
    (tmp_path / "x.parquet").write_bytes(b"PAR1")

    def no_engine(*_a, **_k):
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow', 'fastparquet'.\nA suitable ...")

    monkeypatch.setattr(pandas, "read_parquet", no_engine)  # as where neither engine is installed
    assert _cli_main("backtest", d, "--data", str(tmp_path / "x.parquet")) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith(
        "x.parquet: reading Parquet needs pyarrow (pip install pyarrow); or use CSV or JSON lines"
    )
    (tmp_path / "x.json").write_text("{not json\n")
    assert _cli_main("backtest", d, "--data", str(tmp_path / "x.json")) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hcad: error: ") and "x.json: cannot read data (" in last and "Traceback" not in err, err


# ------------------------------------------------------------------ CLI
def _hcad(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hcad", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )


def test_cli_json_with_labels(jars, tmp_path):
    from hcad.ad.model import Detector

    det = Detector.hcad("bt", "idx", "@timestamp", ["host"], {"cpu": ("avg", "cpu")}, "10m", plugin_defaults=True)
    (tmp_path / "d.yaml").write_text(det.to_yaml())
    wave_docs(n=500, spikes=(300,), dips=(420,)).to_csv(tmp_path / "docs.csv", index=False)
    labels = pd.DataFrame(
        [
            {"host": h, "process": "p", "start": T0 + pd.Timedelta(minutes=10 * s), "kind": "spike"}
            for h in ("a", "b")
            for s in (300, 420)
        ]
    )
    labels["end"] = labels["start"] + pd.Timedelta(minutes=10)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    p = _hcad("backtest", str(tmp_path / "d.yaml"), "--data", str(tmp_path / "docs.csv"), "--seed", "1", "--json",
              "--labels", str(tmp_path / "labels.csv"))  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["summary"]["entities"] == 2 and out["summary"]["points"] == 998
    assert out["model"]["number_of_trees"] == 50 and out["summary"]["default_rule"] is True
    assert out["scores"]["recall"] == 1.0
    assert {a["entity"] for a in out["anomalies"]} == {"a", "b"}


def test_cli_bad_input_exit_2(tmp_path):
    (tmp_path / "d.yaml").write_text("name: x\nindices: [i]\ntime_field: t\nfeatures: {}\n")
    pd.DataFrame({"t": [1]}).to_csv(tmp_path / "docs.csv", index=False)
    p = _hcad("backtest", str(tmp_path / "d.yaml"), "--data", str(tmp_path / "docs.csv"))
    assert p.returncode == 2
    assert p.stderr.startswith("hcad: error:") and "features" in p.stderr and "Traceback" not in p.stderr


def _cli_main(*args: str) -> int:
    from hcad.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def _detector_and_docs(tmp_path: Path) -> tuple[str, str]:
    from hcad.ad.model import Detector

    det = Detector.hcad("bt", "idx", "@timestamp", ["host"], {"cpu": ("avg", "cpu")}, "10m", plugin_defaults=True)
    (tmp_path / "d.yaml").write_text(det.to_yaml())
    wave_docs(n=50).to_csv(tmp_path / "docs.csv", index=False)
    return str(tmp_path / "d.yaml"), str(tmp_path / "docs.csv")


def test_cli_output_in_a_missing_directory_fails_before_the_run(tmp_path, monkeypatch, capsys):
    import hcad.quality.backtest

    def no_run(*_a, **_k):
        raise AssertionError("the run started")

    monkeypatch.setattr(hcad.quality.backtest, "backtest", no_run)
    d, docs = _detector_and_docs(tmp_path)
    missing = tmp_path / "nope" / "out.csv"
    assert _cli_main("backtest", d, "--data", docs, "--output", str(missing)) == 2
    err = capsys.readouterr().err
    assert err.startswith("hcad: error: --output") and "does not exist" in err and "nope" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _cli_main("backtest", d, "--data", docs, "--output", str(tmp_path)) == 2
    assert "is a directory" in capsys.readouterr().err


def test_cli_output_write_error_is_one_line(tmp_path, monkeypatch, capsys):
    import hcad.quality.backtest

    def fake_run(frame, config, **_k):
        out = pd.DataFrame({"host": ["a"], "data_start_time": [T0], "anomaly_grade": [0.0], "confidence": [0.5]})
        out.attrs.update(entities=1, skipped={}, dropped={}, default_rule=True)
        return out

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")

    d, docs = _detector_and_docs(tmp_path)
    monkeypatch.setattr(hcad.quality.backtest, "backtest", fake_run)
    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    assert _cli_main("backtest", d, "--data", docs, "--output", str(tmp_path / "out.csv"), "--json") == 1
    err = capsys.readouterr().err
    assert err.startswith("hcad: error: --output") and "No space left on device" in err and "Traceback" not in err


def test_cli_module_does_not_import_heavy_libraries():
    code = "import sys, hcad.cli.backtest; print(sorted({'pandas','boto3','matplotlib','jpype'} & set(sys.modules)))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr


def test_config_replace_keeps_validation():
    with pytest.raises(ValidationError, match="interval"):
        replace(cfg(), interval_minutes=0).validate()
