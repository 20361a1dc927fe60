"""A typed anomaly detector: the plugin's JSON, YAML for detectors as code, and client-side validation.

Every field name, default and limit here was read from the anomaly-detection plugin's source
(``AnomalyDetector``/``Config``/``Feature``/``Rule``/``ImputationOption`` at tag 2.19.4.0).
``Detector.from_api(d).to_api() == d`` for any detector document the server returns: fields this
module does not know are kept in ``extra`` and written back unchanged.

Pure data and rules only; nothing here talks to a cluster (see :mod:`hcad.ad.client` for that).
"""

from __future__ import annotations

import copy
import enum
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hcad.ad.limits import (  # noqa: F401 (re-exported: hcad.ad.model is where users look)
    _AGG_ALIASES,
    _INTERVAL_RE,
    _UNITS,
    COUNTING_AGGS,
    DEFAULT_CATEGORY_FIELD_LIMIT,
    DEFAULT_MAX_FEATURES,
    DEFAULT_RECENCY_EMPHASIS,
    DEFAULT_SHINGLE_SIZE,
    DIRECT_THRESHOLDS,
    FEATURE_AGGS,
    IMPUTATION_METHODS,
    MAX_DESCRIPTION_LENGTH,
    MAX_HISTORY_INTERVALS,
    MAX_NAME_LENGTH,
    MAX_RESULT_INDEX_LENGTH,
    MAX_SHINGLE_SIZE,
    NAME_PATTERN,
    NUM_MIN_SAMPLES,
    RATIO_THRESHOLDS,
    RECOMMENDED_MIN_CONFIDENCE,
    RECOMMENDED_RULE_RATIO,
    RECOMMENDED_SHINGLE_SIZE,
    RESULT_INDEX_PATTERN,
    RESULT_INDEX_PREFIX,
    RULE_ACTIONS,
    RULE_OPERATORS,
    SINCE,
    THRESHOLD_TYPES,
)
from hcad.ad.query import _is_match_all, canonical_query, unescape_description
from hcad.errors import Issue, UnsupportedFeature, ValidationError


class _Default(enum.Enum):
    """Marks a builder argument the caller did not pass (``None`` means "the plugin's default")."""

    TOKEN = 0


_DEFAULT = _Default.TOKEN


def _version_str(v: Sequence[int]) -> str:
    return ".".join(str(p) for p in v)


@dataclass(frozen=True)
class Interval:
    """A detector interval or window delay: ``Interval(10)`` is ten minutes; ``str()`` gives ``"10m"``.

    The plugin supports the units Minutes and Seconds only; hours and days given as text are
    converted to minutes.
    """

    value: int
    unit: str = "Minutes"

    @classmethod
    def parse(cls, spec: Interval | str | int | Mapping[str, Any], path: str = "interval") -> Interval:
        """Read ``"10m"``, ``"30s"``, ``"1h"``, ``10`` (minutes) or the API's ``{"period": {...}}``."""
        if isinstance(spec, Interval):
            return spec
        if isinstance(spec, bool):
            raise ValidationError([Issue(path, f"{spec!r} is not an interval", 'write it like "10m" or "30s"')])
        if isinstance(spec, int):
            return cls(spec, "Minutes")
        if isinstance(spec, Mapping):
            return cls.from_api(spec, path)
        if isinstance(spec, str):
            m = _INTERVAL_RE.match(spec)
            unit = _UNITS.get(m.group(2).lower()) if m else None
            if m is None or unit is None:
                raise ValidationError(
                    [Issue(path, f"{spec!r} is not an interval", 'write it like "10m", "30s" or "1h"')]
                )
            n = int(m.group(1))
            if unit == "Hours":
                return cls(n * 60, "Minutes")
            if unit == "Days":
                return cls(n * 1440, "Minutes")
            return cls(n, unit)
        raise ValidationError([Issue(path, f"{spec!r} is not an interval", 'write it like "10m" or "30s"')])

    @classmethod
    def from_api(cls, d: Mapping[str, Any], path: str = "interval") -> Interval:
        """Read ``{"period": {"interval": 10, "unit": "Minutes"}}``."""
        period = d.get("period") if isinstance(d, Mapping) else None
        if not isinstance(period, Mapping) or "interval" not in period:
            raise ValidationError(
                [Issue(path, "expected {period: {interval: N, unit: Minutes}}", 'or write it like "10m"')]
            )
        unit = str(period.get("unit", "Minutes"))
        canon = _UNITS.get(unit.lower(), unit)
        try:
            value = int(period["interval"])
        except (TypeError, ValueError):
            raise ValidationError(
                [Issue(f"{path}.period.interval", f"{period['interval']!r} is not a whole number", "")]
            ) from None
        # Keep the server's spelling of the unit (e.g. "Minutes") so documents round-trip exactly.
        return cls(value, unit if canon in ("Minutes", "Seconds") and unit == canon else canon)

    def to_api(self) -> dict[str, Any]:
        """The plugin's JSON form."""
        return {"period": {"interval": self.value, "unit": self.unit}}

    @property
    def seconds(self) -> int:
        """Length in seconds."""
        return self.value * (60 if self.unit == "Minutes" else 1)

    @property
    def minutes(self) -> float:
        """Length in minutes."""
        return self.seconds / 60

    def issues(self, path: str, *, positive: bool) -> list[Issue]:
        """Rule violations of this interval (units the plugin supports, sign)."""
        out = []
        if self.unit not in ("Minutes", "Seconds"):
            out.append(Issue(path, f"unit {self.unit!r} is not supported", "use Minutes or Seconds"))
        if positive and self.value <= 0:
            out.append(Issue(path, f"must be positive, got {self.value}", 'use e.g. "10m"'))
        elif self.value < 0:
            out.append(Issue(path, f"must not be negative, got {self.value}", 'use e.g. "1m" or "0m"'))
        return out

    def __str__(self) -> str:
        if self.unit == "Seconds":
            return f"{self.value}s"
        if self.unit == "Minutes" and self.value and self.value % 60 == 0:
            return f"{self.value // 60}h"
        return f"{self.value}m"


