"""A labelled synthetic fleet: host × process time series with injected anomalies.

Used to measure detection quality (``hcad eval``), to demo HCAD and to benchmark ingestion.
Everything is reproducible from :attr:`FleetSpec.seed`: the same spec gives the same documents and
the same labels, whatever is generated first.

Signal model, per entity and metric (values are clipped at 0)::

    level · (1 + peak bump) + daily cosine + weekly cosine + trend + N(0, σ)

- ``level``, the cosine amplitudes, the phase, ``σ`` and the trend vary per entity
  (:meth:`FleetSpec.fleet`) or only slightly (:meth:`FleetSpec.blog`, the seed blog's cosine waves).
- *Peak days* are fleet-wide: on some days every entity's level rises during business hours, which
  makes the distribution bimodal (the false-positive source of the seed SageMaker deployment). They
  are normal behaviour and are not labelled.
- *Missing intervals*: each document is dropped with probability ``missing_rate`` (never inside an
  anomaly, so every labelled event has data).

Anomaly kinds and what they do, with ``m`` the magnitude in units of the entity's noise ``σ``:

==================  ===================================================================
``spike``           +m·σ for 1–3 intervals
``dip``             −m·σ for 1–3 intervals
``level_shift``     ±m·σ held for 12–36 intervals, then back to normal
``variance_burst``  noise grows to m·σ for 6–12 intervals (mean unchanged)
``gc_storm``        jvmGcTime ramps up by 0.5·m·σ → m·σ for 3–8 intervals, cpu +m/2·σ,
                    memory +m/3·σ (all metrics like a spike when there is no jvmGcTime)
==================  ===================================================================

Anomalies start after a warm-up (the first ``warmup_fraction`` of the series, 40% by default, so
an RCF model has trained before the first event) and are at least ``min_gap`` intervals apart per
entity. A label's ``start`` is the start of its first anomalous interval and ``end`` the end of its
last one (exclusive), like ``data_start_time``/``data_end_time`` of AD results.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hcad.errors import ConfigError, Issue, ValidationError
from hcad.times import from_iso

if TYPE_CHECKING:
    import pandas as pd


KINDS: tuple[str, ...] = ("spike", "dip", "level_shift", "variance_burst", "gc_storm")
GENERATORS: tuple[str, ...] = ("cosine", "business")

#: Default magnitude (in σ of the entity's noise) and length range (intervals) of each kind.
KIND_DEFAULTS: dict[str, tuple[float, tuple[int, int]]] = {
    "spike": (8.0, (1, 3)),
    "dip": (8.0, (1, 3)),
    "level_shift": (6.0, (12, 36)),
    "variance_burst": (5.0, (6, 12)),
    "gc_storm": (8.0, (3, 8)),
}

#: Typical level, relative daily amplitude and relative noise of known metric names; other names
#: get ``_DEFAULT_PROFILE``.
METRIC_PROFILES: dict[str, tuple[float, float, float]] = {
    "cpu": (40.0, 0.35, 0.04),
    "cpuTime": (100.0, 0.35, 0.04),
    "memory": (60.0, 0.10, 0.015),
    "jvmGcTime": (20.0, 0.30, 0.05),
}
_DEFAULT_PROFILE = (50.0, 0.3, 0.04)

TIME_FIELD = "@timestamp"
HOST_FIELD = "host"
PROCESS_FIELD = "process"
LABEL_COLUMNS = ("host", "process", "start", "end", "kind", "metric", "magnitude", "length")

_DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AnomalySpec:
    """One injected anomaly: which entity, when (``start`` + ``length`` intervals), what and how big.

    ``magnitude`` is in units of the entity's noise σ (negative moves a level shift down);
    ``metrics`` empty means the kind's default metrics (see the module docstring).
    """

    host: str
    process: str
    start: datetime
    length: int
    kind: str
    magnitude: float
    metrics: tuple[str, ...] = ()

    def end(self, interval_minutes: int) -> datetime:
        """End of the last anomalous interval (exclusive)."""
        return self.start + timedelta(minutes=self.length * interval_minutes)


@dataclass(frozen=True)
class FleetSpec:
    """What to generate. ``anomalies`` is a total count over the fleet or an explicit list.

    Entities are ``host0..host{hosts-1}`` × ``process0..process{processes-1}``; the series has
    ``periods`` intervals of ``interval_minutes`` from ``start`` (a timezone-aware datetime; it is
    converted to UTC).
    """

    hosts: int = 10
    processes: int = 3
    start: datetime = _DEFAULT_START
    periods: int = 1008
    interval_minutes: int = 10
    seed: int = 0
    anomalies: int | tuple[AnomalySpec, ...] = 5
    kinds: tuple[str, ...] = ("spike",)
    metrics: tuple[str, ...] = ("cpu", "memory", "jvmGcTime")
    missing_rate: float = 0.0
    daily: bool = True
    weekly: bool = False
    peak_days: bool = False
    #: Fraction of days that are peak-traffic days, and how much the level grows at the peak.
    peak_day_rate: float = 0.3
    peak_factor: float = 0.6
    #: How much entities differ: 0 = all alike (blog), 1 = wide spread of levels, noise, trends.
    heterogeneity: float = 0.0
    #: Period of the "daily" component in minutes; per entity one of these (blog: one day).
    periods_minutes: tuple[int, ...] = (1440,)
    #: Multiplies every kind's default magnitude (each anomaly also varies by ±20%).
    magnitude_scale: float = 1.0
    warmup_fraction: float = 0.4
    min_gap: int = 10
    name: str = "custom"
    #: ``cosine`` (cosine waves, the seed blog's shape; this module) or ``business`` (business-hours
    #: traffic in several time zones, batch jobs, heteroscedastic noise: :mod:`hcad.quality.realistic`).
    generator: str = "cosine"

    def __post_init__(self) -> None:
        # Normalise containers and time so equal specs compare (and hash) equal.
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "periods_minutes", tuple(int(p) for p in self.periods_minutes))
        if not isinstance(self.anomalies, int):
            object.__setattr__(self, "anomalies", tuple(self.anomalies))
        if isinstance(self.start, datetime) and self.start.tzinfo is not None:
            object.__setattr__(self, "start", self.start.astimezone(UTC))
        self.validate()

    # ----------------------------------------------------------------------------------- presets
    @classmethod
    def blog(cls, **overrides: Any) -> FleetSpec:
        """The seed blog's dataset: cosine waves with injected spikes and dips, ``cpuTime`` and
        ``jvmGcTime`` per host/process (its ``host-cloudwatch`` mapping), no missing data."""
        base: dict[str, Any] = dict(
            name="blog",
            hosts=10,
            processes=3,
            periods=1440,
            metrics=("cpuTime", "jvmGcTime"),
            kinds=("spike", "dip"),
            heterogeneity=0.1,
            daily=True,
            weekly=False,
            peak_days=False,
            missing_rate=0.0,
        )
        base.update(overrides)
        # Two events per entity unless told otherwise (60 for the default 30 entities).
        base.setdefault("anomalies", 2 * base["hosts"] * base["processes"])
        return cls(**base)

    @classmethod
    def business(cls, **overrides: Any) -> FleetSpec:
        """A production-like fleet from the second generator (:mod:`hcad.quality.realistic`): 12 hosts
        × 3 processes over 8 days at 10 minutes from a Monday, business-hours traffic in several time
        zones, lower weekends, a nightly batch process, 1% missing intervals, and spikes, outages,
        level shifts, GC storms and memory leaks (two events per entity)."""
        from hcad.quality.realistic import BUSINESS_KINDS, BUSINESS_METRICS

        base: dict[str, Any] = dict(
            name="business",
            generator="business",
            hosts=12,
            processes=3,
            periods=1152,
            metrics=BUSINESS_METRICS,
            kinds=tuple(BUSINESS_KINDS),
            heterogeneity=1.0,
            missing_rate=0.01,
            min_gap=12,
        )
        base.update(overrides)
        base.setdefault("anomalies", 2 * base["hosts"] * base["processes"])
        return cls(**base)

    @classmethod
    def fleet(cls, **overrides: Any) -> FleetSpec:
        """A harder fleet: per-entity baselines and periods, daily + weekly seasonality, bimodal
        peak-traffic days, 2% missing intervals and all five anomaly kinds."""
        base: dict[str, Any] = dict(
            name="fleet",
            hosts=10,
            processes=3,
            periods=2016,
            metrics=("cpu", "memory", "jvmGcTime"),
            kinds=KINDS,
            heterogeneity=1.0,
            periods_minutes=(1440, 1440, 1440, 720),
            daily=True,
            weekly=True,
            peak_days=True,
            missing_rate=0.02,
        )
        base.update(overrides)
        # 2.5 events per entity unless told otherwise (75 for the default 30 entities).
        base.setdefault("anomalies", round(2.5 * base["hosts"] * base["processes"]))
        return cls(**base)

    # ------------------------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise :class:`ValidationError` listing every bad field."""
        issues: list[Issue] = []

        def need(ok: bool, path: str, message: str, fix: str) -> None:
            if not ok:
                issues.append(Issue(path, message, fix))

        for name in ("hosts", "processes", "periods", "interval_minutes"):
            v = getattr(self, name)
            need(isinstance(v, int) and v >= 1, name, f"must be a positive integer, got {v!r}", "use 1 or more")
        need(
            isinstance(self.start, datetime) and self.start.tzinfo is not None,
            "start",
            f"must be a timezone-aware datetime, got {self.start!r}",
            "pass e.g. datetime(2024, 1, 1, tzinfo=timezone.utc)",
        )
        need(
            0.0 <= self.missing_rate < 1.0,
            "missing_rate",
            f"{self.missing_rate} is not in [0, 1)",
            "use 0–0.5",
        )
        need(0.0 <= self.warmup_fraction < 1.0, "warmup_fraction", "must be in [0, 1)", "use e.g. 0.4")
        need(0.0 <= self.peak_day_rate <= 1.0, "peak_day_rate", "must be in [0, 1]", "use e.g. 0.3")
        need(self.min_gap >= 0, "min_gap", "must be ≥ 0", "use e.g. 10")
        need(self.heterogeneity >= 0, "heterogeneity", "must be ≥ 0", "use 0–1")
        need(self.magnitude_scale > 0, "magnitude_scale", "must be > 0", "use e.g. 1.0")
        need(
            bool(self.periods_minutes) and all(p > 0 for p in self.periods_minutes),
            "periods_minutes",
            "must be one or more positive numbers of minutes",
            "use e.g. (1440,)",
        )
        need(
            self.generator in GENERATORS,
            "generator",
            f"unknown generator {self.generator!r}",
            f"use one of {list(GENERATORS)}",
        )
        known = self.known_kinds()
        bad_kinds = [k for k in self.kinds if k not in known]
        need(not bad_kinds and bool(self.kinds), "kinds", f"unknown {bad_kinds}", f"use some of {list(known)}")
        need(bool(self.metrics), "metrics", "needs at least one metric", "e.g. ('cpu', 'memory')")
        reserved = {TIME_FIELD, HOST_FIELD, PROCESS_FIELD}
        clash = [m for m in self.metrics if m in reserved or not m]
        need(not clash, "metrics", f"{clash} clash with the time/entity fields", "rename the metric")
        need(len(set(self.metrics)) == len(self.metrics), "metrics", "has duplicates", "list each metric once")
        if isinstance(self.anomalies, int):
            need(self.anomalies >= 0, "anomalies", "must be ≥ 0", "use a count or a list of AnomalySpec")
        else:
            for i, a in enumerate(self.anomalies):
                issues.extend(self._check_anomaly(i, a))
        if issues:
            raise ValidationError(issues, source="FleetSpec")

    def _check_anomaly(self, i: int, a: Any) -> list[Issue]:
        path = f"anomalies[{i}]"
        if not isinstance(a, AnomalySpec):
            return [Issue(path, f"is a {type(a).__name__}, not an AnomalySpec", "build it with AnomalySpec(...)")]
        out = []
        if a.host not in self.host_names() or a.process not in self.process_names():
            out.append(Issue(path, f"entity {a.host}/{a.process} is not in the fleet", "use hostN/processN"))
        if a.kind not in self.known_kinds():
            out.append(Issue(f"{path}.kind", f"unknown kind {a.kind!r}", f"use one of {list(self.known_kinds())}"))
        if a.length < 1:
            out.append(Issue(f"{path}.length", "must be ≥ 1 interval", "use 1 or more"))
        unknown = [m for m in a.metrics if m not in self.metrics]
        if unknown:
            out.append(Issue(f"{path}.metrics", f"{unknown} are not fleet metrics", f"use {list(self.metrics)}"))
        if a.start.tzinfo is None:
            out.append(Issue(f"{path}.start", "must be timezone-aware", "add tzinfo=timezone.utc"))
        else:
            idx = (a.start - self.start) / timedelta(minutes=self.interval_minutes)
            if idx != int(idx) or idx < 0 or idx + a.length > self.periods:
                out.append(
                    Issue(
                        f"{path}.start",
                        f"{a.start.isoformat()} (+{a.length}) is not on an interval inside the series",
                        "use start + k·interval with k + length ≤ periods",
                    )
                )
        return out

    # ------------------------------------------------------------------------------------ facts
    def known_kinds(self) -> tuple[str, ...]:
        """The anomaly kinds this spec's generator can inject."""
        return tuple(_kind_defaults(self.generator))

    def host_names(self) -> list[str]:
        """``host0`` … in order."""
        return [f"host{h}" for h in range(self.hosts)]

    def process_names(self) -> list[str]:
        """``process0`` … in order."""
        return [f"process{p}" for p in range(self.processes)]

    def entities(self) -> list[tuple[str, str]]:
        """All (host, process) pairs, host-major."""
        return [(h, p) for h in self.host_names() for p in self.process_names()]

    @property
    def end(self) -> datetime:
        """End of the last interval (exclusive)."""
        return self.start + timedelta(minutes=self.periods * self.interval_minutes)

    @property
    def entity_count(self) -> int:
        """Host × process entities in the fleet."""
        return self.hosts * self.processes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (datetimes as ISO strings); :meth:`from_dict` reverses it."""
        d = asdict(self)
        d["start"] = self.start.isoformat()
        if not isinstance(self.anomalies, int):
            d["anomalies"] = [dict(asdict(a), start=a.start.isoformat()) for a in self.anomalies]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetSpec:
        """Build a spec from :meth:`to_dict` output (or a hand-written mapping of the same keys)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"fleet spec: unknown keys {unknown}; known keys are {sorted(known)}")
        d = dict(data)
        try:
            if isinstance(d.get("start"), str):
                d["start"] = _parse_time(d["start"])
            if isinstance(d.get("anomalies"), list):
                d["anomalies"] = tuple(
                    AnomalySpec(**dict(a, start=_parse_time(a["start"]), metrics=tuple(a.get("metrics", ()))))
                    for a in d["anomalies"]
                )
            for k in ("kinds", "metrics", "periods_minutes"):
                if k in d:
                    d[k] = tuple(d[k])
        except (TypeError, KeyError, ValueError) as e:
            raise ConfigError(f"fleet spec: {e}; use the keys FleetSpec.to_dict() writes") from e
        return cls(**d)


