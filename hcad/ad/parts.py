"""The pieces of a detector in the plugin's JSON form: intervals, features, rule conditions, rules, imputation.

Each ``from_api`` reads what the plugin's own parser reads (``IntervalTimeConfiguration``/``TimeConfiguration``,
``Feature``, ``Rule``, ``Condition``, ``ImputationOption`` at tag 2.19.4.0): enum names in any case (the
parser upper-cases them), ``"true"``/``"false"`` for booleans, numbers given as text. What it reads is
written back in the server's spelling (``"lte"`` becomes ``"LTE"``, ``"minutes"`` becomes ``"Minutes"``);
what it cannot read as the plugin would (an unknown unit or enum name, a value that is no number) is kept
as given and reported by validation, never silently changed. Keys it does not know are kept in ``extra``.

Pure data only; the YAML form lives in :mod:`hcad.ad.friendly`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hcad.ad.limits import _AGG_ALIASES, _INTERVAL_RE, _UNITS, FEATURE_AGGS
from hcad.errors import Issue, ValidationError

# java.time.ChronoUnit's names: the plugin reads a unit with ChronoUnit.valueOf(text.upperCase()), so
# any of these parses, and only MINUTES and SECONDS are then accepted.
CHRONO_UNITS = ("NANOS", "MICROS", "MILLIS", "SECONDS", "MINUTES", "HOURS", "HALF_DAYS", "DAYS", "WEEKS",
                "MONTHS", "YEARS", "DECADES", "CENTURIES", "MILLENNIA", "ERAS", "FOREVER")  # fmt: skip
SUPPORTED_UNITS = {"MINUTES": "Minutes", "SECONDS": "Seconds"}


def _bad(path: str, message: str, fix: str = "") -> ValidationError:
    return ValidationError([Issue(path, message, fix)])


def read_bool(value: Any, path: str) -> bool:
    """A boolean as XContent's ``booleanValue()`` reads it: true/false, or the text "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise _bad(path, f"{value!r} is not true or false", "write true or false")


def read_number(value: Any) -> Any:
    """A number as XContent reads one (``doubleValue``/``intValue`` coerce numeric text); else the value as given."""
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return value
        return int(f) if f.is_integer() and "." not in value and "e" not in value.lower() else f
    return value


def read_enum(value: Any) -> Any:
    """An enum name as the plugin reads it (``valueOf(text.toUpperCase())``); other values kept as given."""
    return value.upper() if isinstance(value, str) else value


