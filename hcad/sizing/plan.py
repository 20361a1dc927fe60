"""Sizing plans (YAML/dict), read and checked into a :class:`SizingPlan`.

A plan names the detectors (entity counts, intervals, features, shingle), the node (instance type or
heap, ``model_max_size_percent``, overhead), the result retention, and the unit convention.
:func:`hcad.sizing.report.evaluate` turns it into a report with every step explained. The plan format
is described in ``sizing/README.md``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from hcad.errors import ConfigError, HcadError, Issue, ValidationError
from hcad.sizing import capacity as cap
from hcad.sizing import model_size as ms
from hcad.sizing.capacity import Units, parse_interval

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": cap.KB,
    "mb": cap.MB,
    "gb": cap.GB,
    "tb": cap.TB,
    "kib": cap.KiB,
    "mib": cap.MiB,
    "gib": cap.GiB,
    "tib": cap.TiB,
    # JVM-style suffixes (-Xmx31g) are binary.
    "k": cap.KiB,
    "m": cap.MiB,
    "g": cap.GiB,
    "t": cap.TiB,
}


def parse_bytes(value: Any, name: str) -> int:
    """``471000`` / ``"471KB"`` / ``"32 GiB"`` / ``"31g"`` (JVM style, binary) -> bytes."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} {value!r} is not a size; write e.g. 471KB, 32GiB or a number of bytes")
    if isinstance(value, int):
        n: Fraction = Fraction(value)
    elif isinstance(value, float):
        n = Fraction(str(value))
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        unit = m.group(2).lower() if m else None
        if not m or unit not in _SIZE_UNITS:
            raise ConfigError(f"{name} {value!r} is not a size; write e.g. 471KB, 32GiB or a number of bytes")
        n = Fraction(m.group(1)) * _SIZE_UNITS[unit]
    if n <= 0:
        raise ConfigError(f"{name} {value!r} must be greater than zero")
    return math.ceil(n)


