"""``hcad detectors recommend`` on the live node (plain OpenSearch): a fleet loaded by hcad.quality.synth.

The expected values follow from the loaded data (the same fleet hcad.quality.evaluate's own test uses): 10-minute
documents with 30% missing, so 10-minute intervals are 70% full and 20-minute ones the first at >= 90%;
a daily cycle. The plugin's _suggest needs 3.3+: on a 2.x node the command says why it is absent, on a
3.3 node (.ci/run's second leg) it shows the plugin's answer beside hcad's; the table's layout is also
checked with the client's version and the plugin call stubbed, on either line.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from opensearchpy import helpers

from hcad.ad.model import Detector
from hcad.cli.main import cli, main
from hcad.quality import loading
from hcad.quality.synth import FleetSpec
from hcad.quality.trial import EVENTS_PER_ENTITY

SPEC = FleetSpec.blog(hosts=3, processes=2, periods=144 * 3, anomalies=0, missing_rate=0.3, seed=5)
ENTITIES = {f"host{h}|process{p}" for h in range(3) for p in range(2)}


@pytest.fixture
def fleet(os_client, index_name) -> str:
    loading.load_fleet(os_client, index_name, SPEC, progress=False)
    return index_name


def recommend(os_url: str, index: str, *extra: str) -> Any:
    args = ["--url", os_url, "detectors", "recommend", index, "--field", "host", "--field", "process"]
    return CliRunner().invoke(cli, [*args, "--feature", "avg:cpuTime", *extra], catch_exceptions=False)


def test_recommend_prints_density_period_interval_shingle_and_why(os_client, os_url, fleet) -> None:
    result = recommend(os_url, fleet)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{fleet}: 6 entities (host, process), feature avg(cpuTime)" in out
    assert "data spacing       10 min per entity" in out
    assert "interval           20m" in out and "shingle size       " in out
    period_line = next(line for line in out.splitlines() if "dominant period" in line)
    assert int(period_line.split()[2]) == pytest.approx(1440, abs=40)
    assert "why:" in out and "20-minute intervals have data" in out
    assert "density per entity at 20m over the last" in out
    assert all(e in out for e in ENTITIES)
    if os_client.version < (3, 3, 0):
        assert (
            "plugin _suggest: not available: the plugin's _suggest API needs OpenSearch 3.3.0+, the server is "
            + ".".join(map(str, os_client.version))
        ) in out
    else:
        assert "beside the plugin's _suggest (OpenSearch 3.3" in out, out


def test_trial_on_seasonal_data_says_the_tight_rules_were_left_out(os_url, fleet) -> None:
    """A daily rhythm (this fleet's cosine days): the 5% rules are not among the configs tried
    (trial.TIGHT_RULE says why) and the trial says so, in JSON and in text, naming the period it found."""
    result = recommend(os_url, fleet, "--trial", "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    period = got["recommendation"]["dominant_period_minutes"]
    assert period == pytest.approx(1440, abs=40)
    trial = got["trial"]
    assert trial["candidates"] and all(r["rule"] != "ignore within 5%" for r in trial["candidates"])
    note = trial["notes"][-1]
    assert note.startswith("rules as tight as 5% were not tried: the data have a daily rhythm")
    assert f"({period:g} min)" in note
    assert f"note: {note}" in recommend(os_url, fleet, "--trial").output


@pytest.mark.compat
@pytest.mark.needs_ad
def test_plugin_suggest_live(ad_client, os_url, fleet) -> None:
    """The plugin's own _suggest on 3.3: its interval from the data, the history counted in it, and the
    window delay at hcad's interval, shown beside hcad's proposal. On 2.19 the same call is refused
    before any request (the API is new in 3.3), which is what this checks there."""
    from hcad.ad.answers import Suggestion
    from hcad.errors import UnsupportedFeature

    det = Detector.hcad("hcad-suggest", fleet, "@timestamp", ["host", "process"], {"cpu": ("avg", "cpuTime")})
    det = dataclasses.replace(det, interval=None)  # the plugin proposes one
    if ad_client.version < (3, 3, 0):
        with pytest.raises(UnsupportedFeature, match=r"needs 3\.3\.0\+"):
            ad_client.ad.suggest(det)
        return
    own = ad_client.ad.suggestion(det, ("detection_interval", "history"))
    assert isinstance(own, Suggestion) and own.interval is not None and own.interval.unit == "Minutes"
    # The fleet spans three days: the history the plugin proposes stays within the data it found.
    assert own.history is not None and 0 < own.history_minutes <= 3 * 1440 + own.interval.minutes
    at_10 = ad_client.ad.suggestion(Detector.hcad("hcad-s10", fleet, "@timestamp", ["host"], {"c": ("avg", "cpuTime")}),
                                    ("history", "window_delay"))  # fmt: skip
    assert str(at_10.interval) == "10m" and at_10.window_delay is not None  # Detector.hcad's default interval
    # The fleet ended in the past: the window delay covers the lag since its newest document.
    newest = SPEC.start + timedelta(minutes=SPEC.interval_minutes * SPEC.periods)
    lag_minutes = (datetime.now(newest.tzinfo) - newest).total_seconds() / 60
    assert at_10.window_delay.minutes >= lag_minutes - SPEC.interval_minutes

    result = recommend(os_url, fleet, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got["suggest_note"] is None
    assert got["suggest"]["plugin_interval"]["interval"] == str(own.interval)
    assert got["suggest"]["at_recommended_interval"]["interval"] == "20m"  # hcad's own proposal for this fleet
    text = recommend(os_url, fleet).output
    assert "beside the plugin's _suggest (OpenSearch 3.3" in text
    row = next(line for line in text.splitlines() if line.startswith("interval "))
    assert row.split()[1:] == ["20m", str(own.interval)], text


def density_from_documents(client, index: str, interval_minutes: int, intervals: int) -> dict[str, float]:
    """Each entity's share of the last ``intervals`` intervals holding at least one of its documents,
    counted here from the index's documents themselves (no aggregation): the window is the interval
    holding the newest document and the ``intervals - 1`` before it, on epoch-aligned boundaries."""
    step = interval_minutes * 60_000
    stamps: dict[str, list[int]] = {}
    for hit in helpers.scan(client, index=index, query={"_source": ["@timestamp", "host", "process"]}):
        src = hit["_source"]
        ms = int(datetime.fromisoformat(src["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
        stamps.setdefault(f"{src['host']}|{src['process']}", []).append(ms)
    last = max(ms for times in stamps.values() for ms in times) // step
    window = range(last - intervals + 1, last + 1)
    return {key: len({ms // step for ms in times} & set(window)) / intervals for key, times in stamps.items()}


def test_recommend_json_density_is_the_share_of_intervals_with_documents(os_client, os_url, fleet) -> None:
    result = recommend(os_url, fleet, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    rec = got["recommendation"]
    assert (rec["interval_minutes"], rec["entities"], rec["data_interval_minutes"]) == (20, 6, 10)
    assert rec["reasons"] and rec["density_by_interval"]["10"] == pytest.approx(0.7, abs=0.05)
    # The model's history at the proposed detector: 32 samples + the shingle.
    assert got["intervals_checked"] == 32 + rec["shingle_size"]
    expected = density_from_documents(os_client, fleet, 20, got["intervals_checked"])
    assert set(expected) == ENTITIES
    # 10-minute documents with 30% missing: a 20-minute interval is empty only when both are missing.
    assert len(set(expected.values())) > 1 and min(expected.values()) < 1.0
    assert got["density_per_entity"] == pytest.approx(expected, abs=1e-12)
    assert got["sparse_entities"] == sorted(k for k, v in expected.items() if v < 0.25) == []
    if os_client.version < (3, 3, 0):
        assert got["suggest"] is None and "3.3.0+" in got["suggest_note"]


def test_from_to_limit_what_is_read(os_client, os_url, fleet) -> None:
    # A seventh entity whose documents all come after the fleet's series.
    late = [
        {"_index": fleet, "_source": {"@timestamp": (SPEC.end + timedelta(minutes=10 * i)).isoformat(),
                                      "host": "late", "process": "x", "cpuTime": 1.0, "jvmGcTime": 1.0}}
        for i in range(50)
    ]  # fmt: skip
    helpers.bulk(os_client, late, refresh=True)
    assert json.loads(recommend(os_url, fleet, "--json").output)["recommendation"]["entities"] == 7
    day2 = (SPEC.start + timedelta(days=1)).isoformat()
    day3 = (SPEC.start + timedelta(days=2)).isoformat()
    result = recommend(os_url, fleet, "--from", day2, "--to", day3, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got["recommendation"]["entities"] == 6  # "late" has no document in the range
    assert got["intervals_checked"] == 72  # one day of 20-minute intervals, ending at --to
    assert set(got["density_per_entity"]) == ENTITIES
    text = recommend(os_url, fleet, "--from", day2, "--to", day3, "--limit", "2").output
    assert f"{day2[:10]}T00:00:00Z to {day3[:10]}T00:00:00Z" in text and "... 4 more (--limit, --json)" in text


def test_suggest_is_called_on_3_3(os_client, os_url, fleet, monkeypatch) -> None:
    from hcad.ad.client import AnomalyDetection
    from hcad.connection import HcadClient

    seen: list[tuple[Detector, tuple[str, ...]]] = []

    def fake_suggest(self: AnomalyDetection, det: Detector, types: tuple[str, ...]) -> dict[str, Any]:
        seen.append((det, tuple(types)))
        interval = {"period": {"interval": 20 if det.interval is not None else 10, "unit": "Minutes"}}
        out: dict[str, Any] = {"interval": interval, "history": 40 if det.interval is not None else 80}
        if "window_delay" in types:
            out["windowDelay"] = {"period": {"interval": 2, "unit": "Minutes"}}
        return out

    monkeypatch.setattr(HcadClient, "version", property(lambda self: (3, 3, 0)))
    monkeypatch.setattr("hcad.cli.detectors.has_plugin", lambda client: True)
    monkeypatch.setattr(AnomalyDetection, "suggest", fake_suggest)
    result = recommend(os_url, fleet)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = lines.index("hcad (from the data) beside the plugin's _suggest (OpenSearch 3.3.0):")
    rows = {line.split("  ")[0]: " ".join(line.split()) for line in lines[at + 3 : at + 7]}
    assert rows["interval"] == "interval 20m 10m"
    assert rows["history"].endswith("80 x 10m (13.3 h); at 20m: 40 x 20m (13.3 h)")
    assert rows["window delay"] == "window delay 1m 2m at 20m"
    # First the plugin's own interval (asked without one), then history and window delay at hcad's.
    (own, own_types), (ours, our_types) = seen
    assert own.interval is None and own_types == ("detection_interval", "history")
    assert str(ours.interval) == "20m" and our_types == ("history", "window_delay")
    assert ours.category_fields == ["host", "process"] and [f.simple for f in ours.features] == [("avg", "cpuTime")]


def test_bad_input_is_one_line(capsys, os_url, fleet) -> None:
    base = ["--url", os_url, "detectors", "recommend"]
    for args, code, words in (
        ([fleet, "--field", "host", "--feature", "median:cpuTime"], 2, "is not AGG:FIELD"),
        ([fleet, "--field", "host", "--feature", "cpuTime"], 2, "is not AGG:FIELD"),
        ([f"{fleet}-absent", "--field", "host", "--feature", "avg:cpuTime"], 1, "not found"),
        ([fleet, "--field", "host", "--feature", "avg:cpuTime", "--from", "now", "--to", "now-1d"], 2, "not after"),
        ([fleet, "--field", "host", "--feature", "avg:cpuTime", "--feature", "average:cpuTime"], 2, "given twice"),
        ([fleet, "--field", "host", "--feature", "avg:cpuTime", "--alone", "cpuTime"], 2, "tried by --trial"),
        ([fleet, "--field", "host", "--feature", "avg:cpuTime", "--trial", "--alone", "mem"], 2, "not a --feature"),
        ([fleet, "--field", "host", "--feature", "avg:cpuTime", "--stretch", "cpuTime"], 2, "tried by --trial"),
        ([fleet, "--field", "host", "--feature", "avg:cpuTime", "--trial", "--stretch", "gc"], 2, "not a --feature"),
        (
            [
                fleet,
                "--field",
                "host",
                "--feature",
                "avg:cpuTime",
                "--feature",
                "max:cpuTime",
                "--trial",
                "--alone",
                "cpuTime",
            ],
            2,
            "the only --feature field",
        ),
        (
            [
                fleet,
                "--field",
                "host",
                *[w for a in ("avg", "max", "min", "sum", "value_count") for w in ("--feature", f"{a}:cpuTime")],
                "--feature",
                "avg:jvmGcTime",
            ],
            2,
            "at most 5",
        ),
    ):
        with pytest.raises(SystemExit) as e:
            main([*base, *args])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert e.value.code == code and len(lines) == 1 and lines[0].startswith("hcad: error: "), err
        assert words in lines[0], err


def test_trial_proposes_the_config_that_catches_events_on_this_index(os_client, os_url, index_name) -> None:
    """--trial on an index whose series are flat and quiet (1000 ± 10): injected spikes and shifts are
    ~8–10% of the level, inside the plugin's default ±20% rule. The trial must show the plugin's
    defaults missing them and propose a config with a tighter rule, read from the index's documents."""
    import numpy as np

    rng = np.random.default_rng(3)
    start = datetime(2024, 3, 4)
    os_client.indices.create(
        index=index_name,
        body={"mappings": {"properties": {"@timestamp": {"type": "date"}, "svc": {"type": "keyword"},
                                          "qps": {"type": "double"}}}},
    )  # fmt: skip
    docs = [
        {"_index": index_name, "_source": {"@timestamp": (start + timedelta(minutes=10 * i)).isoformat() + "Z",
                                           "svc": f"s{e}", "qps": float(1000 + rng.normal(0, 10))}}
        for e in range(3)
        for i in range(144 * 4)
    ]  # fmt: skip
    helpers.bulk(os_client, docs, refresh=True)
    args = ["--url", os_url, "detectors", "recommend", index_name, "--field", "svc", "--feature", "avg:qps"]
    result = CliRunner().invoke(cli, [*args, "--trial", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    trial = json.loads(result.output)["trial"]
    rows = {r["config"]: r for r in trial["candidates"]}
    assert trial["events"] == 3 * EVENTS_PER_ENTITY  # on each entity after its warm-up
    plugin = rows["plugin defaults"]
    assert plugin["recall_by_kind"].get("spike", 0) == 0 and plugin["recall_by_kind"].get("level_shift", 0) == 0
    assert any(r["rule"] == "ignore within 5%" for r in trial["candidates"])  # no daily rhythm: tight rules tried
    winner = trial["winner"]
    assert winner["config"] != "plugin defaults" and winner["recall"] > plugin["recall"]
    assert winner["rule"] != "plugin default (20%)"
    assert winner["false_alarms_per_entity_day"] <= 0.1
    # The text form names the proposal and the table.
    text = CliRunner().invoke(cli, [*args, "--trial"], catch_exceptions=False).output
    assert f"configs tried on this data at 10m with {trial['events']} injected anomalies" in text
    assert f"proposed: {winner['config']}" in text
    # and why the plugin's defaults missed what they missed (the backtest names RCF's correction)
    assert sum(plugin["missed_by"].values()) == round(trial["events"] * (1 - plugin["recall"]))
    assert "missed by plugin defaults: " in text
    # The baseline route was tried on the same injected events (4 days: past days to compare with; not the
    # weekly one, which needs two past weeks, and says so), and when it wins the command that writes its
    # fields is printed.
    baseline_rows = [r for r in trial["candidates"] if r["baseline"]]
    assert len(baseline_rows) == 5 and len(trial["notes"]) == 1  # 3 daily margins at shingle 2, two at 3
    assert trial["notes"][0].startswith("the weekly baseline was not tried: it needs 15 days")
    assert f"note: {trial['notes'][0]}" in text
    assert all(r["features"] == ["avg(qps_vs_baseline)"] for r in baseline_rows)
    assert ("to run it: hcad baseline " in text) == bool(winner["baseline"]), text


def test_trial_over_several_features(os_client, os_url, index_name) -> None:
    """--feature repeated: every config the trial tries is a detector over all the features (aggregations
    as given; the baseline route over each field's deviation), the events go into every field, and the
    preflight and the printed command cover them all."""
    import numpy as np

    rng = np.random.default_rng(4)
    start = datetime(2024, 3, 4)
    os_client.indices.create(
        index=index_name,
        body={"mappings": {"properties": {"@timestamp": {"type": "date"}, "svc": {"type": "keyword"},
                                          "qps": {"type": "double"}, "latency": {"type": "double"}}}},
    )  # fmt: skip
    docs = [
        {"_index": index_name, "_source": {"@timestamp": (start + timedelta(minutes=10 * i)).isoformat() + "Z",
                                           "svc": f"s{e}", "qps": float(1000 + rng.normal(0, 10)),
                                           "latency": float(200 + rng.normal(0, 2))}}
        for e in range(3)
        for i in range(144 * 4)
    ]  # fmt: skip
    helpers.bulk(os_client, docs, refresh=True)
    args = ["--url", os_url, "detectors", "recommend", index_name, "--field", "svc",
            "--feature", "avg:qps", "--feature", "max:latency", "--trial"]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got["features"] == [{"agg": "avg", "field": "qps"}, {"agg": "max", "field": "latency"}]
    assert got["feature"] == got["features"][0]  # the first one sets interval and shingle, as before
    trial = got["trial"]
    raw = [r for r in trial["candidates"] if not r["baseline"]]
    routed = [r for r in trial["candidates"] if r["baseline"]]
    assert raw and all(r["features"] == ["avg(qps)", "max(latency)"] for r in raw)
    assert routed and all(r["features"] == ["avg(qps_vs_baseline)", "avg(latency_vs_baseline)"] for r in routed)
    assert trial["events"] == 3 * EVENTS_PER_ENTITY  # as with one feature: each event goes into both fields
    plugin = next(r for r in raw if r["config"] == "plugin defaults")
    # ~1% of the level in each field, inside the plugin's 20% rule: its defaults miss them, the pick does not.
    assert plugin["recall"] < trial["winner"]["recall"] and trial["winner"]["false_alarms_per_entity_day"] <= 0.1
    text = CliRunner().invoke(cli, args, catch_exceptions=False).output
    assert f"{index_name}: 3 entities (svc), features avg(qps), max(latency)" in text
    if trial["winner"]["baseline"]:
        assert " -m qps -m latency " in text, text

    # --alone latency: each baseline-route config also with a detector over latency alone beside it, tried on
    # the same events plus leaks in latency; the command printed for such a pick asks hcad baseline for both.
    result = CliRunner().invoke(cli, [*args, "--alone", "latency", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    trial = json.loads(result.output)["trial"]
    paired = [r for r in trial["candidates"] if r["alone"]]
    assert len(paired) == len(routed) and all(r["alone"] == ["avg(latency_vs_baseline)"] for r in paired)
    assert {r["config"] for r in paired} == {f"{r['config']} + latency alone" for r in routed}
    assert trial["events"] == 3 * EVENTS_PER_ENTITY  # as many as before: some of them now leaks
    text = CliRunner().invoke(cli, [*args, "--alone", "latency"], catch_exceptions=False).output
    assert ("--alone latency " in text) == bool(trial["winner"]["alone"]), text
