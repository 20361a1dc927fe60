"""The whole system live, in real time (``scripts/live.py``): a simulated fleet publishing to CloudWatch
(moto, server mode) every minute, the bridge's Lambda handlers (manager → SQS → worker, token bucket,
dead-letter queue and redrive), a real-time HCAD detector (1-minute interval) on the real plugin, an
entities monitor with a webhook channel to a local receiver.

A small fleet (2 hosts × 2 processes) with an hour of history backfilled through the bridge; once every
model has graded results at the monitor's confidence, one entity's metrics spike for two minutes.
Asserted: an alert names that entity within 3 detector intervals of its first anomalous datapoint; no
alert names a quiet entity during the run; every datapoint CloudWatch served is in the index exactly
once, with its value; nothing went to the dead-letter queue. About 5 minutes of wall-clock time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from live import LivePipeline, Options, P, run_live

BOUND_S = 3 * P  # latency bound: 3 detector intervals


@pytest.mark.slow
def test_injected_anomaly_alerts_for_its_entity_only_and_every_datapoint_is_indexed_once(
    ad_client, notifications_client, os_url
):
    t0 = time.monotonic()
    opts = Options(hosts=2, processes=2, history_minutes=60, anomaly_minutes=2, seed=3)
    pipe = LivePipeline(os_url, opts)
    try:
        rep = run_live(pipe, duration=60, inject=1, inject_every=4, first_inject_after=0, stop_when_done=True)
    finally:
        pipe.close()
    print(f"\nlive pipeline report: {rep}\nwall time {time.monotonic() - t0:.0f}s")
    [inj] = rep["injections"]
    assert inj["latency_s"] is not None, f"no alert named {inj['entity']}: {rep}"
    assert inj["latency_s"] <= BOUND_S, rep
    assert rep["false_namings"] == 0, rep["false_entities"]
    eo = rep["exactly_once"]
    assert eo["served_documents"] >= len(pipe.fleet.entities) * opts.history_minutes, eo
    assert (eo["missing"], eo["duplicated"], eo["unexpected"], eo["wrong_values"]) == (0, 0, 0, 0), eo
    assert eo["index_documents"] == eo["served_documents"] == eo["distinct_entity_periods"], eo
    assert eo["published_not_served"] == 0, eo
    assert rep["dead_letters_waiting"] == 0 and rep["redrives"] >= 1, rep
