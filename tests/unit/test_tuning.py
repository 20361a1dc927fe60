"""hcad.quality.tuning: the choice rule and the held-out rows, on hand-made reports."""

from __future__ import annotations

import pytest

from hcad.errors import ConfigError
from hcad.quality.evaluate import ConfigResult, EvalConfig, EvalReport
from hcad.quality.scoring import Scores
from hcad.quality.synth import FleetSpec
from hcad.quality.tuning import config_key, held_out_rows, select, summary


def _scores(f1: float, fa: float, recall: float = 0.5) -> Scores:
    return Scores(
        events=10, detected=5, recall=recall, flagged_intervals=10, tp_intervals=5, fp_intervals=5,
        precision=0.5, f1=f1, alarms=4, true_alarms=2, false_alarms=2, alarm_precision=0.5, alarm_f1=0.5,
        ttd_mean=None, ttd_median=None, tolerance=2, interval_minutes=10, entity_days=20.0,
        false_alarms_per_entity_day=fa,
    )  # fmt: skip


def _report(spec: FleetSpec, rows: list[tuple[EvalConfig, float, float]]) -> EvalReport:
    rep = EvalReport("backtest", spec, 2)
    rep.results = [ConfigResult(c, _scores(f1, fa), 1.0) for c, f1, fa in rows]
    return rep


BIZ = FleetSpec.business(hosts=1, anomalies=1)
COS = FleetSpec.fleet(hosts=1, anomalies=1)


def _cfg(spec: FleetSpec, shingle: int, conf: float = 0.0) -> EvalConfig:
    return EvalConfig(tuple(("avg", m) for m in spec.metrics), 10, shingle, None, 0.05, 0, 0.0, conf)


def test_best_f1_within_the_false_alarm_budget_on_every_dataset() -> None:
    # s2 has the best F1 and a mean within the budget, but breaks it on one dataset; s4 is the best
    # of those within it everywhere.
    a = _report(BIZ, [(_cfg(BIZ, 2), 0.9, 0.05), (_cfg(BIZ, 4), 0.7, 0.05), (_cfg(BIZ, 8), 0.6, 0.01)])
    b = _report(COS, [(_cfg(COS, 2), 0.9, 0.12), (_cfg(COS, 4), 0.6, 0.09), (_cfg(COS, 8), 0.6, 0.02)])
    choice = select([a, b], max_false_alarms=0.1)
    assert choice.config.shingle_size == 4
    assert choice.mean_f1 == pytest.approx(0.65)
    assert choice.worst_false_alarms == pytest.approx(0.09)
    assert (choice.candidates, choice.within_budget) == (3, 2)
    # Metric names differ between the datasets; the key matches them by aggregation and settings.
    assert config_key(_cfg(BIZ, 4)) == config_key(_cfg(COS, 4))


def test_within_budget_on_average_then_fewest_false_alarms() -> None:
    # None is within 0.1 on both datasets; s4 and s8 are on average, and s4 has the better F1.
    a = _report(BIZ, [(_cfg(BIZ, 2), 0.9, 0.5), (_cfg(BIZ, 4), 0.5, 0.15), (_cfg(BIZ, 8), 0.3, 0.12)])
    b = _report(COS, [(_cfg(COS, 2), 0.9, 0.5), (_cfg(COS, 4), 0.5, 0.01), (_cfg(COS, 8), 0.3, 0.0)])
    choice = select([a, b], max_false_alarms=0.1)
    assert choice.config.shingle_size == 4 and "on average" in choice.reason
    # None is within it even on average: the fewest false alarms wins.
    c = _report(BIZ, [(_cfg(BIZ, 2), 0.9, 0.5), (_cfg(BIZ, 8), 0.2, 0.3)])
    choice = select([c], max_false_alarms=0.1)
    assert choice.config.shingle_size == 8 and "fewest" in choice.reason


def test_a_config_missing_from_one_dataset_does_not_compete() -> None:
    a = _report(BIZ, [(_cfg(BIZ, 2), 0.99, 0.0), (_cfg(BIZ, 4), 0.5, 0.0)])
    b = _report(COS, [(_cfg(COS, 4), 0.5, 0.0)])
    assert select([a, b]).config.shingle_size == 4
    with pytest.raises(ConfigError, match="every tuning dataset"):
        select([a, _report(COS, [(_cfg(COS, 16), 0.5, 0.0)])])
    with pytest.raises(ConfigError, match="no tuning reports"):
        select([])


