"""Backtest against the real node: buckets read from the index, and fidelity with the AD plugin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hcad.backtest import BacktestConfig, backtest, feature, to_buckets
from hcad.backtest.buckets import query_buckets
from hcad.synth import FleetSpec, fleet_frame, fleet_labels, load_fleet


@pytest.fixture(scope="module")
def jars():
    from hcad.backtest.jvm import fetch_jars

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


def _rates(results: pd.DataFrame, spec: FleetSpec, interval: float) -> dict[str, float]:
    from hcad.scoring import score

    s = score(results, fleet_labels(spec), interval, 2)
    scored = results[results["anomaly_grade"].notna()]  # the plugin also writes error rows for gaps
    flagged = (scored["anomaly_grade"] > 0).mean() if len(scored) else 0.0
    return {
        "precision": s.precision,
        "recall": s.recall,
        "f1": s.f1,
        "anomaly_rate": float(flagged),
        "flagged": s.flagged_intervals,
        "events": s.events,
    }


def _entity_rates(results: pd.DataFrame) -> pd.Series:
    scored = results[results["anomaly_grade"].notna()]
    return (scored["anomaly_grade"] > 0).groupby([scored["host"], scored["process"]]).mean()


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["blog", "fleet"])
def test_fidelity_with_plugin_historical_analysis(ad_client, index_name, jars, preset):
    """Same data, same config: the plugin's historical analysis and the backtest score alike."""
    from hcad.evaluate import EvalConfig, run_historical

    spec = getattr(FleetSpec, preset)(hosts=5, processes=2, periods=1008, seed=11)
    load_fleet(ad_client, index_name, spec, progress=False)
    ev = EvalConfig()
    plugin = run_historical(ad_client, ev, index_name, spec, timeout=1200)
    local = backtest(fleet_frame(spec), ev.detector(index_name), seed=None)
    p, b = _rates(plugin, spec, ev.interval_minutes), _rates(local, spec, ev.interval_minutes)
    per = pd.DataFrame({"plugin": _entity_rates(plugin), "backtest": _entity_rates(local)}).fillna(0.0)
    print(f"{preset}: plugin {p} backtest {b}\nper-entity anomaly rates:\n{per}")
    # Issue 9's target: anomaly rates within 0.05, overall and per entity.
    assert abs(p["anomaly_rate"] - b["anomaly_rate"]) <= 0.05
    assert (per["plugin"] - per["backtest"]).abs().max() <= 0.05
    # Forests are randomly seeded on both sides; compare the distributions' summary, not points. With
    # the plugin's default config few intervals are flagged (4 to 7 of ~6,000 with 6 entities on the
    # 2.19.4.0 plugin) and few events are detected (4 to 6 of 15 across runs, on either side), so a
    # fixed 0.1 is inside the run-to-run noise. Allow 0.1 or two standard errors of the difference of
    # two binomial proportions, whichever is larger.
    assert abs(p["precision"] - b["precision"]) <= _two_se(p["precision"], b["precision"], p["flagged"], b["flagged"])
    assert abs(p["recall"] - b["recall"]) <= _two_se(p["recall"], b["recall"], p["events"], b["events"])

    scored = int(plugin["anomaly_grade"].notna().sum())  # the plugin also writes error rows for gaps
    assert abs(scored - len(local)) <= 0.02 * max(scored, 1)


def _two_se(p1: float, p2: float, n1: int, n2: int) -> float:
    pooled = (p1 * n1 + p2 * n2) / max(1, n1 + n2)
    return max(0.1, 2 * (pooled * (1 - pooled) * (1 / max(1, n1) + 1 / max(1, n2))) ** 0.5)
