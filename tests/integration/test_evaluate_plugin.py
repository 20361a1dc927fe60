"""The evaluation harness on the real cluster.

Acceptance: the scoring is checked against a hand-computed case (tests/unit/test_scoring.py and the
first test here, which runs everywhere) and a config run end to end on the real AD plugin finds the
injected events with a precision far above chance (needs the plugin: skipped with the reason when the
cluster lacks it).
"""

from __future__ import annotations

import pandas as pd
import pytest

from hcad.quality import evaluate as ev
from hcad.quality import loading
from hcad.quality.recommend import recommend_from_index
from hcad.quality.scoring import score
from hcad.quality.synth import AnomalySpec, FleetSpec


def test_scoring_hand_computed_case() -> None:
    t = lambda hhmm: pd.Timestamp(f"2024-01-01T{hhmm}:00Z")  # noqa: E731
    labels = pd.DataFrame(
        [
            {"host": "a", "process": "p", "start": t("01:00"), "end": t("01:20"), "kind": "spike"},
            {"host": "b", "process": "p", "start": t("02:00"), "end": t("02:10"), "kind": "dip"},
        ]
    )
    flags = [("a", "01:10"), ("a", "01:30"), ("a", "03:00"), ("b", "05:00")]
    results = pd.DataFrame(
        [{"host": h, "process": "p", "data_start_time": t(x), "anomaly_grade": 0.5} for h, x in flags]
    )
    s = score(results, labels, interval_minutes=10, tolerance=1)
    # a's event window is [00:50, 01:30): 01:10 inside; 01:30, 03:00 and b's 05:00 are outside.
    assert (s.tp_intervals, s.fp_intervals, s.detected) == (1, 3, 1)
    assert (s.precision, s.recall) == (0.25, 0.5)
    assert s.f1 == pytest.approx(2 * 0.25 * 0.5 / 0.75)


def test_recommend_from_a_loaded_index(os_client, index_name) -> None:
    spec = FleetSpec.blog(hosts=3, processes=2, periods=144 * 3, anomalies=0, missing_rate=0.3, seed=5)
    loading.load_fleet(os_client, index_name, spec, progress=False)
    rec = recommend_from_index(os_client, index_name, ["host", "process"], "cpuTime")
    assert rec.entities == 6
    assert rec.data_interval_minutes == 10
    assert rec.density_by_interval[10] == pytest.approx(0.7, abs=0.05)
    assert rec.interval_minutes == 20  # the first interval with ≥ 90% of buckets holding data
    assert rec.dominant_period_minutes == pytest.approx(1440, abs=40)


def test_plugin_historical_run_end_to_end_yields_scores(ad_client, index_name) -> None:
    start = FleetSpec().start
    iv = pd.Timedelta(minutes=10)
    events = (
        AnomalySpec("host0", "process0", start + 400 * iv, 2, "spike", 12.0),
        AnomalySpec("host1", "process0", start + 450 * iv, 2, "spike", 12.0),
    )
    spec = FleetSpec.blog(hosts=2, processes=1, periods=600, anomalies=events)
    loading.load_fleet(ad_client, index_name, spec, progress=False)
    cfg = ev.EvalConfig(features=(("avg", "cpuTime"), ("avg", "jvmGcTime")), shingle_size=4, rule_ratio=0.05)
    report = ev.evaluate(spec, [cfg], "plugin", client=ad_client, index=index_name, progress=False)
    (result,) = report.results
    assert result.error is None, result.error
    assert result.results > 0  # the plugin wrote results for the run
    s = result.scores
    assert s is not None and s.events == 2
    # Two 12σ spikes after 400 intervals of training. On the real plugin 2.19.4.0 (its forests are
    # randomly seeded), 9 runs of this setup found both spikes with 1-2 false flags (precision 0.5-0.67);
    # later runs sometimes found only one of them. A flag at random lands in the two ±2-interval windows about 1% of
    # the time (12 of 1,200 entity-intervals), so ≥ 1 event with precision ≥ 0.25 is far from chance
    # and leaves room for the forest's randomness.
    assert s.detected >= 1, (s.tp_intervals, s.fp_intervals)
    assert s.precision >= 0.25, (s.detected, s.tp_intervals, s.fp_intervals)
    assert report.to_dict()["engine"] == "plugin"