def _parse_time(value: str) -> datetime:
    t = from_iso(value)
    if t is None:
        raise ValueError(f"{value!r} is not an ISO-8601 time")
    return t.astimezone(UTC)


# ------------------------------------------------------------------------------ anomaly placement
def anomaly_specs(spec: FleetSpec) -> list[AnomalySpec]:
    """The anomalies of ``spec``: its explicit list, or ``spec.anomalies`` placed at random.

    Kinds are used in turn (so every kind gets about the same number of events); each anomaly goes
    to a random entity after the warm-up, at least ``min_gap`` intervals from that entity's others.
    """
    if not isinstance(spec.anomalies, int):
        return _with_metrics(spec, sorted(spec.anomalies, key=lambda a: (a.host, a.process, a.start)))
    kind_defaults = _kind_defaults(spec.generator)
    rng = np.random.default_rng([spec.seed, 2])
    entities = spec.entities()
    warmup = math.ceil(spec.periods * spec.warmup_fraction)
    taken: dict[int, list[tuple[int, int]]] = {}
    iv = timedelta(minutes=spec.interval_minutes)
    out: list[AnomalySpec] = []
    for k in range(spec.anomalies):
        kind = spec.kinds[k % len(spec.kinds)]
        base_mag, (lo, hi) = kind_defaults[kind]
        for _attempt in range(200):
            e = int(rng.integers(len(entities)))
            length = int(rng.integers(lo, hi + 1))
            if spec.periods - length <= warmup:
                continue
            s = int(rng.integers(warmup, spec.periods - length + 1))
            if all(s + length + spec.min_gap <= a or b + spec.min_gap <= s for a, b in taken.get(e, [])):
                break
        else:
            raise ConfigError(
                f"anomalies: cannot place {spec.anomalies} anomalies in {spec.entity_count} entities × "
                f"{spec.periods} intervals (warm-up {warmup}, min_gap {spec.min_gap}); lower anomalies, "
                f"raise periods/hosts or lower min_gap"
            )
        taken.setdefault(e, []).append((s, s + length))
        mag = base_mag * spec.magnitude_scale * float(rng.uniform(0.8, 1.2))
        if kind == "level_shift" and rng.random() < 0.5:
            mag = -mag
        host, process = entities[e]
        out.append(AnomalySpec(host, process, spec.start + s * iv, length, kind, round(mag, 3)))
    return _with_metrics(spec, sorted(out, key=lambda a: (a.host, a.process, a.start)))


