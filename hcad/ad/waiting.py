"""Waiting for the plugin: a started detector's real readiness (graded results per entity, not the
profile's RUNNING), a historical analysis's end (with its results searchable), and a free historical
task slot to start one.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hcad.ad.answers import NO_SLOT
from hcad.ad.model import NUM_MIN_SAMPLES, Interval
from hcad.errors import ConfigError, Conflict, HcadError, ServerError, server_reason
from hcad.transport import translate_errors

if TYPE_CHECKING:
    from hcad.ad.client import AnomalyDetection, Progress


#: Seconds between tries while every historical task slot is taken.
SLOT_RETRY = 10


def retry_while_no_slot(
    start: Callable[[], str],
    detector_id: str,
    slot_wait: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Call ``start`` (which starts a historical analysis) again every 10 s while the plugin answers "No
    available task slot", for up to ``slot_wait`` seconds; then a :class:`Conflict` saying so."""
    deadline = clock() + slot_wait
    while True:
        try:
            return start()
        except ServerError as e:
            if not NO_SLOT.search(server_reason(e.body) or str(e)):
                raise
            if clock() + SLOT_RETRY > deadline:
                hint = f" after waiting {slot_wait:.0f}s" if slot_wait else ""
                raise Conflict(
                    f"starting historical analysis of {detector_id}: no free historical task slot on the "
                    f"cluster{hint} (other analyses hold them); retry later or pass a longer slot_wait"
                ) from e
            sleep(SLOT_RETRY)


