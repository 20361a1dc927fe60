"""The detector's YAML ("friendly") form: ``interval: 10m``, ``features: {cpu_avg: {agg: avg, field: cpu}}``,
lower-case enum names. Reading it back gives the same detector: every field, also those the friendly keys
do not cover (an unsupported interval unit is written in the API form, unknown keys go under ``extra`` at
the level they were found), so a YAML round trip never changes what the plugin would do with it.

Pure data only; :class:`hcad.ad.model.Detector` calls in here for ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import copy
import html
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hcad.ad.parts import Condition, Feature, Imputation, Interval, Rule, read_bool, read_enum
from hcad.ad.query import _is_match_all, canonical_query
from hcad.errors import Issue, ValidationError

if TYPE_CHECKING:
    from hcad.ad.model import Detector

# Top-level keys of the friendly form, in the order to_dict writes them.
KEYS = (
    "name", "description", "indices", "index", "time_field", "interval", "window_delay", "category_fields",
    "filter", "shingle_size", "features", "result_index", "result_index_min_size", "result_index_min_age",
    "result_index_ttl", "flatten_custom_result_index", "recency_emphasis", "history", "suggested_seasonality",
    "frequency", "imputation", "rules", "ui_metadata", "detection_date_range", "extra", "id",
)  # fmt: skip
# Written as they are, in both forms.
_PLAIN = (
    "result_index", "result_index_min_size", "result_index_min_age", "result_index_ttl",
    "flatten_custom_result_index", "recency_emphasis", "history", "suggested_seasonality",
)  # fmt: skip
_FEATURE_KEYS = ("agg", "field", "enabled", "aggregation_query", "id", "extra")


def _bad(path: str, message: str, fix: str = "") -> ValidationError:
    return ValidationError([Issue(path, message, fix)])


def _lower(v: str | None) -> str | None:
    return v.lower() if isinstance(v, str) else v


def _extra(spec: Mapping[str, Any], path: str) -> dict[str, Any]:
    extra = spec.get("extra")
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise _bad(
            f"{path}.extra" if path else "extra",
            "must be a mapping",
            "keys the plugin knows and hcad does not, as {key: value}",
        )
    return copy.deepcopy(dict(extra))


# --------------------------------------------------------------------------- pieces
def interval_to_friendly(iv: Interval) -> str | dict[str, Any]:
    """``"10m"``/``"30s"``/``"1h"``; the API form when text cannot say it (another unit, extra keys)."""
    if iv.supported and not iv.extra and not iv.period_extra:
        return str(iv)
    return iv.to_api()


def feature_to_friendly(f: Feature) -> dict[str, Any]:
    """``{agg: avg, field: cpu}`` when possible, else ``{aggregation_query: {...}}``; plus enabled/id/extra."""
    simple = f.simple
    out: dict[str, Any] = (
        {"agg": simple[0], "field": simple[1]} if simple else {"aggregation_query": copy.deepcopy(f.aggregation_query)}
    )
    if f.enabled is not True:
        out["enabled"] = f.enabled  # false, or null when the JSON left it out
    if f.id is not None:
        out["id"] = f.id
    if f.extra:
        out["extra"] = copy.deepcopy(f.extra)
    return out


def feature_from_friendly(name: str, spec: Any, path: str) -> Feature:
    """Read ``(agg, field)``, ``{agg, field[, enabled, id, extra]}`` or ``{aggregation_query, ...}``."""
    if isinstance(spec, (list, tuple)) and len(spec) == 2:
        return Feature.metric(name, str(spec[0]), str(spec[1]))
    if not isinstance(spec, Mapping):
        raise _bad(
            path, f"expected a mapping, got {spec!r}", "write {agg: avg, field: cpu} or {aggregation_query: ...}"
        )
    unknown = set(spec) - set(_FEATURE_KEYS)
    if unknown:
        raise _bad(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}", f"use {', '.join(_FEATURE_KEYS)}")
    enabled = spec.get("enabled", True)
    enabled = None if enabled is None else read_bool(enabled, f"{path}.enabled")
    if "aggregation_query" in spec:
        if "agg" in spec or "field" in spec:
            raise _bad(path, "give either agg/field or aggregation_query", "not both")
        q = spec["aggregation_query"]
        if not isinstance(q, Mapping):
            raise _bad(f"{path}.aggregation_query", "must be a mapping", "write {name: {avg: {field: x}}}")
        f = Feature.raw(name, q, enabled=enabled)
    elif "agg" in spec and "field" in spec:
        f = Feature.metric(name, str(spec["agg"]), str(spec["field"]), enabled=enabled)
    else:
        raise _bad(path, "needs agg and field, or aggregation_query", "e.g. {agg: avg, field: cpu}")
    f.id = spec.get("id")
    f.extra = _extra(spec, path)
    return f


def _condition_to_friendly(c: Condition) -> dict[str, Any]:
    out: dict[str, Any] = {"feature_name": c.feature_name, "threshold_type": _lower(c.threshold_type)}
    if c.operator is not None:
        out["operator"] = _lower(c.operator)
    if c.value is not None:
        out["value"] = c.value
    if c.extra:
        out["extra"] = copy.deepcopy(c.extra)
    return out


def _condition_from_friendly(c: Any, path: str) -> Condition:
    if not isinstance(c, Mapping):
        raise _bad(path, f"expected a mapping, got {c!r}", "write {feature_name, threshold_type, operator, value}")
    name = c.get("feature_name", c.get("feature"))
    return Condition(
        None if name is None else str(name),
        read_enum(c.get("threshold_type")),
        read_enum(c.get("operator")),
        c.get("value"),
        _extra(c, path),
    )


def rule_to_friendly(r: Rule) -> dict[str, Any]:
    """``{action: ignore_anomaly, conditions: [...]}`` (``action: null`` kept when the JSON left it out)."""
    out: dict[str, Any] = {"action": _lower(r.action), "conditions": [_condition_to_friendly(c) for c in r.conditions]}
    if r.extra:
        out["extra"] = copy.deepcopy(r.extra)
    return out


def rule_from_friendly(r: Any, path: str) -> Rule:
    """Read one YAML rule; ``action`` defaults to ignore_anomaly when the key is absent."""
    if not isinstance(r, Mapping):
        raise _bad(path, "must be {action, conditions}", "e.g. {action: ignore_anomaly, conditions: [...]}")
    conds = r.get("conditions") or []
    if not isinstance(conds, list):
        raise _bad(f"{path}.conditions", "must be a list", "write conditions: [{feature_name: ..., ...}]")
    return Rule(
        [_condition_from_friendly(c, f"{path}.conditions[{j}]") for j, c in enumerate(conds)],
        read_enum(r.get("action", "IGNORE_ANOMALY")),
        _extra(r, path),
    )


def imputation_to_friendly(imp: Imputation) -> dict[str, Any]:
    """``{method: fixed_values, default_fill: {feature: value}}``; a fill entry's extra keys make it a mapping."""
    out: dict[str, Any] = {"method": _lower(imp.method)}
    if imp.default_fill is not None:
        out["default_fill"] = {
            k: {"data": v, **copy.deepcopy(imp.fill_extra[k])} if k in imp.fill_extra else v
            for k, v in imp.default_fill.items()
        }
    if imp.extra:
        out["extra"] = copy.deepcopy(imp.extra)
    return out


