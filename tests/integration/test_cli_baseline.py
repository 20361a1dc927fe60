"""``hcad baseline`` on the live node: the deviations it writes are the library's, rerunning replaces rows,
the detector it prints is valid, and bad input changes nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest

from hcad.ad.model import Detector
from hcad.cli.main import main
from hcad.quality import baseline, loading
from hcad.quality.synth import FleetSpec, fleet_frame

SPEC = FleetSpec.business(hosts=2, seed=41)  # 6 entities, 8 days at 10 minutes
METRICS = ("cpu", "memory", "jvmGcTime", "network")
FROM = SPEC.start + pd.Timedelta(days=2)


@pytest.fixture
def fleet(os_client, index_name) -> str:
    loading.load_fleet(os_client, index_name, SPEC, progress=False)
    return index_name


@pytest.fixture
def dest(os_client) -> str:
    name = f"hcad-test-dev-{uuid.uuid4().hex[:8]}"
    yield name
    os_client.indices.delete(index=name, ignore_unavailable=True)


def hcad(capsys, os_url: str, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["--url", os_url, *args])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def command(fleet: str, dest: str, *extra: str, metrics: tuple[str, ...] = METRICS) -> list[str]:
    given = [a for m in metrics for a in ("-m", m)]
    times = ["--from", FROM.isoformat(), "--to", SPEC.end.isoformat()]
    return ["baseline", fleet, "--into", dest, "-f", "host", "-f", "process", *given, *times, *extra]


def test_writes_the_library_deviations_and_a_valid_detector(capsys, os_client, os_url, fleet, dest, tmp_path) -> None:
    out_file = tmp_path / "dev.yaml"
    extra = ("-o", str(out_file), "--detector", "dev-test", "--shingle", "4", "--spreads-below", "5")
    code, _out, err = hcad(capsys, os_url, *command(fleet, dest, *extra, "--window-delay", "15m"))
    assert code == 0, err

    expected = baseline.residuals(fleet_frame(SPEC), METRICS, spec=baseline.RECOMMENDED)
    expected = expected[pd.to_datetime(expected["@timestamp"], utc=True) >= FROM]
    assert f"wrote {len(expected):,} rows for 6 entities into {dest}" in err
    assert os_client.count(index=dest)["count"] == len(expected)
    hits = os_client.search(index=dest, body={"size": 50, "sort": [{"@timestamp": "asc"}, {"host": "asc"}]})["hits"]
    got = pd.DataFrame([h["_source"] for h in hits["hits"]])
    merged = got.merge(
        expected.assign(**{"@timestamp": expected["@timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")}),
        on=["@timestamp", "host", "process"],
        suffixes=("", "_lib"),
    )
    assert len(merged) == 50
    for m in METRICS:
        c = m + baseline.SUFFIX
        assert merged[c].to_numpy() == pytest.approx(merged[c + "_lib"].to_numpy(), abs=1e-9)
        assert merged[m].to_numpy() == pytest.approx(merged[m + "_lib"].to_numpy(), abs=1e-9)

    det = Detector.from_yaml(str(out_file))
    det.check()
    assert det.name == "dev-test"
    assert det.indices == [dest] and det.category_fields == ["host", "process"]
    assert [f.simple for f in det.features] == [("avg", m + baseline.SUFFIX) for m in METRICS]
    assert det.shingle_size == 4
    assert det.window_delay is not None and det.window_delay.to_api() == {"period": {"interval": 15, "unit": "Minutes"}}
    spreads = baseline.spread(expected, baseline.field_names(METRICS))
    margins = {(c.feature_name, c.threshold_type): c.value for r in det.rules or [] for c in r.conditions}
    above = {(f"{f}_avg", "ACTUAL_OVER_EXPECTED_MARGIN"): baseline.RECOMMENDED_SPREADS * s for f, s in spreads.items()}
    below = {(f"{f}_avg", "EXPECTED_OVER_ACTUAL_MARGIN"): 5.0 * s for f, s in spreads.items()}
    assert margins == pytest.approx(above | below, rel=1e-3)

    # Again, over the same range: the rows are replaced, not added; the detector printed has the defaults.
    code, out, err = hcad(capsys, os_url, *command(fleet, dest))
    assert code == 0, err
    (tmp_path / "printed.yaml").write_text(out)
    printed = Detector.from_yaml(str(tmp_path / "printed.yaml"))
    assert printed.shingle_size == baseline.RECOMMENDED_SHINGLE
    sides = {c.threshold_type: c.value for c in (printed.rules or [])[0].conditions}
    assert sides["EXPECTED_OVER_ACTUAL_MARGIN"] == pytest.approx(
        sides["ACTUAL_OVER_EXPECTED_MARGIN"] * baseline.RECOMMENDED_SPREADS_BELOW / baseline.RECOMMENDED_SPREADS,
        rel=1e-3,
    )
    os_client.indices.refresh(index=dest)
    assert os_client.count(index=dest)["count"] == len(expected)

    # --json names the range written as UTC times (--from/--to may be given relative to now).
    code, out, err = hcad(capsys, os_url, *command(fleet, dest, "--json"))
    assert code == 0, err
    report = json.loads(out)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    assert (report["from"], report["to"]) == (FROM.strftime(iso), SPEC.end.strftime(iso))
    assert report["rows"] == len(expected) and (report["season"], report["local"]) == ("day", 36)
    assert report["scale"] == baseline.RECOMMENDED.scale > 0  # each entity's field in its own spreads
    assert report["fleet_fit"] == baseline.RECOMMENDED.fleet_fit > 0  # and its own share of the fleet's moves
    assert report["tail"] is None  # plain robust spreads with --season day (no --tail)


def test_alone_prints_a_second_detector_over_one_metric(capsys, os_client, os_url, fleet, dest, tmp_path) -> None:
    """--alone memory: the file holds the detector over every metric and, beside it, one over memory's
    deviation alone at 3 spreads both ways (what recommend --trial scores as a pair); detectors apply reads both."""
    from hcad.ad.definitions import load_definitions
    from hcad.quality.trial import ALONE_SPREADS

    out_file = tmp_path / "pair.yaml"
    code, _out, err = hcad(capsys, os_url, *command(fleet, dest, "-o", str(out_file), "--detector", "dev-pair",
                                                    "--alone", "memory", "--shingle", "4"))  # fmt: skip
    assert code == 0, err
    assert f"wrote {out_file} (dev-pair, dev-pair-memory)" in err
    first, second = (d.detector for d in load_definitions([out_file]))
    for d in (first, second):
        d.check()
        assert d.indices == [dest] and d.category_fields == ["host", "process"] and d.shingle_size == 4
    assert [f.simple for f in first.features] == [("avg", m + baseline.SUFFIX) for m in METRICS]
    assert second.name == "dev-pair-memory" and [f.simple for f in second.features] == [("avg", "memory_vs_baseline")]
    expected = baseline.residuals(fleet_frame(SPEC), METRICS, spec=baseline.RECOMMENDED)
    expected = expected[pd.to_datetime(expected["@timestamp"], utc=True) >= FROM]
    spread = baseline.spread(expected, ["memory_vs_baseline"])["memory_vs_baseline"]
    margins = {c.threshold_type: c.value for r in second.rules or [] for c in r.conditions}
    assert margins == pytest.approx({"ACTUAL_OVER_EXPECTED_MARGIN": ALONE_SPREADS * spread,
                                     "EXPECTED_OVER_ACTUAL_MARGIN": ALONE_SPREADS * spread}, rel=1e-3)  # fmt: skip
    code, out, err = hcad(capsys, os_url, *command(fleet, dest, "--alone", "memory", "--json"))
    assert code == 0, err
    report = json.loads(out)
    assert [d["name"] for d in report["alone"]] == [f"{dest}-detector-memory"]


def test_mode_level_writes_the_librarys_level_deviations(capsys, os_client, os_url, fleet, dest) -> None:
    """--mode level: each deviation over the day's mean baseline, as the library computes it (not the ratio)."""
    from dataclasses import replace

    code, _out, err = hcad(capsys, os_url, *command(fleet, dest, "--mode", "level"))
    assert code == 0, err
    data = fleet_frame(SPEC)
    expected = baseline.residuals(data, METRICS, spec=replace(baseline.RECOMMENDED, mode="level"))
    expected = expected[pd.to_datetime(expected["@timestamp"], utc=True) >= FROM]
    ratio = baseline.residuals(data, METRICS, spec=baseline.RECOMMENDED)
    os_client.indices.refresh(index=dest)
    assert os_client.count(index=dest)["count"] == len(expected)
    hits = os_client.search(index=dest, body={"size": 200, "sort": [{"@timestamp": "asc"}, {"host": "asc"}]})["hits"]
    got = pd.DataFrame([h["_source"] for h in hits["hits"]])
    stamp = {"@timestamp": lambda f: f["@timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")}
    merged = got.merge(expected.assign(**stamp), on=["@timestamp", "host", "process"], suffixes=("", "_lib"))
    merged = merged.merge(ratio.assign(**stamp), on=["@timestamp", "host", "process"], suffixes=("", "_ratio"))
    assert len(merged) == 200
    c = "cpu" + baseline.SUFFIX
    assert merged[c].to_numpy() == pytest.approx(merged[c + "_lib"].to_numpy(), abs=1e-9)
    assert (merged[c] - merged[c + "_ratio"]).abs().max() > 0.01  # not the ratio form's fields