def _kind_defaults(generator: str) -> dict[str, tuple[float, tuple[int, int]]]:
    if generator == "business":
        from hcad.quality.realistic import BUSINESS_KINDS

        return BUSINESS_KINDS
    return KIND_DEFAULTS


def _with_metrics(spec: FleetSpec, anomalies: list[AnomalySpec]) -> list[AnomalySpec]:
    """The business generator's kinds touch fixed metrics: name them on each anomaly (labels)."""
    if spec.generator != "business":
        return anomalies
    from hcad.quality.realistic import assign_metrics

    return assign_metrics(anomalies, spec.metrics)


def _affected(a: AnomalySpec, metrics: Sequence[str]) -> dict[str, float]:
    """metric → share of the magnitude it receives."""
    if a.metrics:
        return {m: 1.0 for m in a.metrics}
    if a.kind == "gc_storm" and "jvmGcTime" in metrics:
        share = {"jvmGcTime": 1.0, "cpu": 0.5, "cpuTime": 0.5, "memory": 1 / 3}
        return {m: share[m] for m in metrics if m in share}
    return {m: 1.0 for m in metrics}


# ----------------------------------------------------------------------------------- generation
@dataclass
class _EntitySeries:
    host: str
    process: str
    index: np.ndarray  # interval numbers present (after missing ones are dropped)
    values: dict[str, np.ndarray] = field(default_factory=dict)


