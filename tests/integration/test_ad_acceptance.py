"""Acceptance of the AD client against a real anomaly-detection plugin (skipped where it is absent).

On a synthetic fleet (hosts x processes, 5 days at a 1-minute interval, injected spikes with known
times and entities): validate -> create -> preview -> historical analysis -> results DataFrame
(anomalies at >= 80% of the injected (entity, time) pairs within +-2 intervals) -> top anomalies list
the injected entities first -> profile reports models with model_size_in_bytes -> update a stopped
detector -> Conflict when updating a running one -> delete. Also: each limit broken client-side
sends nothing, and the same config sent raw gives the mapped server error.

The data ends at the test's start time, and fresh documents are fed while waiting for real-time
models, because the real-time job only builds models for entities that have data now.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opensearchpy import helpers

from hcad.detector import Detector, Imputation
from hcad.errors import Conflict, HcadError, NotFound, ValidationError
from hcad.synth import FleetSpec, fleet_labels, load_fleet

INTERVAL_MIN = 1
PERIODS = 5 * 24 * 60  # 5 days of 1-minute intervals


def _detector(name: str, index: str) -> Detector:
    return Detector.hcad(
        name,
        index,
        "@timestamp",
        ["host", "process"],
        {"cpu": ("avg", "cpu"), "memory": ("avg", "memory")},
        f"{INTERVAL_MIN}m",
        window_delay="0m",
        description="hcad acceptance test",
    )


def _feed(client, index: str, spec: FleetSpec, now: datetime) -> None:
    """One normal document per entity at ``now`` (keeps real-time entities active)."""
    docs = [
        {
            "_index": index,
            "_source": {
                "@timestamp": now.isoformat(),
                "host": f"host{h}",
                "process": f"process{p}",
                "cpu": 40.0,
                "memory": 50.0,
                "jvmGcTime": 10.0,
            },
        }
        for h in range(spec.hosts)
        for p in range(spec.processes)
    ]
    helpers.bulk(client, docs, refresh=True)


@pytest.mark.slow
def test_hcad_end_to_end(ad_client, index_name):
    ad = ad_client.ad
    began = time.monotonic()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=INTERVAL_MIN * PERIODS)
    spec = FleetSpec(
        hosts=4,
        processes=3,
        periods=PERIODS,
        interval_minutes=INTERVAL_MIN,
        start=start,
        anomalies=6,
        kinds=("spike",),
        magnitude_scale=2.0,
        seed=7,
    )
    load_fleet(ad_client, index_name, spec, progress=False)
    labels = fleet_labels(spec)
    assert len(labels) == 6

    det = _detector(f"hcad-acc-{uuid.uuid4().hex[:8]}", index_name)
    assert ad.preflight(det).ok
    assert ad.validate(det, "detector") == []
    created = ad.create(det)
    assert created.id and created.name == det.name
    try:
        preview = ad.preview(created.id, now - timedelta(days=2), now)
        assert isinstance(preview.get("anomaly_result"), list)

        task_id = ad.start_historical(created.id, start, now)
        ad.wait_historical(created.id, task_id, timeout=1200, poll=5)
        df = ad.results(created, start, now, task_id=task_id)
        assert {"data_start_time", "host", "process", "anomaly_grade", "confidence", "cpu", "memory"} <= set(df)
        anomalies = df[df["anomaly_grade"] > 0]
        tol = timedelta(minutes=2 * INTERVAL_MIN)
        hits = 0
        for lab in labels.itertuples():
            rows = anomalies[(anomalies["host"] == lab.host) & (anomalies["process"] == lab.process)]
            near = rows[(rows["data_start_time"] >= lab.start - tol) & (rows["data_start_time"] < lab.end + tol)]
            hits += bool(len(near))
        recall = hits / len(labels)
        flagged = {(r.host, r.process) for r in anomalies.itertuples()}
        injected = {(lab.host, lab.process) for lab in labels.itertuples()}
        precision = len(flagged & injected) / max(1, len(flagged))
        from hcad.scoring import score

        ev = score(df, labels, INTERVAL_MIN, 2)
        print(
            f"\nrecall {recall:.2f} (injected pairs hit), entity precision {precision:.2f}, "
            f"{len(anomalies)} anomalous rows of {len(df)}; event-level (hcad.scoring, +-2 intervals): "
            f"precision {ev.precision:.3f} recall {ev.recall:.3f} F1 {ev.f1:.3f}, "
            f"at confidence >= 0.9: precision {score(df, labels, INTERVAL_MIN, 2, min_confidence=0.9).precision:.3f}"
        )
        assert recall >= 0.8

        top = ad.top_anomalies(created.id, historical=True, task_id=task_id, size=len(injected) + 5)
        grade = {(r.host, r.process): r.max_anomaly_grade for r in top.itertuples()}
        assert list(top["max_anomaly_grade"]) == sorted(top["max_anomaly_grade"], reverse=True)
        # Every injected entity is listed and none is outranked by an entity without an injected
        # anomaly. Ties are allowed: the real plugin's grades saturate at 1.0 (seen on 2.19.4.0, where
        # 1-2 entities without injected anomalies also reach 1.0), and ties have no defined order.
        assert injected <= set(grade)
        assert min(grade[e] for e in injected) >= max((g for e, g in grade.items() if e not in injected), default=0)

        ad.start(created.id)
        deadline = time.monotonic() + 600
        models: list = []
        while time.monotonic() < deadline:
            _feed(ad_client, index_name, spec, datetime.now(UTC))
            models = ad.profile(created.id, ["models"]).get("models") or []
            if models:
                break
            time.sleep(20)
        assert models and all(m["model_size_in_bytes"] > 0 for m in models)

        running = ad.get(created.id)
        running.description = "changed while running"
        with pytest.raises(Conflict, match="stop it first"):
            ad.update(created.id, running)

        ad.stop(created.id)
        stopped = ad.get(created.id)
        stopped.description = "changed while stopped"
        updated = ad.update(created.id, stopped)
        assert updated.description == "changed while stopped"
    finally:
        for historical in (False, True):
            with contextlib.suppress(HcadError):  # already stopped
                ad.stop(created.id, historical=historical)
        ad.delete(created.id)
    with pytest.raises(NotFound):
        ad.get(created.id)
    print(f"acceptance took {time.monotonic() - began:.0f}s")


# (change, path of the client-side issue, class of the mapped server error when sent raw)
LIMITS = [
    ({"name": "bad name"}, "name", ValidationError),
    ({"name": "x" * 65}, "name", ValidationError),
    ({"description": "d" * 1001}, "description", ValidationError),
    ({"shingle_size": 129}, "shingle_size", ValidationError),
    ({"category_fields": ["host", "process", "cpu"]}, "category_fields", ValidationError),
    ({"result_index": "not-the-prefix"}, "result_index", ValidationError),
    ({"imputation": Imputation("FIXED_VALUES", {"cpu": 1.0})}, "imputation.default_fill", ValidationError),
]


@pytest.mark.parametrize(("change", "path", "server_error"), LIMITS)
def test_limit_client_side_then_raw(ad_client, index_name, change, path, server_error):
    ad = ad_client.ad
    spec = FleetSpec(hosts=2, processes=2, periods=60, interval_minutes=10, anomalies=0)
    load_fleet(ad_client, index_name, spec, progress=False)
    det = _detector(f"hcad-lim-{uuid.uuid4().hex[:8]}", index_name)
    for k, v in change.items():
        setattr(det, k, v)
    with pytest.raises(ValidationError) as e:
        ad.create(det)
    assert path in [i.path for i in e.value.issues]
    assert ad.find(det.name) is None  # nothing was created
    with pytest.raises(server_error):
        created = ad.create(det, check=False)
        ad.delete(created.id)  # pragma: no cover - only if the server accepted it