@dataclass
class Feature:
    """One detector feature: a name and a single-value metric aggregation."""

    name: str
    aggregation_query: dict[str, Any]
    enabled: bool = True
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def metric(cls, name: str, agg: str, field_name: str, *, enabled: bool = True) -> Feature:
        """A feature computing ``agg`` (avg, max, min, sum, value_count/count, cardinality) of a field."""
        kind = _AGG_ALIASES.get(agg.lower(), agg.lower())
        if kind not in FEATURE_AGGS:
            raise ValidationError(
                [
                    Issue(
                        f"features.{name}.agg",
                        f"{agg!r} is not supported",
                        f"use one of {', '.join(FEATURE_AGGS)}",
                    )
                ]
            )
        return cls(name, {name: {kind: {"field": field_name}}}, enabled)

    @classmethod
    def avg(cls, name: str, field_name: str) -> Feature:
        """Average of ``field_name`` per interval."""
        return cls.metric(name, "avg", field_name)

    @classmethod
    def max(cls, name: str, field_name: str) -> Feature:
        """Maximum of ``field_name`` per interval."""
        return cls.metric(name, "max", field_name)

    @classmethod
    def min(cls, name: str, field_name: str) -> Feature:
        """Minimum of ``field_name`` per interval."""
        return cls.metric(name, "min", field_name)

    @classmethod
    def sum(cls, name: str, field_name: str) -> Feature:
        """Sum of ``field_name`` per interval."""
        return cls.metric(name, "sum", field_name)

    @classmethod
    def count(cls, name: str, field_name: str) -> Feature:
        """Number of values of ``field_name`` per interval (a ``value_count``)."""
        return cls.metric(name, "value_count", field_name)

    value_count = count

    @classmethod
    def raw(cls, name: str, aggregation_query: Mapping[str, Any], *, enabled: bool = True) -> Feature:
        """A feature from any aggregation query (``{agg_name: {type: {...}}}``)."""
        return cls(name, copy.deepcopy(dict(aggregation_query)), enabled)

    @property
    def simple(self) -> tuple[str, str] | None:
        """``(agg, field)`` when the query is the simple one-metric form named after the feature."""
        q = self.aggregation_query
        if len(q) != 1 or self.name not in q:
            return None
        body = q[self.name]
        if not isinstance(body, Mapping) or len(body) != 1:
            return None
        kind, args = next(iter(body.items()))
        if kind in FEATURE_AGGS and isinstance(args, Mapping) and set(args) == {"field"}:
            return kind, str(args["field"])
        return None

    def fields_used(self) -> list[tuple[str, str]]:
        """``(aggregation type, field)`` for every ``field`` referenced anywhere in the query."""
        out: list[tuple[str, str]] = []

        def walk(node: Any, kind: str) -> None:
            if isinstance(node, Mapping):
                for k, v in node.items():
                    if k == "field" and isinstance(v, str):
                        out.append((kind, v))
                    else:
                        walk(v, k)
            elif isinstance(node, list):
                for v in node:
                    walk(v, kind)

        walk(self.aggregation_query, "")
        return out

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Feature:
        """Read ``{feature_id, feature_name, feature_enabled, aggregation_query}``."""
        known = {"feature_id", "feature_name", "feature_enabled", "aggregation_query"}
        return cls(
            name=str(d.get("feature_name", "")),
            aggregation_query=copy.deepcopy(dict(d.get("aggregation_query") or {})),
            enabled=bool(d.get("feature_enabled", True)),
            id=d.get("feature_id"),
            extra={k: copy.deepcopy(v) for k, v in d.items() if k not in known},
        )

    def to_api(self) -> dict[str, Any]:
        """The plugin's JSON form (``feature_id`` only when known)."""
        out: dict[str, Any] = {}
        if self.id is not None:
            out["feature_id"] = self.id
        out["feature_name"] = self.name
        out["feature_enabled"] = self.enabled
        out["aggregation_query"] = copy.deepcopy(self.aggregation_query)
        out.update(copy.deepcopy(self.extra))
        return out

    def to_friendly(self) -> dict[str, Any]:
        """YAML form: ``{agg: avg, field: cpu}`` when possible, else ``{aggregation_query: {...}}``."""
        simple = self.simple
        out: dict[str, Any] = (
            {"agg": simple[0], "field": simple[1]}
            if simple
            else {"aggregation_query": copy.deepcopy(self.aggregation_query)}
        )
        if not self.enabled:
            out["enabled"] = False
        if self.id is not None:
            out["id"] = self.id
        return out

    @classmethod
    def from_friendly(cls, name: str, spec: Any, path: str) -> Feature:
        """Read the YAML form: ``(agg, field)``, ``{agg, field[, enabled]}`` or ``{aggregation_query}``."""
        if isinstance(spec, (list, tuple)) and len(spec) == 2:
            return cls.metric(name, str(spec[0]), str(spec[1]))
        if not isinstance(spec, Mapping):
            raise ValidationError(
                [
                    Issue(
                        path,
                        f"expected a mapping, got {spec!r}",
                        "write {agg: avg, field: cpu} or {aggregation_query: ...}",
                    )
                ]
            )
        unknown = set(spec) - {"agg", "field", "enabled", "aggregation_query", "id"}
        if unknown:
            raise ValidationError(
                [
                    Issue(
                        path,
                        f"unknown key(s) {', '.join(sorted(unknown))}",
                        "use agg, field, enabled, aggregation_query",
                    )
                ]
            )
        enabled = bool(spec.get("enabled", True))
        if "aggregation_query" in spec:
            if "agg" in spec or "field" in spec:
                raise ValidationError([Issue(path, "give either agg/field or aggregation_query", "not both")])
            q = spec["aggregation_query"]
            if not isinstance(q, Mapping):
                raise ValidationError([Issue(f"{path}.aggregation_query", "must be a mapping", "")])
            f = cls.raw(name, q, enabled=enabled)
        elif "agg" in spec and "field" in spec:
            f = cls.metric(name, str(spec["agg"]), str(spec["field"]), enabled=enabled)
        else:
            raise ValidationError(
                [Issue(path, "needs agg and field, or aggregation_query", "e.g. {agg: avg, field: cpu}")]
            )
        f.id = spec.get("id")
        return f


