"""hcad.quality.scoring on tiny hand-computed cases (expected numbers worked out by hand in comments)."""

from __future__ import annotations

import pandas as pd
import pytest

from hcad.errors import ConfigError
from hcad.quality.scoring import score

DAY = "2024-01-01T"


def t(hhmm: str) -> pd.Timestamp:
    return pd.Timestamp(f"{DAY}{hhmm}:00Z")


def labels() -> pd.DataFrame:
    return pd.DataFrame(
        [
            # E1: entity A, one interval 01:00–01:10
            {"host": "h0", "process": "p0", "start": t("01:00"), "end": t("01:10"), "kind": "spike"},
            # E2: entity A, four intervals 03:00–03:40
            {"host": "h0", "process": "p0", "start": t("03:00"), "end": t("03:40"), "kind": "level_shift"},
            # E3: entity B, two intervals 02:00–02:20 — never flagged
            {"host": "h1", "process": "p0", "start": t("02:00"), "end": t("02:20"), "kind": "dip"},
        ]
    )


def results() -> pd.DataFrame:
    rows = [
        ("h0", "p0", "00:50", 0.4),  # in E1's window with tolerance 1 (starts 00:50)
        ("h0", "p0", "01:10", 0.3),  # in E1's window (ends 01:20, exclusive)
        ("h0", "p0", "02:00", 0.9),  # FP
        ("h0", "p0", "03:10", 0.5),  # E2
        ("h0", "p0", "03:10", 0.5),  # duplicate row: counted once
        ("h0", "p0", "03:20", 0.5),  # E2
        ("h0", "p0", "03:30", 0.5),  # E2
        ("h0", "p0", "04:00", 0.0),  # grade 0: not a flag
        ("h0", "p0", "05:00", 0.2),  # FP
        ("h1", "p0", "04:00", 0.7),  # FP (E3 is at 02:00)
        ("h2", "p0", "01:00", 0.6),  # FP: entity without events
    ]
    return pd.DataFrame(
        [
            {"host": h, "process": p, "data_start_time": t(x), "anomaly_grade": g, "confidence": 0.9}
            for h, p, x, g in rows
        ]
    )


def test_hand_computed_case_tolerance_one() -> None:
    s = score(results(), labels(), interval_minutes=10, tolerance=1)
    # flags: A 7 (00:50 01:10 02:00 03:10 03:20 03:30 05:00), B 1, C 1 → 9; inside windows: 5
    assert (s.flagged_intervals, s.tp_intervals, s.fp_intervals) == (9, 5, 4)
    assert s.precision == pytest.approx(5 / 9)
    assert (s.events, s.detected) == (3, 2)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(20 / 33)
    # alarms: A {00:50} {01:10} {02:00} {03:10-03:30} {05:00}, B {04:00}, C {01:00} → 7, 3 true
    assert (s.alarms, s.true_alarms, s.false_alarms) == (7, 3, 4)
    assert s.alarm_precision == pytest.approx(3 / 7)
    assert s.alarm_f1 == pytest.approx(12 / 23)
    # entity-days: A 00:50 → 05:10 = 260 min, B 10 min, C 10 min → 280 min; 4 false alarms
    assert s.entity_days == pytest.approx(280 / 1440)
    assert s.false_alarms_per_entity_day == pytest.approx(4 / (280 / 1440))
    # time to detect: E1 first flag 00:50 → −1 interval, E2 first flag 03:10 → +1
    assert s.ttd_mean == pytest.approx(0.0) and s.ttd_median == pytest.approx(0.0)

    spike, shift, dip = s.per_kind["spike"], s.per_kind["level_shift"], s.per_kind["dip"]
    assert (spike.events, spike.detected, spike.tp_intervals) == (1, 1, 2)
    assert spike.precision == pytest.approx(2 / 6) and spike.f1 == pytest.approx(0.5)
    assert spike.ttd_mean == pytest.approx(-1.0)
    assert (shift.tp_intervals, shift.precision, shift.f1) == (3, pytest.approx(3 / 7), pytest.approx(0.6))
    assert shift.ttd_median == pytest.approx(1.0)
    assert (dip.events, dip.detected, dip.recall, dip.precision, dip.ttd_mean) == (1, 0, 0.0, 0.0, None)

    detail = s.events_detail
    assert detail["detected"].tolist() == [True, True, False]
    assert detail["first_flag"].iloc[1] == t("03:10")


def test_zero_tolerance_needs_flags_inside_the_event() -> None:
    s = score(results(), labels(), interval_minutes=10, tolerance=0)
    # E1 [01:00, 01:10) has no flag; E2 keeps its three
    assert (s.detected, s.tp_intervals, s.fp_intervals) == (1, 3, 6)
    assert s.precision == pytest.approx(3 / 9) and s.recall == pytest.approx(1 / 3)


def test_thresholds_on_grade_and_confidence() -> None:
    r = results()
    r.loc[r["data_start_time"] == t("02:00"), "confidence"] = 0.5
    s = score(r, labels(), 10, 1, min_grade=0.25, min_confidence=0.8)
    # dropped: 00:50? no (0.4); 05:00 (0.2 ≤ 0.25) and 02:00 (confidence 0.5) → 7 flags, 5 TP
    assert (s.flagged_intervals, s.tp_intervals) == (7, 5)


