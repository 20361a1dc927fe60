"""The Java batch helper (HcadBatch) gives exactly what the per-point Python path gives, and falls back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hcad.quality.backtest import BacktestConfig, Condition, Rule, feature, model_params, to_buckets
from hcad.quality.backtest.engine import DIRECTION_RULE, _EntityResult, run_entity

ROOT = Path(__file__).resolve().parents[2]
T0 = pd.Timestamp("2024-01-01T00:00:00Z")
FIELDS = ("grade", "score", "confidence", "threshold", "relative", "expected", "imputed", "times", "correction")


@pytest.fixture(scope="module")
def batch() -> object:
    """The compiled helper; skipped only on a machine with no javac at all (a JRE only)."""
    from hcad.quality.backtest.jvm import fetch_jars, find_javac, jvm_path, rcf

    fetch_jars()
    if find_javac(jvm_path()) is None:
        pytest.skip("no javac: the backtest runs point by point here")
    j = rcf()
    assert j.Batch is not None, j.batch_note
    return j.Batch


def _cfg(**kw) -> BacktestConfig:
    base = dict(
        features=(feature("cpu", "avg", "cpu"), feature("gc", "max", "gc")),
        interval_minutes=10,
        category_fields=("host",),
    )
    base.update(kw)
    return BacktestConfig(**base)


def _entity(c: BacktestConfig, n=700, drop=(), nan_gc=(), spikes=(), dips=(), seed=0):
    """One host's buckets as run_entity takes them: a daily cosine per feature with noise, spikes
    (+40 on cpu), dips (-45 on cpu), dropped intervals and intervals where gc has no value."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    cpu = 50 + 10 * np.cos(2 * np.pi * i / 144) + rng.normal(0, 1, n)
    gc = 5 + np.sin(2 * np.pi * i / 144) + rng.normal(0, 0.2, n)
    cpu[list(spikes)] += 40
    cpu[list(dips)] -= 45
    gc[list(nan_gc)] = np.nan
    keep = np.setdiff1d(i, np.asarray(drop, dtype=int))
    docs = pd.DataFrame(
        {"@timestamp": T0 + pd.to_timedelta(keep * 10, unit="m"), "host": "a", "cpu": cpu[keep], "gc": gc[keep]}
    )
    b = to_buckets(docs, c)
    t = ((b["data_start_time"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")).astype("int64").to_numpy()
    return t, b[c.feature_names].to_numpy(dtype=float)


def _both(c: BacktestConfig, t, v, seed=7, **kw) -> tuple[_EntityResult, _EntityResult]:
    p = model_params(c)
    fast = run_entity(("a",), t, v, p, c, seed=seed, batch=True, **kw)
    ref = run_entity(("a",), t, v, p, c, seed=seed, batch=False, **kw)
    return fast, ref


def _assert_identical(fast: _EntityResult, ref: _EntityResult) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(fast, name), getattr(ref, name), err_msg=name)


SPIKES, DIPS = (300, 520), (410,)


def test_gapless_entity_is_identical(batch):
    c = _cfg()
    t, v = _entity(c, spikes=SPIKES, dips=DIPS)
    fast, ref = _both(c, t, v)
    _assert_identical(fast, ref)
    assert (fast.grade[list(SPIKES)] > 0).all()
    assert not np.isnan(fast.expected[SPIKES[0]]).any()
    # process() per point: the same too
    _assert_identical(*_both(c, t, v, force_pointwise=True))


def test_gaps_with_imputation_are_identical(batch):
    c = _cfg(imputation="ZERO")
    drop = (100, 101, 102, 250, 251, 400)
    t, v = _entity(c, drop=drop, spikes=SPIKES, dips=DIPS)
    fast, ref = _both(c, t, v)
    _assert_identical(fast, ref)
    assert fast.imputed.sum() == len(drop) and len(fast.times) == len(t) + len(drop)
    assert (fast.grade > 0).any()


def test_gaps_without_imputation_are_identical(batch):
    # Skipped intervals: the timestamps the model sees jump, and STREAMING_IMPUTE reads them.
    c = _cfg()
    t, v = _entity(c, drop=(*range(100, 110), 250, 251, 400), spikes=SPIKES, dips=DIPS)
    fast, ref = _both(c, t, v)
    _assert_identical(fast, ref)
    assert (fast.grade > 0).any()


def test_missing_values_are_identical(batch):
    c = _cfg()
    t, v = _entity(c, nan_gc=(*range(150, 160), 333, 334, 600), spikes=SPIKES, dips=DIPS)
    assert np.isnan(v).any() and not np.isnan(v).all(axis=1).any()
    fast, ref = _both(c, t, v)
    _assert_identical(fast, ref)
    assert (fast.grade > 0).any()


@pytest.mark.parametrize("drop", [(), (200, 201, 202)], ids=["gapless", "gaps"])
def test_direction_rules_are_identical_and_applied(batch, drop):
    over = (Rule((Condition("cpu", "ACTUAL_IS_OVER_EXPECTED"),)),)
    c = _cfg(rules=over)
    t, v = _entity(c, drop=drop, spikes=SPIKES, dips=DIPS)
    fast, ref = _both(c, t, v)
    _assert_identical(fast, ref)
    # Same seed without the rule the spikes are flagged; with it they are ignored, the dip is not.
    plain = _cfg(default_rule=False)  # no rule at all: the same model as `over` minus the direction rule
    unruled, _ = _both(plain, t, v)
    at = {int(k): int(np.searchsorted(fast.times, t[0] + k * 600)) for k in (*SPIKES, *DIPS)}
    shown = [k for k in SPIKES if unruled.grade[at[k]] > 0]
    assert shown and all(fast.grade[at[k]] == 0 for k in shown)
    assert all(fast.grade[at[k]] > 0 for k in DIPS)
    # and the result names why: the rule, not an RCF correction (RCF itself graded them)
    assert all(fast.correction[at[k]] == DIRECTION_RULE for k in shown)


def test_batch_true_without_helper_is_a_clear_error(batch, monkeypatch):
    from hcad.errors import ConfigError
    from hcad.quality.backtest import jvm

    c = _cfg()
    t, v = _entity(c, n=60)
    monkeypatch.setattr(jvm.rcf(), "Batch", None)
    monkeypatch.setattr(jvm.rcf(), "batch_note", "no javac (test)")
    with pytest.raises(ConfigError, match=r"batch helper is unavailable: no javac \(test\)"):
        run_entity(("a",), t, v, model_params(c), c, batch=True)
    # the default falls back to the reference path
    assert len(run_entity(("a",), t, v, model_params(c), c, seed=1).grade) == len(t)


def test_helper_is_compiled_once_into_the_jar_cache(batch):
    from hcad.quality.backtest import jvm

    jars = jvm.find_jars()
    first, note = jvm.helper_classes(jars, jvm.jvm_path())
    assert first is not None and note == ""
    assert first.parent == jars[0].parent and first.name.startswith("hcad-batch-")
    assert (first / "hcadbatch" / "HcadBatch.class").is_file()
    assert jvm.helper_classes(jars, jvm.jvm_path())[0] == first


def test_helper_source_is_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert "quality/backtest/*.java" in text
    assert (ROOT / "hcad" / "quality" / "backtest" / "HcadBatch.java").is_file()


def test_no_javac_warns_once_and_falls_back(tmp_path):
    """A fresh jar cache and no javac anywhere: one warning line, then the per-point path works."""
    from hcad.quality.backtest.jvm import fetch_jars

    for jar in fetch_jars():
        (tmp_path / jar.name).symlink_to(jar)
    code = (
        "import numpy as np\n"
        "from hcad.quality.backtest import jvm\n"
        "jvm.find_javac = lambda *a: None\n"
        "from hcad.quality.backtest import BacktestConfig, feature, model_params\n"
        "from hcad.quality.backtest.engine import DIRECTION_RULE, run_entity\n"
        "c = BacktestConfig(features=(feature('cpu', 'avg', 'cpu'),), category_fields=('host',))\n"
        "t = np.arange(80, dtype=np.int64) * 600\n"
        "r = run_entity(('a',), t, np.cos(t / 5000.0)[:, None], model_params(c), c, seed=1)\n"
        "r2 = run_entity(('a',), t, np.cos(t / 5000.0)[:, None], model_params(c), c, seed=1)\n"
        "assert jvm.rcf().Batch is None\n"
        "print(len(r.grade), (r.score > 0).sum() > 0)\n"
    )
    env = dict(os.environ, HCAD_JAR_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["80", "True"]
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "no javac" in warnings[0] and "point by point" in warnings[0], proc.stderr
    assert not list(tmp_path.glob("hcad-batch-*"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_direction_rules_on_late_anomalies_use_past_values(batch, seed):
    """Anomalies found a few intervals late (relative index < 0, a level shift, a burst, a spike seen
    late) are judged on their past values, not on the current interval's."""
    rules = (Rule((Condition("cpu", "ACTUAL_IS_OVER_EXPECTED"), Condition("gc", "ACTUAL_IS_BELOW_EXPECTED"))),)
    c = _cfg(rules=rules)
    t, v = _entity(c, spikes=SPIKES, dips=DIPS)
    v[600:, 0] += 15  # level shift
    v[450:455, 1] += 3  # a burst on gc
    fast, ref = _both(c, t, v, seed=seed)
    _assert_identical(fast, ref)
    assert (ref.relative < 0).any()  # late anomalies happened (they keep their relative index)


def test_jvm_options_default_to_the_throughput_collector(monkeypatch):
    from hcad.quality.backtest import jvm

    monkeypatch.delenv("HCAD_JVM_OPTS", raising=False)
    monkeypatch.setenv("HCAD_JVM_HEAP", "1g")
    assert jvm.jvm_options() == ["-Xmx1g", "-Xss4m", "-XX:+UseParallelGC"]
    monkeypatch.setenv("HCAD_JVM_OPTS", "-XX:+UseSerialGC -Dhcad.x='a b'")
    assert jvm.jvm_options() == ["-Xmx1g", "-Xss4m", "-XX:+UseSerialGC", "-Dhcad.x=a b"]