def test_held_out_rows_and_summary() -> None:
    a = _report(BIZ, [(_cfg(BIZ, 4, 0.9), 0.6, 0.05), (_cfg(BIZ, 8), 0.4, 0.2)])
    b = _report(COS, [(_cfg(COS, 4, 0.9), 0.8, 0.15), (_cfg(COS, 8), 0.2, 0.4)])
    named = {"chosen": config_key(_cfg(BIZ, 4, 0.9)), "plugin": config_key(_cfg(BIZ, 8)), "absent": ("x",)}
    rows = held_out_rows([a, b], named)
    assert [(r["dataset"], r["config"]) for r in rows if "f1" in r] == [
        ("business", "chosen"), ("business", "plugin"), ("fleet", "chosen"), ("fleet", "plugin"),
    ]  # fmt: skip
    assert [r["error"] for r in rows if "f1" not in r] == ["not run", "not run"]
    by = {r["config"]: r for r in summary(rows)}
    chosen = by["chosen"]
    assert chosen["f1"] == pytest.approx(0.7) and chosen["false_alarms_per_entity_day"] == pytest.approx(0.1)
    assert by["plugin"]["f1"] == pytest.approx(0.3) and by["plugin"]["datasets"] == 2


# ------------------------------------------------------------------ injecting anomalies into user data
def _user_frame(days: int = 4, entities: int = 3):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    t = pd.date_range("2024-03-04", periods=days * 144, freq="10min", tz="UTC")
    parts = []
    for e in range(entities):
        day = 50 + 30 * np.sin(2 * np.pi * np.arange(len(t)) / 144)
        parts.append(pd.DataFrame({"ts": t, "svc": f"s{e}", "lat": day + rng.normal(0, 2.0, len(t))}))
    return pd.concat(parts, ignore_index=True)


def test_injected_events_are_sized_by_local_noise_and_labelled() -> None:
    import numpy as np

    from hcad.quality.tuning import inject_anomalies, local_sigma

    frame = _user_frame()
    out, labels = inject_anomalies(frame, ["svc"], ["lat"], time_field="ts", interval_minutes=10, seed=1, per_entity=3)
    assert len(labels) == 9 and set(labels["kind"]) == {"spike", "dip", "level_shift"}
    # σ of the noise is 2.0; the estimator finds it from the data alone.
    noise = local_sigma(frame[frame["svc"] == "s0"]["lat"].to_numpy(), 144)
    assert float(np.median(noise)) == pytest.approx(2.0, rel=0.2)
    merged = out.merge(frame, on=["ts", "svc"], suffixes=("", "_orig"))
    delta = merged["lat"] - merged["lat_orig"]
    inside = np.zeros(len(merged), dtype=bool)
    signs = []
    for _, ev in labels.iterrows():
        m = (merged["svc"] == ev["svc"]) & (merged["ts"] >= ev["start"]) & (merged["ts"] < ev["end"])
        inside |= m.to_numpy()
        d = delta[m]
        if ev["kind"] == "spike":
            assert d.min() > 10.0 * 2.0 * 0.7  # ~10σ up
        elif ev["kind"] == "level_shift":
            assert np.ptp(d.to_numpy()) < 1e-9 and abs(d.iloc[0]) > 8.0 * 2.0 * 0.7 and m.sum() >= 12
            signs.append(np.sign(d.iloc[0]))
        else:
            assert merged.loc[m, "lat"].to_numpy() == pytest.approx(0.1 * merged.loc[m, "lat_orig"].to_numpy())
        # after the warm-up: 40% of the entity's series
        first = frame[frame["svc"] == ev["svc"]]["ts"].sort_values().iloc[int(0.4 * 4 * 144)]
        assert ev["start"] >= first
    assert (delta[~inside] == 0).all()  # nothing else changed
    assert sorted(signs) == [-1.0, 1.0, 1.0]  # every other level shift goes down


def test_a_level_shift_down_keeps_a_metric_that_is_never_negative_at_zero_or_above() -> None:
    from hcad.quality.tuning import inject_anomalies

    frame = _user_frame(entities=4)
    frame["temp"] = frame["lat"] - 60.0  # a reading that may be negative
    frame["lat"] = (frame["lat"] - 45.0).clip(lower=0.0)  # a rate that sits at 0 half the day
    out, labels = inject_anomalies(frame, ["svc"], ["lat", "temp"], time_field="ts", interval_minutes=10, seed=2,
                                   per_entity=3, kinds=("level_shift",))  # fmt: skip
    assert len(labels) == 12
    assert (out["lat"] >= 0).all()
    merged = out.merge(frame, on=["ts", "svc"], suffixes=("", "_orig"))
    down = merged["temp"] - merged["temp_orig"] < -8.0 * 2.0 * 0.7  # shifted down in full
    assert down.sum() >= 6 * 12  # six of the twelve shifts went down by ~8 σ, below 0 where they took it
    assert (merged.loc[down, "temp"] < 0).any()
    assert ((merged["lat"] == 0) & (merged["lat_orig"] > 0)).any()  # the rate went down too, and stopped at 0


