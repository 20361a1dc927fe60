"""Real-time readiness and job control against the real anomaly-detection plugin.

Six host/process entities: five with two days of 1-minute history, one ("late") with only a few
minutes, so its model cannot initialise (a model needs 32 shingles of data). Documents for all six keep
arriving while the test runs, as a live fleet's would.

- ``stop(historical=True)`` after the last historical analysis finished is not an error (the plugin
  answers 400 "No running task found").
- ``wait_initialized`` does not return on the profile's RUNNING state: for five of six entities it
  returns once five have graded real-time results, and waiting for all six times out naming the late
  entity and how many more intervals of data it needs.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from opensearchpy import helpers

from hcad.ad.model import Detector
from hcad.errors import HcadError
from hcad.quality.loading import create_fleet_index
from hcad.quality.synth import FleetSpec, fleet_frame

LATE = ("late", "process0")
LATE_HISTORY_MIN = 8


def _docs(index: str, rows) -> list[dict]:
    return [
        {
            "_index": index,
            "_source": {"@timestamp": f"{r.ts:%Y-%m-%dT%H:%M:%SZ}", "host": r.host, "process": r.process, "cpu": r.cpu},
        }
        for r in rows
    ]


@contextlib.contextmanager
def _live_feed(client, index: str, entities: list[tuple[str, str]]) -> Iterator[None]:
    """One document per entity every 10 s at the current time, until the block ends."""
    stop = threading.Event()

    def run() -> None:
        i = 0
        while not stop.is_set():
            ts = datetime.now(UTC)
            docs = [
                {
                    "_index": index,
                    "_source": {"@timestamp": ts.isoformat(), "host": h, "process": p, "cpu": 40.0 + i % 3},
                }
                for h, p in entities
            ]
            helpers.bulk(client, docs, refresh=True)
            i += 1
            stop.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def _cli(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    from hcad.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["--url", url, *args])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.slow
def test_realtime_readiness_and_job_control(ad_client, index_name, os_url, capsys):
    ad = ad_client.ad
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    spec = FleetSpec(
        hosts=5, processes=1, periods=2 * 1440, interval_minutes=1, start=now - timedelta(days=2),
        anomalies=0, metrics=("cpu",), seed=11,
    )  # fmt: skip
    frame = fleet_frame(spec).rename(columns={"@timestamp": "ts"})
    create_fleet_index(ad_client, index_name, spec)
    late = frame[frame.host == "host0"].tail(LATE_HISTORY_MIN).assign(host=LATE[0], process=LATE[1])
    helpers.bulk(ad_client, _docs(index_name, frame.itertuples()), chunk_size=5000)
    helpers.bulk(ad_client, _docs(index_name, late.itertuples()))
    ad_client.indices.refresh(index=index_name)
    entities = sorted({(r.host, r.process) for r in frame.itertuples()} | {LATE})
    assert len(entities) == 6

    det = ad.create(
        Detector.hcad(
            f"hcad-rt-ready-{uuid.uuid4().hex[:8]}", index_name, "@timestamp", ["host", "process"],
            {"cpu": ("avg", "cpu")}, "1m", window_delay="0m",
        )
    )  # fmt: skip
    assert det.id
    try:
        # Historical analysis first: once it has finished, stopping it again is not an error.
        task = ad.start_historical(det.id, now - timedelta(hours=3), now)
        ad.wait_historical(det.id, task, timeout=600, poll=2)
        assert ad.stop(det.id, historical=True) == {"_id": det.id}
        assert ad.stop(det.id, historical=True) == {"_id": det.id}

        with _live_feed(ad_client, index_name, entities):
            # Through the CLI: `hcad detectors start --wait --entities 0.8` (5 of 6 suffice).
            code, out, err = _cli(capsys, os_url, "detectors", "start", det.name, "--wait", "--entities", "0.8",
                                  "--timeout", "420", "--json")  # fmt: skip
            assert code == 0, err
            prof = json.loads(out)["profile"]
            assert prof["entities_total"] == 6, prof
            assert prof["entities_ready"] >= 5, prof
            # Independently of hcad's query: every entity hcad counts as ready has a graded real-time
            # result in the results index, and the late one has none.
            graded = ad.search_results(
                {
                    "size": 0,
                    "query": {
                        "bool": {
                            "filter": [{"term": {"detector_id": det.id}}, {"exists": {"field": "anomaly_grade"}}],
                            "must_not": [{"exists": {"field": "task_id"}}],
                        }
                    },
                    "aggs": {"e": {"nested": {"path": "entity"}, "aggs": {"v": {"terms": {"field": "entity.value"}}}}},
                }
            )
            values = {b["key"] for b in graded["aggregations"]["e"]["v"]["buckets"]}
            assert {"host0", "host1", "host2", "host3", "host4"} <= values and "late" not in values, values

            # All six: the late entity cannot initialise from 8 minutes of history in this time.
            t0 = time.monotonic()
            with pytest.raises(HcadError) as e:
                ad.wait_initialized(det.id, timeout=60, poll=10)
            assert time.monotonic() - t0 < 120
            msg = str(e.value)
            print(f"\nnot-ready message: {msg}")
            assert re.search(r"5 of 6 entities have graded results \(waiting for 6\)", msg), msg
            # The plugin keeps no model (and no init progress) for an entity whose cold start lacked data;
            # hcad counts the entity's intervals itself: 8 of history plus the few fed since the start.
            want = 32 + det.effective_shingle_size
            m = re.search(
                rf"host=late,process=process0 has no model on the server and data in only (\d+) "
                rf"of its last {want} intervals",
                msg,
            )
            assert m and LATE_HISTORY_MIN <= int(m.group(1)) < want, msg
    finally:
        for historical in (False, True):
            with contextlib.suppress(HcadError):
                ad.stop(det.id, historical=historical)
        ad.delete(det.id)