@dataclass(frozen=True)
class DetectorSpec:
    """One detector of a plan. Give ``entities`` (C), ``active_entities`` (A), or both."""

    name: str
    entities: int | None = None
    active_entities: int | None = None
    interval_minutes: Fraction | float = 10  # minutes; a Fraction keeps seconds exact (20s is 1/3)
    features: int = 1
    shingle_size: int = ms.DEFAULT_SHINGLE_SIZE
    model_size: int | None = None
    model_size_source: str = "given"
    doc_bytes: int = cap.DEFAULT_DOC_BYTES
    # Where doc_bytes comes from: the blog's assumption, the plan, or the detector's result indices.
    doc_size_source: str = "assumed: the blog's 1 KB per result document"
    # Where to measure it live (``hcad size --measure``).
    index: str | None = None
    time_field: str = "@timestamp"
    category_fields: tuple[str, ...] = ()
    detector_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The spec as plan-file keys (None values left out)."""
        d: dict[str, Any] = {
            "name": self.name,
            "entities": self.entities,
            "active_entities": self.active_entities,
            "interval": cap.format_interval(self.interval_minutes),
            "features": self.features,
            "shingle_size": self.shingle_size,
            "model_size": self.model_size,
            # Only a size that is not the blog's assumption (a round trip keeps where it came from).
            "doc_size": None if self.doc_size_source == DetectorSpec.doc_size_source else self.doc_bytes,
            "index": self.index,
            "time_field": self.time_field if self.index else None,
            "category_fields": list(self.category_fields) or None,
            "detector_id": self.detector_id,
        }
        return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class SizingPlan:
    """A capacity question: detectors, node, retention, plugin version and unit convention."""

    detectors: tuple[DetectorSpec, ...]
    instance_type: str | None = None
    heap_bytes: int | None = None
    percent: float = cap.DEFAULT_PERCENT
    overhead: float = cap.DEFAULT_OVERHEAD
    data_nodes: int | None = None
    plugin_version: str = ms.DEFAULT_PLUGIN_VERSION
    units: Units = "decimal"
    replicas: int = 1
    retention_days: float = cap.DEFAULT_RETENTION_DAYS
    compare: tuple[str, ...] = ()
    name: str = "plan"
    description: str = ""
    measure_from: str | None = None
    measure_to: str | None = None
    # Where a measured heap / percent came from (``hcad size --measure``); None when the plan gave them.
    heap_note: str | None = None
    percent_note: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | None = None) -> SizingPlan:
        """Build and validate a plan; raises :class:`ValidationError` listing every problem at once."""
        issues: list[Issue] = []
        if not isinstance(d, Mapping):
            raise ValidationError([Issue("", "a plan is a mapping (YAML object)", "see sizing/README.md")], source)
        _unknown(d, _TOP_KEYS, "", issues)
        node = _section(d, "node", issues)
        results = _section(d, "results", issues)
        measure = _section(d, "measure", issues)
        _unknown(node, _NODE_KEYS, "node.", issues)
        _unknown(results, _RESULT_KEYS, "results.", issues)
        _unknown(measure, _MEASURE_KEYS, "measure.", issues)

        def get(path: str, fn: Any, raw: Any, default: Any) -> Any:
            if raw is None:
                return default
            try:
                return fn(raw)
            except HcadError as e:
                issues.append(Issue(path, str(e)))
                return default

        version = get(
            "plugin_version",
            lambda v: _version_str(ms.parse_plugin_version(str(v))),
            d.get("plugin_version"),
            ms.DEFAULT_PLUGIN_VERSION,
        )
        units = d.get("units", "decimal")
        if units not in cap.UNITS:
            issues.append(Issue("units", f"{units!r} is not decimal or binary", "use units: decimal or binary"))
            units = "decimal"
        itype = node.get("instance_type")
        if itype is not None:
            from hcad.sizing.instances import get_instance_type

            get("node.instance_type", lambda v: get_instance_type(str(v)), itype, None)
        heap = get("node.heap", lambda v: parse_bytes(v, "heap"), node.get("heap"), None)
        if itype is None and node.get("heap") is None:  # a heap given but wrong is said above
            fix = "e.g. node: {instance_type: r5.2xlarge}, or -t / --heap on the command line"
            issues.append(Issue("node", "needs instance_type or heap", fix))
        percent = get(
            "node.model_max_size_percent",
            lambda v: _percent(v, version),
            node.get("model_max_size_percent"),
            cap.DEFAULT_PERCENT,
        )
        overhead = get("node.overhead", _overhead, node.get("overhead"), cap.DEFAULT_OVERHEAD)
        nodes = get("node.data_nodes", lambda v: _pos_int(v, "data_nodes"), node.get("data_nodes"), None)
        replicas = get("results.replicas", lambda v: _nonneg_int(v, "replicas"), results.get("replicas"), 1)
        retention = get(
            "results.retention_days",
            lambda v: _pos_num(v, "retention_days"),
            results.get("retention_days"),
            cap.DEFAULT_RETENTION_DAYS,
        )
        doc_default = get(
            "results.doc_size",
            lambda v: parse_bytes(v, "doc_size"),
            results.get("doc_size"),
            cap.DEFAULT_DOC_BYTES,
        )
        compare_raw = d.get("compare") or []
        compare: list[str] = []
        if not isinstance(compare_raw, list):
            issues.append(Issue("compare", "must be a list of instance types", "e.g. compare: [r6g.2xlarge]"))
        else:
            from hcad.sizing.instances import get_instance_type

            for i, t in enumerate(compare_raw):
                it = get(f"compare[{i}]", lambda v: get_instance_type(str(v)), t, None)
                if it is not None:
                    compare.append(it.short_name)

        dets_raw = d.get("detectors")
        detectors: list[DetectorSpec] = []
        if not isinstance(dets_raw, list) or not dets_raw:
            issues.append(Issue("detectors", "needs at least one detector", "see sizing/README.md"))
            dets_raw = []
        for i, raw in enumerate(dets_raw):
            spec = _detector(raw, f"detectors[{i}]", version, doc_default, issues)
            if spec is not None:
                detectors.append(spec)
        names = [s.name for s in detectors]
        for n in sorted({n for n in names if names.count(n) > 1}):
            issues.append(Issue("detectors", f"name {n!r} is used twice", "give each detector its own name"))
        if issues:
            raise ValidationError(issues, source)
        return cls(
            detectors=tuple(detectors),
            instance_type=str(itype) if itype is not None else None,
            heap_bytes=heap,
            percent=percent,
            overhead=overhead,
            data_nodes=nodes,
            plugin_version=version,
            units=units,
            replicas=replicas,
            retention_days=retention,
            compare=tuple(compare),
            name=str(d.get("name") or (Path(source).stem if source else "plan")),
            description=str(d.get("description") or ""),
            measure_from=None if measure.get("from") is None else str(measure["from"]),
            measure_to=None if measure.get("to") is None else str(measure["to"]),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> SizingPlan:
        """Read a plan file; errors name the file."""
        from hcad.yamlfile import load_yaml_file

        return cls.from_dict(load_yaml_file(path, "plan") or {}, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The plan in the plan-file format (round-trips through :meth:`from_dict`)."""
        node: dict[str, Any] = {"model_max_size_percent": self.percent, "overhead": self.overhead}
        if self.instance_type:
            node["instance_type"] = self.instance_type
        if self.heap_bytes:
            node["heap"] = self.heap_bytes
        if self.data_nodes:
            node["data_nodes"] = self.data_nodes
        out: dict[str, Any] = {
            "name": self.name,
            "plugin_version": self.plugin_version,
            "units": self.units,
            "node": node,
            "results": {"replicas": self.replicas, "retention_days": self.retention_days},
            "detectors": [s.to_dict() for s in self.detectors],
        }
        if self.description:
            out["description"] = self.description
        if self.compare:
            out["compare"] = list(self.compare)
        if self.measure_from or self.measure_to:
            out["measure"] = {k: v for k, v in (("from", self.measure_from), ("to", self.measure_to)) if v}
        return out

    def heap(self) -> tuple[int, str]:
        """The node heap in bytes and where it came from."""
        if self.heap_bytes is not None:
            return self.heap_bytes, self.heap_note or "given"
        assert self.instance_type is not None
        from hcad.sizing.instances import get_instance_type

        it = get_instance_type(self.instance_type)
        heap = cap.heap_bytes_for_ram(it.ram_gib, self.units)
        return heap, f"{it.short_name}: RAM {it.ram_gib:g} GiB -> heap min(RAM/2, 32) = {it.heap_gib:g} " + (
            "GB (decimal)" if self.units == "decimal" else "GiB"
        )

    def with_instance_type(self, name: str) -> SizingPlan:
        """The same plan on another instance type (heap derived from the type)."""
        return replace(self, instance_type=name, heap_bytes=None)


