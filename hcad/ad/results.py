"""Anomaly results as pandas DataFrames: the query, exact paging past 10,000 hits, and the conversion.

The result document's fields come from the plugin's ``AnomalyResult.toXContent`` (2.19.4.0):
``detector_id``, ``data_start_time``/``data_end_time`` (epoch ms), ``anomaly_grade``,
``anomaly_score``, ``confidence``, ``feature_data`` ``[{feature_id, feature_name, data}]``,
``entity`` ``[{name, value}]``, ``model_id``, ``task_id`` (historical runs only, the detector-level
task id), ``expected_values`` ``[{likelihood, value_list: [{feature_id, data}]}]`` and
``threshold``/``error``. Grade, score and confidence are left out of the document when NaN, and
expected values are written only for anomalies (grade > 0).

pandas is imported inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hcad.errors import ConfigError
from hcad.times import to_epoch_ms

if TYPE_CHECKING:
    import pandas as pd

    from hcad.ad.model import Detector

DEFAULT_RESULT_INDEX = ".opendistro-anomaly-results*"
# Sort keys that identify one result in practice: an entity's model scores each interval once per
# execution. Ties are still handled exactly (see iter_hits), so this order only has to be stable.
RESULT_SORT = ("data_start_time", "model_id", "execution_end_time", "execution_start_time")
PAGE_SIZE = 5000
MAX_PAGE_SIZE = 10_000  # index.max_result_window default; search_after pages past it

Search = Callable[[dict[str, Any]], Mapping[str, Any]]


def entity_filter(entity: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Query clauses matching one entity: a nested match of each ``(name, value)`` attribute."""
    clauses = []
    for name, value in entity.items():
        clauses.append(
            {
                "nested": {
                    "path": "entity",
                    "query": {
                        "bool": {
                            "filter": [
                                {"term": {"entity.name": name}},
                                {"term": {"entity.value": str(value)}},
                            ]
                        }
                    },
                }
            }
        )
    return clauses


def results_query(
    detector_id: str,
    start: datetime | int | str | None = None,
    end: datetime | int | str | None = None,
    *,
    entity: Mapping[str, Any] | None = None,
    only_anomalies: bool = False,
    task_id: str | None = None,
    realtime_only: bool = False,
) -> dict[str, Any]:
    """The search query for one detector's results in ``[start, end)`` (by ``data_start_time``).

    ``task_id`` selects one historical run; ``realtime_only`` excludes historical results (they are
    the documents with a ``task_id``).
    """
    filters: list[dict[str, Any]] = [{"term": {"detector_id": detector_id}}]
    rng: dict[str, Any] = {}
    if start is not None:
        rng["gte"] = to_epoch_ms(start, "start")
    if end is not None:
        rng["lt"] = to_epoch_ms(end, "end")
    if rng:
        rng["format"] = "epoch_millis"
        filters.append({"range": {"data_start_time": rng}})
    if only_anomalies:
        filters.append({"range": {"anomaly_grade": {"gt": 0}}})
    if task_id:
        filters.append({"term": {"task_id": task_id}})
    if entity is not None and not isinstance(entity, Mapping):
        raise ConfigError(f"entity {entity!r} is not a mapping of category field to value, e.g. {{'host': 'h1'}}")
    if entity:
        filters.extend(entity_filter(entity))
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if realtime_only and not task_id:
        query["bool"]["must_not"] = [{"exists": {"field": "task_id"}}]
    return query


def _sort_clause(sort_fields: Sequence[str]) -> list[dict[str, Any]]:
    return [{f: {"order": "asc", "missing": "_first"}} for f in sort_fields]


def _tuple_filter(sort_fields: Sequence[str], values: Sequence[Any]) -> list[dict[str, Any]]:
    """Clauses matching exactly the documents whose sort keys equal ``values``."""
    out: list[dict[str, Any]] = []
    for f, v in zip(sort_fields, values, strict=True):
        if v is None or (isinstance(v, int) and abs(v) == 2**63 - 1) or (isinstance(v, int) and v == -(2**63)):
            # A missing value sorts as Long.MIN/MAX (numbers/dates) or null (keywords).
            out.append({"bool": {"must_not": [{"exists": {"field": f}}]}})
        else:
            out.append({"term": {f: v}})
    return out


