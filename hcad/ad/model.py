"""A typed anomaly detector: the plugin's JSON, YAML for detectors as code, and client-side validation.

Every field name, default and limit here was read from the anomaly-detection plugin's source
(``AnomalyDetector``/``Config``/``Feature``/``Rule``/``ImputationOption`` at tag 2.19.4.0).
``Detector.from_api(d).to_api() == d`` for any detector document the server returns: fields this
module does not know are kept in ``extra`` (at every depth) and written back unchanged. A body as a
user writes it reads as the plugin's parser reads it (enum names in any case, ``"false"``, numbers as
text, ``detection_interval`` left out) and is written back in the server's spelling.

The pieces (intervals, features, rules, imputation) live in :mod:`hcad.ad.parts`, the YAML form in
:mod:`hcad.ad.friendly`, the rules in :mod:`hcad.ad.validation`; all are re-exported here.

Pure data and rules only; nothing here talks to a cluster (see :mod:`hcad.ad.client` for that).
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hcad.ad import friendly
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
    RECOMMENDED_MIN_GRADE,
    RECOMMENDED_RULE_RATIO,
    RECOMMENDED_SHINGLE_SIZE,
    RESULT_INDEX_PATTERN,
    RESULT_INDEX_PREFIX,
    RULE_ACTIONS,
    RULE_OPERATORS,
    SINCE,
    THRESHOLD_TYPES,
)
from hcad.ad.parts import Condition, Feature, Imputation, Interval, Rule, read_number
from hcad.ad.query import _is_match_all, canonical_query, unescape_description
from hcad.ad.validation import NOT_NULL_KEYS
from hcad.errors import Issue, UnsupportedFeature, ValidationError

__all__ = ["Condition", "Detector", "Feature", "Imputation", "Interval", "Rule", "is_api_form"]

# The plugin's default detection interval when a body leaves it out (plugins.anomaly_detection.detection_interval).
DEFAULT_INTERVAL = Interval(10, "Minutes")
# Integer keys the plugin reads with intValue() (numeric text coerced).
_INT_KEYS = ("shingle_size", "schema_version", "recency_emphasis", "history", "suggested_seasonality")


class _Default(enum.Enum):
    """Marks a builder argument the caller did not pass (``None`` means "the plugin's default")."""

    TOKEN = 0


_DEFAULT = _Default.TOKEN


def _version_str(v: Sequence[int]) -> str:
    return ".".join(str(p) for p in v)


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
_TYPED_KEYS = ("window_delay", "feature_attributes", "detection_interval", "imputation_option", "rules", "frequency")
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
    "frequency",
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
    # 3.3+: how often the real-time job runs, a multiple of ``interval`` (the interval when unset).
    frequency: Interval | None = None
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

        Unless the caller passes it, the detector gets ``shingle_size=2`` (the plugin's default is 8)
        and no rule of hcad's, so the plugin's default rule applies (ignore anomalies within 20% of the
        expected value); alert on its results at grade > 0.3 and confidence >= 0.9
        (:data:`RECOMMENDED_MIN_GRADE`, :data:`RECOMMENDED_MIN_CONFIDENCE`: monitor settings, not detector
        ones). ``scripts/tune_defaults.py`` chose them (issue 17): tuned on a business-hours fleet and a
        cosine fleet by the best mean F1 within 0.1 false alarms per entity per day, then scored on three
        held-out fleets, where they raised 0.09 false alarms per entity per day against the plugin
        defaults' 0.22 with a higher F1 (0.24 against 0.19; recall stays low on seasonal data for both,
        see detectors/README.md; on such data, detect on ``hcad baseline``'s fields instead). The earlier
        defaults (shingle 4, 5% rule) were tuned on the blog's cosine waves and raised 0.48 false alarms per
        entity per day on the held-out fleets.

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
                    feats.append(friendly.feature_from_friendly(fname, spec, f"features.{fname}"))
        else:
            feats = list(features)
        builder_rules: list[Rule] | None = None
        if rules is _DEFAULT:
            if plugin_defaults or RECOMMENDED_RULE_RATIO is None:
                rules = None
            else:
                rules = builder_rules = [Rule.ignore_within(f.name, RECOMMENDED_RULE_RATIO) for f in feats if f.enabled]
        if shingle_size is _DEFAULT:
            shingle_size = None if plugin_defaults else RECOMMENDED_SHINGLE_SIZE
        more = _friendly_more(cls, more)
        if isinstance(category_fields, str):  # one field, not its letters
            category_fields = [category_fields]
        if not isinstance(index, (str, list, tuple)):
            raise ValidationError([Issue("index", f"is {type(index).__name__} {index!r}",
                                         "give an index name or a list of them")], "Detector.hcad")  # fmt: skip
        return cls(
            name=name,
            indices=[index] if isinstance(index, str) else list(index),
            time_field=time_field,
            features=feats,
            interval=Interval.parse(interval),
            category_fields=list(category_fields),
            description=description if description is not None else "",
            filter_query=dict(filter_query) if isinstance(filter_query, Mapping) else filter_query,
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
        for key in _INT_KEYS:
            if key in kwargs:
                value = read_number(kwargs[key])
                # intValue() truncates a decimal (shingle_size 8.7 is stored as 8, seen on 2.19.4.0)
                kwargs[key] = int(value) if isinstance(value, float) and value == value else value
        if doc.get("detection_interval") is not None:
            kwargs["interval"] = Interval.from_api(doc["detection_interval"], "detection_interval")
        if doc.get("window_delay") is not None:
            kwargs["window_delay"] = Interval.from_api(doc["window_delay"], "window_delay")
        if doc.get("frequency") is not None:
            kwargs["frequency"] = Interval.from_api(doc["frequency"], "frequency")
        if doc.get("feature_attributes") is not None:
            kwargs["features"] = [
                Feature.from_api(f, f"feature_attributes[{i}]")
                for i, f in enumerate(_objects(doc["feature_attributes"], "feature_attributes"))
            ]
        if doc.get("imputation_option") is not None:
            imp = doc["imputation_option"]
            if not isinstance(imp, Mapping):
                raise ValidationError([Issue("imputation_option", f"expected a mapping, got {imp!r}", "")])
            kwargs["imputation"] = Imputation.from_api(imp)
        if doc.get("rules") is not None:
            kwargs["rules"] = [Rule.from_api(r, f"rules[{i}]") for i, r in enumerate(_objects(doc["rules"], "rules"))]
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
        if self.frequency is not None:
            out["frequency"] = self.frequency.to_api()
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
        out = friendly.to_dict(self)
        # A null the plugin's parser refuses (e.g. "rules": null) stays one, so the verdict survives YAML.
        nulls = {k: None for k in NOT_NULL_KEYS if k in self.null_keys}
        if nulls:
            out["extra"] = {**nulls, **out.get("extra", {})}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | None = None) -> Detector:
        """Read the friendly form, or the plugin's JSON (a body, as sent or as ``GET`` returns it).

        The JSON form is recognised by its keys (``feature_attributes``, ``detection_interval``,
        ``anomaly_detector``, ...), so a body copied from the docs or from a ``GET`` reads as is.
        """
        if not isinstance(d, Mapping):
            raise ValidationError([Issue("", "a detector must be a mapping of keys to values", "")], source)
        if is_api_form(d):
            try:
                return cls.from_response(d) if "anomaly_detector" in d else cls.from_api(d)
            except ValidationError as e:
                raise ValidationError(e.issues, source) from None
        det = cls(**friendly.from_dict(d, source))
        for key in [k for k, v in det.extra.items() if v is None and k in NOT_NULL_KEYS]:
            del det.extra[key]
            det.null_keys.add(key)
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
            "frequency": self.frequency is not None,
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
            RECOMMENDED_RULE_RATIO is not None
            and self.builder_rules is not None
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
            "interval": DEFAULT_INTERVAL,
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


def _friendly_more(cls: type[Detector], more: Mapping[str, Any]) -> dict[str, Any]:
    """``Detector.hcad``'s extra keyword arguments, read as the YAML form reads them (``frequency="1h"``,
    ``imputation="zero"`` or ``{"method": "zero"}``); an unknown one is a one-line error."""
    known = {f.name for f in fields(cls)} - {"builder_rules", "null_keys"}
    unknown = sorted(set(more) - known)
    if unknown:
        close = friendly._closest(unknown[0], known)
        hint = f"did you mean {close!r}?" if close else "see the Detector fields"
        raise ValidationError([Issue(unknown[0], "is not a Detector setting", hint)], "Detector.hcad")
    out = dict(more)
    if isinstance(out.get("frequency"), (str, int)):
        out["frequency"] = Interval.parse(out["frequency"], "frequency")
    imp = out.get("imputation")
    if imp is not None and not isinstance(imp, Imputation):
        out["imputation"] = friendly.imputation_from_friendly({"method": imp} if isinstance(imp, str) else imp)
    return out


def is_api_form(d: Mapping[str, Any]) -> bool:
    """True when ``d`` is the plugin's JSON (a body or a GET response), not hcad's friendly YAML form."""
    return bool({"anomaly_detector", "feature_attributes", "detection_interval", "category_field",
                 "filter_query", "imputation_option", "_id"} & set(d))  # fmt: skip


def _objects(value: Any, path: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        raise ValidationError([Issue(path, f"expected a list, got {value!r}", "write a JSON array")])
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ValidationError([Issue(f"{path}[{i}]", f"expected an object, got {item!r}", "")])
    return value


def _norm(attr: str, value: Any) -> Any:
    """A comparable form: intervals as seconds, descriptions unescaped, rules/imputation as JSON."""
    if value is None:
        return None
    if isinstance(value, Interval):
        return f"{value.seconds}s" if value.supported else f"{value.value} {value.unit}"
    if attr == "description":
        return unescape_description(str(value)) or None
    if attr == "filter_query":
        value = canonical_query(value)
        return None if _is_match_all(value) else value
    if isinstance(value, Imputation):
        # The plugin keeps default_fill in a map: a GET lists it in its own order (seen on 2.19.4.0).
        out = value.to_api()
        if out.get("default_fill"):
            out["default_fill"] = sorted(out["default_fill"], key=lambda x: str(x["feature_name"]))
        else:  # the plugin writes an empty default_fill as none
            out.pop("default_fill", None)
        return out
    if attr == "rules":
        # An empty list makes the plugin add its default rules, as when rules are left out.
        return [r.to_api() for r in value] or None
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
        out.append(f"features.{name}: {_show(friendly.feature_to_friendly(amap[name]))} -> (removed)")
    for name in bmap.keys() - amap.keys():
        out.append(f"features.{name}: (absent) -> {_show(friendly.feature_to_friendly(bmap[name]))}")
    for name in amap.keys() & bmap.keys():
        fa, fb = amap[name], bmap[name]
        if fa.aggregation_query != fb.aggregation_query:
            out.append(
                f"features.{name}.aggregation_query: {_show(fa.aggregation_query)} -> {_show(fb.aggregation_query)}"
            )
        if fa.enabled != fb.enabled:
            out.append(f"features.{name}.enabled: {fa.enabled!r} -> {fb.enabled!r}")
    return sorted(out)