_TOP_KEYS = (
    "name",
    "description",
    "plugin_version",
    "units",
    "node",
    "results",
    "detectors",
    "compare",
    "measure",
)
_NODE_KEYS = ("instance_type", "heap", "model_max_size_percent", "overhead", "data_nodes")
_RESULT_KEYS = ("replicas", "retention_days", "doc_size")
_MEASURE_KEYS = ("from", "to")
_DET_KEYS = (
    "name", "entities", "active_entities", "interval", "features", "shingle_size", "model_size", "doc_size",
    "index", "time_field", "category_fields", "detector_id",
)  # fmt: skip


def _version_str(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def _section(d: Mapping[str, Any], key: str, issues: list[Issue]) -> Mapping[str, Any]:
    v = d.get(key)
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        issues.append(Issue(key, "must be a mapping", "see sizing/README.md"))
        return {}
    return v


def _unknown(d: Mapping[str, Any], known: Sequence[str], prefix: str, issues: list[Issue]) -> None:
    for k in d:
        if k not in known:
            close = difflib.get_close_matches(str(k), known, n=1)
            fix = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            issues.append(Issue(f"{prefix}{k}", "unknown key", fix))


def _pos_int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ConfigError(f"{name} {v!r} must be a whole number > 0")
    return v


def _nonneg_int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ConfigError(f"{name} {v!r} must be a whole number >= 0")
    return v


def _pos_num(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise ConfigError(f"{name} {v!r} must be a number > 0")
    return float(v)


def _percent(v: Any, version: str) -> float:
    lo, hi = ms.percent_range(version)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"model_max_size_percent {v!r} must be a fraction like 0.1 (10% of the heap)")
    if not lo < v <= hi:
        raise ConfigError(
            f"model_max_size_percent {v} is out of range: plugin {version} accepts >{lo:g} to {hi:g} "
            f"(a fraction of the heap, e.g. 0.1 for 10%)"
        )
    return float(v)


def _overhead(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= 10:
        raise ConfigError(f"overhead {v!r} must be a factor between 1 and 10 (1.2 reserves 20%)")
    return float(v)


def _detector(raw: Any, path: str, version: str, doc_default: int, issues: list[Issue]) -> DetectorSpec | None:
    if not isinstance(raw, Mapping):
        issues.append(Issue(path, "must be a mapping", "e.g. {name: cpu, entities: 1000, interval: 10m}"))
        return None
    _unknown(raw, _DET_KEYS, f"{path}.", issues)
    before = len(issues)

    def get(key: str, fn: Any, default: Any) -> Any:
        if raw.get(key) is None:
            return default
        try:
            return fn(raw[key])
        except HcadError as e:
            issues.append(Issue(f"{path}.{key}", str(e)))
            return default

    name = str(raw.get("name") or path)
    entities = get("entities", lambda v: _pos_int(v, "entities"), None)
    active = get("active_entities", lambda v: _pos_int(v, "active_entities"), None)
    measurable = raw.get("detector_id") is not None or (raw.get("index") is not None and raw.get("category_fields"))
    if raw.get("entities") is None and raw.get("active_entities") is None and not measurable:
        issues.append(
            Issue(
                path,
                "needs entities (total count) or active_entities (max per interval)",
                "measure them with 'hcad entities INDEX --field F' or 'hcad size --measure'",
            )
        )
    if entities is not None and active is not None and active > entities:
        issues.append(
            Issue(f"{path}.active_entities", f"{active:,} is more than the {entities:,} entities there are",
                  "give at most entities (A counts the entities active in one interval)")
        )  # fmt: skip
    interval = get("interval", parse_interval, Fraction(10))
    features = get("features", lambda v: _pos_int(v, "features"), 1)
    shingle = get("shingle_size", lambda v: _pos_int(v, "shingle_size"), ms.DEFAULT_SHINGLE_SIZE)
    limit = ms.max_shingle_size(version)
    if raw.get("shingle_size") is not None and isinstance(shingle, int) and shingle > limit:
        issues.append(
            Issue(f"{path}.shingle_size", f"{shingle} is out of range: plugin {version} accepts 1 to {limit}")
        )
    model_size = get("model_size", lambda v: parse_bytes(v, "model_size"), None)
    doc_bytes = get("doc_size", lambda v: parse_bytes(v, "doc_size"), doc_default)
    doc_source = (
        "given"
        if raw.get("doc_size") is not None or doc_default != cap.DEFAULT_DOC_BYTES
        else DetectorSpec.doc_size_source
    )
    cats = raw.get("category_fields") or ()
    if isinstance(cats, str):
        cats = (cats,)
    if not isinstance(cats, (list, tuple)) or not all(isinstance(c, str) and c for c in cats):
        issues.append(Issue(f"{path}.category_fields", "must be a list of field names", "e.g. [host, process]"))
        cats = ()
    if len(issues) > before:
        return None
    return DetectorSpec(
        name=name,
        entities=entities,
        active_entities=active,
        interval_minutes=interval,
        features=features,
        shingle_size=shingle,
        model_size=model_size,
        model_size_source="given",
        doc_bytes=doc_bytes,
        doc_size_source=doc_source,
        index=None if raw.get("index") is None else str(raw["index"]),
        time_field=str(raw.get("time_field") or "@timestamp"),
        category_fields=tuple(cats),
        detector_id=None if raw.get("detector_id") is None else str(raw["detector_id"]),
    )
