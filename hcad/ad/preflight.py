"""Pre-flight checks of a detector against the live source index, before it is created: the index
and mappings (field types the plugin accepts), and the data density per entity (how many of the last
intervals have data, what a model needs to initialise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hcad.ad.model import (
    COUNTING_AGGS,
    NUM_MIN_SAMPLES,
    Detector,
    Interval,
)
from hcad.errors import (
    Issue,
    NotFound,
    ValidationError,
)
from hcad.times import to_epoch_ms
from hcad.transport import translate_errors

if TYPE_CHECKING:
    pass


@dataclass
class Preflight:
    """What the live index says about a detector before it is created (see :func:`preflight`)."""

    issues: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    entities_checked: int = 0
    intervals_checked: int = 0
    density: dict[str, float] = field(default_factory=dict)  # entity key -> share of intervals with data
    sparse_entities: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing blocks creating the detector (warnings may remain)."""
        return not self.issues

    def raise_for_issues(self, source: str = "pre-flight") -> None:
        """Raise :class:`ValidationError` with every blocking issue."""
        if self.issues:
            raise ValidationError(self.issues, source)


NUMERIC_TYPES = frozenset(
    {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
)
DATE_TYPES = frozenset({"date", "date_nanos"})
CATEGORY_TYPES = frozenset({"keyword", "ip"})
# The plugin's model validation wants at least this share of intervals to have data
# (CONFIG_BUCKET_MINIMUM_SUCCESS_RATE in AnomalyDetectorSettings).
MIN_DENSITY = 0.25


def _field_types(client: Any, indices: Sequence[str], fields: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{field: {index: type}}`` from the live mappings (only fields that exist somewhere)."""
    names = sorted(set(fields))
    if not names:
        return {}
    with translate_errors(f"reading the mappings of {','.join(indices)}"):
        resp = client.indices.get_field_mapping(index=",".join(indices), fields=",".join(names))
    out: dict[str, dict[str, str]] = {}
    for index, body in resp.items():
        for fname, info in (body.get("mappings") or {}).items():
            mapping = info.get("mapping") or {}
            leaf: Mapping[str, Any] = next(iter(mapping.values()), {}) if mapping else {}
            out.setdefault(fname, {})[index] = str(leaf.get("type", "object"))
    return out


def preflight(
    client: Any,
    detector: Detector,
    *,
    max_entities: int = 1000,
    lookback_intervals: int | None = None,
    end: datetime | int | str | None = None,
) -> Preflight:
    """Check a detector against the live source data, with plain OpenSearch APIs only.

    Blocking issues: the source indices exist, the time field is a date, category fields are
    keyword or ip, feature fields exist (and are numeric unless counted). Warning: entities whose
    share of intervals with data, over the last ``lookback_intervals`` (default: the model's
    history, 32 + shingle size) before the newest document, is below 25% — the plugin's threshold,
    and the usual reason a detector never leaves initialization. At most ``max_entities`` entities
    (the busiest) are checked.
    """
    report = Preflight()
    indices = list(detector.indices or [])
    if not indices:
        report.issues.append(Issue("indices", "is empty", "list at least one source index"))
        return report
    try:
        with translate_errors(f"checking indices {','.join(indices)}"):
            found = client.indices.get(index=",".join(indices), allow_no_indices=False, ignore_unavailable=False)
    except NotFound:
        found = {}
    if not found:
        report.issues.append(Issue("indices", f"no index matches {', '.join(indices)}", "check the name or pattern"))
        return report

    feature_fields = [(f.name, kind, fld) for f in detector.features for kind, fld in f.fields_used()]
    types = _field_types(
        client,
        indices,
        [detector.time_field, *(detector.category_fields or []), *(fld for _, _, fld in feature_fields)],
    )

    def check(path: str, fname: str, allowed: frozenset[str], what: str, fix: str) -> None:
        seen = types.get(fname)
        if not seen:
            report.issues.append(Issue(path, f"field {fname!r} is not in the mappings of {', '.join(indices)}", fix))
            return
        bad = {i: t for i, t in seen.items() if t not in allowed}
        if bad:
            where = ", ".join(f"{t} in {i}" for i, t in sorted(bad.items())[:3])
            report.issues.append(Issue(path, f"field {fname!r} must be {what}, it is {where}", fix))

    check("time_field", detector.time_field, DATE_TYPES, "a date", "use a date field")
    for c in detector.category_fields or []:
        check("category_fields", c, CATEGORY_TYPES, "keyword or ip", "use a keyword (or .keyword) or ip field")
    for fname, kind, fld in feature_fields:
        allowed = NUMERIC_TYPES | CATEGORY_TYPES if kind in COUNTING_AGGS else NUMERIC_TYPES
        check(f"features.{fname}", fld, allowed, "numeric", "aggregate a numeric field, or use value_count")
    if report.issues or detector.interval is None or detector.interval.seconds <= 0:
        return report
    _density(client, detector, report, max_entities, lookback_intervals, end)
    return report


def _no_documents(client: Any, detector: Detector, index: str, *, filtered: bool) -> Issue:
    """Why no document with the time field was found: the filter excludes them all, or there are none."""
    if filtered:
        with translate_errors(f"counting documents with {detector.time_field} in {index}"):
            r = client.search(
                index=index,
                body={"size": 0, "track_total_hits": True, "query": {"exists": {"field": detector.time_field}}},
            )
        t = r.get("hits", {}).get("total") or 0
        total = int(t.get("value", 0) if isinstance(t, Mapping) else t)
        if total:
            return Issue(
                "filter",
                f"the detector's filter matches no documents ({total:,} in {index} have {detector.time_field!r} "
                f"without it)",
                "fix the filter (filter_query in the API), e.g. check its field names and values",
            )
    return Issue(
        "indices",
        "the source has no documents with the time field",
        "ingest data before creating the detector",
    )


def _density(
    client: Any,
    detector: Detector,
    report: Preflight,
    max_entities: int,
    lookback_intervals: int | None,
    end: datetime | int | str | None,
) -> None:
    interval = detector.interval or Interval(10)
    n = lookback_intervals or detector.history or (NUM_MIN_SAMPLES + detector.effective_shingle_size)
    step_ms = interval.seconds * 1000
    index = ",".join(detector.indices)
    base_filter: list[dict[str, Any]] = [dict(detector.filter_query)] if detector.filter_query else []
    if end is None:
        with translate_errors(f"finding the newest document in {index}"):
            r = client.search(
                index=index,
                body={
                    "size": 0,
                    "query": {"bool": {"filter": base_filter}},
                    "aggs": {"latest": {"max": {"field": detector.time_field}}},
                },
            )
        latest = (r.get("aggregations", {}).get("latest") or {}).get("value")
        if latest is None:
            report.warnings.append(_no_documents(client, detector, index, filtered=bool(base_filter)))
            return
        end_ms = int(latest) + 1
    else:
        end_ms = to_epoch_ms(end, "end")
    # Align to interval boundaries, as the plugin's date histogram does.
    end_ms = (end_ms // step_ms + 1) * step_ms
    start_ms = end_ms - n * step_ms
    rng = {"range": {detector.time_field: {"gte": start_ms, "lt": end_ms, "format": "epoch_millis"}}}
    hist = {
        "date_histogram": {"field": detector.time_field, "fixed_interval": f"{interval.seconds}s", "min_doc_count": 1}
    }
    cats = detector.category_fields or []
    if not cats:
        body: dict[str, Any] = {"size": 0, "query": {"bool": {"filter": [*base_filter, rng]}}, "aggs": {"t": hist}}
    elif len(cats) == 1:
        body = {
            "size": 0,
            "query": {"bool": {"filter": [*base_filter, rng]}},
            "aggs": {"e": {"terms": {"field": cats[0], "size": max_entities}, "aggs": {"t": hist}}},
        }
    else:
        body = {
            "size": 0,
            "query": {"bool": {"filter": [*base_filter, rng]}},
            "aggs": {
                "e": {"multi_terms": {"terms": [{"field": c} for c in cats], "size": max_entities}, "aggs": {"t": hist}}
            },
        }
    with translate_errors(f"measuring data density in {index}"):
        r = client.search(index=index, body=body)
    aggs = r.get("aggregations", {})
    report.intervals_checked = n
    if not cats:
        filled = len(aggs.get("t", {}).get("buckets", []))
        report.entities_checked = 1
        report.density["(all)"] = filled / n
    else:
        for b in aggs.get("e", {}).get("buckets", []):
            key = b.get("key_as_string") if len(cats) > 1 else str(b.get("key"))
            report.density[str(key)] = len(b.get("t", {}).get("buckets", [])) / n
        report.entities_checked = len(report.density)
    report.sparse_entities = sorted(k for k, v in report.density.items() if v < MIN_DENSITY)
    if report.entities_checked == 0:
        report.warnings.append(
            Issue(
                "category_fields",
                f"no entity has data in the last {n} intervals",
                "check the category fields and that data is arriving",
            )
        )
    elif report.sparse_entities:
        share = len(report.sparse_entities) / report.entities_checked
        report.warnings.append(
            Issue(
                "interval",
                f"{len(report.sparse_entities)} of {report.entities_checked} entities ({share:.0%}) have data in "
                f"fewer than {MIN_DENSITY:.0%} of the last {n} {interval} intervals; they are too sparse to "
                f"initialize",
                "use a longer interval, or imputation, or filter out rare entities",
            )
        )