def test_stretch_writes_the_librarys_stretched_field_for_the_metric_named(
    capsys, os_client, os_url, fleet, dest
) -> None:
    """--stretch with --stretch-metric (and --season anyday, as the trial's stretched candidate): that metric's
    deviations past --knee spreads are stretched as the library does, the other metrics' are not, and the report
    says which."""
    from dataclasses import replace

    knee = baseline.RECOMMENDED_KNEE
    extra = ("--mode", "level", "--season", "anyday", "--stretch", "4", "--stretch-metric", "jvmGcTime", "--json")
    code, out, err = hcad(capsys, os_url, *command(fleet, dest, *extra))
    assert code == 0, err
    report = json.loads(out)
    got_settings = (report["mode"], report["season"], report["stretch"], report["stretched"], report["knee"])
    assert got_settings == ("level", "anyday", 4.0, ["jvmGcTime"], knee)
    data = fleet_frame(SPEC)
    level = replace(baseline.RECOMMENDED, mode="level", season="anyday")
    stamp = {"@timestamp": lambda f: f["@timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")}
    lib = baseline.residuals(data, METRICS, spec=replace(level, stretch=4.0, stretched=("jvmGcTime",)))
    plain = baseline.residuals(data, METRICS, spec=level)
    g = "jvmGcTime" + baseline.SUFFIX
    os_client.indices.refresh(index=dest)
    beyond = {"bool": {"should": [{"range": {g: {"gt": knee}}}, {"range": {g: {"lt": -knee}}}]}}
    hits = os_client.search(index=dest, body={"size": 200, "query": beyond})["hits"]["hits"]
    got = pd.DataFrame([h["_source"] for h in hits])
    assert len(got) > 0  # the fleet's GC storms reach past the knee
    keys = ["@timestamp", "host", "process"]
    merged = got.merge(lib.assign(**stamp), on=keys, suffixes=("", "_lib"))
    merged = merged.merge(plain.assign(**stamp), on=keys, suffixes=("", "_plain"))
    assert len(merged) == len(got)
    assert merged[g].to_numpy() == pytest.approx(merged[g + "_lib"].to_numpy(), abs=1e-9)
    unstretched = merged[g + "_plain"].to_numpy()
    assert merged[g].abs().to_numpy() == pytest.approx(knee + 5 * (abs(unstretched) - knee), abs=1e-6)
    c = "cpu" + baseline.SUFFIX
    assert merged[c].to_numpy() == pytest.approx(merged[c + "_plain"].to_numpy(), abs=1e-9)  # cpu not stretched