@dataclass
class Condition:
    """One condition of a suppression rule (``feature_name``, ``threshold_type``, ``operator``, ``value``)."""

    feature_name: str
    threshold_type: str
    operator: str | None = "LTE"
    value: float | None = None

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Condition:
        """Read the plugin's JSON."""
        return cls(
            feature_name=d.get("feature_name"),  # type: ignore[arg-type]
            threshold_type=str(d.get("threshold_type", "")),
            operator=d.get("operator"),
            value=d.get("value"),
        )

    def to_api(self) -> dict[str, Any]:
        """As the plugin writes it: ``operator`` always (may be null), ``value`` only when set."""
        out: dict[str, Any] = {
            "feature_name": self.feature_name,
            "threshold_type": self.threshold_type,
            "operator": self.operator,
        }
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass
class Rule:
    """A suppression rule: ignore anomalies when all conditions hold."""

    conditions: list[Condition]
    action: str = "IGNORE_ANOMALY"

    @classmethod
    def ignore_within(cls, feature_name: str, ratio: float = 0.2) -> Rule:
        """Ignore anomalies where actual and expected differ by at most ``ratio`` (the default rule)."""
        return cls(
            [
                Condition(feature_name, "ACTUAL_OVER_EXPECTED_RATIO", "LTE", ratio),
                Condition(feature_name, "EXPECTED_OVER_ACTUAL_RATIO", "LTE", ratio),
            ]
        )

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Rule:
        """Read the plugin's JSON."""
        conds = d.get("conditions") or []
        return cls([Condition.from_api(c) for c in conds if isinstance(c, Mapping)], str(d.get("action", "")))

    def to_api(self) -> dict[str, Any]:
        """The plugin's JSON form."""
        return {"action": self.action, "conditions": [c.to_api() for c in self.conditions]}


@dataclass
class Imputation:
    """How missing intervals are filled: ZERO, PREVIOUS, or FIXED_VALUES (one value per enabled feature)."""

    method: str
    default_fill: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Imputation:
        """Read ``{method, default_fill: [{feature_name, data}]}``."""
        fill: dict[str, float] = {}
        for item in d.get("default_fill") or []:
            if isinstance(item, Mapping):
                fill[str(item.get("feature_name"))] = item.get("data")  # type: ignore[assignment]
        return cls(str(d.get("method", "")), fill)

    def to_api(self) -> dict[str, Any]:
        """The plugin's JSON form (``default_fill`` only when not empty, as the plugin writes it)."""
        out: dict[str, Any] = {"method": self.method}
        if self.default_fill:
            out["default_fill"] = [{"feature_name": k, "data": v} for k, v in self.default_fill.items()]
        return out


# Detector JSON keys, in the order the plugin writes them, mapped to Detector attributes.
_SIMPLE_KEYS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "time_field": "time_field",
    "indices": "indices",
    "filter_query": "filter_query",
    "shingle_size": "shingle_size",
    "schema_version": "schema_version",
    "recency_emphasis": "recency_emphasis",
    "history": "history",
    "ui_metadata": "ui_metadata",
    "last_update_time": "last_update_time",
    "category_field": "category_fields",
    "user": "user",
    "result_index": "result_index",
    "suggested_seasonality": "suggested_seasonality",
    "result_index_min_size": "result_index_min_size",
    "result_index_min_age": "result_index_min_age",
    "result_index_ttl": "result_index_ttl",
    "flatten_custom_result_index": "flatten_custom_result_index",
    "last_ui_breaking_change_time": "last_ui_breaking_change_time",
    "detector_type": "detector_type",
    "detection_date_range": "detection_date_range",
}
_TYPED_KEYS = ("window_delay", "feature_attributes", "detection_interval", "imputation_option", "rules")
API_KEYS = frozenset(_SIMPLE_KEYS) | frozenset(_TYPED_KEYS)
# Written by the server; never sent on create/update.
READ_ONLY_KEYS = frozenset(
    {"last_update_time", "schema_version", "user", "detector_type", "last_ui_breaking_change_time"}
)
# Attributes that are part of the configuration (what diff compares and YAML holds).
CONFIG_ATTRS = (
    "name",
    "description",
    "indices",
    "time_field",
    "interval",
    "window_delay",
    "category_fields",
    "filter_query",
    "shingle_size",
    "features",
    "result_index",
    "result_index_min_size",
    "result_index_min_age",
    "result_index_ttl",
    "flatten_custom_result_index",
    "imputation",
    "rules",
    "recency_emphasis",
    "history",
    "suggested_seasonality",
)
# Attributes that cannot change once the detector exists (PUT is refused: "Can't change ...").
IMMUTABLE_ATTRS = ("category_fields", "result_index", "flatten_custom_result_index")