def iter_hits(
    search: Search,
    query: Mapping[str, Any],
    *,
    sort_fields: Sequence[str] = RESULT_SORT,
    page_size: int = PAGE_SIZE,
    source: Sequence[str] | bool = True,
    on_page: Callable[[int, int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every hit matching ``query``, in sort order, with no loss past 10,000 hits.

    Pages with ``search_after`` on ``sort_fields``. The sort keys are not guaranteed unique, so at
    each page boundary the documents sharing the last key are fetched together by an exact filter;
    nothing is skipped or repeated even with ties. ``on_page(seen, total)`` reports progress.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigError(f"page_size {page_size} must be between 1 and {MAX_PAGE_SIZE}")
    base: dict[str, Any] = {"query": dict(query), "sort": _sort_clause(sort_fields), "_source": source}
    after: list[Any] | None = None
    seen = 0
    total: int | None = None
    while True:
        body = dict(base, size=page_size, track_total_hits=total is None)
        if after is not None:
            body["search_after"] = after
        resp = search(body)
        hits = list(resp.get("hits", {}).get("hits", []))
        if total is None:
            t = resp.get("hits", {}).get("total")
            total = int(t["value"] if isinstance(t, Mapping) else t or 0)
        if len(hits) < page_size:
            seen += len(hits)
            yield from hits
            if on_page:
                on_page(seen, max(total, seen))
            return
        last = hits[-1]["sort"]
        head = [h for h in hits if h["sort"] != last]
        # All documents tied with the last key, fetched at once (ties beyond the page would be skipped).
        tie_body = {
            "query": {"bool": {"filter": [dict(query), *_tuple_filter(sort_fields, last)]}},
            "size": MAX_PAGE_SIZE,
            "_source": source,
            "sort": _sort_clause(sort_fields),
            "track_total_hits": True,
        }
        tie_resp = search(tie_body)
        ties = list(tie_resp.get("hits", {}).get("hits", []))
        tie_total = tie_resp.get("hits", {}).get("total", {})
        if isinstance(tie_total, Mapping) and int(tie_total.get("value", 0)) > MAX_PAGE_SIZE:
            raise ConfigError(
                f"more than {MAX_PAGE_SIZE} results share the sort key {last}; add a sort field that tells them apart"
            )
        seen += len(head) + len(ties)
        yield from head
        yield from ties
        if on_page:
            on_page(seen, max(total, seen))
        after = last


def result_rows(
    docs: Sequence[Mapping[str, Any]], category_fields: Sequence[str] | None = None
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Flatten result documents into row dicts; returns (rows, category columns, feature names)."""
    rows: list[dict[str, Any]] = []
    cats: list[str] = list(category_fields or [])
    feats: list[str] = []
    for d in docs:
        row: dict[str, Any] = {
            "data_start_time": d.get("data_start_time"),
            "data_end_time": d.get("data_end_time"),
        }
        for attr in d.get("entity") or []:
            name = str(attr.get("name"))
            row[name] = attr.get("value")
            if name not in cats:
                cats.append(name)
        row["anomaly_grade"] = d.get("anomaly_grade")
        row["confidence"] = d.get("confidence")
        row["anomaly_score"] = d.get("anomaly_score")
        id_to_name: dict[str, str] = {}
        for fd in d.get("feature_data") or []:
            fname = str(fd.get("feature_name") or fd.get("feature_id"))
            id_to_name[str(fd.get("feature_id"))] = fname
            row[fname] = fd.get("data")
            if fname not in feats:
                feats.append(fname)
        expected = d.get("expected_values") or []
        if expected:
            # The plugin lists alternatives by likelihood; the first is the most likely.
            best = max(expected, key=lambda e: e.get("likelihood") or 0)
            for v in best.get("value_list") or []:
                fname = id_to_name.get(str(v.get("feature_id")), str(v.get("feature_id")))
                row[f"{fname}_expected"] = v.get("data")
        for key in ("threshold", "model_id", "task_id", "error", "execution_end_time"):
            if key in d:
                row[key] = d[key]
        rows.append(row)
    return rows, cats, feats


def results_frame(docs: Sequence[Mapping[str, Any]], category_fields: Sequence[str] | None = None) -> pd.DataFrame:
    """Result documents → DataFrame: ``data_start_time`` (UTC), category fields, grade, confidence, features.

    Columns: ``data_start_time``, ``data_end_time``, one per category field, ``anomaly_grade``,
    ``confidence``, ``anomaly_score``, one per feature, ``<feature>_expected`` where the plugin gave
    expected values, then ``threshold``, ``model_id``, ``task_id``, ``error``, ``execution_end_time``
    when present. Rows are sorted by time then entity.
    """
    import pandas as pd

    rows, cats, feats = result_rows(docs, category_fields)
    expected = [f"{f}_expected" for f in feats if any(f"{f}_expected" in r for r in rows)]
    tail = [k for k in ("threshold", "model_id", "task_id", "error", "execution_end_time") if any(k in r for r in rows)]
    columns = ["data_start_time", "data_end_time", *cats, "anomaly_grade", "confidence", "anomaly_score"]
    columns += [f for f in feats if f not in columns] + expected + tail
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for col in ("data_start_time", "data_end_time", "execution_end_time"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], unit="ms", utc=True)
    for col in ("anomaly_grade", "confidence", "anomaly_score", *feats, *expected):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    if len(frame):
        frame = frame.sort_values(["data_start_time", *cats], kind="stable").reset_index(drop=True)
    return frame


#: ``order`` values and the largest ``size`` the plugin's ``_topAnomalies`` accepts.
TOP_ORDERS = ("severity", "occurrence")
MAX_TOP_SIZE = 1000


def top_anomalies_body(
    *,
    size: int,
    order: str,
    category_fields: Sequence[str] | None = None,
    task_id: str | None = None,
    start: datetime | int | str | None = None,
    end: datetime | int | str | None = None,
) -> dict[str, Any]:
    """The ``_topAnomalies`` request body, checked (``size``, ``order``, times) before anything is sent."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or not 1 <= size <= MAX_TOP_SIZE:
        raise ConfigError(f"size {size!r} must be a whole number from 1 to {MAX_TOP_SIZE}")
    if order not in TOP_ORDERS:
        raise ConfigError(f"order {order!r} is not one of {', '.join(TOP_ORDERS)}")
    body: dict[str, Any] = {"size": size, "order": order}
    if category_fields:
        body["category_field"] = list(category_fields)
    if task_id:
        body["task_id"] = task_id
    if start is not None:
        body["start_time_ms"] = to_epoch_ms(start, "start")
    if end is not None:
        body["end_time_ms"] = to_epoch_ms(end, "end")
    return body


def top_results_query(detector_id: str, body: Mapping[str, Any], *, historical: bool) -> dict[str, Any]:
    """The result-index query ``_topAnomalies`` runs for ``body``: anomalies (grade > 0) whose
    ``data_end_time`` is in the range, of the historical task, or real-time ones (no ``task_id``)."""
    rng = {"gte": body["start_time_ms"], "lte": body["end_time_ms"], "format": "epoch_millis"}
    filters: list[dict[str, Any]] = [{"range": {"data_end_time": rng}}, {"range": {"anomaly_grade": {"gt": 0}}}]
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if historical:
        filters.append({"term": {"task_id": body["task_id"]}})
    else:
        filters.append({"term": {"detector_id": detector_id}})
        query["bool"]["must_not"] = [{"exists": {"field": "task_id"}}]
    return query


def top_from_result_docs(
    search: Search, detector: Detector, body: Mapping[str, Any], *, historical: bool
) -> pd.DataFrame:
    """What ``_topAnomalies`` answers for ``body`` (same filters, grouping and order), computed from the
    result documents ``search`` finds (for a cluster whose plugin cannot run it: no lang-painless)."""
    cats = list(detector.category_fields or [])
    if not cats:
        raise ConfigError(f"detector {detector.id} has no category fields; top anomalies need an HC detector")
    fields = list(body.get("category_field") or cats)
    bad = [f for f in fields if f not in cats]
    if bad:
        raise ConfigError(f"category field {bad[0]} is not one of the detector's: {', '.join(cats)}")
    query = top_results_query(str(detector.id), body, historical=historical)
    docs = [h.get("_source") or {} for h in iter_hits(search, query)]
    return top_from_results(results_frame(docs, cats), fields, int(body["size"]), body["order"])


def top_anomalies_frame(resp: Mapping[str, Any], category_fields: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``_topAnomalies`` response (``{buckets: [{key, doc_count, max_anomaly_grade}]}``) as a DataFrame.

    One row per entity, in the server's order: a column per category field, ``doc_count`` (number
    of anomalies), ``max_anomaly_grade``.
    """
    import pandas as pd

    buckets = resp.get("buckets") or []
    cats = list(category_fields or [])
    rows = []
    for b in buckets:
        key = b.get("key") or {}
        for k in key:
            if k not in cats:
                cats.append(k)
        rows.append({**{k: v for k, v in key.items()}, "doc_count": b.get("doc_count"),
                     "max_anomaly_grade": b.get("max_anomaly_grade")})  # fmt: skip
    frame = pd.DataFrame.from_records(rows, columns=[*cats, "doc_count", "max_anomaly_grade"])
    if len(frame):
        frame["doc_count"] = pd.to_numeric(frame["doc_count"]).astype("int64")
        frame["max_anomaly_grade"] = pd.to_numeric(frame["max_anomaly_grade"])
    return frame


def top_from_results(
    frame: pd.DataFrame, category_fields: Sequence[str], size: int, order: str = "severity"
) -> pd.DataFrame:
    """Top entities from a results frame, as :func:`top_anomalies_frame` gives the plugin's answer.

    Like ``_topAnomalies``: rows with ``anomaly_grade > 0`` grouped by ``category_fields``, ``doc_count``
    and ``max_anomaly_grade`` per group, the ``size`` largest by grade (``severity``) or count
    (``occurrence``), descending. Ties are ordered by the other measure, then by the entity.
    """
    import pandas as pd

    cats = list(category_fields)
    columns = [*cats, "doc_count", "max_anomaly_grade"]
    if not len(frame) or any(c not in frame for c in cats):
        return pd.DataFrame(columns=columns)
    hits = frame[frame["anomaly_grade"] > 0].dropna(subset=cats)
    if not len(hits):
        return pd.DataFrame(columns=columns)
    grouped = hits.groupby(cats, sort=True)["anomaly_grade"].agg(doc_count="size", max_anomaly_grade="max")
    top = grouped.reset_index()
    first, second = ("max_anomaly_grade", "doc_count") if order == "severity" else ("doc_count", "max_anomaly_grade")
    top = top.sort_values([first, second], ascending=False, kind="stable").head(size).reset_index(drop=True)
    top["doc_count"] = top["doc_count"].astype("int64")
    return top[columns]


def read_results(
    search: Search,
    detector_id: str,
    start: datetime | int | str | None = None,
    end: datetime | int | str | None = None,
    *,
    category_fields: Sequence[str] | None = None,
    entity: Mapping[str, Any] | None = None,
    only_anomalies: bool = False,
    task_id: str | None = None,
    realtime_only: bool = False,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Query, page through and convert one detector's results (``search(body)`` runs one search)."""
    query = results_query(
        detector_id,
        start,
        end,
        entity=entity,
        only_anomalies=only_anomalies,
        task_id=task_id,
        realtime_only=realtime_only,
    )
    docs = [h.get("_source") or {} for h in iter_hits(search, query, page_size=page_size, on_page=on_page)]
    return results_frame(docs, category_fields)
