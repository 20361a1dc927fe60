"""A second fleet generator, shaped like production fleets rather than cosine waves.

:mod:`hcad.quality.synth`'s ``cosine`` generator (the seed blog's data) is what hcad's first defaults
were tuned on. This ``business`` generator was written separately so defaults can be checked on data
they were not tuned to. What it models, per host × process (every draw comes from the spec's seed):

- **Traffic** ``L(t)`` in [0, 1]: business-hours plateaus with ramps at about 08:30 and 18:30 *local*
  time, a lunch dip and night troughs; each host sits in one of several time zones; weekends (local)
  carry a third of a weekday's daytime traffic. Process types, by process number: ``web`` (business
  hours), ``api`` (longer day, 07–23 h), ``batch`` (quiet by day, a nightly job 01:00–03:00 local) and
  ``worker`` (traffic-following with a constant floor).
- **Metrics** follow traffic with per-entity scales (log-normal): ``cpu`` (%), ``network`` (MB per
  interval), ``jvmGcTime`` (ms; heavy-tailed noise) and ``memory`` (%; slow, mostly flat).
- **Heteroscedastic noise**: σ grows with the level (busy hours are noisier than nights).
- **Missing intervals** at ``missing_rate`` (never inside an event).

Anomaly kinds (magnitudes in units of the main metric's *local* σ, i.e. at that time of day):

================  ==========================================================================
``spike``         cpu (and network) +m·σ for 1–3 intervals
``dip``           an outage: cpu and network fall to 5–20% of their level for 2–6 intervals
``level_shift``   cpu and network ±m·σ held for 12–36 intervals (can start at night)
``gc_storm``      jvmGcTime ramps up to +m·σ over 3–8 intervals, cpu +m/2·σ
``drift``         memory leak: memory climbs linearly to +m·σ over 36–72 intervals, then back
================  ==========================================================================

Pure: numpy only, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hcad.quality.synth import AnomalySpec, FleetSpec

#: One entity's series: host, process, the interval numbers present, metric → values.
Series = tuple[str, str, np.ndarray, dict[str, np.ndarray]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Kinds the business generator injects, with (magnitude in σ, (min, max) length in intervals).
BUSINESS_KINDS: dict[str, tuple[float, tuple[int, int]]] = {
    "spike": (10.0, (1, 3)),
    "dip": (0.0, (2, 6)),  # an outage: the level falls to 5–20%; magnitude is not used
    "level_shift": (8.0, (12, 36)),
    "gc_storm": (10.0, (3, 8)),
    "drift": (12.0, (36, 72)),
}

#: Metrics each kind touches (the labels name them; a detector without them cannot see the event).
AFFECTED: dict[str, tuple[str, ...]] = {
    "spike": ("cpu", "network"),
    "dip": ("cpu", "network"),
    "level_shift": ("cpu", "network"),
    "gc_storm": ("jvmGcTime", "cpu"),
    "drift": ("memory",),
}

BUSINESS_METRICS = ("cpu", "memory", "jvmGcTime", "network")
PROCESS_TYPES = ("web", "api", "batch", "worker")
#: UTC offsets (hours) hosts are spread over.
TIME_ZONES = (-8.0, -5.0, 0.0, 1.0, 5.5, 9.0)

# Per metric: (idle level, level added at full traffic, relative noise at idle, at full traffic).
_METRIC_SHAPE: dict[str, tuple[float, float, float, float]] = {
    "cpu": (8.0, 55.0, 0.06, 0.05),
    "network": (5.0, 120.0, 0.08, 0.06),
    "jvmGcTime": (15.0, 60.0, 0.12, 0.10),
    "memory": (55.0, 8.0, 0.01, 0.012),
}


def _ramp(x: np.ndarray, width: float) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x / width)), dtype=float)


def traffic(kind: str, local_hours: np.ndarray, weekend: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Relative traffic in [0, 1] of a process type at local time-of-day ``local_hours``."""
    on = float(rng.normal(8.5, 0.4))
    off = float(rng.normal(18.5, 0.5))
    h = local_hours
    if kind == "web":
        day = _ramp(h - on, 0.5) * _ramp(off - h, 0.6)
        day = day * (1.0 - 0.15 * np.exp(-0.5 * ((h - 12.5) / 0.6) ** 2))  # lunch dip
        night = 0.08
    elif kind == "api":
        day = _ramp(h - (on - 1.5), 0.7) * _ramp((off + 4.5) - h, 0.8)
        night = 0.15
    elif kind == "batch":
        job = _ramp(h - 1.0, 0.1) * _ramp(3.0 - h, 0.15)
        return np.asarray(0.1 + 0.85 * job + 0.05 * _ramp(h - on, 0.5) * _ramp(off - h, 0.6), dtype=float)
    else:  # worker: follows the day with a constant floor
        day = _ramp(h - on, 0.8) * _ramp(off - h, 0.8)
        night = 0.35
    amp = np.where(weekend, 0.33, 1.0)
    return np.asarray(night + (1.0 - night) * amp * day, dtype=float)


def host_time_zone(seed: int, host_number: int) -> float:
    """The UTC offset (hours) of host ``host_number`` in the fleet of ``seed``."""
    rng = np.random.default_rng([seed, 11, host_number])
    return float(TIME_ZONES[int(rng.integers(len(TIME_ZONES)))])