@dataclass
class Detector:
    """An anomaly detector's configuration, typed.

    ``from_api``/``to_api`` read and write the plugin's JSON exactly (unknown fields are kept in
    ``extra``); ``from_yaml``/``to_yaml`` use friendlier keys (``interval: 10m``,
    ``features: {cpu_avg: {agg: avg, field: cpu}}``). ``validate()`` lists every rule the plugin
    would reject, before anything is sent.
    """

    name: str
    indices: list[str]
    time_field: str
    features: list[Feature] = field(default_factory=list)
    interval: Interval | None = None
    category_fields: list[str] | None = None
    description: str | None = None
    filter_query: dict[str, Any] | None = None
    window_delay: Interval | None = None
    shingle_size: int | None = None
    result_index: str | None = None
    result_index_min_size: int | None = None
    result_index_min_age: int | None = None
    result_index_ttl: int | None = None
    flatten_custom_result_index: bool | None = None
    imputation: Imputation | None = None
    rules: list[Rule] | None = None
    recency_emphasis: int | None = None
    history: int | None = None
    suggested_seasonality: int | None = None
    ui_metadata: dict[str, Any] | None = None
    # Read-only, set by the server.
    last_update_time: int | None = None
    schema_version: int | None = None
    user: dict[str, Any] | None = None
    detector_type: str | None = None
    last_ui_breaking_change_time: int | None = None
    detection_date_range: dict[str, Any] | None = None
    # Document metadata from GET/POST/PUT responses (not part of the detector JSON).
    id: str | None = None
    version: int | None = None
    seq_no: int | None = None
    primary_term: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # API keys the server sent as null, written back as null so documents round-trip.
    null_keys: set[str] = field(default_factory=set, repr=False)
    # The rules Detector.hcad() added on its own (not the caller's): dropped, with a warning, where the
    # server is too old for rules (see for_version). Never sent; compared by value with ``rules``.
    builder_rules: list[Rule] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ builders
    @classmethod
    def hcad(
        cls,
        name: str,
        index: str | Sequence[str],
        time_field: str,
        category_fields: Sequence[str],
        features: Mapping[str, tuple[str, str] | Mapping[str, Any] | Feature] | Sequence[Feature],
        interval: str | int | Interval = "10m",
        *,
        window_delay: str | int | Interval | None = "1m",
        shingle_size: int | _Default | None = _DEFAULT,
        rules: Sequence[Rule] | _Default | None = _DEFAULT,
        plugin_defaults: bool = False,
        description: str | None = None,
        filter_query: Mapping[str, Any] | None = None,
        result_index: str | None = None,
        **more: Any,
    ) -> Detector:
        """A high-cardinality detector: one model per entity (combination of ``category_fields``).

        ``features`` maps feature names to ``(agg, field)`` tuples, YAML-style mappings or
        :class:`Feature` objects, e.g. ``{"cpu_avg": ("avg", "cpu")}``.

        Unless the caller passes them, the detector gets ``shingle_size=4`` and one
        ``Rule.ignore_within(feature, 0.05)`` per enabled feature instead of the plugin's defaults
        (shingle size 8, ignore anomalies within 20% of the expected value). They won ``hcad eval``'s
        grid search (issue 8; :data:`hcad.quality.evaluate.RECOMMENDED`) on the blog-style synthetic fleet: with
        every metric averaged over 10-minute intervals and results kept at confidence >= 0.9 (cold-start
        false positives have confidence ~0.6; filter on it when alerting, it is not a detector
        setting), precision 0.938 and recall 0.983 on a real AD plugin 2.19.4.0 (hcad eval --engine
        plugin; the local backtest gives 0.952/0.967), against 0.857/0.700 for the plugin's defaults
        and the blog's published 0.57/0.61. The plugin refuses rule ratios <= 0, so 0.05 is the closest
        to "no rule".

        ``plugin_defaults=True`` leaves both unset, so the plugin applies its own defaults.
        ``shingle_size=None`` / ``rules=None`` do the same for one of them. Rules need OpenSearch
        2.15+: on an older server :class:`hcad.ad.AnomalyDetection` drops the rules added here (not
        rules the caller gave) with a warning, see :meth:`for_version`.
        """
        feats: list[Feature] = []
        if isinstance(features, Mapping):
            for fname, spec in features.items():
                if isinstance(spec, Feature):
                    feats.append(spec)
                else:
                    feats.append(Feature.from_friendly(fname, spec, f"features.{fname}"))
        else:
            feats = list(features)
        builder_rules: list[Rule] | None = None
        if rules is _DEFAULT:
            if plugin_defaults:
                rules = None
            else:
                rules = builder_rules = [Rule.ignore_within(f.name, RECOMMENDED_RULE_RATIO) for f in feats if f.enabled]
        if shingle_size is _DEFAULT:
            shingle_size = None if plugin_defaults else RECOMMENDED_SHINGLE_SIZE
        return cls(
            name=name,
            indices=[index] if isinstance(index, str) else list(index),
            time_field=time_field,
            features=feats,
            interval=Interval.parse(interval),
            category_fields=list(category_fields),
            description=description if description is not None else "",
            filter_query=dict(filter_query) if filter_query is not None else None,
            window_delay=Interval.parse(window_delay, "window_delay") if window_delay is not None else None,
            shingle_size=shingle_size,
            result_index=result_index,
            rules=rules if rules is builder_rules else list(rules) if rules is not None else None,
            builder_rules=builder_rules,
            **more,
        )

    @classmethod
    def single_stream(
        cls,
        name: str,
        index: str | Sequence[str],
        time_field: str,
        features: Mapping[str, tuple[str, str] | Mapping[str, Any] | Feature] | Sequence[Feature],
        interval: str | int | Interval = "10m",
        **kw: Any,
    ) -> Detector:
        """A detector with one model over all the data (no category fields).

        It keeps the plugin's defaults (shingle size 8, the 20% rule) unless ``plugin_defaults=False``
        is passed: :meth:`hcad`'s defaults were measured on high-cardinality (per-entity) detectors.
        """
        kw.setdefault("plugin_defaults", True)
        d = cls.hcad(name, index, time_field, [], features, interval, **kw)
        d.category_fields = None
        return d

    # ------------------------------------------------------------------ API JSON
    @classmethod
    def from_api(cls, doc: Mapping[str, Any], **meta: Any) -> Detector:
        """Read a detector document as the plugin returns it (``anomaly_detector`` of GET, or a search hit).

        ``meta`` may give ``id``, ``version``, ``seq_no``, ``primary_term`` from the response envelope.
        """
        if not isinstance(doc, Mapping):
            raise ValidationError([Issue("", f"expected a detector object, got {type(doc).__name__}", "")])
        kwargs: dict[str, Any] = {
            "name": doc.get("name"),
            "indices": doc.get("indices"),
            "time_field": doc.get("time_field"),
        }
        for key, attr in _SIMPLE_KEYS.items():
            if key in doc:
                kwargs[attr] = copy.deepcopy(doc[key])
        if isinstance(kwargs.get("description"), str):
            kwargs["description"] = unescape_description(kwargs["description"])
        if "detection_interval" in doc:
            kwargs["interval"] = Interval.from_api(doc["detection_interval"], "detection_interval")
        if "window_delay" in doc:
            kwargs["window_delay"] = Interval.from_api(doc["window_delay"], "window_delay")
        if "feature_attributes" in doc:
            kwargs["features"] = [Feature.from_api(f) for f in doc["feature_attributes"] or []]
        if "imputation_option" in doc and doc["imputation_option"] is not None:
            kwargs["imputation"] = Imputation.from_api(doc["imputation_option"])
        if "rules" in doc and doc["rules"] is not None:
            kwargs["rules"] = [Rule.from_api(r) for r in doc["rules"]]
        kwargs["extra"] = {k: copy.deepcopy(v) for k, v in doc.items() if k not in API_KEYS}
        kwargs.update({k: v for k, v in meta.items() if v is not None})
        kwargs["null_keys"] = {k for k, v in doc.items() if v is None and k in API_KEYS}
        return cls(**kwargs)

    @classmethod
    def from_response(cls, resp: Mapping[str, Any]) -> Detector:
        """Read a GET/POST/PUT response (``{_id, _version, _seq_no, _primary_term, anomaly_detector}``)."""
        doc = resp.get("anomaly_detector")
        if not isinstance(doc, Mapping):
            raise ValidationError([Issue("anomaly_detector", "missing from the response", "")])
        return cls.from_api(
            doc,
            id=resp.get("_id"),
            version=resp.get("_version"),
            seq_no=resp.get("_seq_no"),
            primary_term=resp.get("_primary_term"),
        )

    def to_api(self) -> dict[str, Any]:
        """The plugin's JSON: every field that is set, including read-only ones and unknown extras."""
        out: dict[str, Any] = {}
        nulls = self.null_keys
        for key, attr in _SIMPLE_KEYS.items():
            value = getattr(self, attr)
            if value is not None or key in nulls:
                out[key] = copy.deepcopy(value)
        if self.window_delay is not None:
            out["window_delay"] = self.window_delay.to_api()
        out["feature_attributes"] = [f.to_api() for f in self.features]
        if self.interval is not None:
            out["detection_interval"] = self.interval.to_api()
        if self.imputation is not None:
            out["imputation_option"] = self.imputation.to_api()
        if self.rules is not None:
            out["rules"] = [r.to_api() for r in self.rules]
        for key in _TYPED_KEYS:
            if key in nulls and key not in out:
                out[key] = None
        out.update(copy.deepcopy(self.extra))
        return out

    def to_request(self) -> dict[str, Any]:
        """The body for create/update/validate/preview: :meth:`to_api` without server-written fields."""
        body = self.to_api()
        for key in READ_ONLY_KEYS:
            body.pop(key, None)
        if self.interval is None:
            body.pop("detection_interval", None)
        return body

    # ------------------------------------------------------------------ YAML
    def to_dict(self) -> dict[str, Any]:
        """The friendly form used for YAML (configuration only; no server-written fields)."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = html.unescape(self.description)
        out["indices"] = list(self.indices or [])
        out["time_field"] = self.time_field
        if self.interval is not None:
            out["interval"] = str(self.interval)
        if self.window_delay is not None:
            out["window_delay"] = str(self.window_delay)
        if self.category_fields is not None:
            out["category_fields"] = list(self.category_fields)
        if self.filter_query is not None and not _is_match_all(self.filter_query):
            out["filter"] = canonical_query(self.filter_query)
        if self.shingle_size is not None:
            out["shingle_size"] = self.shingle_size
        out["features"] = {f.name: f.to_friendly() for f in self.features}
        for attr in (
            "result_index",
            "result_index_min_size",
            "result_index_min_age",
            "result_index_ttl",
            "flatten_custom_result_index",
            "recency_emphasis",
            "history",
            "suggested_seasonality",
        ):
            value = getattr(self, attr)
            if value is not None:
                out[attr] = value
        if self.imputation is not None:
            imp: dict[str, Any] = {"method": self.imputation.method.lower()}
            if self.imputation.default_fill:
                imp["default_fill"] = dict(self.imputation.default_fill)
            out["imputation"] = imp
        if self.rules is not None:
            out["rules"] = [
                {"action": r.action.lower(), "conditions": [_condition_friendly(c) for c in r.conditions]}
                for r in self.rules
            ]
        if self.ui_metadata:
            out["ui_metadata"] = copy.deepcopy(self.ui_metadata)
        if self.extra:
            out["extra"] = copy.deepcopy(self.extra)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | None = None) -> Detector:
        """Read the friendly form (or the API form, recognised by ``feature_attributes``)."""
        if not isinstance(d, Mapping):
            raise ValidationError([Issue("", "a detector must be a mapping of keys to values", "")], source)
        if "anomaly_detector" in d:
            return cls.from_response(d)
        if "feature_attributes" in d or "detection_interval" in d:
            return cls.from_api(d)
        allowed = {
            "name",
            "description",
            "indices",
            "index",
            "time_field",
            "interval",
            "window_delay",
            "category_fields",
            "filter",
            "shingle_size",
            "features",
            "result_index",
            "result_index_min_size",
            "result_index_min_age",
            "result_index_ttl",
            "flatten_custom_result_index",
            "recency_emphasis",
            "history",
            "suggested_seasonality",
            "imputation",
            "rules",
            "ui_metadata",
            "extra",
            "id",
        }
        issues: list[Issue] = []
        for key in sorted(set(d) - allowed):
            close = _closest(key, allowed)
            issues.append(Issue(key, "unknown key", f"did you mean {close!r}?" if close else "remove it"))
        for key in ("name", "time_field", "features"):
            if key not in d:
                issues.append(Issue(key, "is required", ""))
        if "indices" not in d and "index" not in d:
            issues.append(Issue("indices", "is required", "list the source indices (patterns allowed)"))
        if issues:
            raise ValidationError(issues, source)
        indices = d.get("indices", d.get("index"))
        feats_spec = d["features"]
        features: list[Feature] = []
        try:
            if isinstance(feats_spec, Mapping):
                features = [Feature.from_friendly(str(k), v, f"features.{k}") for k, v in feats_spec.items()]
            elif isinstance(feats_spec, list):
                for i, item in enumerate(feats_spec):
                    if not isinstance(item, Mapping) or "name" not in item:
                        raise ValidationError(
                            [Issue(f"features[{i}]", "needs a name", "or write features as a mapping")]
                        )
                    rest = {k: v for k, v in item.items() if k != "name"}
                    features.append(Feature.from_friendly(str(item["name"]), rest, f"features[{i}]"))
            else:
                raise ValidationError([Issue("features", "must be a mapping of name to {agg, field}", "")])
            det = cls(
                name=str(d["name"]),
                indices=[indices] if isinstance(indices, str) else list(indices or []),
                time_field=str(d["time_field"]),
                features=features,
                interval=Interval.parse(d["interval"]) if d.get("interval") is not None else None,
                window_delay=Interval.parse(d["window_delay"], "window_delay")
                if d.get("window_delay") is not None
                else None,
                category_fields=[str(c) for c in d["category_fields"]]
                if d.get("category_fields") is not None
                else None,
                description=str(d.get("description") or ""),
                filter_query=copy.deepcopy(dict(d["filter"])) if d.get("filter") is not None else None,
                ui_metadata=copy.deepcopy(d.get("ui_metadata")),
                extra=copy.deepcopy(dict(d.get("extra") or {})),
                id=d.get("id"),
            )
        except ValidationError as e:
            raise ValidationError(e.issues, source) from None
        for attr in (
            "shingle_size",
            "result_index",
            "result_index_min_size",
            "result_index_min_age",
            "result_index_ttl",
            "flatten_custom_result_index",
            "recency_emphasis",
            "history",
            "suggested_seasonality",
        ):
            if d.get(attr) is not None:
                setattr(det, attr, d[attr])
        if d.get("imputation") is not None:
            imp = d["imputation"]
            if not isinstance(imp, Mapping):
                raise ValidationError([Issue("imputation", "must be {method: zero|previous|fixed_values}", "")], source)
            det.imputation = Imputation(str(imp.get("method", "")).upper(), dict(imp.get("default_fill") or {}))
        if d.get("rules") is not None:
            rules = []
            for i, r in enumerate(d["rules"]):
                if not isinstance(r, Mapping):
                    raise ValidationError([Issue(f"rules[{i}]", "must be {action, conditions}", "")], source)
                conds = [
                    Condition(
                        str(c.get("feature_name", c.get("feature", ""))),
                        str(c.get("threshold_type", "")).upper(),
                        str(c["operator"]).upper() if c.get("operator") is not None else None,
                        c.get("value"),
                    )
                    for c in r.get("conditions") or []
                    if isinstance(c, Mapping)
                ]
                rules.append(Rule(conds, str(r.get("action", "IGNORE_ANOMALY")).upper()))
            det.rules = rules
        return det

    def to_yaml(self) -> str:
        """YAML for detectors as code (round-trips through :meth:`from_yaml`)."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> Detector:
        """Read a detector from YAML text or a ``.yaml``/``.yml``/``.json`` file path."""
        from hcad.yamlfile import parse_yaml, read_text

        source = None
        text = str(text_or_path)
        if isinstance(text_or_path, Path) or ("\n" not in text and text.endswith((".yaml", ".yml", ".json"))):
            source = str(text_or_path)
            text = read_text(text_or_path, "detector file")
        return cls.from_dict(parse_yaml(text, source), source)

    # ------------------------------------------------------------------ validation
    def validate(
        self,
        *,
        category_field_limit: int = DEFAULT_CATEGORY_FIELD_LIMIT,
        max_features: int = DEFAULT_MAX_FEATURES,
        server_version: Sequence[int] | None = None,
    ) -> list[Issue]:
        """Every problem the plugin would reject this detector for, as a list (empty when valid)."""
        from hcad.ad.validation import validate

        return validate(
            self, category_field_limit=category_field_limit, max_features=max_features, server_version=server_version
        )

    def check(self, **limits: Any) -> Detector:
        """Raise :class:`ValidationError` listing every problem; return ``self`` when valid."""
        issues = self.validate(**limits)
        if issues:
            raise ValidationError(issues, f"detector {self.name!r}" if self.name else "detector")
        return self

    def unsupported_by(self, version: Sequence[int]) -> list[Issue]:
        """Fields set here that a server of ``version`` would reject or silently drop.

        Rules :meth:`hcad` added by default are not listed: they are left out for such a server
        (:meth:`for_version`), not refused.
        """
        v = tuple(version)
        out: list[Issue] = []
        used = {
            "rules": self.rules is not None and not self.has_builder_rules,
            "recency_emphasis": self.recency_emphasis is not None,
            "history": self.history is not None,
            "suggested_seasonality": self.suggested_seasonality is not None,
            "result_index_min_size": self.result_index_min_size is not None,
            "result_index_min_age": self.result_index_min_age is not None,
            "result_index_ttl": self.result_index_ttl is not None,
            "imputation_option": self.imputation is not None,
            "flatten_custom_result_index": self.flatten_custom_result_index is not None,
        }
        for c in (c for r in self.rules or [] for c in r.conditions if not self.has_builder_rules):
            used[f"rules.threshold_type.{c.threshold_type}"] = True
        for key, is_used in used.items():
            since = SINCE.get(key)
            if is_used and since is not None and v < since:
                label = "imputation" if key == "imputation_option" else key
                out.append(
                    Issue(
                        label,
                        f"needs OpenSearch {_version_str(since)}+, the server is {_version_str(v)}",
                        "remove it or upgrade the cluster",
                    )
                )
        return out

    @property
    def has_builder_rules(self) -> bool:
        """True when ``rules`` are still the ones :meth:`hcad` added by default (not the caller's).

        Rules assigned afterwards, edited, or no longer matching the enabled features are the caller's.
        """
        return (
            self.builder_rules is not None
            and self.rules is self.builder_rules
            and self.rules == [Rule.ignore_within(f.name, RECOMMENDED_RULE_RATIO) for f in self.features if f.enabled]
        )

    def for_version(self, version: Sequence[int]) -> tuple[Detector, list[Issue]]:
        """This detector as it can be sent to a server of ``version``, and what was left out.

        Only defaults :meth:`hcad` chose are left out (its ignore-within-5% rules before 2.15, where the
        plugin has no rules); anything the caller set stays, and :meth:`unsupported_by` reports it.
        """
        since = SINCE["rules"]
        if not self.has_builder_rules or tuple(version) >= since:
            return self, []
        note = Issue(
            "rules",
            f"the default ignore-within-{RECOMMENDED_RULE_RATIO:g} rules were left out: rules need OpenSearch "
            f"{_version_str(since)}+, the server is {_version_str(version)}",
            "nothing to do (the plugin scores without rules); upgrade to get them",
        )
        out = copy.deepcopy(self)
        out.rules = out.builder_rules = None
        return out, [note]

    def require_supported(self, version: Sequence[int]) -> None:
        """Raise :class:`UnsupportedFeature` when the server's version cannot take this detector."""
        issues = self.unsupported_by(version)
        if issues:
            raise UnsupportedFeature("; ".join(str(i) for i in issues))

    # ------------------------------------------------------------------ comparison
    @property
    def is_hc(self) -> bool:
        """True when the detector has category fields (one model per entity)."""
        return bool(self.category_fields)

    @property
    def effective_shingle_size(self) -> int:
        """The shingle size the server uses (given, or half the seasonality, or 8)."""
        if self.shingle_size is not None:
            return self.shingle_size
        if self.suggested_seasonality is not None:
            return max(1, self.suggested_seasonality // 2)
        return DEFAULT_SHINGLE_SIZE

    def server_defaults(self) -> dict[str, Any]:
        """Values the plugin fills in for fields left unset (used by :meth:`diff` to ignore them)."""
        shingle = self.effective_shingle_size
        return {
            "description": "",
            "filter_query": {"match_all": {"boost": 1.0}},
            "window_delay": Interval(0, "Seconds"),
            "shingle_size": shingle,
            "recency_emphasis": DEFAULT_RECENCY_EMPHASIS,
            "history": NUM_MIN_SAMPLES + shingle,
            "rules": [Rule.ignore_within(f.name) for f in self.features if f.enabled],
            "flatten_custom_result_index": False if self.result_index else None,
        }

    def diff(self, other: Detector, *, ignore_server_defaults: bool = True) -> list[str]:
        """Field-level differences from ``self`` (e.g. local YAML) to ``other`` (e.g. the server's).

        Each line reads ``field: <self value> -> <other value>``. With ``ignore_server_defaults``, a
        field left unset on one side means the value the plugin fills in for *that* side (its
        :meth:`server_defaults`: e.g. shingle size 8 and history 32 + 8 when a file drops
        ``shingle_size: 16``), shown as ``(default 8)``; it is a change when the other side differs.
        """
        lines: list[str] = []
        a_def, b_def = self.server_defaults(), other.server_defaults()
        for attr in CONFIG_ATTRS:
            if attr == "features":
                lines.extend(_diff_features(self.features, other.features))
                continue
            a, b = _norm(attr, getattr(self, attr)), _norm(attr, getattr(other, attr))
            a_shown, b_shown = _show(a), _show(b)
            if ignore_server_defaults:
                # An absent value is what the plugin fills in for that side, never the other side's value.
                if a is None and (a_dflt := _norm(attr, a_def.get(attr))) is not None:
                    a, a_shown = a_dflt, f"(default {_show(a_dflt)})"
                if b is None and (b_dflt := _norm(attr, b_def.get(attr))) is not None:
                    b, b_shown = b_dflt, f"(default {_show(b_dflt)})"
            if a != b:
                lines.append(f"{attr}: {a_shown} -> {b_shown}")
        return lines

    def copy(self, **changes: Any) -> Detector:
        """A deep copy with some fields replaced (``id``/version metadata is dropped unless given)."""
        base = copy.deepcopy(self)
        for meta in ("id", "version", "seq_no", "primary_term"):
            changes.setdefault(meta, None)
        return replace(base, **changes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detector):
            return NotImplemented
        return self.to_api() == other.to_api() and all(
            getattr(self, f.name) == getattr(other, f.name) for f in fields(self) if f.name in ("id",)
        )


def _condition_friendly(c: Condition) -> dict[str, Any]:
    out: dict[str, Any] = {"feature_name": c.feature_name, "threshold_type": c.threshold_type.lower()}
    if c.operator is not None:
        out["operator"] = c.operator.lower()
    if c.value is not None:
        out["value"] = c.value
    return out


def _norm(attr: str, value: Any) -> Any:
    """A comparable form: intervals as seconds, descriptions unescaped, rules/imputation as JSON."""
    if value is None:
        return None
    if isinstance(value, Interval):
        return f"{value.seconds}s"
    if attr == "description":
        return unescape_description(str(value)) or None
    if attr == "filter_query":
        value = canonical_query(value)
        return None if _is_match_all(value) else value
    if isinstance(value, Imputation):
        # The plugin keeps default_fill in a map: a GET lists it in its own order (seen on 2.19.4.0).
        out = value.to_api()
        if "default_fill" in out:
            out["default_fill"] = sorted(out["default_fill"], key=lambda x: x["feature_name"])
        return out
    if attr == "rules":
        return [r.to_api() for r in value]
    return value


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return repr(value)


def _diff_features(a: Iterable[Feature], b: Iterable[Feature]) -> list[str]:
    amap = {f.name: f for f in a}
    bmap = {f.name: f for f in b}
    out = []
    for name in amap.keys() - bmap.keys():
        out.append(f"features.{name}: {_show(amap[name].to_friendly())} -> (removed)")
    for name in bmap.keys() - amap.keys():
        out.append(f"features.{name}: (absent) -> {_show(bmap[name].to_friendly())}")
    for name in amap.keys() & bmap.keys():
        fa, fb = amap[name], bmap[name]
        if fa.aggregation_query != fb.aggregation_query:
            out.append(
                f"features.{name}.aggregation_query: {_show(fa.aggregation_query)} -> {_show(fb.aggregation_query)}"
            )
        if fa.enabled != fb.enabled:
            out.append(f"features.{name}.enabled: {fa.enabled!r} -> {fb.enabled!r}")
    return sorted(out)


def _closest(word: str, choices: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return found[0] if found else None