def _peak_bump(spec: FleetSpec, minutes: np.ndarray) -> np.ndarray:
    """Fleet-wide relative level bump (0 … 1) of peak-traffic days: a raised cosine over 08–20 h UTC."""
    if not spec.peak_days:
        return np.zeros(len(minutes))
    days = minutes // 1440
    first, last = int(days.min()), int(days.max())
    rng = np.random.default_rng([spec.seed, 3])
    peak = rng.random(last - first + 1) < spec.peak_day_rate
    tod = (minutes % 1440) / 60.0
    window = np.where((tod >= 8) & (tod < 20), 0.5 - 0.5 * np.cos(2 * np.pi * (tod - 8) / 12), 0.0)
    return np.asarray(peak[days - first] * window, dtype=float)


def _generate(spec: FleetSpec, anomalies: Sequence[AnomalySpec] | None = None) -> Iterator[_EntitySeries]:
    """Yield each entity's series in host-major order; memory is O(periods), not O(fleet)."""
    if anomalies is None:
        anomalies = anomaly_specs(spec)
    if spec.generator == "business":
        from hcad.quality.realistic import generate

        for host, process, index, values in generate(spec, anomalies):
            yield _EntitySeries(host, process, index, values)
        return
    by_entity: dict[tuple[str, str], list[AnomalySpec]] = {}
    for a in anomalies:
        by_entity.setdefault((a.host, a.process), []).append(a)
    n = spec.periods
    t = np.arange(n)
    start_min = int((spec.start - _EPOCH).total_seconds() // 60)
    minutes = start_min + t * spec.interval_minutes
    bump = _peak_bump(spec, minutes)
    het = spec.heterogeneity
    iv = timedelta(minutes=spec.interval_minutes)
    for e, (host, process) in enumerate(spec.entities()):
        rng = np.random.default_rng([spec.seed, 1, e])
        # Anomalies draw from their own stream: adding one never changes the entity's normal data.
        arng = np.random.default_rng([spec.seed, 4, e])
        period = float(spec.periods_minutes[int(rng.integers(len(spec.periods_minutes)))])
        sensitivity = float(rng.uniform(0.5, 1.5))
        missing = rng.random(n) < spec.missing_rate
        series = _EntitySeries(host, process, t)
        mine = by_entity.get((host, process), [])
        for metric in spec.metrics:
            level0, amp0, noise0 = METRIC_PROFILES.get(metric, _DEFAULT_PROFILE)
            # Draw every parameter whether used or not, so a flag never shifts the random stream.
            level = level0 * float(np.exp(rng.normal(0.0, 0.5 * het)))
            amp = amp0 * level * float(rng.uniform(1 - 0.5 * min(het, 1) - 0.2, 1 + 0.5 * het + 0.2))
            sigma = noise0 * level * float(rng.uniform(1 - 0.5 * min(het, 1), 1 + het))
            phase = float(rng.uniform(0, 2 * np.pi))
            wphase = float(rng.uniform(0, 2 * np.pi))
            trend = level * 0.1 * het * float(rng.normal()) / n
            noise = rng.normal(0.0, sigma, n)
            v = level * (1.0 + spec.peak_factor * sensitivity * bump)
            if spec.daily:
                v = v + amp * np.cos(2 * np.pi * minutes / period + phase)
            if spec.weekly:
                v = v + 0.5 * amp * np.cos(2 * np.pi * minutes / 10080.0 + wphase)
            v = v + trend * t + noise
            for a in mine:
                share = _affected(a, spec.metrics).get(metric)
                if share is None:
                    continue
                s = int((a.start - spec.start) / iv)
                sl = slice(s, s + a.length)
                m = a.magnitude * share * sigma
                if a.kind == "spike" or a.kind == "level_shift":
                    v[sl] += m
                elif a.kind == "dip":
                    v[sl] -= abs(m)
                elif a.kind == "variance_burst":
                    extra = abs(a.magnitude) * share
                    v[sl] += arng.normal(0.0, sigma * math.sqrt(max(extra * extra - 1.0, 0.0)), a.length)
                elif a.kind == "gc_storm":
                    v[sl] += m * np.linspace(0.5, 1.0, a.length)
            series.values[metric] = np.round(np.clip(v, 0.0, None), 4)
        for a in mine:  # an event always has its data
            s = int((a.start - spec.start) / iv)
            missing[s : s + a.length] = False
        if missing.any():
            keep = ~missing
            series.index = t[keep]
            series.values = {k: v[keep] for k, v in series.values.items()}
        yield series


def _timestamps(spec: FleetSpec) -> list[str]:
    step = timedelta(minutes=spec.interval_minutes)
    return [(spec.start + i * step).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(spec.periods)]


def fleet_documents(spec: FleetSpec) -> Iterator[dict[str, Any]]:
    """The fleet's documents, entity by entity: ``@timestamp`` (ISO-8601 UTC, interval start),
    ``host``, ``process`` and one float per metric."""
    stamps = _timestamps(spec)
    metrics = spec.metrics
    for s in _generate(spec):
        cols = [s.values[m].tolist() for m in metrics]
        for j, i in enumerate(s.index.tolist()):
            doc: dict[str, Any] = {TIME_FIELD: stamps[i], HOST_FIELD: s.host, PROCESS_FIELD: s.process}
            for m, col in zip(metrics, cols, strict=True):
                doc[m] = col[j]
            yield doc


def fleet_frame(spec: FleetSpec) -> pd.DataFrame:
    """The same documents as :func:`fleet_documents` as a DataFrame (``@timestamp`` is a UTC
    datetime column), ordered by host, process and time."""
    import pandas as pd

    iv = np.timedelta64(spec.interval_minutes, "m")
    t0 = np.datetime64(spec.start.replace(tzinfo=None), "ns")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (TIME_FIELD, HOST_FIELD, PROCESS_FIELD, *spec.metrics)}
    for s in _generate(spec):
        parts[TIME_FIELD].append(t0 + s.index * iv)
        parts[HOST_FIELD].append(np.full(len(s.index), s.host, dtype=object))
        parts[PROCESS_FIELD].append(np.full(len(s.index), s.process, dtype=object))
        for m in spec.metrics:
            parts[m].append(s.values[m])
    data = {k: np.concatenate(v) if v else np.array([]) for k, v in parts.items()}
    frame = pd.DataFrame(data)
    frame[TIME_FIELD] = pd.to_datetime(frame[TIME_FIELD]).dt.tz_localize("UTC")
    return frame