def _historical_scores(client, cfg: ev.EvalConfig, index: str, spec: FleetSpec, labels, cut: pd.Timestamp):
    """``cfg`` run as a historical analysis on ``index``, scored from ``cut`` on under its monitor floors."""
    results = ev.run_historical(client, cfg, index, spec, timeout=1200)
    results = results[pd.to_datetime(results["data_start_time"], utc=True) >= cut]
    return score(results, ev.labels_for(labels, cfg), cfg.interval_minutes,
                 min_grade=cfg.min_grade, min_confidence=cfg.min_confidence)  # fmt: skip


def test_baseline_fields_find_what_the_raw_metrics_miss(ad_client, index_name) -> None:
    """detectors/README.md's baseline claim, small, on the real plugin: a business-hours fleet none of the
    tuning used (4 hosts x 3 processes), with 14 days of data before the 8 days scored (24 events), as a
    baseline and a detector in service have; one index holding the raw metrics and their deviations from
    the seasonal baseline (hcad.quality.baseline, its recommended settings), two historical analyses.

    With ``baseline.RECOMMENDED`` as it is now (each entity's field in its own spreads, its own share of the
    fleet's moves fitted, drawn towards 1), on 12 entities x 8 days: the backtest, 8 forest seeds, found 18-19
    events at 0.06-0.11 false alarms per entity per day (6-11), hcad's defaults on the raw metrics 11-13 at
    0.20-0.29 (19-28). The plugin (randomly seeded forests), 11 runs on 2.19.4.0: 17-19 at 0.06-0.12 against
    11-14 at 0.19-0.30; 6 on 3.3.2.0: 18-19 at 0.07-0.12 against 11-14 at 0.19-0.27. Half the raw detector's
    false alarms, asked for before, failed 2 runs of 17 (11 against 18): the bounds leave room for both
    detectors' forests: as many events or more, at most 0.13 false alarms per entity per day (under every
    raw run) and at most three quarters of the raw detector's.
    """
    from hcad.quality import baseline
    from hcad.quality.synth import fleet_frame, fleet_labels

    history, scored = 14, 8
    spec = FleetSpec.business(
        hosts=4, seed=31, periods=(history + scored) * 144, warmup_fraction=history / (history + scored)
    )
    labels = fleet_labels(spec)
    data = baseline.residuals(fleet_frame(spec), spec.metrics, spec=baseline.RECOMMENDED)
    assert loading.load_frame(ad_client, index_name, data) == len(data)
    assert ad_client.count(index=index_name)["count"] == len(data)
    runs = {
        "baseline": (baseline.detector_config(data, spec.metrics), baseline.relabel(labels)),
        "raw": (ev.recommended_config(spec), labels),
    }
    cut = spec.end - pd.Timedelta(days=scored)
    got = {}
    for name, (cfg, labs) in runs.items():
        got[name] = _historical_scores(ad_client, cfg, index_name, spec, labs, cut)
    b, r = got["baseline"], got["raw"]
    summary = {k: (s.detected, s.events, round(s.false_alarms_per_entity_day, 3)) for k, s in got.items()}
    print(f"found / events / false alarms per entity per day: {summary}")
    assert b.events == r.events == 24, summary
    assert b.detected >= max(13, r.detected), summary
    assert b.false_alarms_per_entity_day <= min(0.13, 0.75 * r.false_alarms_per_entity_day), summary