def test_epoch_millis_and_coarser_detector_interval() -> None:
    lab = pd.DataFrame([{"host": "a", "process": "b", "start": t("00:10"), "end": t("00:20"), "kind": "spike"}])
    res = pd.DataFrame(
        [
            {"host": "a", "process": "b", "data_start_time": int(t("00:00").timestamp() * 1000), "anomaly_grade": 1},
            {"host": "a", "process": "b", "data_start_time": int(t("01:00").timestamp() * 1000), "anomaly_grade": 1},
        ]
    )
    # A 20-minute result bucket starting 00:00 covers the 00:10 event even with no tolerance.
    s = score(res, lab, interval_minutes=20, tolerance=0)
    assert (s.detected, s.tp_intervals, s.fp_intervals) == (1, 1, 1)
    assert s.ttd_mean == pytest.approx(-0.5)


def test_nothing_flagged_and_no_events() -> None:
    empty = results().iloc[0:0]
    s = score(empty, labels(), 10)
    assert (s.precision, s.recall, s.f1, s.alarms) == (0.0, 0.0, 0.0, 0)
    s2 = score(results(), labels().iloc[0:0], 10)
    assert (s2.events, s2.recall, s2.precision, s2.fp_intervals) == (0, 0.0, 0.0, 9)
    assert s2.per_kind == {}


def test_to_dict_is_json_ready() -> None:
    import json

    d = score(results(), labels(), 10, 1).to_dict(detail=True)
    text = json.dumps(d)
    assert '"per_kind"' in text and d["events_detail"][2]["first_flag"] is None


def test_bad_input_names_the_column() -> None:
    with pytest.raises(ConfigError, match=r"results lack columns \['anomaly_grade'\]"):
        score(results().drop(columns="anomaly_grade"), labels(), 10)
    with pytest.raises(ConfigError, match="labels lack columns"):
        score(results(), labels().drop(columns="kind"), 10)
    with pytest.raises(ConfigError, match="interval_minutes must be > 0"):
        score(results(), labels(), 0)


def test_missed_events_say_why_from_the_results_in_their_window() -> None:
    labs = pd.DataFrame(
        [
            {"host": h, "process": "p0", "start": t(x), "end": t(y), "kind": "spike"}
            for h, x, y in [
                ("h0", "01:00", "01:10"),  # flagged
                ("h1", "01:00", "01:10"),  # graded 0.2: below a 0.3 floor
                ("h2", "01:00", "01:20"),  # score passed the threshold, the grade was zeroed (named)
                ("h3", "01:00", "01:10"),  # score above threshold, grade 0, no name (plugin results)
                ("h4", "01:00", "01:10"),  # score never above the threshold
                ("h5", "01:00", "01:10"),  # no result rows in the window
            ]
        ]
    )
    rows = [  # host, time, grade, score, threshold, suppressed_by
        ("h0", "01:00", 0.9, 3.0, 1.0, None),
        ("h1", "01:00", 0.2, 1.5, 1.0, None),
        ("h2", "01:00", 0.0, 2.0, 1.0, "CONDITIONAL_FORECAST"),
        ("h2", "01:10", 0.0, 2.0, 1.0, "FORECAST"),
        ("h2", "01:20", 0.0, 2.0, 1.0, "CONDITIONAL_FORECAST"),  # inside with tolerance 1
        ("h3", "01:00", 0.0, 2.0, 1.0, None),
        ("h4", "01:00", 0.0, 0.9, 1.0, None),
        ("h4", "05:00", 0.0, 4.0, 1.0, "NOISE"),  # outside the window: not read
        ("h5", "05:00", 0.0, 0.5, 1.0, None),
    ]
    res = pd.DataFrame(
        [
            {"host": h, "process": "p0", "data_start_time": t(x), "anomaly_grade": g, "confidence": 1.0,
             "anomaly_score": sc, "threshold": th, "suppressed_by": by}
            for h, x, g, sc, th, by in rows
        ]
    )  # fmt: skip
    s = score(res, labs, interval_minutes=10, tolerance=1, min_grade=0.3)
    assert s.detected == 1
    why = dict(zip(s.events_detail["host"], s.events_detail["missed_because"], strict=True))
    assert pd.isna(why.pop("h0"))  # detected
    assert why == {
        "h1": "below the monitor floor",
        "h2": "suppressed: CONDITIONAL_FORECAST",
        "h3": "suppressed",
        "h4": "score below threshold",
        "h5": "no results",
    }
    assert sum(s.missed_by.values()) == 5 and s.missed_by["suppressed"] == 1
    # results without scores (hand-made frames) still say the event was not flagged
    plain = score(res.drop(columns=["anomaly_score", "threshold"]), labs, interval_minutes=10, tolerance=1)
    assert plain.missed_by == {"not flagged": 3, "no results": 1}  # h1 counts as found without a floor
    assert plain.to_dict()["missed_by"] == plain.missed_by