def test_injection_names_missing_columns_and_unknown_kinds() -> None:
    from hcad.quality.tuning import inject_anomalies

    with pytest.raises(ConfigError, match=r"\['cpu'\]"):
        inject_anomalies(_user_frame(), ["svc"], ["cpu"], time_field="ts", interval_minutes=10)
    with pytest.raises(ConfigError, match="gc_storm"):
        inject_anomalies(_user_frame(), ["svc"], ["lat"], time_field="ts", interval_minutes=10, kinds=("gc_storm",))


def test_a_leak_climbs_in_one_named_metric_and_its_label_names_it() -> None:
    import numpy as np

    from hcad.quality.tuning import inject_anomalies, local_sigma

    frame = _user_frame(days=6)
    frame["mem"] = 200.0 + np.random.default_rng(6).normal(0, 1.0, len(frame))
    out, labels = inject_anomalies(frame, ["svc"], ["lat", "mem"], time_field="ts", interval_minutes=10, seed=2,
                                   per_entity=4, kinds=("spike", "drift"), drift_metrics=["mem"])  # fmt: skip
    assert (labels["kind"] == "drift").sum() == 6 and (labels["kind"] == "spike").sum() == 6  # 4 slots: both kinds
    assert set(labels.loc[labels["kind"] == "drift", "metric"]) == {"mem"}
    assert set(labels.loc[labels["kind"] == "spike", "metric"]) == {"lat,mem"}  # the others move every metric
    merged = out.merge(frame, on=["ts", "svc"], suffixes=("", "_orig"))
    for _, ev in labels[labels["kind"] == "drift"].iterrows():
        m = ((merged["svc"] == ev["svc"]) & (merged["ts"] >= ev["start"]) & (merged["ts"] < ev["end"])).to_numpy()
        assert (merged.loc[m, "lat"] == merged.loc[m, "lat_orig"]).all()  # lat untouched
        d = (merged.loc[m, "mem"] - merged.loc[m, "mem_orig"]).to_numpy()
        assert 36 <= len(d) <= 72 and np.allclose(np.diff(d), d[0])  # a straight climb from one step up
        sigma = float(np.median(local_sigma(frame.loc[frame["svc"] == ev["svc"], "mem"].to_numpy(), 144)))
        assert d[-1] == pytest.approx(12.0 * sigma)  # to 12 σ of the entity's median noise
    with pytest.raises(ConfigError, match="drift_metrics"):
        inject_anomalies(frame, ["svc"], ["lat"], time_field="ts", interval_minutes=10, kinds=("drift",))
    with pytest.raises(ConfigError, match=r"\['cpu'\] are not among"):
        inject_anomalies(frame, ["svc"], ["lat"], time_field="ts", interval_minutes=10, kinds=("drift",),
                         drift_metrics=["cpu"])  # fmt: skip


def test_events_never_overlap_and_each_entity_gets_every_kind_in_turn() -> None:
    from hcad.quality.tuning import inject_anomalies

    frame = _user_frame(days=2)  # 288 intervals: after the warm-up room for 4 events of up to 24, not for 8
    _, labels = inject_anomalies(frame, ["svc"], ["lat"], time_field="ts", interval_minutes=10, seed=4, per_entity=8)
    for svc, evs in labels.groupby("svc"):
        evs = evs.sort_values("start")
        assert len(evs) == 4, svc  # (288 - 30 - 116) // (24 + 6)
        assert (evs["start"].iloc[1:].to_numpy() >= evs["end"].iloc[:-1].to_numpy()).all(), svc
        assert list(evs["kind"]) == ["spike", "dip", "level_shift", "spike"], svc
    with pytest.raises(ConfigError, match="at least one event"):
        inject_anomalies(frame, ["svc"], ["lat"], time_field="ts", interval_minutes=10, per_entity=0)
    with pytest.raises(ConfigError, match="at least one kind"):
        inject_anomalies(frame, ["svc"], ["lat"], time_field="ts", interval_minutes=10, kinds=())