def test_a_weekly_baseline_spares_hosts_whose_weekend_is_not_utcs(ad_client, index_name) -> None:
    """detectors/README.md's ``--season week`` claim, small, on the real plugin: business fleet 12 (hosts in
    several time zones; 4 hosts x 3 processes) with 14 days before the 8 days scored. Against past days of
    the same kind (UTC weekday or weekend) a host's local Friday evening or Sunday night is compared with
    the wrong days; against the same weekday of past weeks it is not.

    Backtest, 8 forest seeds: the daily baseline found 13-15 of 24 events at 8-11 false alarms (0.08-0.11 per
    entity per day), the weekly one 13-16 at 2-3 (any day 11-13 at 2-4). The plugin, 6 runs on 2.19.4.0:
    11-15 at 6-10 against 15-16 at 2-3 (any day 12-14 at 2-5). The bounds leave room for the plugin's own
    forests: the daily baseline's mix-up shows (5 false alarms or more), the weekly one has at most half of
    them, give or take one, at most 3 events fewer.
    """
    from dataclasses import replace

    from hcad.quality import baseline
    from hcad.quality.synth import fleet_frame, fleet_labels

    history, scored = 14, 8
    spec = FleetSpec.business(
        hosts=4, seed=12, periods=(history + scored) * 144, warmup_fraction=history / (history + scored)
    )
    labels, raw = baseline.relabel(fleet_labels(spec)), fleet_frame(spec)
    cut = spec.end - pd.Timedelta(days=scored)
    got = {}
    try:
        for season in baseline.SEASONS:
            index = f"{index_name}-{season}"
            # The specs as measured then: a local level, no per-entity scale, the fleet median's share for all.
            measured = replace(baseline.RECOMMENDED, season=season, scale=0, fleet_fit=0)
            data = baseline.residuals(raw, spec.metrics, spec=measured)
            assert loading.load_frame(ad_client, index, data) == len(data)
            cfg = baseline.detector_config(data, spec.metrics)
            got[season] = _historical_scores(ad_client, cfg, index, spec, labels, cut)
    finally:
        for season in baseline.SEASONS:
            ad_client.indices.delete(index=f"{index_name}-{season}", ignore_unavailable=True)
    day, week = got["day"], got["week"]
    summary = {
        k: (s.detected, s.events, s.false_alarms, round(s.false_alarms_per_entity_day, 3)) for k, s in got.items()
    }
    print(f"found / events / false alarms / per entity per day: {summary}")
    assert day.events == week.events == 24, summary
    assert day.false_alarms >= 5, summary  # the daily baseline's weekend mix-up shows on this fleet
    assert week.false_alarms <= day.false_alarms / 2 + 1, summary
    assert week.detected >= day.detected - 3, summary


def test_weekly_margins_on_the_plugin_find_what_the_backtest_finds(ad_client, index_name) -> None:
    """detectors/README.md's weekly margins as first chosen (2 spreads up / 6 down, each spread scaled by its
    field's tail factor; 4 below since the weekly baseline has no local level) on the real plugin: business
    fleet 62 (6 hosts x 3 processes; first run after the margins were chosen), 14 days before the 8 days scored, one
    weekly baseline, one historical analysis.

    That they find more than the daily defaults (3 / 6) is shown with the same forests on both
    (tests/unit/test_baseline.py: 2.3 events more on average over 21 seeds). The plugin seeds its forests
    at random, and one fleet there cannot show two events: in seven runs of both on 2.19.4.0 they found
    24-29 and 25-28 of 36 events, the weekly margins from 2 fewer to 2 more. What is checked here is that
    the plugin does what the backtest does with these margins: over 21 seeds the backtest found 25-31
    events (11-14 of the 15 spikes and level shifts) at 6-13 false alarms; the plugin, in nine runs, 25-30
    (10-14) at 5-11. The bounds leave room for its forests: at least 23 events (10 fast ones), at most 0.1
    false alarms per entity per day (14).
    """
    from dataclasses import replace

    from hcad.quality import baseline
    from hcad.quality.synth import fleet_frame, fleet_labels

    history, scored = 14, 8
    spec = FleetSpec.business(
        hosts=6, seed=62, periods=(history + scored) * 144, warmup_fraction=history / (history + scored)
    )
    labels = baseline.relabel(fleet_labels(spec))
    measured = replace(baseline.RECOMMENDED, season="week", scale=0, fleet_fit=0)  # as measured then: local level only
    data = baseline.residuals(fleet_frame(spec), spec.metrics, spec=measured)
    assert loading.load_frame(ad_client, index_name, data) == len(data)
    tail = baseline.tail_factor(data, baseline.field_names(spec.metrics))
    assert tail["jvmGcTime_vs_baseline"] > 1.3 > tail["cpu_vs_baseline"], tail  # GC time's bursts widen its margin
    cfg = baseline.detector_config(
        data, spec.metrics, spreads=baseline.RECOMMENDED_WEEKLY_SPREADS,
        spreads_below=6.0, tail=tail,  # the margins as measured then (4 below since)
    )  # fmt: skip
    s = _historical_scores(ad_client, cfg, index_name, spec, labels, spec.end - pd.Timedelta(days=scored))
    fast = sum(s.per_kind[k].detected for k in ("spike", "level_shift") if k in s.per_kind)
    summary = (s.detected, s.events, fast, s.false_alarms, round(s.false_alarms_per_entity_day, 3))
    print(f"found / events / spikes and level shifts found / false alarms / per entity per day: {summary}")
    assert s.events == 36, summary
    assert s.detected >= 23 and fast >= 10, summary
    assert s.false_alarms_per_entity_day <= 0.1, summary
