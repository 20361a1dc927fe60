"""Client-side validation of a detector: every rule the plugin's parser and handlers enforce (names,
lengths, intervals, features, category fields, rules, imputation), reported all at once with field paths
and fixes, before anything is sent.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hcad.ad.limits import (
    DEFAULT_CATEGORY_FIELD_LIMIT,
    DEFAULT_MAX_FEATURES,
    IMPUTATION_METHODS,
    MAX_DESCRIPTION_LENGTH,
    MAX_FREQUENCY_MULTIPLE,
    MAX_HISTORICAL_SHINGLE_SIZE,
    MAX_HISTORY_INTERVALS,
    MAX_NAME_LENGTH,
    MAX_RESULT_INDEX_LENGTH,
    MAX_SHINGLE_SIZE,
    NAME_PATTERN,
    RATIO_THRESHOLDS,
    RESULT_INDEX_PATTERN,
    RESULT_INDEX_PREFIX,
    RULE_ACTIONS,
    RULE_OPERATORS,
    THRESHOLD_TYPES,
)
from hcad.ad.parts import Interval
from hcad.errors import Issue

# Keys the plugin's parser reads as an object or a list: null there fails the parse.
NOT_NULL_KEYS = ("indices", "filter_query", "detection_interval", "window_delay", "feature_attributes",
                 "rules", "imputation_option", "frequency")  # fmt: skip

if TYPE_CHECKING:
    from hcad.ad.model import Detector


def historical_shingle_issue(shingle: int) -> Issue | None:
    """The issue with running historical analysis (or hcad's backtest of it) at ``shingle``, if any.

    The plugin's historical run builds each entity's forest with ``outputAfter(32)``
    (``ADBatchTaskCache``, 2.15 through 3.3) and RCF refuses an ``outputAfter`` below the shingle
    size, so every entity task fails above 32; the plugin accepts such a detector, and real-time
    detection works.
    """
    if shingle <= MAX_HISTORICAL_SHINGLE_SIZE:
        return None
    return Issue(
        "shingle_size",
        f"{shingle} is above {MAX_HISTORICAL_SHINGLE_SIZE}: the plugin's historical analysis (and hcad's backtest, "
        "which reproduces it) fails on every entity with a larger shingle (real-time detection is not affected)",
        f"use a copy with shingle_size ≤ {MAX_HISTORICAL_SHINGLE_SIZE} for historical analysis",
    )


def _wrong_types(det: Detector) -> list[Issue]:
    """A field of the wrong type, named with the type it needs."""
    from hcad.ad.parts import Feature, Imputation, Rule

    def bad(path: str, need: str, value: Any) -> Issue:
        return Issue(path, f"is {type(value).__name__} {value!r}", f"give {need}")

    out = []
    for attr in ("name", "time_field"):
        if not isinstance(getattr(det, attr), str):
            out.append(bad(attr, "a string", getattr(det, attr)))
    for attr in ("description", "result_index"):
        value = getattr(det, attr)
        if value is not None and not isinstance(value, str):
            out.append(bad(attr, "a string", value))
    for attr in ("indices", "category_fields"):
        value = getattr(det, attr)
        if value is None and attr == "category_fields":
            continue
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            out.append(bad(attr, "a list of strings", value))
    whole = ("shingle_size", "history", "recency_emphasis", "suggested_seasonality", "result_index_min_size",
             "result_index_min_age", "result_index_ttl")  # fmt: skip
    for attr in whole:
        value = getattr(det, attr)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            # A numpy integer is whole, but neither YAML nor every JSON encoder writes it.
            need = "a Python int, int(value)" if isinstance(value, numbers.Integral) else "a whole number"
            out.append(bad(attr, need, value))
    for attr in ("interval", "window_delay", "frequency"):
        value = getattr(det, attr)
        if value is not None and not isinstance(value, Interval):
            out.append(bad(attr, "an Interval, e.g. Interval.parse('10m')", value))
    if not isinstance(det.features, (list, tuple)) or not all(isinstance(f, Feature) for f in det.features):
        out.append(bad("features", "a list of Feature, or use Detector.hcad's {name: (agg, field)}", det.features))
    if det.imputation is not None and not isinstance(det.imputation, Imputation):
        out.append(bad("imputation", "an Imputation, or use Detector.hcad's imputation='zero'", det.imputation))
    if det.rules is not None and (not isinstance(det.rules, (list, tuple))
                                  or not all(isinstance(r, Rule) for r in det.rules)):  # fmt: skip
        out.append(bad("rules", "a list of Rule, e.g. Rule.ignore_within(feature, 0.2)", det.rules))
    if det.filter_query is not None and not isinstance(det.filter_query, Mapping):
        out.append(bad("filter_query", "a query mapping, e.g. {'term': {'env': 'prod'}}", det.filter_query))
    return out


def validate(
    det: Detector,
    *,
    category_field_limit: int = DEFAULT_CATEGORY_FIELD_LIMIT,
    max_features: int = DEFAULT_MAX_FEATURES,
    server_version: Sequence[int] | None = None,
) -> list[Issue]:
    """Every problem the plugin would reject ``det`` for, as a list (empty when valid)."""
    wrong = _wrong_types(det)
    if wrong:  # the checks below assume the types (a Detector built in Python may lack them)
        return wrong
    issues: list[Issue] = []

    def add(path: str, message: str, fix: str = "") -> None:
        issues.append(Issue(path, message, fix))

    # name
    if not det.name or not str(det.name).strip():
        add("name", "is required", "give the detector a name")
    else:
        if not NAME_PATTERN.fullmatch(det.name):
            bad = "".join(sorted({c for c in det.name if not NAME_PATTERN.fullmatch(c)}))
            add("name", f"contains {bad!r}", "use only letters, digits, '.', '_' and '-'")
        if len(det.name) > MAX_NAME_LENGTH:
            add(
                "name",
                f"is {len(det.name)} characters long",
                f"shorten it to at most {MAX_NAME_LENGTH}",
            )
    if det.description and len(det.description) > MAX_DESCRIPTION_LENGTH:
        add(
            "description",
            f"is {len(det.description)} characters long",
            f"shorten it to at most {MAX_DESCRIPTION_LENGTH}",
        )
    if not det.time_field or not str(det.time_field).strip():
        add("time_field", "is required", "name the date field of the source index")
    if not det.indices:
        add("indices", "is empty", "list at least one source index")
    # null where the plugin's parser expects an object or a list fails the parse
    for key in sorted(det.null_keys & set(NOT_NULL_KEYS)):
        add(key, "is null", "remove the key or give a value")

    def nested(path: str, extra: Mapping[str, Any]) -> None:
        # Inside features, rules, conditions, imputation and intervals the plugin's parser does not skip
        # an unknown object or list: it loses its place (a feature's answers 500, an imputation option's
        # silently ends the detector there). Plain unknown values are skipped, and kept here.
        for k, v in extra.items():
            if isinstance(v, (Mapping, list)):
                add(f"{path}.{k}", "is an unknown key holding an object or a list", "remove it or give a plain value")

    # intervals (left out, the plugin uses its default of 10 minutes)
    for attr, iv in (("interval", det.interval), ("window_delay", det.window_delay), ("frequency", det.frequency)):
        if iv is None:
            continue
        issues.extend(iv.issues(attr, positive=attr != "window_delay"))
        nested(f"{attr}.period", iv.period_extra)
        for k in iv.extra:  # the plugin reads the last key of the object as the schedule's kind
            add(f"{attr}.{k}", "is an unknown key next to period", "remove it")
    # frequency (3.3+, Config's constructor): a multiple of the interval (the plugin's default when unset),
    # at most MAX_FREQUENCY_MULTIPLE of it
    freq, every = det.frequency, det.interval or Interval(10, "Minutes")  # plugins.anomaly_detection.detection_interval
    if freq is not None and freq.supported and every.supported and freq.value > 0 and every.value > 0:
        if freq.seconds % every.seconds:
            add("frequency", f"{freq} is not a multiple of the interval {every}", f"use {every} or a multiple of it")
        elif freq.seconds // every.seconds > MAX_FREQUENCY_MULTIPLE:
            add(
                "frequency",
                f"{freq} is {freq.seconds // every.seconds} intervals of {every}",
                f"use at most {MAX_FREQUENCY_MULTIPLE} intervals",
            )
    if det.shingle_size is not None and not (1 <= det.shingle_size <= MAX_SHINGLE_SIZE):
        add(
            "shingle_size",
            f"{det.shingle_size} is out of range",
            f"use 1 to {MAX_SHINGLE_SIZE}; the default is 8",
        )
    if det.suggested_seasonality is not None:
        as_shingle = max(1, det.suggested_seasonality // 2)
        if det.suggested_seasonality < 1 or as_shingle > MAX_SHINGLE_SIZE:
            add(
                "suggested_seasonality",
                f"{det.suggested_seasonality} is out of range",
                f"use 1 to {2 * MAX_SHINGLE_SIZE}",
            )
    if det.recency_emphasis is not None and det.recency_emphasis <= 1:
        add(
            "recency_emphasis",
            f"must be greater than 1, got {det.recency_emphasis}",
            "default is 2560",
        )
    if det.history is not None and not (1 <= det.history <= MAX_HISTORY_INTERVALS):
        add(
            "history",
            f"{det.history} is out of range",
            f"use 1 to {MAX_HISTORY_INTERVALS} intervals",
        )
    # category fields
    cats = det.category_fields or []
    if len(cats) > category_field_limit:
        add(
            "category_fields",
            f"has {len(cats)} fields, the limit is {category_field_limit}",
            "drop fields or raise plugins.anomaly_detection.category_field_limit, at most 5",
        )
    dupes = sorted({c for c in cats if cats.count(c) > 1})
    if dupes:
        add("category_fields", f"repeats {', '.join(dupes)}", "list each field once")
    # features
    if len(det.features) > max_features:
        add(
            "features",
            f"has {len(det.features)} features, the limit is {max_features}",
            "drop features or raise plugins.anomaly_detection.max_anomaly_features",
        )
    names = [f.name for f in det.features]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        add(f"features.{dup}", "feature name appears more than once", "feature names must be unique")
    agg_names: list[str] = []
    for f in det.features:
        path = f"features.{f.name or '?'}"
        if not f.name or not f.name.strip():
            add(path, "feature name is empty", "name every feature")
        nested(path, f.extra)
        if f.enabled is None:
            # Stored as null, then the plugin fails on it (its default rules and imputation read it as a boolean).
            add(f"{path}.enabled", "is missing (feature_enabled)", "set feature_enabled: true or false")
        q = f.aggregation_query
        if not isinstance(q, Mapping) or len(q) != 1:
            add(
                f"{path}.aggregation_query",
                "must hold exactly one named aggregation",
                "write {name: {avg: {field: x}}}",
            )
            continue
        agg_name, body = next(iter(q.items()))
        agg_names.append(agg_name)
        if not isinstance(body, Mapping) or not body:
            add(
                f"{path}.aggregation_query.{agg_name}",
                "has no aggregation type",
                "e.g. {avg: {field: x}}",
            )
    for dup in sorted({n for n in agg_names if agg_names.count(n) > 1}):
        add(
            "features",
            f"aggregation name {dup!r} is used by more than one feature",
            "give each feature's aggregation its own name",
        )
    enabled = {f.name for f in det.features if f.enabled}
    # result index
    ri = det.result_index
    if ri is not None:
        if not ri.startswith(RESULT_INDEX_PREFIX):
            add(
                "result_index",
                f"{ri!r} does not start with {RESULT_INDEX_PREFIX!r}",
                f"name it {RESULT_INDEX_PREFIX}<something>",
            )
        if len(ri) > MAX_RESULT_INDEX_LENGTH:
            add(
                "result_index",
                f"is {len(ri)} characters long",
                f"use at most {MAX_RESULT_INDEX_LENGTH}",
            )
        if not RESULT_INDEX_PATTERN.fullmatch(ri):
            add(
                "result_index",
                f"{ri!r} has characters other than a-z 0-9 _ -",
                "use lower-case letters, digits, '_' and '-'",
            )
    for attr in ("result_index_min_size", "result_index_min_age", "result_index_ttl"):
        value = getattr(det, attr)
        if value is None:
            continue
        if ri is None:
            add(attr, "only applies to a custom result index", "set result_index or remove it")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            add(attr, f"{value!r} is not a positive whole number", "MB for min_size, days for age/ttl")
    flatten = det.flatten_custom_result_index
    if flatten is not None and ri is None:
        add("flatten_custom_result_index", "only applies to a custom result index", "set result_index")
    if flatten is not None and not isinstance(flatten, bool):
        add("flatten_custom_result_index", f"{flatten!r} is not true or false", "the plugin ignores it; write true")
    # imputation
    if det.imputation is not None:
        imp = det.imputation
        fill = imp.default_fill or {}
        nested("imputation", imp.extra)
        if imp.method not in IMPUTATION_METHODS:
            add(
                "imputation.method",
                f"{imp.method!r} is not supported",
                f"use {', '.join(IMPUTATION_METHODS).lower()}",
            )
        elif imp.method == "FIXED_VALUES" and not fill:
            # 2.19 refuses this even for a detector with no enabled feature.
            add("imputation.default_fill", "is empty", "give one value per enabled feature, or use zero or previous")
        elif imp.method == "FIXED_VALUES":
            missing = sorted(enabled - set(fill))
            extra = sorted(set(fill) - enabled)
            if missing:
                add(
                    "imputation.default_fill",
                    f"has no value for {', '.join(missing)}",
                    "give one value per enabled feature",
                )
            if extra:
                add(
                    "imputation.default_fill",
                    f"names {', '.join(extra)}, not an enabled feature",
                    "fill only enabled features",
                )
        # With ZERO or PREVIOUS the plugin keeps default_fill and does not use it: not an error.
        for k, value in fill.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                add(f"imputation.default_fill.{k}", f"{value!r} is not a number", "give a number, e.g. 0")
    # rules
    all_feats = {f.name: f.enabled for f in det.features}
    if det.rules and not det.features:
        add("rules", "are given but the detector has no features", "add features or remove the rules")
    for i, rule in enumerate(det.rules or []):
        rp = f"rules[{i}]"
        # A rule without conditions is accepted and has no effect. One without action is stored as null,
        # and then the plugin cannot read the detector back (GET and DELETE answer 500, seen on 2.19.4.0).
        if rule.action is None:
            add(f"{rp}.action", "is missing", f"use {', '.join(RULE_ACTIONS).lower()}")
        elif rule.action not in RULE_ACTIONS:
            add(f"{rp}.action", f"{rule.action!r} is not supported", f"use {', '.join(RULE_ACTIONS).lower()}")
        nested(rp, rule.extra)
        for j, c in enumerate(rule.conditions):
            cp = f"{rp}.conditions[{j}]"
            nested(cp, c.extra)
            if not c.feature_name:
                add(f"{cp}.feature_name", "is missing", "name a feature")
            elif c.feature_name not in all_feats:
                add(
                    f"{cp}.feature_name",
                    f"{c.feature_name!r} is not a feature",
                    f"use one of {', '.join(all_feats) or '(no features)'}",
                )
            elif not all_feats[c.feature_name]:
                add(
                    f"{cp}.feature_name",
                    f"feature {c.feature_name!r} is disabled",
                    "enable it or drop the rule",
                )
            if c.operator is not None and c.operator not in RULE_OPERATORS:
                add(f"{cp}.operator", f"{c.operator!r} is not supported", f"use {', '.join(RULE_OPERATORS).lower()}")
            if c.threshold_type is None:
                # Stored as null; the plugin then cannot read the detector back (GET answers 500 on 2.19.4.0).
                add(f"{cp}.threshold_type", "is missing", f"use one of {', '.join(THRESHOLD_TYPES).lower()}")
            elif c.threshold_type not in THRESHOLD_TYPES:
                add(
                    f"{cp}.threshold_type",
                    f"{c.threshold_type!r} is not supported",
                    f"use one of {', '.join(THRESHOLD_TYPES).lower()}",
                )
            elif c.threshold_type in RATIO_THRESHOLDS:
                v: Any = c.value
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                    add(f"{cp}.value", f"{v!r} is not a number", "give a positive threshold, e.g. 0.2")
                elif v <= 0:
                    add(f"{cp}.value", f"must be positive, got {v}", "e.g. 0.2")
            elif c.operator is not None or c.value is not None:
                add(cp, f"{c.threshold_type} takes no operator or value", "remove operator and value")
    if server_version is not None:
        issues.extend(det.unsupported_by(server_version))
    return issues