@dataclass(frozen=True)
class Interval:
    """A detector interval or window delay: ``Interval(10)`` is ten minutes; ``str()`` gives ``"10m"``.

    The plugin supports the units Minutes and Seconds only. Any other unit read from JSON is kept as
    given (validation reports it); hours and days written as text in YAML are converted to minutes.
    """

    value: int
    unit: str | None = "Minutes"
    # Keys besides ``period`` and ``interval``/``unit`` inside it, kept as given.
    extra: dict[str, Any] = field(default_factory=dict, compare=True)
    period_extra: dict[str, Any] = field(default_factory=dict, compare=True)

    @classmethod
    def parse(cls, spec: Interval | str | int | Mapping[str, Any], path: str = "interval") -> Interval:
        """Read ``"10m"``, ``"30s"``, ``"1h"``, ``10`` (minutes) or the API's ``{"period": {...}}``."""
        if isinstance(spec, Interval):
            return spec
        if isinstance(spec, bool):
            raise _bad(path, f"{spec!r} is not an interval", 'write it like "10m" or "30s"')
        if isinstance(spec, int):
            return cls(spec, "Minutes")
        if isinstance(spec, Mapping):
            return cls.from_api(spec, path)
        if isinstance(spec, str):
            m = _INTERVAL_RE.match(spec)
            unit = _UNITS.get(m.group(2).lower()) if m else None
            if m is None or unit is None:
                raise _bad(path, f"{spec!r} is not an interval", 'write it like "10m", "30s" or "1h"')
            n = int(m.group(1))
            if unit == "Hours":
                return cls(n * 60, "Minutes")
            if unit == "Days":
                return cls(n * 1440, "Minutes")
            return cls(n, unit)
        raise _bad(path, f"{spec!r} is not an interval", 'write it like "10m" or "30s"')

    @classmethod
    def from_api(cls, d: Mapping[str, Any], path: str = "interval") -> Interval:
        """Read ``{"period": {"interval": 10, "unit": "Minutes"}}`` (the unit in any case, as the plugin does)."""
        period = d.get("period") if isinstance(d, Mapping) else None
        if not isinstance(period, Mapping):
            raise _bad(path, "expected {period: {interval: N, unit: Minutes}}", 'or write it like "10m"')
        raw = period.get("interval", 0)  # the plugin's parser starts from 0
        num = read_number(raw)
        if isinstance(num, bool) or not isinstance(num, (int, float)):
            raise _bad(f"{path}.period.interval", f"{raw!r} is not a whole number", "write e.g. 10")
        unit = period.get("unit")
        if isinstance(unit, str) and unit.upper() in SUPPORTED_UNITS:
            unit = SUPPORTED_UNITS[unit.upper()]  # the server's spelling
        elif unit is not None and not isinstance(unit, str):
            unit = str(unit)
        return cls(
            int(num),
            unit,
            {k: copy.deepcopy(v) for k, v in d.items() if k != "period"},
            {k: copy.deepcopy(v) for k, v in period.items() if k not in ("interval", "unit")},
        )

    def to_api(self) -> dict[str, Any]:
        """The plugin's JSON form."""
        period: dict[str, Any] = {"interval": self.value}
        if self.unit is not None:
            period["unit"] = self.unit
        period.update(copy.deepcopy(self.period_extra))
        return {"period": period, **copy.deepcopy(self.extra)}

    @property
    def supported(self) -> bool:
        """True when the unit is one the plugin accepts (Minutes, Seconds)."""
        return self.unit in ("Minutes", "Seconds")

    @property
    def seconds(self) -> int:
        """Length in seconds (units other than Minutes and Seconds are not converted: see :meth:`issues`)."""
        return self.value * (60 if self.unit == "Minutes" else 1)

    @property
    def minutes(self) -> float:
        """Length in minutes."""
        return self.seconds / 60

    def issues(self, path: str, *, positive: bool) -> list[Issue]:
        """Rule violations of this interval (units the plugin supports, sign)."""
        out = []
        if self.unit is None:
            out.append(Issue(f"{path}.period.unit", "is missing", "use Minutes or Seconds"))
        elif not self.supported:
            out.append(Issue(f"{path}.period.unit", f"unit {self.unit!r} is not supported", "use Minutes or Seconds"))
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
        if self.unit == "Minutes":
            return f"{self.value}m"
        return f"{self.value} {self.unit}"


@dataclass
class Feature:
    """One detector feature: a name and a single-value metric aggregation.

    ``enabled`` is None when the plugin's JSON left ``feature_enabled`` out (the plugin stores it as
    null, and fails on such a feature: validation reports it).
    """

    name: str
    aggregation_query: dict[str, Any]
    enabled: bool | None = True
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def metric(cls, name: str, agg: str, field_name: str, *, enabled: bool | None = True) -> Feature:
        """A feature computing ``agg`` (avg, max, min, sum, value_count/count, cardinality) of a field."""
        kind = _AGG_ALIASES.get(agg.lower(), agg.lower())
        if kind not in FEATURE_AGGS:
            raise _bad(f"features.{name}.agg", f"{agg!r} is not supported", f"use one of {', '.join(FEATURE_AGGS)}")
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
    def raw(cls, name: str, aggregation_query: Mapping[str, Any], *, enabled: bool | None = True) -> Feature:
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
        if (
            kind in FEATURE_AGGS
            and isinstance(args, Mapping)
            and set(args) == {"field"}
            and isinstance(args["field"], str)
        ):
            return kind, args["field"]
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
    def from_api(cls, d: Mapping[str, Any], path: str = "feature_attributes") -> Feature:
        """Read ``{feature_id, feature_name, feature_enabled, aggregation_query}`` (other keys kept in ``extra``)."""
        known = {"feature_id", "feature_name", "feature_enabled", "aggregation_query"}
        enabled = d.get("feature_enabled")
        q = d.get("aggregation_query")
        if q is not None and not isinstance(q, Mapping):
            raise _bad(f"{path}.aggregation_query", f"expected a mapping, got {q!r}", "write {name: {avg: {field: x}}}")
        name = d.get("feature_name")
        return cls(
            name="" if name is None else str(name),
            aggregation_query=copy.deepcopy(dict(q or {})),
            enabled=None if enabled is None else read_bool(enabled, f"{path}.feature_enabled"),
            id=d.get("feature_id"),
            extra={k: copy.deepcopy(v) for k, v in d.items() if k not in known},
        )

    def to_api(self) -> dict[str, Any]:
        """The plugin's JSON form (``feature_id`` only when known, ``feature_enabled`` only when set)."""
        out: dict[str, Any] = {}
        if self.id is not None:
            out["feature_id"] = self.id
        out["feature_name"] = self.name
        if self.enabled is not None:
            out["feature_enabled"] = self.enabled
        out["aggregation_query"] = copy.deepcopy(self.aggregation_query)
        out.update(copy.deepcopy(self.extra))
        return out