def assign_metrics(anomalies: Sequence[AnomalySpec], metrics: Sequence[str]) -> list[AnomalySpec]:
    """Give each anomaly the metrics its kind touches (those the fleet has), for the labels."""
    out = []
    for a in anomalies:
        touched = tuple(m for m in AFFECTED.get(a.kind, tuple(metrics)) if m in metrics) or tuple(metrics)
        out.append(a if a.metrics else replace(a, metrics=touched))
    return out


def generate(spec: FleetSpec, anomalies: Sequence[AnomalySpec]) -> Iterator[Series]:
    """Yield each entity's series (host-major), like ``synth._generate`` does for the cosine fleet."""
    by_entity: dict[tuple[str, str], list[AnomalySpec]] = {}
    for a in anomalies:
        by_entity.setdefault((a.host, a.process), []).append(a)
    n = spec.periods
    t = np.arange(n)
    start_min = int((spec.start - _EPOCH).total_seconds() // 60)
    utc_minutes = start_min + t * spec.interval_minutes
    iv = timedelta(minutes=spec.interval_minutes)
    het = max(spec.heterogeneity, 0.0)
    for e, (host, process) in enumerate(spec.entities()):
        h_idx = int(host.removeprefix("host"))
        p_idx = int(process.removeprefix("process"))
        tz = host_time_zone(spec.seed, h_idx)
        rng = np.random.default_rng([spec.seed, 12, e])
        arng = np.random.default_rng([spec.seed, 14, e])
        kind = PROCESS_TYPES[p_idx % len(PROCESS_TYPES)]
        local = utc_minutes + tz * 60.0
        hours = (local % 1440) / 60.0
        weekday = ((local // 1440) + 3) % 7  # 1970-01-01 was a Thursday (3 with Monday = 0)
        weekend = weekday >= 5
        load = traffic(kind, hours, weekend, rng)
        # A little day-to-day variation of the whole day's traffic (busier and quieter days).
        days = (local // 1440).astype(np.int64)
        day_factor = np.exp(rng.normal(0.0, 0.06, int(days.max() - days.min()) + 1))[days - days.min()]
        load = np.clip(load * day_factor, 0.0, 1.2)
        missing = rng.random(n) < spec.missing_rate
        values: dict[str, np.ndarray] = {}
        mine = by_entity.get((host, process), [])
        sigmas: dict[str, np.ndarray] = {}
        clean: dict[str, np.ndarray] = {}
        for metric in spec.metrics:
            idle, busy, r_idle, r_busy = _METRIC_SHAPE.get(metric, (20.0, 50.0, 0.05, 0.05))
            scale = float(np.exp(rng.normal(0.0, 0.4 * max(het, 0.25))))
            level = scale * (idle + busy * load)
            if metric == "memory":
                # Memory follows traffic slowly (an hour's smoothing), not interval by interval.
                k = max(1, 60 // spec.interval_minutes)
                level = np.convolve(np.pad(level, (k - 1, 0), mode="edge"), np.ones(k) / k, mode="valid")
            sigma = level * (r_idle + (r_busy - r_idle) * np.clip(load, 0.0, 1.0))
            noise = rng.normal(0.0, 1.0, n)
            if metric == "jvmGcTime":
                noise = rng.standard_t(4, n) / np.sqrt(2.0)  # occasional larger collections
            sigmas[metric] = sigma
            clean[metric] = level
            values[metric] = level + sigma * noise
        for a in mine:
            s = int((a.start - spec.start) / iv)
            sl = slice(s, s + a.length)
            m = a.magnitude
            v = values
            if a.kind == "spike":
                for metric in ("cpu", "network"):
                    if metric in v:
                        v[metric][sl] += m * sigmas[metric][sl]
            elif a.kind == "dip":
                keep = float(arng.uniform(0.05, 0.2))
                for metric in ("cpu", "network"):
                    if metric in v:
                        v[metric][sl] = clean[metric][sl] * keep + 0.3 * sigmas[metric][sl] * arng.normal(
                            0, 1, a.length
                        )
            elif a.kind == "level_shift":
                for metric in ("cpu", "network"):
                    if metric in v:
                        # σ of the event's start: a night shift is as big as its night noise says.
                        v[metric][sl] += m * float(sigmas[metric][s])
            elif a.kind == "gc_storm":
                ramp = np.linspace(0.5, 1.0, a.length)
                if "jvmGcTime" in v:
                    v["jvmGcTime"][sl] += m * sigmas["jvmGcTime"][sl] * ramp
                if "cpu" in v:
                    v["cpu"][sl] += 0.5 * m * sigmas["cpu"][sl] * ramp
            elif a.kind == "drift" and "memory" in v:
                v["memory"][sl] += m * float(np.median(sigmas["memory"])) * np.linspace(1.0 / a.length, 1.0, a.length)
        for metric in spec.metrics:
            values[metric] = np.round(np.clip(values[metric], 0.0, None), 4)
        for a in mine:  # an event always has its data
            s = int((a.start - spec.start) / iv)
            missing[s : s + a.length] = False
        keep_rows = ~missing
        yield host, process, t[keep_rows], {k: v[keep_rows] for k, v in values.items()}
