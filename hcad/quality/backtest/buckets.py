"""Per-interval feature buckets, as the plugin's historical analysis aggregates them.

The plugin queries a composite aggregation: a ``date_histogram`` with ``fixed_interval`` equal to
the detector interval (buckets aligned to the epoch, keyed by their start) and the feature
aggregations inside; a composite aggregation returns no empty buckets, so intervals without
documents are simply absent (never zero-filled). A bucket with documents but no value for a
feature keeps that feature as NaN (the plugin passes it to the model as a missing value), except
``sum``/``value_count``/``cardinality`` which are 0 over no values, as in OpenSearch.

The bucket frame has the entity columns (category fields), ``data_start_time`` (UTC) and one
float column per feature, one row per (entity, interval) that had documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hcad.errors import Issue, ValidationError
from hcad.quality.backtest.model import BacktestConfig

if TYPE_CHECKING:
    import pandas as pd

    from hcad.connection import HcadClient

TIME = "data_start_time"
_PANDAS_AGG = {
    "avg": "mean",
    "sum": "sum",
    "min": "min",
    "max": "max",
    "value_count": "count",
    "cardinality": "nunique",
}
_NUMERIC_AGGS = ("avg", "sum", "min", "max")


def is_bucket_frame(frame: pd.DataFrame) -> bool:
    """True when ``frame`` already holds buckets (it has a ``data_start_time`` column)."""
    return TIME in frame.columns


def _to_utc(values: Any, path: str, source: str | None) -> pd.Series:
    import pandas as pd

    try:
        if pd.api.types.is_numeric_dtype(values):
            return pd.to_datetime(values, unit="ms", utc=True)
        return pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as e:
        raise ValidationError(
            [Issue(path, f"not a timestamp ({e})", "use ISO-8601 times or epoch ms")], source
        ) from None


def bucket_documents(
    frame: pd.DataFrame,
    config: BacktestConfig,
    *,
    source: str | None = None,
) -> pd.DataFrame:
    """Aggregate raw documents (one row per document) into per-entity interval buckets."""
    import pandas as pd

    if frame is None or len(frame) == 0:
        raise ValidationError([Issue("data", "no documents", "pass a frame with at least one row")], source)
    need = [config.time_field, *config.category_fields, *{f.field for f in config.features}]
    missing = [c for c in dict.fromkeys(need) if c not in frame.columns]
    if missing:
        raise ValidationError(
            [Issue(c, "column missing", f"the frame has {list(frame.columns)[:12]}") for c in missing], source
        )
    issues = []
    for f in config.features:
        if f.agg in _NUMERIC_AGGS and not pd.api.types.is_numeric_dtype(frame[f.field]):
            issues.append(
                Issue(
                    f"features.{f.name}",
                    f"field {f.field!r} is not numeric ({frame[f.field].dtype}) for {f.agg}",
                    "convert it to numbers or use value_count/cardinality",
                )
            )
    if issues:
        raise ValidationError(issues, source)
    ts = _to_utc(frame[config.time_field], config.time_field, source)
    if ts.isna().any():
        raise ValidationError(
            [Issue(config.time_field, f"{int(ts.isna().sum())} empty timestamp(s)", "drop them")], source
        )
    step = config.interval_seconds
    epoch_s = ts.astype("int64") // _per_second(ts)
    work = pd.DataFrame({c: frame[c].to_numpy() for c in config.category_fields})
    work[TIME] = (epoch_s.to_numpy() // step) * step
    for f in config.features:
        work[f"__{f.name}"] = frame[f.field].to_numpy()
    work, dropped = _drop_null_entities(work, config, "documents")
    if len(work) == 0:
        raise ValidationError(
            [Issue("data", dropped["reason"], f"fill {', '.join(config.category_fields)} or drop those rows")], source
        )
    keys = [*config.category_fields, TIME]
    grouped = work.groupby(keys, sort=True, dropna=False)
    out = grouped.agg(**{f.name: (f"__{f.name}", _PANDAS_AGG[f.agg]) for f in config.features}).reset_index()
    for f in config.features:
        out[f.name] = out[f.name].astype("float64")
    out[TIME] = pd.to_datetime(out[TIME], unit="s", utc=True)
    out.attrs["dropped"] = dropped
    return out


def _drop_null_entities(frame: pd.DataFrame, config: BacktestConfig, what: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Drop rows whose category field is null/NaN: the plugin models no entity for them.

    Returns the kept rows and ``{}`` or ``{what: count, "reason": ...}`` for ``frame.attrs["dropped"]``.
    """
    cats = list(config.category_fields)
    if not cats:
        return frame, {}
    null = frame[cats].isna().any(axis=1)
    n = int(null.sum())
    if n == 0:
        return frame, {}
    reason = f"{n} {what} with an empty category field ({', '.join(cats)}): the plugin models no entity for them"
    return frame.loc[~null.to_numpy()].reset_index(drop=True), {what: n, "reason": reason}


