"""Live entity measurements on a cluster: active entities per interval, distinct entities, model size.

- :func:`max_active_entities` – the most distinct entities seen in one detector interval over a time
  range (the seed blog's ``date_histogram`` + ``cardinality`` + ``bucket_sort`` query). ``cardinality`` is
  HyperLogLog: with ``precision_threshold`` 40,000 (its maximum) counts up to 40,000 per bucket are exact
  in practice, above that they are approximate; ``exact=True`` streams a composite aggregation instead.
- :func:`distinct_entities` – the exact number of distinct entities, by composite-aggregation
  pagination: not capped by terms-aggregation limits, constant memory (one page at a time).
- :func:`measured_model_size` – ``model_size_in_bytes`` from a running detector's profile.

Entities are counted as the plugin counts them: for several category fields an entity is one
combination of values, and documents missing any of the fields are not an entity (the plugin's
composite query drops them). For a multi-valued field the plugin's composite aggregation counts every
combination; the approximate query (a script) reads the first value only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from hcad.errors import ConfigError, NotFound, ServerError
from hcad.sizing.model_size import caches_models
from hcad.transport import translate_errors

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

    from hcad.sizing import SizingPlan

AD_BASE = "/_plugins/_anomaly_detection/detectors"
MAX_PRECISION_THRESHOLD = 40_000
"""The cardinality aggregation's largest ``precision_threshold``; counts below it are near-exact."""
DEFAULT_PAGE = 10_000

Progress = Callable[[int], None]


def _fields(fields: Sequence[str] | str) -> tuple[str, ...]:
    out = (fields,) if isinstance(fields, str) else tuple(fields)
    if not out or not all(isinstance(f, str) and f.strip() for f in out):
        raise ConfigError("give at least one category field (--field host [--field process])")
    if len(set(out)) != len(out):
        raise ConfigError(f"category fields {list(out)} repeat a field; give each once")
    return out


def interval_expr(minutes: Fraction | float) -> str:
    """A ``fixed_interval`` for a detector interval in minutes (``10`` -> ``"10m"``, ``1.5`` -> ``"90s"``)."""
    from hcad.sizing.capacity import exact_minutes

    try:
        exact = exact_minutes(minutes)
    except ConfigError:
        raise ConfigError(f"interval {minutes!r} must be greater than zero (e.g. 10m)") from None
    if exact.denominator == 1:
        return f"{exact.numerator}m"
    seconds = exact * 60
    if seconds.denominator != 1:
        raise ConfigError(f"interval {minutes} minutes is not a whole number of seconds")
    return f"{seconds.numerator}s"