def imputation_from_friendly(imp: Any, path: str = "imputation") -> Imputation:
    """Read ``{method: zero|previous|fixed_values, default_fill: {feature: value}}``."""
    if not isinstance(imp, Mapping):
        raise _bad(path, "must be {method: zero|previous|fixed_values}", "e.g. {method: zero}")
    fill_spec = imp.get("default_fill")
    fill: dict[str, Any] | None = None
    fill_extra: dict[str, dict[str, Any]] = {}
    if fill_spec is not None:
        if not isinstance(fill_spec, Mapping):
            raise _bad(f"{path}.default_fill", "must be a mapping of feature to value", "e.g. {cpu_avg: 0}")
        fill = {}
        for k, v in fill_spec.items():
            if isinstance(v, Mapping):
                fill[str(k)] = v.get("data")
                fill_extra[str(k)] = {kk: copy.deepcopy(vv) for kk, vv in v.items() if kk != "data"}
            else:
                fill[str(k)] = v
    return Imputation(read_enum(imp.get("method", "ZERO")), fill, _extra(imp, path), fill_extra)


# --------------------------------------------------------------------------- the detector
def to_dict(det: Detector) -> dict[str, Any]:
    """The friendly form of ``det`` (configuration only; no server-written fields)."""
    out: dict[str, Any] = {"name": det.name}
    if det.description:
        out["description"] = html.unescape(det.description)
    out["indices"] = list(det.indices or [])
    out["time_field"] = det.time_field
    if det.interval is not None:
        out["interval"] = interval_to_friendly(det.interval)
    if det.window_delay is not None:
        out["window_delay"] = interval_to_friendly(det.window_delay)
    if det.frequency is not None:
        out["frequency"] = interval_to_friendly(det.frequency)
    if det.category_fields is not None:
        out["category_fields"] = list(det.category_fields)
    if det.filter_query is not None and not _is_match_all(det.filter_query):
        out["filter"] = canonical_query(det.filter_query)
    if det.shingle_size is not None:
        out["shingle_size"] = det.shingle_size
    names = [f.name for f in det.features]
    if len(set(names)) == len(names):
        out["features"] = {f.name: feature_to_friendly(f) for f in det.features}
    else:  # a mapping would merge repeated names (which validation refuses): keep each one, as a list
        out["features"] = [{"name": f.name, **feature_to_friendly(f)} for f in det.features]
    for attr in _PLAIN:
        value = getattr(det, attr)
        if value is not None:
            out[attr] = value
    if det.imputation is not None:
        out["imputation"] = imputation_to_friendly(det.imputation)
    if det.rules is not None:
        out["rules"] = [rule_to_friendly(r) for r in det.rules]
    if det.ui_metadata is not None:
        out["ui_metadata"] = copy.deepcopy(det.ui_metadata)
    if det.detection_date_range is not None:
        out["detection_date_range"] = copy.deepcopy(det.detection_date_range)
    if det.extra:
        out["extra"] = copy.deepcopy(det.extra)
    return out


