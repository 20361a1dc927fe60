"""Backtest against the real node: buckets read from the index, and fidelity with the AD plugin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hcad.quality.backtest import BacktestConfig, backtest, feature, to_buckets
from hcad.quality.backtest.buckets import query_buckets
from hcad.quality.loading import load_fleet
from hcad.quality.synth import FleetSpec, fleet_frame, fleet_labels


@pytest.fixture(scope="module")
def jars():
    from hcad.quality.backtest.jvm import fetch_jars

    return fetch_jars()


def _config(spec: FleetSpec, index: str) -> BacktestConfig:
    return BacktestConfig(
        features=(feature("cpu", "avg", "cpu"), feature("gc", "max", "jvmGcTime")),
        interval_minutes=spec.interval_minutes,
        category_fields=("host", "process"),
        indices=(index,),
    )


def test_index_buckets_equal_frame_buckets_and_results(os_client, index_name, jars):
    spec = FleetSpec.fleet(hosts=2, processes=2, periods=300, anomalies=4, seed=3)
    load_fleet(os_client, index_name, spec, progress=False)
    frame = fleet_frame(spec)
    cfg = _config(spec, index_name)
    start_ms = int(spec.start.timestamp() * 1000)
    end_ms = int(spec.end.timestamp() * 1000)
    from_index = query_buckets(os_client, cfg, start_ms, end_ms, page_size=97)  # several composite pages
    from_frame = to_buckets(frame, cfg)
    assert len(from_index) == len(from_frame) > 0
    # the fleet has 2% missing intervals: those buckets are absent on both sides, never zero
    assert len(from_frame) < spec.entity_count * spec.periods
    pd.testing.assert_frame_equal(
        from_index.reset_index(drop=True), from_frame.reset_index(drop=True), check_dtype=False, rtol=1e-6
    )
    a = backtest(from_index, cfg, seed=9)
    b = backtest(frame, cfg, seed=9)
    np.testing.assert_array_equal(a["anomaly_grade"].to_numpy(), b["anomaly_grade"].to_numpy())
    one = query_buckets(os_client, cfg, start_ms, end_ms, entities=[("host0", "process1")])
    assert set(map(tuple, one[["host", "process"]].to_numpy())) == {("host0", "process1")}


Z = 3.0  # two-sided ~0.3% chance that a faithful backtest fails one comparison by bad luck


def _flags(results: pd.DataFrame) -> set[tuple[str, str, pd.Timestamp]]:
    scored = results[results["anomaly_grade"].notna()]  # the plugin also writes error rows for gaps
    hit = scored[scored["anomaly_grade"] > 0]
    return set(zip(hit["host"], hit["process"], pd.to_datetime(hit["data_start_time"], utc=True), strict=True))


def _paired(only_a: int, only_b: int) -> tuple[bool, str]:
    """McNemar: with the same model, an item is as likely flagged by one side only as by the other
    only, so ``only_a - only_b`` is within Z standard deviations (sqrt of their sum) of 0."""
    ok = abs(only_a - only_b) <= Z * max(1.0, (only_a + only_b) ** 0.5)
    return ok, f"{only_a} plugin-only vs {only_b} backtest-only (allowed |diff| <= {Z} sqrt(sum))"


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["fleet", "business"])
def test_fidelity_with_plugin_historical_analysis(ad_client, index_name, jars, preset):
    """Same data, same config: the plugin's historical analysis and the backtest flag alike.

    On the two fleets hcad's defaults are tuned and reported on (scripts/tune_defaults.py): the cosine
    fleet and the business-hours one (hcad.quality.realistic), so the backtest's figures there stand
    for the plugin's.

    TRCF flags ~0.2% of intervals, so the fleet is 80 entities x 1,008 intervals (80k scored) with an
    ignore-within-5% rule: ~150-250 flagged intervals and 160-200 events per side, enough for the
    tolerances below, which come from the counts (paired where both sides score the same items).
    Cost on 2 shared cores, per preset: ~2 min (the plugin: 8 waves of 10 entities, 2 pieces of
    1,000 intervals each; the backtest ~1 min).
    """
    from hcad.quality.evaluate import EvalConfig, run_historical
    from hcad.quality.scoring import score

    spec = getattr(FleetSpec, preset)(hosts=40, processes=2, periods=1008, seed=11)
    load_fleet(ad_client, index_name, spec, progress=False)
    # The business fleet's events touch cpu, network, GC time or memory: every metric is a feature there.
    feats = tuple(("avg", m) for m in spec.metrics) if preset == "business" else (("avg", "jvmGcTime"),)
    ev = EvalConfig(features=feats, rule_ratio=0.05)
    plugin = run_historical(ad_client, ev, index_name, spec, timeout=1200)
    local = backtest(fleet_frame(spec), ev.detector(index_name), seed=None)
    labels = fleet_labels(spec)
    p, b = score(plugin, labels, ev.interval_minutes, 2), score(local, labels, ev.interval_minutes, 2)
    fp, fb = _flags(plugin), _flags(local)
    print(
        f"{preset}: flagged plugin {len(fp)} backtest {len(fb)} both {len(fp & fb)}; precision {p.precision:.3f} "
        f"vs {b.precision:.3f}; recall {p.recall:.3f} vs {b.recall:.3f} of {p.events} events"
    )

    # Same intervals scored: the plugin skips the same gaps and the last (partial) interval.
    scored = int(plugin["anomaly_grade"].notna().sum())
    assert abs(scored - len(local)) <= 0.02 * max(scored, 1)
    # Enough flags for the comparisons to mean something (not 5, as with the plugin's defaults).
    assert min(len(fp), len(fb)) >= 100

    # Flagged intervals, paired by (entity, interval): the rate, overall.
    ok, why = _paired(len(fp - fb), len(fb - fp))
    assert ok, f"flagged intervals: {why}"
    # Per entity: sum over entities of (x - y)^2 / (x + y) is chi-square with one degree of freedom
    # per entity; stay under its mean k plus Z standard deviations sqrt(2k).
    per = pd.DataFrame(
        {
            "plugin": pd.Series([(h, pr) for h, pr, _ in fp]).value_counts(),
            "backtest": pd.Series([(h, pr) for h, pr, _ in fb]).value_counts(),
        }
    ).fillna(0)
    per = per[per.sum(axis=1) > 0]
    chi2 = float((((per["plugin"] - per["backtest"]) ** 2) / (per["plugin"] + per["backtest"])).sum())
    k = len(per)
    assert chi2 <= k + Z * (2 * k) ** 0.5, f"per-entity flag counts differ: chi2 {chi2:.1f} over {k} entities\n{per}"

    # Events, paired: detected by one side only.
    dp = p.events_detail.set_index(["host", "process", "start"])["detected"]
    db = b.events_detail.set_index(["host", "process", "start"])["detected"].reindex(dp.index)
    ok, why = _paired(int((dp & ~db).sum()), int((db & ~dp).sum()))
    assert ok, f"events detected: {why}"
    # Precision: two binomial proportions over the flagged intervals, Z standard errors.
    assert abs(p.precision - b.precision) <= _se(p.precision, b.precision, len(fp), len(fb))


def _se(p1: float, p2: float, n1: int, n2: int) -> float:
    """Z standard errors of the difference of two binomial proportions (pooled)."""
    pooled = (p1 * n1 + p2 * n2) / max(1, n1 + n2)
    return Z * (pooled * (1 - pooled) * (1 / max(1, n1) + 1 / max(1, n2))) ** 0.5
