"""Every AD endpoint hcad calls, once each, on whichever release line the node runs (2.19 or 3.3).

The quick plugin-facing round that .ci/run's second leg runs on 3.3.2 beside the other ``compat`` tests
(which cover plan/apply, monitors, channels, sizing --measure, entities and _suggest): validate (both
aspects), preview, historical analysis with its task, results and top anomalies, real-time start with
profile and stats, stop, update, delete. One small fleet (4 entities, one day of 1-minute data with
injected spikes) is shared by the module; about 20 s on 2 cores.

What differs between the lines is asserted where it differs: 3.3 stores the optional ``frequency``
(2.19 refuses it client-side, its parser would drop it); the rest answers alike.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hcad.ad.model import Detector
from hcad.ad.parts import Interval
from hcad.ad.results import top_from_results
from hcad.errors import HcadError, NotFound, UnsupportedFeature
from hcad.quality.loading import load_fleet
from hcad.quality.synth import FleetSpec

pytestmark = [pytest.mark.compat, pytest.mark.needs_ad]

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
# One day of 1-minute data: preview needs more than a few hundred points per entity (it answered [] for
# two days of 10-minute data on both lines). Sixteen events, half of them level shifts: the plugin's RCF
# leaves a clear spike unflagged more often than not (its CONDITIONAL_FORECAST correction; the backtest
# shows the same), and two spikes at shingle 2 went wholly unflagged in about a third of runs, which
# made the top-anomalies check fail by chance. At the plugin's default shingle (8) the backtest misses
# 62% of these spikes and 17% of these shifts, so all 16 go unflagged with a probability below 1e-6.
SPEC = FleetSpec(hosts=2, processes=2, periods=1440, interval_minutes=1, start=NOW - timedelta(days=1),
                 anomalies=16, kinds=("spike", "level_shift"), magnitude_scale=3.0, seed=19)  # fmt: skip


@pytest.fixture(scope="module")
def fleet(ad_client) -> Iterator[str]:
    index = f"hcad-compat-{uuid.uuid4().hex[:6]}"
    load_fleet(ad_client, index, SPEC, progress=False)
    yield index
    ad_client.indices.delete(index=index, ignore_unavailable=True)


@pytest.fixture(scope="module")
def detector(ad_client, fleet) -> Iterator[Detector]:
    ad = ad_client.ad
    det = Detector.hcad(f"hcad-compat-{uuid.uuid4().hex[:6]}", fleet, "@timestamp", ["host", "process"],
                        {"cpu": ("avg", "cpu")}, "1m", window_delay="0m")  # fmt: skip
    det.shingle_size = 8
    assert ad.validate(det, "detector") == []
    ad.validate(det, "model")  # advice only (e.g. a longer interval); must answer in the shape hcad reads
    created = ad.create(det)
    yield created
    for historical in (False, True):
        with contextlib.suppress(HcadError):
            ad.stop(created.id, historical=historical)
    with contextlib.suppress(NotFound):
        ad.delete(created.id)


def test_get_search_and_preview(ad_client, detector) -> None:
    ad = ad_client.ad
    got = ad.get(detector.id)
    assert got.name == detector.name and got.category_fields == ["host", "process"]
    assert ad.find(detector.name) is not None and ad.exists(detector.id)
    state = ad.get_state(detector.id)
    assert not state.realtime_running and not state.historical_running
    preview = ad.preview(detector.id, SPEC.start, NOW)
    assert preview.get("anomaly_result"), sorted(preview)
    rows = preview["anomaly_result"]
    assert {tuple(sorted((e["name"], e["value"]) for e in r.get("entity", []))) for r in rows} <= {
        (("host", f"host{h}"), ("process", f"process{p}")) for h in range(2) for p in range(2)
    }


def test_historical_run_results_top_and_tasks(ad_client, detector) -> None:
    ad = ad_client.ad
    task_id = ad.start_historical(detector.id, SPEC.start, NOW, slot_wait=120)
    ad.wait_historical(detector.id, task_id, timeout=600, poll=2)
    frame = ad.results(detector, task_id=task_id)
    assert len(frame) > 0 and {"host", "process"} <= set(frame.columns)
    top = ad.top_anomalies(detector.id, historical=True, task_id=task_id, size=4)
    # The plugin's aggregation agrees with the result documents it wrote: the same entities (at most
    # four, so all of them) and anomaly counts, ordered by their highest grade.
    expected = top_from_results(frame, ["host", "process"], size=4)
    assert len(expected) >= 1, "no anomaly flagged in 16 injected events"
    key = ["host", "process"]
    assert (
        top.sort_values(key)
        .reset_index(drop=True)[[*key, "doc_count"]]
        .equals(expected.sort_values(key).reset_index(drop=True)[[*key, "doc_count"]])
    ), (top, expected)
    assert top["max_anomaly_grade"].tolist() == sorted(top["max_anomaly_grade"], reverse=True)
    tasks = ad.search_tasks({"term": {"detector_id": detector.id}})
    assert any(t["task_id"] == task_id and t.get("state") == "FINISHED" for t in tasks), tasks


def test_realtime_start_profile_stats_stop(ad_client, detector) -> None:
    ad = ad_client.ad
    ad.start(detector.id)
    try:
        assert ad.get_state(detector.id).realtime_running
        profile = ad.profile(detector.id, ["state", "init_progress", "total_entities"])
        assert profile.get("state") in ("INIT", "RUNNING"), profile
        stats = ad.stats()
        assert stats.get("detector_count", 0) >= 1 and "nodes" in stats, sorted(stats)
    finally:
        ad.stop(detector.id)
    assert not ad.get_state(detector.id).realtime_running


def test_update_frequency_where_the_line_has_it(ad_client, detector) -> None:
    ad = ad_client.ad
    current = ad.get(detector.id)
    current.frequency = Interval.parse("5m", "frequency")
    if ad_client.version < (3, 3, 0):
        # 2.19's parser skips an unknown key: the detector would run every interval; hcad refuses it.
        with pytest.raises(UnsupportedFeature, match=r"frequency: needs OpenSearch 3\.3\.0\+"):
            ad.update(detector.id, current)
        return
    updated = ad.update(detector.id, current)
    assert str(ad.get(detector.id).frequency) == "5m" and str(updated.frequency) == "5m"


def test_delete_last(ad_client, fleet) -> None:
    ad = ad_client.ad
    det = ad.create(Detector.hcad(f"hcad-compat-del-{uuid.uuid4().hex[:6]}", fleet, "@timestamp", ["host"],
                                  {"cpu": ("avg", "cpu")}, "10m"))  # fmt: skip
    ad.delete(det.id)
    with pytest.raises(NotFound):
        ad.get(det.id)