def test_season_week_writes_deviations_from_past_weeks(capsys, os_client, os_url, index_name, dest) -> None:
    """With --season week the fields come from the same weekday of past weeks: on 17 days, the last two
    days differ from the daily baseline's (earlier days fall back to it: fewer than two past weeks)."""
    spec = FleetSpec.business(hosts=1, seed=41, periods=17 * 144)  # 3 entities
    loading.load_fleet(os_client, index_name, spec, progress=False)
    start = spec.start + pd.Timedelta(days=15)
    times = ["--from", start.isoformat(), "--to", spec.end.isoformat(), "--history", "15"]
    metrics = [a for m in METRICS for a in ("-m", m)]
    args = ["baseline", index_name, "--into", dest, "-f", "host", "-f", "process", *metrics, *times]
    code, out, err = hcad(capsys, os_url, *args, "--season", "week", "--alone", "memory", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["season"], report["local"]) == ("week", 0)  # no local level against past weeks by default
    assert report["scale"] == 0  # nor a per-entity scale (it cost false alarms there)
    assert report["fleet_fit"] == 0  # nor a fitted share of the fleet's moves (not measured to help there)

    frame = fleet_frame(spec)
    weekly, daily = (
        baseline.residuals(frame, METRICS, spec=spec, alone=["memory"])
        for spec in (baseline.RECOMMENDED_WEEKLY, baseline.RECOMMENDED)
    )
    weekly, daily = (d[pd.to_datetime(d["@timestamp"], utc=True) >= start] for d in (weekly, daily))
    os_client.indices.refresh(index=dest)
    assert os_client.count(index=dest)["count"] == len(weekly)
    hits = os_client.search(index=dest, body={"size": 100, "sort": [{"@timestamp": "asc"}, {"host": "asc"}]})["hits"]
    got = pd.DataFrame([h["_source"] for h in hits["hits"]])
    keys = ["@timestamp", "host", "process"]
    stamp = {"@timestamp": lambda d: d["@timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")}
    merged = got.merge(weekly.assign(**stamp), on=keys, suffixes=("", "_week")).merge(
        daily.assign(**stamp), on=keys, suffixes=("", "_day")
    )
    assert len(merged) == 100
    c = "cpu" + baseline.SUFFIX
    assert merged[c].to_numpy() == pytest.approx(merged[c + "_week"].to_numpy(), abs=1e-9)
    assert (merged[c] - merged[c + "_day"]).abs().max() > 0.01  # the test tells the seasons apart
    # --alone memory against past weeks: the second detector reads memory's deviation less its recent level,
    # written beside the others (past days have a local level already: no such field).
    leveled = "memory_local" + baseline.SUFFIX
    assert merged[leveled].to_numpy() == pytest.approx(merged[leveled + "_week"].to_numpy(), abs=1e-9)
    assert leveled not in daily.columns
    (second,) = report["alone"]
    assert second["features"] == {leveled + "_avg": {"agg": "avg", "field": leveled}}
    # The weekly defaults: 2 spreads above, 4 below, each field's spread scaled by its tail factor (of the rows
    # written), as the library computes them.
    fields = baseline.field_names(METRICS)
    tail = baseline.tail_factor(weekly, fields)
    assert report["tail"] == pytest.approx({f: round(v, 3) for f, v in tail.items()}, abs=1e-9)
    spreads = baseline.spread(weekly, fields)
    want = {f"{f}_avg": baseline.RECOMMENDED_WEEKLY_SPREADS * spreads[f] * report["tail"][f] for f in fields}
    assert report["margins"] == pytest.approx(want, rel=1e-3)
    below = {f"{f}_avg": baseline.RECOMMENDED_WEEKLY_SPREADS_BELOW * spreads[f] * report["tail"][f] for f in fields}
    assert report["margins_below"] == pytest.approx(below, rel=1e-3)
    assert max(report["tail"].values()) > 1.0  # not all 1: the margins differ from the plain spreads'
    # A scheduled run over the last two hours has too few rows to see a tail: it says so and uses plain spreads.
    short = ["--from", (spec.end - pd.Timedelta(hours=2)).isoformat(), "--to", spec.end.isoformat(), "--history", "15"]
    code, out, err = hcad(capsys, os_url, "baseline", index_name, "--into", dest, "-f", "host", "-f", "process",
                          *metrics, *short, "--season", "week", "--json")  # fmt: skip
    assert code == 0, err
    assert "too few to see each metric's tail" in err
    assert set(json.loads(out)["tail"].values()) == {1.0}