@dataclass
class Condition:
    """One condition of a suppression rule (``feature_name``, ``threshold_type``, ``operator``, ``value``).

    Enum names are kept upper-cased as the plugin reads them; None means the key was absent or null.
    """

    feature_name: str | None
    threshold_type: str | None
    operator: str | None = "LTE"
    value: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Condition:
        """Read the plugin's JSON (enum names in any case, a value given as numeric text)."""
        known = {"feature_name", "threshold_type", "operator", "value"}
        name = d.get("feature_name")
        return cls(
            feature_name=None if name is None else str(name),
            threshold_type=read_enum(d.get("threshold_type")),
            operator=read_enum(d.get("operator")),
            value=read_number(d.get("value")),
            extra={k: copy.deepcopy(v) for k, v in d.items() if k not in known},
        )

    def to_api(self) -> dict[str, Any]:
        """As the plugin writes it: name, type and ``operator`` always (may be null), ``value`` only when set."""
        out: dict[str, Any] = {
            "feature_name": self.feature_name,
            "threshold_type": self.threshold_type,
            "operator": self.operator,
        }
        if self.value is not None:
            out["value"] = self.value
        out.update(copy.deepcopy(self.extra))
        return out


@dataclass
class Rule:
    """A suppression rule: ignore anomalies when all conditions hold (``action`` None when left out)."""

    conditions: list[Condition]
    action: str | None = "IGNORE_ANOMALY"
    extra: dict[str, Any] = field(default_factory=dict)

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
    def from_api(cls, d: Mapping[str, Any], path: str = "rules") -> Rule:
        """Read the plugin's JSON."""
        conds = d.get("conditions") or []
        if not isinstance(conds, list):
            raise _bad(f"{path}.conditions", f"expected a list, got {conds!r}", "write conditions: [...]")
        out = []
        for j, c in enumerate(conds):
            if not isinstance(c, Mapping):
                raise _bad(f"{path}.conditions[{j}]", f"expected a mapping, got {c!r}", "write {feature_name, ...}")
            out.append(Condition.from_api(c))
        return cls(
            out,
            read_enum(d.get("action")),
            {k: copy.deepcopy(v) for k, v in d.items() if k not in ("action", "conditions")},
        )

    def to_api(self) -> dict[str, Any]:
        """The plugin's JSON form."""
        return {"action": self.action, "conditions": [c.to_api() for c in self.conditions], **copy.deepcopy(self.extra)}


@dataclass
class Imputation:
    """How missing intervals are filled: ZERO, PREVIOUS, or FIXED_VALUES (one value per enabled feature).

    ``default_fill`` is None when the JSON gave no ``default_fill`` key; ``fill_extra`` keeps unknown keys
    of each fill entry, by feature name.
    """

    method: str | None
    default_fill: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    fill_extra: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_api(cls, d: Mapping[str, Any], path: str = "imputation_option") -> Imputation:
        """Read ``{method, default_fill: [{feature_name, data}]}`` (the method in any case; ZERO when left out)."""
        method = read_enum(d.get("method", "ZERO"))  # the plugin's parser starts from ZERO
        fill: dict[str, Any] | None = None
        fill_extra: dict[str, dict[str, Any]] = {}
        if d.get("default_fill") is not None:
            items = d["default_fill"]
            if not isinstance(items, list):
                raise _bad(f"{path}.default_fill", f"expected a list, got {items!r}", "write [{feature_name, data}]")
            fill = {}
            for j, item in enumerate(items):
                if not isinstance(item, Mapping):
                    raise _bad(f"{path}.default_fill[{j}]", f"expected a mapping, got {item!r}", "")
                name = str(item.get("feature_name"))
                fill[name] = read_number(item.get("data"))
                rest = {k: copy.deepcopy(v) for k, v in item.items() if k not in ("feature_name", "data")}
                if rest:
                    fill_extra[name] = rest
        extra = {k: copy.deepcopy(v) for k, v in d.items() if k not in ("method", "default_fill")}
        return cls(method, fill, extra, fill_extra)

    def to_api(self) -> dict[str, Any]:
        """The plugin's JSON form (``default_fill`` as given; the plugin writes it only when not empty)."""
        out: dict[str, Any] = {"method": self.method}
        if self.default_fill is not None:
            out["default_fill"] = [
                {"feature_name": k, "data": v, **copy.deepcopy(self.fill_extra.get(k, {}))}
                for k, v in self.default_fill.items()
            ]
        out.update(copy.deepcopy(self.extra))
        return out