def fleet_labels(spec: FleetSpec) -> pd.DataFrame:
    """One row per injected anomaly: host, process, start, end (exclusive), kind, metric (the
    affected metrics joined by ``,``), magnitude (σ units) and length (intervals)."""
    import pandas as pd

    rows = []
    for a in anomaly_specs(spec):
        rows.append(
            {
                "host": a.host,
                "process": a.process,
                "start": a.start,
                "end": a.end(spec.interval_minutes),
                "kind": a.kind,
                "metric": ",".join(_affected(a, spec.metrics)),
                "magnitude": a.magnitude,
                "length": a.length,
            }
        )
    frame = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
    for c in ("start", "end"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame


def write_labels(path: str | Path, spec: FleetSpec) -> Path:
    """Write the labels of ``spec`` as CSV (ISO-8601 UTC times) and return the path."""
    p = Path(path)
    frame = fleet_labels(spec)
    for c in ("start", "end"):
        frame[c] = frame[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        frame.to_csv(p, index=False)
    except OSError as e:
        raise ConfigError(f"{p}: cannot write labels ({e.strerror}); pick a writable path") from e
    return p


def read_labels(path: str | Path) -> pd.DataFrame:
    """Read a labels CSV written by :func:`write_labels` (or by hand: host, process, start, end,
    kind are required; metric, magnitude and length are optional)."""
    import pandas as pd

    p = Path(path)
    try:
        frame = pd.read_csv(p, dtype={"host": str, "process": str, "kind": str, "metric": str})
    except FileNotFoundError as e:
        raise ConfigError(f"{p}: labels file not found; write one with scripts/gen_fleet.py --labels") from e
    except (OSError, ValueError) as e:
        raise ConfigError(f"{p}: cannot read labels CSV ({e})") from e
    missing = [c for c in ("host", "process", "start", "end", "kind") if c not in frame.columns]
    if missing:
        raise ConfigError(f"{p}: labels CSV lacks columns {missing}; expected {list(LABEL_COLUMNS)}")
    try:
        for c in ("start", "end"):
            frame[c] = pd.to_datetime(frame[c], utc=True, format="ISO8601")
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{p}: bad timestamp in labels ({e}); use ISO-8601 like 2024-01-01T00:00:00Z") from e
    if "metric" not in frame.columns:
        frame["metric"] = ""
    frame["metric"] = frame["metric"].fillna("")
    return frame


# ---------------------------------------------------------------------------- bulk documents
def doc_id(host: str, process: str, stamp: str) -> str:
    """Deterministic document id: loading the same fleet twice overwrites instead of duplicating."""
    return f"{host}|{process}|{stamp}"


def bulk_lines(spec: FleetSpec) -> Iterator[bytes]:
    """The fleet as bulk ``index`` action + source line pairs (one ``bytes`` per document).

    Formats JSON directly: names are generated (``hostN``) and values are finite floats, so this
    is valid JSON and several times cheaper than serialising a dict per document.
    """
    stamps = _timestamps(spec)
    metrics = spec.metrics
    for s in _generate(spec):
        h, p = json.dumps(s.host), json.dumps(s.process)
        cols = [s.values[m].tolist() for m in metrics]
        names = [json.dumps(m) for m in metrics]
        for j, i in enumerate(s.index.tolist()):
            ts = stamps[i]
            vals = ",".join(f"{n}:{c[j]!r}" for n, c in zip(names, cols, strict=True))
            yield (
                f'{{"index":{{"_id":{json.dumps(doc_id(s.host, s.process, ts))}}}}}\n'
                f'{{"{TIME_FIELD}":"{ts}","{HOST_FIELD}":{h},"{PROCESS_FIELD}":{p},{vals}}}\n'
            ).encode()


def bulk_actions(spec: FleetSpec) -> Iterator[dict[str, Any]]:
    """The fleet as opensearch-py bulk actions (``_id`` + ``_source``), for ``streaming_bulk``."""
    for doc in fleet_documents(spec):
        yield {"_id": doc_id(doc[HOST_FIELD], doc[PROCESS_FIELD], doc[TIME_FIELD]), "_source": doc}


def with_overrides(spec: FleetSpec, **changes: Any) -> FleetSpec:
    """A copy of ``spec`` with some fields changed (validated again)."""
    return replace(spec, **changes)
