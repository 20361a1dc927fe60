"""hcad.alerting.drift: the drift rule on hand-computed and constructed daily series, the query and its parsing."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from hcad.alerting.drift import DailyGrade, DriftConfig, daily_grade_query, evaluate, parse_daily_grades, since
from hcad.errors import ConfigError

D0 = date(2024, 3, 1)


def days(values: list[float | None]) -> list[DailyGrade]:
    return [DailyGrade(D0 + timedelta(i), v, 100 if v is not None else 0) for i, v in enumerate(values)]


def constructed(kind: str, n: int = 45) -> list[DailyGrade]:
    """A stable weekly pattern (weekday/weekend) with a fixed wobble, plus a spike or a shift at day 30."""
    out = []
    for i in range(n):
        v = 0.03 + 0.006 * math.sin(2 * math.pi * i / 7) + 0.002 * ((i * 7) % 5 - 2) / 2
        if kind == "spike" and i == 30:
            v += 0.25
        if kind == "shift" and i >= 30:
            v += 0.04
        out.append(DailyGrade(D0 + timedelta(i), v, 1440))
    return out


def test_only_the_sustained_shift_drifts():
    stable, spike, shift = (evaluate(constructed(k)) for k in ("stable", "spike", "shift"))
    # the weekly pattern breaches now and then (k=1.5 is tight), never twice in a row
    assert not stable.drifted and max(d.streak for d in stable.days) == 1
    assert not spike.drifted and max(d.streak for d in spike.days) == 1
    spike_day = spike.days[30]
    assert spike_day.breach and spike_day.deviation > 10
    assert not spike.days[31].breach  # the spike is now part of the baseline
    assert shift.drifted
    assert shift.drift_start == D0 + timedelta(30) and shift.drift_confirmed == D0 + timedelta(32)


def test_hand_computed_baseline_sigma_and_breach():
    # window 3, need 2: day 3 sees [0.1, 0.2, 0.3] -> baseline 0.2, sample sigma 0.1; 0.36 is 1.6 sigma away
    report = evaluate(days([0.1, 0.2, 0.3, 0.36]), DriftConfig(window_days=3, min_baseline_days=2, consecutive=1))
    last = report.days[-1]
    assert last.baseline == pytest.approx(0.2) and last.sigma == pytest.approx(0.1)
    assert last.deviation == pytest.approx(1.6) and last.breach
    assert report.days[0].baseline is None  # no history yet: not judged
    report = evaluate(days([0.1, 0.2, 0.3, 0.34]), DriftConfig(window_days=3, min_baseline_days=2, consecutive=1))
    assert not report.days[-1].breach  # 1.4 sigma


def test_min_sigma_keeps_a_flat_baseline_from_breaching_on_noise():
    flat = [0.0] * 14
    assert not evaluate(days([*flat, 0.001, 0.001, 0.001])).drifted  # 0.5 min_sigma away
    assert evaluate(days([*flat, 0.05, 0.05, 0.05])).drifted


def test_breaches_in_opposite_directions_do_not_add_up():
    base = [0.03, 0.031, 0.029, 0.03, 0.031, 0.029, 0.03]
    report = evaluate(days([*base, 0.09, 0.0, 0.09]), DriftConfig(window_days=7, k=1.5))
    assert [d.breach for d in report.days[-3:]] == [True, True, True]
    assert [d.streak for d in report.days[-3:]] == [1, 1, 1]
    assert not report.drifted


def test_a_day_without_results_ends_the_streak():
    base = [0.03, 0.031, 0.029, 0.03, 0.031, 0.029, 0.03]
    report = evaluate(days([*base, 0.3, 0.3, None, 0.3, 0.3]), DriftConfig(window_days=14, k=1.0))
    assert [d.streak for d in report.days[-5:]] == [1, 2, 0, 1, 2]
    assert not report.drifted


def test_too_little_history_is_not_judged():
    report = evaluate(days([0.03, 0.03, 0.5, 0.5, 0.5]), DriftConfig(window_days=14))  # needs 7 days
    assert report.evaluated == 0 and not report.drifted


def test_since_drops_days_up_to_the_retrain():
    series = days([0.1, 0.2, 0.3])
    assert [g.day for g in since(series, D0 + timedelta(1))] == [D0 + timedelta(2)]
    assert since(series, None) == series


@pytest.mark.parametrize(
    "kw",
    [
        {"window_days": 1},
        {"k": 0},
        {"consecutive": 0},
        {"min_sigma": -1},
        {"min_baseline_days": 20},
        {"window_days": "14"},
        {"k": float("nan")},
        {"consecutive": 2.5},
    ],
)
def test_bad_config(kw):
    with pytest.raises(ConfigError):
        DriftConfig(**kw)


def test_query_shape_realtime_and_task():
    start, end = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 15, tzinfo=UTC)
    q = daily_grade_query("det1", start, end)
    hist = q["aggregations"]["days"]["date_histogram"]
    assert hist["field"] == "data_start_time" and hist["calendar_interval"] == "1d" and hist["min_doc_count"] == 0
    assert hist["extended_bounds"] == {"min": 1709251200000, "max": 1710460800000 - 1}
    assert q["aggregations"]["days"]["aggregations"] == {"grade": {"avg": {"field": "anomaly_grade"}}}
    assert q["query"]["bool"]["must_not"] == [{"exists": {"field": "task_id"}}]
    assert {"term": {"detector_id": "det1"}} in q["query"]["bool"]["filter"]
    t = daily_grade_query("det1", start, end, task_id="task9")
    assert {"term": {"task_id": "task9"}} in t["query"]["bool"]["filter"] and "must_not" not in t["query"]["bool"]


def test_a_naive_datetime_is_utc_whatever_the_local_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        naive = daily_grade_query("det1", datetime(2024, 3, 1), datetime(2024, 3, 15))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    aware = daily_grade_query("det1", datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 15, tzinfo=UTC))
    assert naive == aware


def test_parse_daily_grades():
    resp = {
        "aggregations": {
            "days": {
                "buckets": [
                    {"key": 1709251200000, "doc_count": 3, "grade": {"value": 0.25}},
                    {"key": 1709337600000, "doc_count": 0, "grade": {"value": None}},
                ]
            }
        }
    }
    assert parse_daily_grades(resp) == [
        DailyGrade(date(2024, 3, 1), 0.25, 3),
        DailyGrade(date(2024, 3, 2), None, 0),
    ]
    assert parse_daily_grades({}) == []