def _per_second(ts: pd.Series) -> int:
    return {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[str(getattr(ts.dtype, "unit", "ns"))]


def check_buckets(frame: pd.DataFrame, config: BacktestConfig, *, source: str | None = None) -> pd.DataFrame:
    """Validate a bucket frame and return it with UTC ``data_start_time`` and float features.

    Each entity's times must be strictly increasing (sorted, no duplicates) and aligned to the
    interval; features must be numeric.
    """
    import pandas as pd

    if frame is None or len(frame) == 0:
        raise ValidationError([Issue("data", "no buckets", "pass a frame with at least one row")], source)
    need = [*config.category_fields, TIME, *config.feature_names]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValidationError(
            [Issue(c, "column missing", f"the frame has {list(frame.columns)[:12]}") for c in missing], source
        )
    issues = [
        Issue(f"features.{n}", f"column {n!r} is not numeric ({frame[n].dtype})", "convert it to numbers")
        for n in config.feature_names
        if not pd.api.types.is_numeric_dtype(frame[n]) or pd.api.types.is_bool_dtype(frame[n])
    ]
    if issues:
        raise ValidationError(issues, source)
    kept, dropped = _drop_null_entities(frame[need], config, "buckets")
    if len(kept) == 0:
        raise ValidationError(
            [Issue("data", dropped["reason"], f"fill {', '.join(config.category_fields)} or drop those rows")], source
        )
    out = kept.copy()
    out[TIME] = _to_utc(kept[TIME], TIME, source)
    for n in config.feature_names:
        out[n] = out[n].astype("float64")
    secs = out[TIME].astype("int64") // _per_second(out[TIME])
    step = config.interval_seconds
    bad = secs % step != 0
    if bad.any():
        first = out.loc[bad, TIME].iloc[0]
        raise ValidationError(
            [
                Issue(
                    TIME,
                    f"{first} is not aligned to the {config.interval_minutes:g}-minute interval",
                    "use bucket starts",
                )
            ],
            source,
        )
    groups: Iterable[tuple[Any, pd.Series]] = (
        secs.groupby([out[c] for c in config.category_fields], sort=False) if config.category_fields else [((), secs)]
    )
    for key, s in groups:
        d = np.diff(s.to_numpy())
        if (d == 0).any():
            raise ValidationError(
                [Issue(TIME, f"duplicate time for entity {_entity_label(key)}", "aggregate to one row per interval")],
                source,
            )
        if (d < 0).any():
            raise ValidationError(
                [
                    Issue(
                        TIME, f"times not sorted for entity {_entity_label(key)}", "sort by entity then data_start_time"
                    )
                ],
                source,
            )
    out.attrs["dropped"] = dropped
    return out


def _entity_label(key: Any) -> str:
    if isinstance(key, tuple):
        return "/".join(str(k) for k in key) if key else "(single stream)"
    return str(key)


def query_buckets(
    client: HcadClient,
    config: BacktestConfig,
    start_ms: int,
    end_ms: int,
    *,
    entities: Sequence[Sequence[str]] | None = None,
    page_size: int = 1000,
) -> pd.DataFrame:
    """Read the buckets from the index with the detector's own aggregations, filter and interval.

    One composite aggregation (entity terms + ``date_histogram``) replaces the plugin's per-entity
    queries; it returns the same buckets. ``end_ms`` is moved back by the window delay so a
    backtest up to "now" sees what the detector would have seen.
    """
    import pandas as pd

    from hcad.transport import translate_errors

    if not config.indices:
        raise ValidationError([Issue("indices", "the detector names no index", "add indices to the detector")])
    end_ms = min(end_ms, _now_ms() - int(config.window_delay_minutes * 60_000))
    must: list[dict[str, Any]] = [
        {"range": {config.time_field: {"gte": start_ms, "lt": end_ms, "format": "epoch_millis"}}}
    ]
    if config.filter_query:
        must.append(dict(config.filter_query))
    if entities:
        should = [
            {"bool": {"filter": [{"term": {f: v}} for f, v in zip(config.category_fields, e, strict=True)]}}
            for e in entities
        ]
        must.append({"bool": {"should": should, "minimum_should_match": 1}})
    sources: list[dict[str, Any]] = [{f: {"terms": {"field": f}}} for f in config.category_fields]
    sources.append(
        {TIME: {"date_histogram": {"field": config.time_field, "fixed_interval": f"{config.interval_seconds}s"}}}
    )
    aggs: dict[str, Any] = {}
    for f in config.features:
        aggs.update(f.query if f.query else {f.name: {f.agg: {"field": f.field}}})
    body: dict[str, Any] = {
        "size": 0,
        "query": {"bool": {"filter": must}},
        "aggs": {"buckets": {"composite": {"size": page_size, "sources": sources}, "aggs": aggs}},
    }
    rows: list[dict[str, Any]] = []
    with translate_errors("read feature buckets"):
        while True:
            resp = client.search(index=",".join(config.indices), body=body)
            agg = resp.get("aggregations", {}).get("buckets", {})
            for b in agg.get("buckets", []):
                row = {k: b["key"][k] for k in [*config.category_fields, TIME]}
                for f in config.features:
                    name = next(iter(f.query)) if f.query else f.name
                    row[f.name] = _metric_value(b.get(name))
                rows.append(row)
            after = agg.get("after_key")
            if not after or not agg.get("buckets"):
                break
            body["aggs"]["buckets"]["composite"]["after"] = after
    columns = [*config.category_fields, TIME, *config.feature_names]
    out = pd.DataFrame(rows, columns=columns)
    out[TIME] = pd.to_datetime(out[TIME], unit="ms", utc=True)
    for n in config.feature_names:
        out[n] = out[n].astype("float64")
    return out.sort_values([*config.category_fields, TIME], kind="stable").reset_index(drop=True)


def _metric_value(agg: Any) -> float:
    """A single-value metric's number as the plugin reads it (``value``, or a percentile's first)."""
    if not isinstance(agg, dict):
        return float("nan")
    if "value" in agg:
        v = agg["value"]
        return float("nan") if v is None else float(v)
    values = agg.get("values")
    if isinstance(values, dict) and values:
        v = next(iter(values.values()))
        return float("nan") if v is None else float(v)
    return float("nan")


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