def _text(value: Any) -> str:
    """A YAML scalar as text; an empty key (null) is empty text, never the word "None"."""
    return "" if value is None else str(value)


def from_dict(d: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """The :class:`~hcad.ad.model.Detector` keyword arguments for friendly mapping ``d``."""
    issues: list[Issue] = []
    for key in sorted(set(d) - set(KEYS), key=str):
        close = _closest(str(key), KEYS)
        issues.append(Issue(str(key), "unknown key", f"did you mean {close!r}?" if close else "remove it"))
    for key in ("name", "time_field", "features"):
        if key not in d:
            issues.append(Issue(key, "is required", ""))
    if "indices" not in d and "index" not in d:
        issues.append(Issue("indices", "is required", "list the source indices (patterns allowed)"))
    if issues:
        raise ValidationError(issues, source)
    try:
        return _kwargs(d)
    except ValidationError as e:
        raise ValidationError(e.issues, source) from None


def _kwargs(d: Mapping[str, Any]) -> dict[str, Any]:
    indices = d.get("indices", d.get("index"))
    feats_spec = d["features"]
    features: list[Feature] = []
    if isinstance(feats_spec, Mapping):
        features = [feature_from_friendly(str(k), v, f"features.{k}") for k, v in feats_spec.items()]
    elif isinstance(feats_spec, list):
        for i, item in enumerate(feats_spec):
            if not isinstance(item, Mapping) or "name" not in item:
                raise _bad(f"features[{i}]", "needs a name", "or write features as a mapping")
            rest = {k: v for k, v in item.items() if k != "name"}
            features.append(feature_from_friendly(str(item["name"]), rest, f"features[{i}]"))
    elif feats_spec is None:
        features = []
    else:
        raise _bad("features", "must be a mapping of name to {agg, field}", "e.g. {cpu_avg: {agg: avg, field: cpu}}")
    kw: dict[str, Any] = {
        "name": _text(d["name"]),
        "indices": [indices] if isinstance(indices, str) else [str(i) for i in indices or []],
        "time_field": _text(d["time_field"]),
        "features": features,
        "interval": Interval.parse(d["interval"]) if d.get("interval") is not None else None,
        "window_delay": Interval.parse(d["window_delay"], "window_delay")
        if d.get("window_delay") is not None
        else None,
        "frequency": Interval.parse(d["frequency"], "frequency") if d.get("frequency") is not None else None,
        "category_fields": [str(c) for c in d["category_fields"]] if d.get("category_fields") is not None else None,
        "description": _text(d.get("description")),
        "filter_query": copy.deepcopy(dict(d["filter"])) if d.get("filter") is not None else None,
        "ui_metadata": copy.deepcopy(d.get("ui_metadata")),
        "detection_date_range": copy.deepcopy(d.get("detection_date_range")),
        "extra": _extra(d, ""),
        "id": d.get("id"),
    }
    for attr in ("shingle_size", *_PLAIN):
        if d.get(attr) is not None:
            kw[attr] = d[attr]
    if d.get("imputation") is not None:
        kw["imputation"] = imputation_from_friendly(d["imputation"])
    if d.get("rules") is not None:
        if not isinstance(d["rules"], list):
            raise _bad("rules", "must be a list", "write rules: [{action: ignore_anomaly, conditions: [...]}]")
        kw["rules"] = [rule_from_friendly(r, f"rules[{i}]") for i, r in enumerate(d["rules"])]
    return kw


def _closest(word: str, choices: Iterable[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return found[0] if found else None
