"""hcad.quality.synth: reproducibility, anomaly placement and size, missing data, labels I/O, validation."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from hcad.errors import ConfigError, ValidationError
from hcad.quality import loading, synth
from hcad.quality.synth import AnomalySpec, FleetSpec, fleet_frame, fleet_labels

T0 = datetime(2024, 3, 4, tzinfo=UTC)


def small(**kw) -> FleetSpec:
    base = dict(hosts=3, processes=2, periods=300, start=T0, anomalies=6, seed=7)
    base.update(kw)
    return FleetSpec(**base)


def test_same_spec_same_documents_and_labels_different_seed_differs() -> None:
    a = list(synth.fleet_documents(small()))
    b = list(synth.fleet_documents(small()))
    assert a == b
    pd.testing.assert_frame_equal(synth.fleet_labels(small()), synth.fleet_labels(small()))
    c = list(synth.fleet_documents(small(seed=8)))
    assert len(a) == len(c) and a != c
    assert not synth.fleet_labels(small()).equals(synth.fleet_labels(small(seed=8)))


def test_documents_shape_and_timestamps() -> None:
    spec = small(anomalies=0)
    docs = list(synth.fleet_documents(spec))
    assert len(docs) == 3 * 2 * 300
    assert set(docs[0]) == {"@timestamp", "host", "process", "cpu", "memory", "jvmGcTime"}
    assert docs[0]["@timestamp"] == "2024-03-04T00:00:00Z"
    assert docs[1]["@timestamp"] == "2024-03-04T00:10:00Z"
    assert {(d["host"], d["process"]) for d in docs} == set(spec.entities())
    assert all(isinstance(d["cpu"], float) and d["cpu"] >= 0 for d in docs)


def test_frame_matches_documents() -> None:
    spec = small(missing_rate=0.1)
    docs = pd.DataFrame(list(synth.fleet_documents(spec)))
    frame = synth.fleet_frame(spec)
    assert list(frame.columns) == ["@timestamp", "host", "process", "cpu", "memory", "jvmGcTime"]
    assert str(frame["@timestamp"].dt.tz) == "UTC"
    assert len(frame) == len(docs)
    np.testing.assert_array_equal(frame["cpu"].to_numpy(), docs["cpu"].to_numpy())
    stamps = frame["@timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (stamps.to_numpy() == docs["@timestamp"].to_numpy()).all()


def test_bulk_lines_are_the_documents_with_deterministic_ids() -> None:
    spec = small(anomalies=2)
    docs = list(synth.fleet_documents(spec))
    lines = list(synth.bulk_lines(spec))
    assert len(lines) == len(docs)
    for line, doc in zip(lines[:50], docs[:50], strict=True):
        action, source = (json.loads(x) for x in line.decode().splitlines())
        assert source == doc
        assert action == {"index": {"_id": f"{doc['host']}|{doc['process']}|{doc['@timestamp']}"}}


def test_random_anomalies_respect_warmup_gap_and_kind_rotation() -> None:
    spec = small(periods=1000, anomalies=20, kinds=synth.KINDS, min_gap=10)
    labels = synth.fleet_labels(spec)
    assert len(labels) == 20
    assert labels["kind"].value_counts().to_dict() == {k: 4 for k in synth.KINDS}
    iv = timedelta(minutes=10)
    warm_end = T0 + 400 * iv  # 40% of 1000 intervals
    assert (labels["start"] >= warm_end).all()
    assert (labels["end"] <= T0 + 1000 * iv).all()
    assert ((labels["end"] - labels["start"]) == labels["length"] * iv).all()
    for _, g in labels.groupby(["host", "process"]):
        g = g.sort_values("start")
        gaps = (g["start"].iloc[1:].to_numpy() - g["end"].iloc[:-1].to_numpy()) / np.timedelta64(10, "m")
        assert (gaps >= 10).all()


def _values(spec: FleetSpec, host: str, process: str, metric: str) -> np.ndarray:
    f = synth.fleet_frame(spec)
    return f[(f.host == host) & (f.process == process)][metric].to_numpy()


def test_spike_is_many_sigma_and_only_where_labelled() -> None:
    spike = AnomalySpec("host1", "process0", T0 + 200 * timedelta(minutes=10), 2, "spike", 8.0)
    with_a = small(anomalies=(spike,))
    without = small(anomalies=())
    a = _values(with_a, "host1", "process0", "cpu")
    b = _values(without, "host1", "process0", "cpu")
    diff = a - b
    assert np.flatnonzero(np.abs(diff) > 1e-9).tolist() == [200, 201]
    noise = np.std(np.diff(b)) / np.sqrt(2)  # first differences remove the slow cosine
    assert diff[200] > 6 * noise  # 8σ injected, σ estimated from the clean series
    # Other entities are untouched by the anomaly.
    np.testing.assert_array_equal(
        _values(with_a, "host0", "process0", "cpu"), _values(without, "host0", "process0", "cpu")
    )


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("dip", lambda d: (d < 0).all()),
        ("level_shift", lambda d: (d != 0).all() and np.ptp(d) < 1e-3),
        ("variance_burst", lambda d: np.abs(d).max() > 0),  # the spread itself: test_variance_burst_widens_the_noise
        ("gc_storm", lambda d: (np.diff(d) > 0).all()),
    ],
)
def test_kinds_change_the_series_as_documented(kind, check) -> None:
    a = AnomalySpec("host0", "process1", T0 + 150 * timedelta(minutes=10), 8, kind, 6.0)
    got = _values(small(anomalies=(a,)), "host0", "process1", "jvmGcTime")
    base = _values(small(anomalies=()), "host0", "process1", "jvmGcTime")
    d = (got - base)[150:158]
    assert check(d)
    assert not np.any((got - base)[:150]) and not np.any((got - base)[158:])


def test_variance_burst_widens_the_noise_m_times() -> None:
    # The generator adds N(0, σ·sqrt(m² − 1)) to the entity's N(0, σ) noise for the burst, so the noise
    # there has std m·σ, m = 6. First differences remove the slow cosine and keep the ratio:
    # std(diff) is m·σ·√2 inside the burst and σ·√2 around it, so the ratio estimates m. With 7
    # differences inside the burst the estimate is rough (seeds 0–19 give 3.3–9.1), hence [m/2, 2m].
    m = 6.0
    a = AnomalySpec("host0", "process1", T0 + 150 * timedelta(minutes=10), 8, "variance_burst", m)
    got = _values(small(anomalies=(a,)), "host0", "process1", "jvmGcTime")
    around = np.std(np.diff(np.concatenate([got[100:150], got[158:208]])))
    ratio = np.std(np.diff(got[150:158])) / around
    assert m / 2 < ratio < 2 * m
    # The mean is unchanged: the burst's mean offset stays within its own spread (m·σ/√8 standard error).
    base = _values(small(anomalies=()), "host0", "process1", "jvmGcTime")
    assert abs(np.mean((got - base)[150:158])) < 3 * m * (around / np.sqrt(2)) / np.sqrt(8)


def test_gc_storm_hits_gc_most_and_labels_name_metrics() -> None:
    a = AnomalySpec("host0", "process0", T0 + 150 * timedelta(minutes=10), 4, "gc_storm", 8.0)
    labels = synth.fleet_labels(small(anomalies=(a,)))
    assert labels["metric"].tolist() == ["cpu,memory,jvmGcTime"]
    spike = replace(a, kind="spike", metrics=("cpu",))
    assert synth.fleet_labels(small(anomalies=(spike,)))["metric"].tolist() == ["cpu"]


def test_missing_rate_drops_documents_but_never_inside_events() -> None:
    spec = small(periods=1000, missing_rate=0.2, anomalies=10, kinds=("level_shift",))
    frame = synth.fleet_frame(spec)
    total = spec.entity_count * spec.periods
    assert 0.75 * total < len(frame) < 0.85 * total
    for _, lab in synth.fleet_labels(spec).iterrows():
        ent = frame[(frame.host == lab.host) & (frame.process == lab.process)]
        inside = ent[(ent["@timestamp"] >= lab.start) & (ent["@timestamp"] < lab.end)]
        assert len(inside) == lab.length


def test_peak_days_raise_business_hours_of_some_days_only() -> None:
    base = small(periods=144 * 6, anomalies=0, peak_days=True, peak_day_rate=0.5)
    on = synth.fleet_frame(base)
    off = synth.fleet_frame(replace(base, peak_days=False))
    diff = on["cpu"].to_numpy() - off["cpu"].to_numpy()
    assert (diff >= -1e-9).all()
    hours = on["@timestamp"].dt.hour
    assert not diff[(hours < 8) | (hours >= 20)].any()
    raised_days = set(on["@timestamp"].dt.day[diff > 1e-6])
    assert 0 < len(raised_days) < 6


def test_presets() -> None:
    blog = FleetSpec.blog()
    assert blog.metrics == ("cpuTime", "jvmGcTime") and set(blog.kinds) == {"spike", "dip"}
    assert loading.index_mapping(blog)["properties"]["jvmGcTime"] == {"type": "double"}
    fleet = FleetSpec.fleet(hosts=2)
    assert fleet.hosts == 2 and fleet.peak_days and fleet.missing_rate > 0 and set(fleet.kinds) == set(synth.KINDS)


def test_spec_round_trips_through_dict() -> None:
    a = AnomalySpec("host0", "process0", T0 + timedelta(minutes=2000), 2, "spike", 7.0)
    for spec in (FleetSpec.fleet(), small(anomalies=(a,))):
        again = FleetSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert again == spec


def test_validation_lists_every_bad_field() -> None:
    with pytest.raises(ValidationError) as e:
        FleetSpec(hosts=0, kinds=("spike", "wobble"), missing_rate=1.5)
    paths = {i.path for i in e.value.issues}
    assert {"hosts", "kinds", "missing_rate"} <= paths
    assert "wobble" in str(e.value)
    with pytest.raises(ValidationError, match="timezone-aware"):
        FleetSpec(start=datetime(2024, 1, 1))
    with pytest.raises(ValidationError, match="host99/process0 is not in the fleet"):
        small(anomalies=(AnomalySpec("host99", "process0", T0, 1, "spike", 5.0),))
    with pytest.raises(ValidationError, match=r"anomalies\[0\].start"):
        small(anomalies=(AnomalySpec("host0", "process0", T0 + timedelta(minutes=5), 1, "spike", 5.0),))
    with pytest.raises(ConfigError, match="unknown keys"):
        FleetSpec.from_dict({"hostz": 3})


def test_too_many_anomalies_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="cannot place 500 anomalies"):
        synth.fleet_labels(small(periods=100, anomalies=500))


def test_labels_csv_round_trip_and_errors(tmp_path) -> None:
    spec = small(kinds=("spike", "gc_storm"))
    path = synth.write_labels(tmp_path / "labels.csv", spec)
    back = synth.read_labels(path)
    pd.testing.assert_frame_equal(back, synth.fleet_labels(spec), check_dtype=False)
    with pytest.raises(ConfigError, match=r"nope\.csv: labels file not found"):
        synth.read_labels(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("host,process,start\nh,p,2024-01-01T00:00:00Z\n")
    with pytest.raises(ConfigError, match=r"bad.csv: labels CSV lacks columns \['end', 'kind'\]"):
        synth.read_labels(bad)
    worse = tmp_path / "worse.csv"
    worse.write_text("host,process,start,end,kind\nh,p,yesterday,2024-01-01T00:00:00Z,spike\n")
    with pytest.raises(ConfigError, match=r"worse\.csv: bad timestamp"):
        synth.read_labels(worse)


# ------------------------------------------------------------------ the business generator
def _business(**kw):
    from hcad.quality.synth import FleetSpec

    return FleetSpec.business(**{"hosts": 4, "seed": 3, **kw})


def test_business_fleet_follows_local_business_hours_and_weekends() -> None:
    from hcad.quality.realistic import host_time_zone

    spec = _business(anomalies=0, missing_rate=0.0, hosts=6)
    zones = {h: host_time_zone(spec.seed, int(h.removeprefix("host"))) for h in spec.host_names()}
    assert len(set(zones.values())) >= 3  # several time zones
    frame = fleet_frame(spec)
    web = frame[frame["process"] == "process0"].copy()  # process0 is a web process
    # Each host's busiest hour (UTC) on weekdays sits in its own time zone's working day.
    for host, g in web.groupby("host"):
        g = g[g["@timestamp"].dt.day_of_week < 5]
        busy = g.groupby(g["@timestamp"].dt.hour)["cpu"].mean()
        quiet_hours = busy.nsmallest(6).index
        busy_hours = busy.nlargest(6).index
        assert busy.max() > 2.5 * busy.min(), host
        # the busiest hours are local working hours (09–18 in the host's own time zone)
        local = [(h + zones[str(host)]) % 24 for h in busy_hours]
        assert all(9 <= h < 18 for h in local), (host, zones[str(host)], local)
        assert not set(quiet_hours) & set(busy_hours)
    # Weekends are quieter than weekdays for web traffic (daily means, all hosts).
    daily = web.set_index("@timestamp")["cpu"].resample("1D").mean()
    weekend = daily[daily.index.day_of_week >= 5].mean()
    weekday = daily[(daily.index.day_of_week >= 1) & (daily.index.day_of_week <= 4)].mean()
    assert weekend < 0.8 * weekday


def test_business_noise_grows_with_load() -> None:
    spec = _business(anomalies=0, missing_rate=0.0)
    frame = fleet_frame(spec)
    g = frame[(frame["host"] == "host0") & (frame["process"] == "process0")]["cpu"].to_numpy()
    # Interval-to-interval changes are noise (the profile is smooth): bigger when cpu is high.
    diffs = np.abs(np.diff(g))
    level = g[1:]
    hi, lo = level > np.quantile(level, 0.8), level < np.quantile(level, 0.2)
    assert np.median(diffs[hi]) > 2 * np.median(diffs[lo])


def test_business_kinds_touch_the_metrics_the_labels_name() -> None:
    from hcad.quality.realistic import AFFECTED

    spec = _business(missing_rate=0.0)
    clean = fleet_frame(_business(anomalies=0, missing_rate=0.0))
    dirty = fleet_frame(spec)
    labels = fleet_labels(spec)
    assert set(labels["kind"]) == {"spike", "dip", "level_shift", "gc_storm", "drift"}
    key = ["host", "process", "@timestamp"]
    both = dirty.merge(clean, on=key, suffixes=("", "_clean"))
    for _, ev in labels.iterrows():
        assert ev["metric"] == ",".join(AFFECTED[ev["kind"]])
        inside = both[(both["host"] == ev["host"]) & (both["process"] == ev["process"])]
        inside = inside[(inside["@timestamp"] >= ev["start"]) & (inside["@timestamp"] < ev["end"])]
        assert len(inside) == ev["length"]
        for m in spec.metrics:
            changed = (inside[m] != inside[f"{m}_clean"]).any()
            assert changed == (m in ev["metric"].split(",")), (ev["kind"], m)
    # Outside every event the data are the clean fleet's.
    outside = both.copy()
    for _, ev in labels.iterrows():
        hit = (outside["host"] == ev["host"]) & (outside["process"] == ev["process"])
        hit &= (outside["@timestamp"] >= ev["start"]) & (outside["@timestamp"] < ev["end"])
        outside = outside[~hit]
    for m in spec.metrics:
        assert (outside[m] == outside[f"{m}_clean"]).all()


def test_business_generator_validates_kinds() -> None:
    from hcad.errors import ValidationError
    from hcad.quality.synth import FleetSpec

    with pytest.raises(ValidationError, match="variance_burst"):
        FleetSpec.business(kinds=("spike", "variance_burst"))
    with pytest.raises(ValidationError, match="generator"):
        FleetSpec(generator="sine")