def entity_query(
    fields: Sequence[str],
    time_field: str,
    start: str | int | None,
    end: str | int | None,
    *,
    require_fields: bool = True,
    filter_query: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Documents that form an entity (every category field present) inside ``[start, end)``.

    ``filter_query`` is a detector's own ``filter_query``: only the documents it matches make its entities.

    Composite ``terms`` sources already skip documents missing a field, so their callers pass
    ``require_fields=False`` and save an ``exists`` filter per document (about half the time at 1M docs).
    """
    filters: list[dict[str, Any]] = [{"exists": {"field": f}} for f in fields] if require_fields else []
    rng: dict[str, Any] = {k: v for k, v in (("gte", start), ("lt", end)) if v is not None}
    if rng and all(isinstance(v, int) for v in rng.values()):
        rng["format"] = "epoch_millis"  # numbers are epoch ms, whatever the field's own date format
    elif any(isinstance(v, int) for v in rng.values()):  # one of each: both as text
        rng = {k: datetime.fromtimestamp(v / 1000, UTC).isoformat() if isinstance(v, int) else v
               for k, v in rng.items()}  # fmt: skip
    if rng:
        filters.append({"range": {time_field: rng}})
    if filter_query and "match_all" not in filter_query:
        filters.append(dict(filter_query))
    return {"bool": {"filter": filters}} if filters else {"match_all": {}}


def _entity_value_source(fields: Sequence[str]) -> dict[str, Any]:
    if len(fields) == 1:
        return {"field": fields[0]}
    # Join the values with a unit-separator character no keyword/ip value contains in practice.
    expr = " + '\u001f' + ".join(f"doc[{f!r}].value" for f in fields).replace("'", '"')
    return {"script": {"lang": "painless", "source": expr}}


@dataclass(frozen=True)
class ActiveEntities:
    """The busiest interval: how many distinct entities, when, and how it was counted."""

    max_active: int
    at: str | None
    intervals: int
    interval: str
    fields: tuple[str, ...]
    exact: bool
    precision_threshold: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_active_per_interval": self.max_active,
            "busiest_interval_start": self.at,
            "intervals_with_data": self.intervals,
            "interval": self.interval,
            "fields": list(self.fields),
            "exact": self.exact,
            "precision_threshold": self.precision_threshold,
        }


def max_active_entities(
    client: OpenSearch,
    index: str,
    fields: Sequence[str] | str,
    *,
    interval_minutes: Fraction | float = 10,
    time_field: str = "@timestamp",
    start: str | int | None = None,
    end: str | int | None = None,
    exact: bool = False,
    precision_threshold: int = MAX_PRECISION_THRESHOLD,
    page_size: int = DEFAULT_PAGE,
    progress: Progress | None = None,
    filter_query: Mapping[str, Any] | None = None,
) -> ActiveEntities:
    """Maximum distinct entities in one ``interval_minutes`` bucket over ``[start, end)``.

    ``start``/``end`` are anything a range query takes (ISO dates, epoch ms, ``now-7d``). Approximate
    mode is one request; ``exact=True`` pages through (time bucket, entity) pairs in time order and keeps
    only the current bucket's count, so memory stays constant.
    """
    fs = _fields(fields)
    fixed = interval_expr(interval_minutes)
    query = entity_query(fs, time_field, start, end, filter_query=filter_query)
    if exact:
        bare = entity_query(fs, time_field, start, end, require_fields=False, filter_query=filter_query)
        return _max_active_exact(client, index, fs, fixed, time_field, bare, page_size, progress)
    if not 0 < precision_threshold <= MAX_PRECISION_THRESHOLD:
        raise ConfigError(f"precision_threshold {precision_threshold} must be 1 to {MAX_PRECISION_THRESHOLD}")
    body = {
        "size": 0,
        "query": query,
        "aggs": {
            "by_interval": {
                "date_histogram": {"field": time_field, "fixed_interval": fixed, "min_doc_count": 1},
                "aggs": {
                    "entities": {
                        "cardinality": {
                            **_entity_value_source(fs),
                            "precision_threshold": precision_threshold,
                        }
                    },
                    "busiest": {"bucket_sort": {"sort": [{"entities": {"order": "desc"}}], "size": 1}},
                },
            },
            # Only counted (filter_path keeps doc_count): ActiveEntities.intervals, the intervals with data.
            # by_interval cannot give it: bucket_sort keeps its busiest bucket only.
            "buckets": {"date_histogram": {"field": time_field, "fixed_interval": fixed, "min_doc_count": 1}},
        },
    }
    try:
        resp = _search_active(client, index, body)
    except ServerError as e:
        # Several fields need a painless script; a cluster without lang-painless gets the exact mode.
        if len(fs) > 1 and _painless_unavailable(e):
            log.info("no painless on the cluster (%s); counting active entities exactly", e)
            bare = entity_query(fs, time_field, start, end, require_fields=False, filter_query=filter_query)
            return _max_active_exact(client, index, fs, fixed, time_field, bare, page_size, progress)
        raise
    aggs = resp.get("aggregations", {})
    top = aggs.get("by_interval", {}).get("buckets", [])
    n_intervals = len(aggs.get("buckets", {}).get("buckets", []))
    if progress:
        progress(n_intervals)
    if not top:
        return ActiveEntities(0, None, 0, fixed, fs, False, precision_threshold)
    best = top[0]
    value = int(best["entities"]["value"])
    return ActiveEntities(value, best.get("key_as_string"), n_intervals, fixed, fs, False, precision_threshold)


def _painless_unavailable(error: ServerError) -> bool:
    """True when the cluster rejected the script because lang-painless is not installed.

    OpenSearch answers ``illegal_argument_exception: script_lang not supported [painless]``.
    """
    return any("script_lang not supported" in str(text) for text in (error, error.body))


def _search_active(client: OpenSearch, index: str, body: dict[str, Any]) -> Any:
    with translate_errors(f"counting active entities in {index}", not_found=f"index {index!r} does not exist"):
        return client.search(
            index=index,
            body=body,
            filter_path="aggregations.by_interval.buckets.key_as_string,aggregations.by_interval.buckets."
            "entities.value,aggregations.buckets.buckets.doc_count",
        )


def _composite_pages(
    client: OpenSearch,
    index: str,
    sources: list[dict[str, Any]],
    query: dict[str, Any],
    page_size: int,
    action: str,
) -> Iterator[list[dict[str, Any]]]:
    if not 1 <= page_size <= 65_535:
        raise ConfigError(f"page size {page_size} must be 1 to 65535 (search.max_buckets)")
    after: Mapping[str, Any] | None = None
    while True:
        comp: dict[str, Any] = {"size": page_size, "sources": sources}
        if after is not None:
            comp["after"] = after
        body = {"size": 0, "query": query, "aggs": {"e": {"composite": comp}}}
        with translate_errors(action, not_found=f"{action}: index {index!r} does not exist"):
            resp = client.search(
                index=index,
                body=body,
                filter_path="aggregations.e.after_key,aggregations.e.buckets.key",
            )
        agg = resp.get("aggregations", {}).get("e", {})
        buckets = agg.get("buckets", [])
        if buckets:
            yield buckets
        after = agg.get("after_key")
        if not buckets or after is None or len(buckets) < page_size:
            return


def iter_entities(
    client: OpenSearch,
    index: str,
    fields: Sequence[str] | str,
    *,
    time_field: str = "@timestamp",
    start: str | int | None = None,
    end: str | int | None = None,
    page_size: int = DEFAULT_PAGE,
) -> Iterator[tuple[Any, ...]]:
    """Every distinct entity (tuple of category values), streamed in key order."""
    fs = _fields(fields)
    sources = [{f"f{i}": {"terms": {"field": f}}} for i, f in enumerate(fs)]
    query = entity_query(fs, time_field, start, end, require_fields=False)
    for page in _composite_pages(client, index, sources, query, page_size, f"listing entities in {index}"):
        for b in page:
            yield tuple(b["key"][f"f{i}"] for i in range(len(fs)))


def distinct_entities(
    client: OpenSearch,
    index: str,
    fields: Sequence[str] | str,
    *,
    time_field: str = "@timestamp",
    start: str | int | None = None,
    end: str | int | None = None,
    page_size: int = DEFAULT_PAGE,
    progress: Progress | None = None,
    filter_query: Mapping[str, Any] | None = None,
) -> int:
    """The exact number of distinct entities (value combinations of ``fields``) in ``[start, end)``."""
    fs = _fields(fields)
    sources = [{f"f{i}": {"terms": {"field": f}}} for i, f in enumerate(fs)]
    query = entity_query(fs, time_field, start, end, require_fields=False, filter_query=filter_query)
    total = 0
    for page in _composite_pages(client, index, sources, query, page_size, f"counting entities in {index}"):
        total += len(page)
        if progress:
            progress(len(page))
    return total


def _max_active_exact(
    client: OpenSearch,
    index: str,
    fs: tuple[str, ...],
    fixed: str,
    time_field: str,
    query: dict[str, Any],
    page_size: int,
    progress: Progress | None,
) -> ActiveEntities:
    # Time bucket first, so one bucket's entities arrive contiguously and a running count suffices.
    sources: list[dict[str, Any]] = [{"t": {"date_histogram": {"field": time_field, "fixed_interval": fixed}}}]
    sources += [{f"f{i}": {"terms": {"field": f}}} for i, f in enumerate(fs)]
    best, best_key, current, current_key, intervals = 0, None, 0, None, 0
    for page in _composite_pages(client, index, sources, query, page_size, f"counting active entities in {index}"):
        for b in page:
            key = b["key"]["t"]
            if key != current_key:
                if current > best:
                    best, best_key = current, current_key
                current, current_key = 0, key
                intervals += 1
            current += 1
        if progress:
            progress(len(page))
    if current > best:
        best, best_key = current, current_key
    at = None
    if best_key is not None:
        import datetime as dt

        at = dt.datetime.fromtimestamp(int(best_key) / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")
    return ActiveEntities(best, at, intervals, fixed, fs, True, None)


# ----------------------------------------------------------------------------------------------------------
# Model size from the AD plugin's profile


@dataclass(frozen=True)
class ModelProfile:
    """One entry of a profile's ``models`` list."""

    model_id: str
    entity: tuple[tuple[str, str], ...]
    size_bytes: int | None
    node_id: str | None


def parse_model_profile(body: Mapping[str, Any]) -> list[ModelProfile]:
    """The ``models`` of a ``GET detectors/{id}/_profile/models`` response.

    Shape (plugin ``ConfigProfile``/``ModelProfileOnNode``): ``{"models": [{"model_id", "entity":
    [{"name", "value"}], "model_size_in_bytes", "node_id"}], "total_size_in_bytes", "model_count"}``;
    ``entity`` is absent for single-stream detectors and ``model_size_in_bytes`` when it is 0.
    """
    out: list[ModelProfile] = []
    for m in body.get("models") or []:
        if not isinstance(m, Mapping):
            continue
        entity = tuple(
            (str(e.get("name")), str(e.get("value"))) for e in m.get("entity") or [] if isinstance(e, Mapping)
        )
        size = m.get("model_size_in_bytes")
        out.append(
            ModelProfile(
                model_id=str(m.get("model_id", "")),
                entity=entity,
                size_bytes=int(size) if isinstance(size, (int, float)) and size > 0 else None,
                node_id=None if m.get("node_id") is None else str(m["node_id"]),
            )
        )
    return out


def model_size_from_profile(body: Mapping[str, Any], detector_id: str = "") -> int:
    """The per-entity model size a profile reports (all models of a detector share one estimate)."""
    sizes = {m.size_bytes for m in parse_model_profile(body) if m.size_bytes}
    if not sizes:
        raise NotFound(
            f"detector {detector_id or '?'} has no models in memory yet; start it and wait for "
            "initialisation, then measure again"
        )
    return max(sizes)


def measured_model_size(client: Any, detector_id: str) -> int:
    """``model_size_in_bytes`` of a running detector's entity models (from its profile)."""
    client.require_plugin("opensearch-anomaly-detection")
    with translate_errors(
        f"reading the profile of detector {detector_id}", not_found=f"detector {detector_id!r} not found"
    ):
        body = client.transport.perform_request("GET", f"{AD_BASE}/{detector_id}/_profile/models")
    return model_size_from_profile(body, detector_id)


def detector_facts(client: Any, detector_id: str) -> dict[str, Any]:
    """Sizing inputs from a detector's config: enabled features, shingle, interval, category fields, index."""
    client.require_plugin("opensearch-anomaly-detection")
    with translate_errors(f"reading detector {detector_id}", not_found=f"detector {detector_id!r} not found"):
        body = client.transport.perform_request("GET", f"{AD_BASE}/{detector_id}")
    return facts_from_detector(body.get("anomaly_detector", body))


def facts_from_detector(det: Mapping[str, Any]) -> dict[str, Any]:
    """Pick the sizing inputs out of a detector document."""
    features = [f for f in det.get("feature_attributes") or [] if f.get("feature_enabled", True)]
    period = (det.get("detection_interval") or {}).get("period") or {}
    unit = str(period.get("unit", "Minutes")).lower()
    # Exact (a Fraction): 20 seconds is 1/3 minute, so the 2-hour cache bound is 360 intervals, not 361.
    interval = Fraction(str(period.get("interval", 10))) * (Fraction(1, 60) if unit.startswith("second") else 1)
    # 3.3+: how often the real-time job runs (a multiple of the interval; the interval when absent).
    freq = (det.get("frequency") or {}).get("period") or {}
    frequency = None
    if freq.get("interval") is not None:
        funit = str(freq.get("unit", "Minutes")).lower()
        frequency = Fraction(str(freq["interval"])) * (Fraction(1, 60) if funit.startswith("second") else 1)
    return {
        "frequency_minutes": frequency,
        "features": len(features),
        "shingle_size": int(det.get("shingle_size") or 8),
        "interval_minutes": interval,
        "category_fields": tuple(det.get("category_field") or ()),
        "index": ",".join(det.get("indices") or []) or None,
        "time_field": det.get("time_field") or "@timestamp",
        # A custom result index (alias or name) when the detector has one; None: the plugin's default.
        "result_index": det.get("result_index") or None,
        "filter_query": det.get("filter_query") or None,
    }


def measure_plan(
    client: Any,
    plan: SizingPlan,
    *,
    start: str | int | None = None,
    end: str | int | None = None,
    exact: bool = False,
    progress: Progress | None = None,
) -> SizingPlan:
    """A copy of ``plan`` with C, A and S read from the cluster for each detector that says where.

    A detector with ``detector_id`` takes its features/shingle/interval/fields/index from the live
    detector and its model size from the profile; one with ``index`` and ``category_fields`` gets C
    (exact distinct count) and A (maximum active per interval) over ``[start, end)``.
    """
    start = start or plan.measure_from
    end = end or plan.measure_to
    specs = []
    for spec in plan.detectors:
        s = spec
        filter_query = None
        if spec.detector_id:
            f = detector_facts(client, spec.detector_id)
            s = replace(
                s,
                features=max(1, f["features"]),
                shingle_size=f["shingle_size"],
                interval_minutes=f["interval_minutes"],
                category_fields=f["category_fields"] or s.category_fields,
                index=f["index"] or s.index,
                time_field=f["time_field"],
            )
            filter_query = f["filter_query"]  # its entities are those of the documents it selects
            # From plugin 3.2 a detector running hourly or less often keeps no model in memory: its profile
            # reports none, so the estimate (the same number the plugin would report) stands.
            if caches_models(plan.plugin_version, float(f["frequency_minutes"] or f["interval_minutes"])):
                s = replace(s, model_size=measured_model_size(client, spec.detector_id), model_size_source="measured")
            # The real bytes per result document of the detector's result indices, instead of the blog's 1 KB.
            from hcad.sizing.live import result_doc_size

            rd = result_doc_size(client, f["result_index"])
            if rd is not None:
                s = replace(s, doc_bytes=rd.bytes_per_doc, doc_size_source=rd.note())
        if s.index and s.category_fields:
            c = distinct_entities(
                client,
                s.index,
                s.category_fields,
                time_field=s.time_field,
                start=start,
                end=end,
                progress=progress,
                filter_query=filter_query,
            )
            a = max_active_entities(
                client,
                s.index,
                s.category_fields,
                interval_minutes=s.interval_minutes,
                time_field=s.time_field,
                start=start,
                end=end,
                exact=exact,
                progress=progress,
                filter_query=filter_query,
            )
            if c == 0:
                raise NotFound(f"detector {s.name}: no documents with {list(s.category_fields)} in {s.index}")
            s = replace(s, entities=c, active_entities=a.max_active or None)
        specs.append(s)
    return replace(plan, detectors=tuple(specs))