def wait_initialized(
    ad: AnomalyDetection,
    detector_id: str,
    *,
    entities: float = 1.0,
    min_confidence: float = 0.0,
    timeout: float = 3600,
    poll: float = 10,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Wait until a started detector is really detecting: its models write graded results.

    The plugin's profile says RUNNING as soon as an HC detector's job runs, before any entity has a
    model, so that is not readiness. Ready means: real-time results with an anomaly grade (and
    ``confidence >= min_confidence``) written since the job was enabled, for at least ``entities``
    (a share, 0-1) of the entities the plugin counts (profile ``total_entities``); for a detector
    without category fields, one such result. ``progress(percent, profile)`` is called on each poll.

    Returns the last profile with ``entities_ready`` and ``entities_total`` added. Raises
    :class:`ServerError` when the job stops, and :class:`HcadError` after ``timeout`` seconds with
    what is missing (e.g. how many more intervals of data an entity needs).
    See https://opensearch.org/docs/latest/observing-your-data/ad/api/#profile-detector
    """
    if not 0 < entities <= 1:
        raise ConfigError(f"entities={entities}: give the share of entities to wait for, in (0, 1]")
    if not 0 <= min_confidence <= 1:
        raise ConfigError(f"min_confidence={min_confidence}: a confidence is in [0, 1]")
    st = ad.get_state(detector_id)
    if not st.realtime_running:
        raise ConfigError(f"detector {detector_id} is not running real-time detection; start it first")
    since = int((st.job or {}).get("enabled_time") or 0)
    hc = bool(st.detector.category_fields)
    deadline = clock() + timeout
    types = ["state", "init_progress", "error", "total_entities", "models"] if hc else ["state", "init_progress"]
    while True:
        prof = ad.profile(detector_id, types)
        state = str(prof.get("state", "")).upper()
        if state == "DISABLED":
            err = prof.get("error") or "the detector was stopped"
            raise ServerError(f"detector {detector_id} stopped while initializing: {err}")
        ready_ids, graded = _graded_since(ad, detector_id, st.detector.result_index, since, min_confidence, hc)
        # graded: distinct entities with graded results (HC), else graded results (one model).
        total = max(int(prof.get("total_entities") or 0), graded) if hc else 1
        need = max(1, math.ceil(total * entities - 1e-9)) if hc else 1
        ready = graded if hc else min(graded, 1)
        prof = dict(prof, entities_ready=ready, entities_total=total)
        if hc or ready:
            pct = 100.0 * min(ready, need) / need
        else:  # a single model: the plugin's own init progress until its first graded result
            pct = min(99.0, _percent((prof.get("init_progress") or {}).get("percentage")))
        if progress:
            progress(pct, prof)
        if ready >= need:
            return prof
        if clock() >= deadline:
            if not hc:
                init = prof.get("init_progress") or {}
                raise HcadError(
                    f"detector {detector_id} not ready after {timeout:.0f}s: no graded result yet (the model is at "
                    f"{init.get('percentage', '0%')}"
                    + (
                        f", needs {init['needed_shingles']} more intervals of data"
                        if init.get("needed_shingles")
                        else ""
                    )
                    + ")"
                )
            raise HcadError(_not_ready(ad, detector_id, prof, ready, need, total, ready_ids, since, timeout))
        sleep(poll)


def _graded_since(
    ad: AnomalyDetection, detector_id: str, result_index: str | None, since_ms: int, min_confidence: float, hc: bool
) -> tuple[set[str], int]:
    """Model ids with graded real-time results since ``since_ms`` (up to 10,000, to name a waiting
    entity), and how many: distinct entities for an HC detector (a cardinality, exact below 40,000),
    else results."""
    filters: list[dict[str, Any]] = [
        {"term": {"detector_id": detector_id}},
        {"exists": {"field": "anomaly_grade"}},
        {"range": {"execution_end_time": {"gte": since_ms}}},
    ]
    if min_confidence > 0:
        filters.append({"range": {"confidence": {"gte": min_confidence}}})
    body: dict[str, Any] = {
        "size": 0,
        "track_total_hits": True,
        # Real-time results carry no task_id; historical ones do.
        "query": {"bool": {"filter": filters, "must_not": [{"exists": {"field": "task_id"}}]}},
    }
    if hc:
        body["aggs"] = {
            "models": {"terms": {"field": "model_id", "size": 10000}},
            "entities": {"cardinality": {"field": "model_id", "precision_threshold": 40000}},
        }
    resp = ad.search_results(body, result_index=result_index)
    aggs = resp.get("aggregations") or {}
    ids = {str(b["key"]) for b in aggs.get("models", {}).get("buckets", [])}
    if hc:
        return ids, max(len(ids), int((aggs.get("entities") or {}).get("value") or 0))
    return ids, _hit_count(resp)


def _not_ready(
    ad: AnomalyDetection,
    detector_id: str,
    prof: Mapping[str, Any],
    ready: int,
    need: int,
    total: int,
    ready_ids: set[str],
    since_ms: int,
    timeout: float,
) -> str:
    """The timeout message: how far an HC detector got and what one waiting entity still needs."""
    head = f"detector {detector_id} not ready after {timeout:.0f}s: "
    if not total:
        head += "no graded result yet"
    else:
        head += f"{ready} of {total} entities have graded results (waiting for {need})"
    init = prof.get("init_progress") or {}
    who, entity = "the model", None
    if total:
        entity = _waiting_entity(ad, detector_id, prof, ready_ids, since_ms)
        if entity is None:
            return head + (
                "; no waiting entity has data in the last two hours: the plugin builds a model when an "
                "entity has data in the current interval, so check that documents are arriving"
            )
        init = ad.profile(detector_id, ["init_progress"], entity=entity).get("init_progress") or {}
        who = ",".join(f"{k}={v}" for k, v in entity.items())
    needed = init.get("needed_shingles")
    if needed:
        left = init.get("estimated_minutes_left")
        return head + (
            f"; {who} is at {init.get('percentage', '0%')} and needs {needed} more intervals of data"
            + (f" (about {left} minutes)" if left is not None else "")
            + "; give entities more history before starting (hcad detectors preflight shows it per entity)"
        )
    if total and entity:
        have, want = _recent_intervals(ad, detector_id, entity)
        if have < want:
            return head + (
                f"; {who} has no model on the server and data in only {have} of its last {want} intervals "
                f"(a model needs {want}: shingle size + {NUM_MIN_SAMPLES} samples); give entities more history "
                "before starting (hcad detectors preflight shows it per entity)"
            )
    return head + f"; {who} has no graded result yet (the next interval should bring one)"


def _recent_intervals(ad: AnomalyDetection, detector_id: str, entity: Mapping[str, Any]) -> tuple[int, int]:
    """Intervals with data for ``entity`` among the last ``shingle + 32`` (what a model needs)."""
    det = ad.get(detector_id)
    interval = det.interval or Interval(10)
    want = NUM_MIN_SAMPLES + det.effective_shingle_size
    step = interval.seconds
    now_ms = int(time.time() * 1000)
    end_ms = (now_ms // (step * 1000) + 1) * step * 1000
    filters: list[dict[str, Any]] = [dict(det.filter_query)] if det.filter_query else []
    filters += [{"term": {k: v}} for k, v in entity.items()]
    filters.append({"range": {det.time_field: {"gte": end_ms - want * step * 1000, "lt": end_ms}}})
    with translate_errors(f"counting recent data of {dict(entity)}"):
        r = ad.client.search(
            index=",".join(det.indices),
            body={
                "size": 0,
                "query": {"bool": {"filter": filters}},
                "aggs": {"t": {"date_histogram": {"field": det.time_field, "fixed_interval": f"{step}s"}}},
            },
        )
    buckets = r.get("aggregations", {}).get("t", {}).get("buckets", [])
    return sum(1 for b in buckets if b.get("doc_count")), want


def _waiting_entity(
    ad: AnomalyDetection, detector_id: str, prof: Mapping[str, Any], ready_ids: set[str], since_ms: int
) -> dict[str, Any] | None:
    """One entity without a graded result: a model the plugin holds, else one with recent source data."""
    for m in prof.get("models") or []:
        if str(m.get("model_id")) not in ready_ids:
            return {str(e.get("name")): e.get("value") for e in m.get("entity") or []}
    det = ad.get(detector_id)
    fields = list(det.category_fields or [])
    resp = ad.search_results(
        {
            "size": len(ready_ids) + 1,
            "_source": ["entity"],
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"detector_id": detector_id}},
                        {"exists": {"field": "anomaly_grade"}},
                        {"range": {"execution_end_time": {"gte": since_ms}}},
                    ],
                    "must_not": [{"exists": {"field": "task_id"}}],
                }
            },
            "collapse": {"field": "model_id"},
        },
        result_index=det.result_index,
    )
    # The plugin writes a result's entity sorted by field name, whatever the detector's field order.
    done = {
        frozenset((str(e.get("name")), str(e.get("value"))) for e in h.get("_source", {}).get("entity") or [])
        for h in resp.get("hits", {}).get("hits", [])
    }
    recent_from = f"now-{max(120.0, 2 * det.interval.minutes if det.interval else 0):.0f}m"
    with translate_errors(f"reading recent entities of {', '.join(det.indices)}"):
        recent = ad.client.search(
            index=",".join(det.indices),
            body={
                "size": 0,
                "query": {"range": {det.time_field: {"gte": recent_from}}},
                "aggs": {"e": {"composite": {"size": 1000, "sources": [{f: {"terms": {"field": f}}} for f in fields]}}},
            },
        )
    for b in recent.get("aggregations", {}).get("e", {}).get("buckets", []):
        if frozenset((f, str(b["key"][f])) for f in fields) not in done:
            return {f: b["key"][f] for f in fields}
    return None


def wait_historical(
    ad: AnomalyDetection,
    detector_id: str,
    task_id: str | None = None,
    *,
    timeout: float = 3600,
    poll: float = 5,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Wait until the historical analysis finishes; ``progress(percent, task)`` on each poll.

    The plugin reports FINISHED before its result write queue has flushed, so a search right after it
    can miss results; this also waits (up to ``SETTLE_S``) until the task's result count stops growing.
    Returns the finished task; raises :class:`ServerError` when it failed or was stopped.
    """
    deadline = clock() + timeout
    while True:
        task = ad.get_state(detector_id).historical_task or {}
        if task_id and task.get("task_id") not in (None, task_id):
            raise Conflict(f"historical task {task_id} of {detector_id} was replaced by {task.get('task_id')}")
        state = str(task.get("state", "")).upper()
        pct = 100.0 if state == "FINISHED" else _percent(task.get("task_progress"), scale=100)
        if progress:
            progress(pct, task)
        if state == "FINISHED":
            _settle_results(ad, detector_id, task, sleep, clock, min(deadline, clock() + SETTLE_S))
            return task
        if state in ("FAILED", "STOPPED"):
            reason = str(task.get("error") or "").strip() or _entity_errors(ad, task) or "no reason given"
            raise ServerError(f"historical analysis of {detector_id} {state.lower()}: {reason}")
        if clock() >= deadline:
            raise HcadError(f"historical analysis of {detector_id} not finished after {timeout:.0f}s ({pct:.0f}%)")
        sleep(poll)


def _entity_errors(ad: AnomalyDetection, task: Mapping[str, Any]) -> str:
    """The errors of a failed high-cardinality run's entity tasks (the run's own task often has none)."""
    if not task.get("task_id"):
        return ""
    entity_tasks = ad.search_tasks(
        {"bool": {"filter": [{"term": {"parent_task_id": task["task_id"]}}, {"term": {"state": "FAILED"}}]}}
    )
    errors = Counter(str(t.get("error") or "").strip() for t in entity_tasks)
    errors.pop("", None)
    return "; ".join(f"{e} ({n} {'entity' if n == 1 else 'entities'})" for e, n in errors.most_common(3))


SETTLE_S = 60.0  # how long to wait for a finished run's results to become searchable
SETTLE_POLL_S = 2.0


def _settle_results(
    ad: AnomalyDetection,
    detector_id: str,
    task: Mapping[str, Any],
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    until: float,
) -> None:
    """Poll the finished task's result count until it is unchanged over two polls (three while it is
    zero), or ``until`` passes: the plugin writes results in batches, so one equal pair can fall
    between two."""
    task_id = task.get("task_id")
    if not task_id:
        return
    result_index = (task.get("detector") or {}).get("result_index")
    body = {"size": 0, "track_total_hits": True, "query": {"term": {"task_id": task_id}}}
    last, same = -1, 0
    while True:
        count = _hit_count(ad.search_results(body, result_index=result_index))
        same = same + 1 if count == last else 0
        # Unchanged over two polls; a count still zero must hold a poll longer (results not yet flushed).
        if same >= (2 if count else 3) or clock() >= until:
            return
        last = count
        sleep(SETTLE_POLL_S)


def _hit_count(resp: Mapping[str, Any]) -> int:
    """``hits.total`` of a search response (an object, or a number from older servers)."""
    total = resp.get("hits", {}).get("total", 0)
    return int(total.get("value", 0) if isinstance(total, Mapping) else total or 0)


def _percent(value: Any, scale: float = 1) -> float:
    """The plugin reports init progress as ``"35%"`` and task progress as a 0-1 float."""
    if value is None:
        return 0.0
    if isinstance(value, str):
        try:
            return float(value.strip().rstrip("%"))
        except ValueError:
            return 0.0
    return float(value) * scale