def test_bad_input_is_one_line_and_writes_nothing(capsys, os_client, os_url, fleet, dest, tmp_path: Path) -> None:
    cases = (
        (command(fleet, dest.upper()), "--into"),
        (command(fleet, dest, "--to", FROM.isoformat()), "--to: must be after --from"),
        (command(fleet, dest, "-m", "nosuchfield"), "'nosuchfield'"),
        (command(fleet, dest, "--spreads", "0"), "--spreads"),
        (command(fleet, dest, "--spreads-below", "-1"), "--spreads-below: must be above 0"),
        (command(fleet, dest, "--shingle", "0"), "--shingle: "),
        (command(fleet, dest, "-m", "cpu"), "--metric: cpu given more than once"),
        (command(fleet, dest, "--detector", "d" * 65), "--detector: "),  # the plugin's limit is 64
        (command(fleet, dest, "--alone", "disk"), "--alone: disk is not a --metric"),
        (command(fleet, dest, "--alone", "memory", "--alone", "memory"), "--alone: a metric is given more than once"),
        (command(fleet, dest, "--alone", "cpu", metrics=("cpu",)), "--alone: cpu is the only --metric"),
        (command(fleet, dest, "--detector", "d" * 60, "--alone", "memory"), "--alone: "),  # d…d-memory: 67
        (command(fleet, dest, "-o", str(tmp_path / "absent" / "d.yaml")), "--output"),
        (
            command(fleet, dest, "--from", SPEC.end.isoformat(), "--to", (SPEC.end + pd.Timedelta(days=1)).isoformat()),
            "no interval between --from and --to has a baseline",
        ),
        (command(fleet, dest, "--from", "yesterday"), "--from: 'yesterday' is not a time"),
        (command(fleet, dest, "--window-delay", "soon"), "--window-delay: 'soon' is not an interval"),
        (command(fleet, dest, "--season", "week", "--history", "7"), "--history: 7 days is less than the two weeks"),
        # Relative times (as a scheduled run passes them) are read; the fleet's data end in 2024.
        (command(fleet, dest, "--from", "now-1h", "--to", "now"), "no interval between --from and --to has a baseline"),
    )
    for args, words in cases:
        code, _out, err = hcad(capsys, os_url, *args)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code != 0 and len(lines) == 1 and lines[0].startswith("hcad: error: "), err
        assert words in lines[0], err
    assert not os_client.indices.exists(index=dest)
