"""Metrics relative to their own past: the seasonal baseline a detector's query cannot compute.

The AD plugin's forest sees each interval's feature values and the few intervals before them (the
shingle); it normalises every feature by its running mean and spread over the whole day. An event
sized against the noise *at that hour* (a night-time level shift, a spike on a quiet weekend) is small
against the day's range, so the forest never scores it above its threshold, whatever the detector's
settings (``detectors/README.md``: two labelled events in three on the seasonal fleets).

This module computes, for each document, how far each metric is from what the same entity did at the
same time of day on recent days of the same kind (weekday or weekend; with ``season="anyday"``, on recent
days of either kind; with ``season="week"``, on the same weekday of past weeks), and optionally removes
what the whole fleet did at that moment (a peak-traffic day lifts every entity: not an anomaly of one).
Written to the index beside the raw metrics, these fields are what a detector then reads; its ``ignore
anomalies within a margin`` rule is in the same units for every entity.

- ``ratio``: ``value / baseline - 1`` (for metrics whose noise grows with their level);
- ``z``: ``(value - baseline) / spread``, the spread a robust (MAD) estimate over the same slots;
- ``level``: ``(value - baseline) / the baseline's mean over that day`` (for metrics whose noise does not grow
  with their level: a change of the same size counts the same at the daily peak and in the trough, where a
  ratio shrinks it at the peak and swells it in the trough).

Only the past is used (the baseline of day *d* comes from days before *d*), so the fields can be
computed as data arrives. Pure: numpy and pandas, no I/O.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hcad.errors import ConfigError, Issue, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from hcad.quality.evaluate import EvalConfig

MODES = ("ratio", "z", "level")
#: ``day``: the same time of day on past days of the same kind (UTC weekday or weekend); ``week``: the same
#: time of the week (the same UTC weekday on past weeks), so a host whose local weekend starts hours before
#: or after the UTC one is compared with itself at the same local time; ``anyday``: the same time of day on the
#: past days, weekdays and weekends alike, for data whose weekend looks like its weekdays: there, against the
#: same kind of day, a Saturday is compared with Saturdays and Sundays up to four weeks back, and each switch
#: between the kinds (Saturday and Monday, 00:00) moves every deviation at once.
SEASONS = ("day", "week", "anyday")
#: What ``scripts/tune_baseline.py --history 14`` chose on the tuning fleets, each with 14 days of data
#: before the 8 days scored, as a baseline and a detector in service have (``detectors/README.md`` has the
#: held-out results): ratio to the baseline, the fleet's median removed, a local level over 36 intervals
#: removed (none against past weeks: ``RECOMMENDED_WEEKLY``); the detector at shingle 2 ignores anomalies
#: within 3 robust spreads above the expected value and 6 below it.
RECOMMENDED_SHINGLE = 2
RECOMMENDED_SPREADS = 3.0
RECOMMENDED_SPREADS_BELOW = 6.0
#: With ``season="week"``: 2 spreads above and 4 below, each field's spread scaled by its
#: :func:`tail_factor`. Found on held-out business fleets, then checked on six more never looked at before
#: (``detectors/README.md``): a narrower margin above lets fewer spikes and level shifts be explained away
#: by the forest's sample, and the tail factor keeps a bursty metric (GC time) from alarming on its bursts.
#: 4 below (6 before the weekly baseline lost its local level): without the local level the spreads are
#: wider, and 6 of them let most downward level shifts pass.
RECOMMENDED_WEEKLY_SPREADS = 2.0
RECOMMENDED_WEEKLY_SPREADS_BELOW = 4.0
#: ``hcad baseline --stretch`` / ``recommend --trial --stretch``: each spread of the named metric's deviation past
#: :data:`RECOMMENDED_KNEE` counts 1 + this many times, in the ``level`` form. On the cosine fleets (3 / 3 spreads,
#: backtest), against days of the same kind with a knee of 5, GC time stretched so found 41 of 63 GC storms on seven
#: held-out fleets (18 without) at 0.081 false alarms per entity per day instead of 0.042; against any past day
#: (``season="anyday"``), with a knee of 4.5 (chosen on ten fleets) and the fleet share's prior
#: (:data:`_FIT_PRIOR_MOVES`), on six fleets generated after those choices: 0.72 of the GC storms, F1 0.907 at 0.032
#: false alarms, the plugin's defaults 0.24, 0.662 at 0.066 (``detectors/README.md``). Every metric stretched (knee
#: 5): 0.296 false alarms on the tuning fleets.
RECOMMENDED_STRETCH = 4.0
RECOMMENDED_KNEE = 4.5
#: A detector over one metric alone (``hcad baseline --alone``, the trial's ``alone``) reads that metric's
#: deviation with a local level of this many intervals removed, also where the main fields have none (against
#: past weeks): without one, a memory leak's slow climb is followed by the forest's forecast and explained
#: away (``CONDITIONAL_FORECAST``); with one, the climb is a lasting offset from the recent level.
ALONE_LOCAL = 36
#: Fewer interval-to-interval changes than this (over all entities) and :func:`tail_factor` says 1.
MIN_TAIL_CHANGES = 500
_TAIL_QUANTILE = 0.99
_NORMAL_Q99 = 2.5758  # the 99th percentile of |N(0, 1)|
#: The suffix of the fields written beside each metric.
SUFFIX = "_vs_baseline"
_MAD_TO_SIGMA = 1.4826
#: The weight (in squared deviations) of a share of 1 in :func:`_fleet_share`: small, so a few intervals of a
#: fleet-wide surge outweigh it; it only keeps the share defined before there is any past.
_FIT_PRIOR = 1e-3
#: The weight of a share of 1 in :func:`_fleet_share`, in the fit window's typical moves: this many times its
#: intervals × the fleet's median squared move in it. Without it, a week without a peak-traffic day gave shares
#: fitted to whatever else the fleet's median did (from -1.2 to 3.5 on cosine fleet 141, whose entities' shares
#: of that day were 0.6 to 1.7), and the next such day, multiplied by them, raised most of the fleet's false
#: alarms; a peak-traffic day in the window, its moves far above the median one, outweighs it. 10 was chosen
#: after 2 on cosine fleets 141 and 151, then checked on sixteen (``detectors/README.md``).
_FIT_PRIOR_MOVES = 10.0


@dataclass(frozen=True)
class BaselineSpec:
    """How baselines are built.

    ``days``: how many past days of the same kind feed a slot's baseline; ``min_days``: fewer days of
    the same kind than this and days of either kind are used;
    ``season``: ``"day"`` (the above), ``"anyday"``: the last ``days`` days whatever their kind (for data
    without a weekend of its own: :data:`SEASONS`), or ``"week"``: the same weekday on up to ``days`` past
    weeks; a day with fewer than ``min_days`` such weeks behind it falls back to ``"day"``. Weekends are UTC
    days, so on a fleet spread over time zones a daily baseline compares a host's local Friday evening with
    past local Saturdays; the weekly one does not, at the price of fewer, noisier past days (it needs
    ``min_days`` weeks of history, and helps only where the week has a rhythm: ``detectors/README.md``);
    ``neighbours``: slots either side of the time of day that also count (smooths a ramp that starts a
    few minutes later one day);
    ``fleet``: subtract what all entities did at each moment, the median deviation (with 3 entities or more),
    before the local level and the scale;
    ``fleet_fit``: with ``fleet``, subtract each entity's own share of that median instead of all of it, the
    share fitted (least squares, past only) over the entity's last ``fleet_fit`` intervals and drawn towards 1
    where they hold no surge (0: a share of 1 for every entity), so an entity that a fleet-wide surge lifts twice
    as much as the median one does not alarm on every surge;
    ``local``: also subtract the median deviation of the entity's last ``local`` intervals (0: not), so a
    slow change that the past days did not have (a weekly rhythm, a gradual rise) stops counting after a
    while;
    ``floor``: the smallest baseline (ratio), day's mean baseline (level) or spread (z, as a fraction of the
    baseline) used, so a metric at 0 does not divide by 0;
    ``scale``: divide each entity's field by its own robust spread over its last ``scale`` intervals (0: not),
    so a margin in spreads means as much on a quiet entity as on a noisy one (an event sized against its
    entity's noise is otherwise below the margin on the quiet ones);
    ``stretch``: with ``scale``, each spread beyond ``knee`` spreads (either side) counts ``1 + stretch``
    times in the fields of the ``stretched`` metrics (empty: every metric; 0: none). The forest zeroes the
    grade of a point when near neighbours in its sample lie within the margins of it (RCF's
    ``CONDITIONAL_FORECAST``), so an event a few spreads beyond an entity's largest normal intervals is
    explained by them; stretched, it lies farther from them, while the normal range (within ``knee``), and
    so each field's spread and margin, is unchanged. For a metric whose events are only a few spreads beyond
    its normal tail (GC time on the cosine fleets: ``detectors/README.md``); a metric whose normal days
    reach past the knee alarms on them.
    """

    interval_minutes: int = 10
    days: int = 7
    min_days: int = 2
    neighbours: int = 1
    mode: str = "ratio"
    fleet: bool = True
    floor: float = 0.02
    local: int = 0
    season: str = "day"
    scale: int = 0
    fleet_fit: int = 0
    knee: float = RECOMMENDED_KNEE
    stretch: float = 0.0
    stretched: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A hashable tuple (specs key caches), also when given one name or a list.
        names = (self.stretched,) if isinstance(self.stretched, str) else tuple(self.stretched)
        object.__setattr__(self, "stretched", names)
        issues = []
        if self.mode not in MODES:
            issues.append(Issue("mode", f"{self.mode!r} is not a mode", f"use one of {MODES}"))
        if self.season not in SEASONS:
            issues.append(Issue("season", f"{self.season!r} is not a season", f"use one of {SEASONS}"))
        if self.interval_minutes < 1 or 1440 % self.interval_minutes:
            n = self.interval_minutes
            issues.append(Issue("interval_minutes", f"{n} minutes do not divide a day", "use e.g. 10"))
        for name, example in (("days", "7"), ("min_days", "2")):
            if getattr(self, name) < 1:
                issues.append(Issue(name, "must be at least 1", f"use e.g. {example}"))
        for name, example in (
            ("neighbours", "1"),
            ("local", "36, or 0 for none"),
            ("scale", "1008, or 0 for none"),
            ("fleet_fit", "1008, or 0 for none"),
        ):
            if getattr(self, name) < 0:
                issues.append(Issue(name, "must be at least 0", f"use e.g. {example}"))
        if not self.floor > 0:
            issues.append(Issue("floor", "must be above 0", "use e.g. 0.02"))
        if not self.stretch >= 0:
            issues.append(Issue("stretch", "must be at least 0", "use e.g. 4, or 0 for none"))
        if not self.knee > 0:
            issues.append(Issue("knee", "must be above 0 spreads", "use e.g. 4.5"))
        if self.stretch and not self.scale:
            issues.append(Issue("stretch", "needs scale: the knee is in each entity's spreads", "use e.g. scale 1008"))
        if issues:
            raise ValidationError(issues, source="baseline")

    def stretched_among(self, metrics: Sequence[str]) -> list[str]:
        """Which of ``metrics`` have their deviations stretched (none without ``stretch``)."""
        if not self.stretch:
            return []
        return [m for m in metrics if not self.stretched or m in self.stretched]


def _day_matrix(times: np.ndarray, values: np.ndarray, per_day: int, iv_ns: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One entity's values as a (days, slots) matrix (NaN where missing), each point's flat index, day 0."""
    slot_abs = times // iv_ns
    day0 = int(slot_abs.min() // per_day)
    flat = slot_abs - day0 * per_day
    n_days = int(flat.max() // per_day) + 1
    m = np.full(n_days * per_day, np.nan)
    m[flat] = values
    return m.reshape(n_days, per_day), flat, day0


def _row_nanmedian(x: np.ndarray) -> np.ndarray:
    """Each row's median, NaNs left out (every row has a value): ``np.nanmedian(x, axis=1)``, which for
    rows this short goes through masked arrays and took most of :func:`residuals`' time."""
    s = np.sort(x, axis=1)  # NaNs sort last
    n = (~np.isnan(x)).sum(axis=1)
    lo = np.take_along_axis(s, ((n - 1) // 2)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(s, (n // 2)[:, None], axis=1)[:, 0]
    return (lo + hi) / 2


def _baseline(mat: np.ndarray, weekend: np.ndarray, spec: BaselineSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per (day, slot): the median and robust spread of the same slot (± neighbours) on past days."""
    n_days, per_day = mat.shape
    k = spec.neighbours
    # Pad the slot axis with the neighbouring days' slots, so 00:00's neighbour is yesterday's 23:50.
    flat = np.concatenate([np.full(k, np.nan), mat.ravel(), np.full(k, np.nan)])
    windows = np.stack([flat[j : j + n_days * per_day] for j in range(2 * k + 1)], axis=-1)
    windows = windows.reshape(n_days, per_day, 2 * k + 1)
    # Which past days feed each day's baseline (-1: none; that row of ``windows`` is all NaN), so every
    # day's slots are stacked at once and the medians taken in one call.
    use = np.full((n_days, spec.days), -1)
    for d in range(1, n_days):
        if spec.season == "week":
            weeks = np.arange(d - 7, -1, -7)[: spec.days]
            if len(weeks) >= spec.min_days:
                use[d, : len(weeks)] = weeks
                continue
        past = np.arange(max(0, d - 7 * spec.days), d)
        same = (past if spec.season == "anyday" else past[weekend[past] == weekend[d]])[-spec.days :]
        days = same if len(same) >= spec.min_days else past[-spec.days :]
        use[d, : len(days)] = days
    windows = np.concatenate([windows, np.full((1, per_day, 2 * k + 1), np.nan)])
    stack = windows[use].transpose(0, 2, 1, 3).reshape(n_days * per_day, -1)
    ok = np.isfinite(stack).sum(axis=1) >= 3
    med = np.full(n_days * per_day, np.nan)
    spread = np.full(n_days * per_day, np.nan)
    if ok.any():
        with np.errstate(invalid="ignore"):  # an infinite value: inf - inf
            med[ok] = _row_nanmedian(stack[ok])
            spread[ok] = _MAD_TO_SIGMA * _row_nanmedian(np.abs(stack[ok] - med[ok][:, None]))
    med, spread = med.reshape(n_days, per_day), spread.reshape(n_days, per_day)
    return med, spread


def residuals(
    frame: pd.DataFrame,
    metrics: Sequence[str],
    *,
    spec: BaselineSpec | None = None,
    entity_fields: Sequence[str] = ("host", "process"),
    time_field: str = "@timestamp",
    alone: Sequence[str] = (),
) -> pd.DataFrame:
    """``frame`` with a ``<metric>_vs_baseline`` column per metric (see the module docstring).

    Rows without a baseline yet (an entity's first days) are dropped: a detector should not learn from
    them. ``frame`` holds one row per entity and interval (as the bridge writes them). ``alone``: metrics a
    detector of their own will read; where ``spec`` removes no local level, each also gets a column with
    :data:`ALONE_LOCAL` intervals of it removed, named by :func:`alone_metric`; an entity's first
    :data:`ALONE_LOCAL` / 2 intervals, which have no level yet, are then dropped too (the plugin's historical
    analysis fails on an entity whose series starts with a missing value).
    """
    import pandas as pd

    spec = spec or BaselineSpec()
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ConfigError("baseline: no metrics given; name the numeric columns to compare with their baselines")
    stray = [m for m in spec.stretched if m not in metrics]
    if stray:
        raise ConfigError(
            f"baseline: stretched metric {stray[0]!r} is not among the metrics {metrics}; name one of them"
        )
    stretched = set(spec.stretched_among(metrics))
    entity_fields = [entity_fields] if isinstance(entity_fields, str) else list(entity_fields)
    missing = [c for c in (*entity_fields, time_field, *metrics) if c not in frame.columns]
    if missing:
        raise ConfigError(f"baseline: no column {missing[0]!r} in the data; name columns it has")
    stray = [m for m in alone if m not in metrics]
    if stray:
        raise ConfigError(f"baseline: alone metric {stray[0]!r} is not among the metrics {metrics}; name one of them")
    levelled = {m: np.full(len(frame), np.nan) for m in dict.fromkeys(alone) if alone_metric(m, spec) != m}
    per_day = 1440 // spec.interval_minutes
    iv_ns = spec.interval_minutes * 60 * 10**9
    ts = _utc_times(frame[time_field])
    t_ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    cols = {m: np.full(len(frame), np.nan) for m in metrics}
    values = {m: frame[m].to_numpy(dtype=float) for m in metrics}
    groups = frame.groupby(list(entity_fields), sort=False).indices
    ordered = [u[np.argsort(t_ns[u], kind="stable")] for u in groups.values()]  # time order, for the local level
    for rows in ordered:
        times = t_ns[rows]
        for m in metrics:
            mat, flat, day0 = _day_matrix(times, values[m][rows], per_day, iv_ns)
            # 1970-01-01 was a Thursday: day numbers modulo 7 give the weekday (Saturday = 2, Sunday = 3).
            weekend = np.isin((day0 + np.arange(mat.shape[0])) % 7, (2, 3))
            med, spr = _baseline(mat, weekend, spec)
            v, b = mat.ravel()[flat], med.ravel()[flat]
            if spec.mode == "ratio":
                cols[m][rows] = v / np.maximum(np.abs(b), spec.floor) - 1.0
            elif spec.mode == "level":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # a day with no baseline yet: NaN
                    day_level = np.nanmean(np.abs(med), axis=1)
                lvl = np.repeat(day_level, per_day)[flat]
                cols[m][rows] = (v - b) / np.maximum(lvl, spec.floor)
            else:
                s = np.maximum(spr.ravel()[flat], spec.floor * np.abs(b))
                cols[m][rows] = (v - b) / np.where(s > 0, s, spec.floor)
    # What every entity did at that moment is the fleet's day, not one entity's anomaly. Removed first, in the
    # deviation's own units, where a surge is the same size on a quiet entity and a noisy one (one grouping
    # by moment for every metric).
    fleetwide = spec.fleet and len(groups) > 2
    medians = pd.DataFrame(cols).groupby(t_ns // iv_ns).transform("median") if fleetwide else None
    for m in metrics:
        moved = None if medians is None else medians[m].to_numpy()
        for rows in ordered:
            d = cols[m][rows]
            if moved is not None:
                d = d - _fleet_share(d, moved[rows], spec.fleet_fit) * moved[rows]
            if m in levelled:
                levelled[m][rows] = _without_level(d, ALONE_LOCAL)
                if spec.scale:
                    levelled[m][rows] = _scaled(levelled[m][rows], spec.scale)
            if spec.local:
                d = _without_level(d, spec.local)
            d = _scaled(d, spec.scale) if spec.scale else d
            cols[m][rows] = _stretched(d, spec.knee, spec.stretch) if m in stretched else d
    keep = np.isfinite(np.column_stack([*(cols[m] for m in metrics), *levelled.values()])).all(axis=1)
    out = frame[keep].reset_index(drop=True)
    for name, col in (*((m, cols[m]) for m in metrics), *((alone_metric(m, spec), v) for m, v in levelled.items())):
        out[name + SUFFIX] = col[keep]
    return out


def _fleet_share(deviation: np.ndarray, moved: np.ndarray, intervals: int) -> np.ndarray | float:
    """How much of the fleet's move (``moved``, its median deviation at each of the entity's points, time
    order) one entity's ``deviation`` carries: 1 with ``intervals`` 0, else the least-squares share over the
    ``intervals`` before each point, drawn towards 1 by a prior worth :data:`_FIT_PRIOR_MOVES` times the fleet's
    typical (median) squared move in them, plus :data:`_FIT_PRIOR` (1 with no past). So a window in which the
    fleet made no surge gives a share near 1, not one fitted to its small moves, which the next surge would
    multiply; a surge in the window outweighs the prior."""
    import pandas as pd

    if not intervals:
        return 1.0
    ok = np.isfinite(deviation) & np.isfinite(moved)
    products = pd.DataFrame({"both": np.where(ok, deviation * moved, 0.0), "own": np.where(ok, moved * moved, 0.0)})
    before = products.shift(1)
    past = before.rolling(intervals, min_periods=1).sum().fillna(0.0)
    typical = before["own"].rolling(intervals, min_periods=1).median().fillna(0.0)
    prior = _FIT_PRIOR_MOVES * intervals * typical + _FIT_PRIOR
    return ((past["both"] + prior) / (past["own"] + prior)).to_numpy()


def _without_level(deviation: np.ndarray, intervals: int) -> np.ndarray:
    """One entity's ``deviation`` (time order) less its median over the ``intervals`` before each point
    (NaN until half of them are there)."""
    import pandas as pd

    r = pd.Series(deviation)
    return (r - r.shift(1).rolling(intervals, min_periods=intervals // 2).median()).to_numpy()


def _scaled(deviation: np.ndarray, intervals: int) -> np.ndarray:
    """One entity's ``deviation`` (time order, centred on 0) over its robust spread in the ``intervals``
    before each point (NaN until a quarter of them are there)."""
    import pandas as pd

    past = pd.Series(np.abs(deviation)).shift(1).rolling(intervals, min_periods=max(1, intervals // 4)).median()
    spread = _MAD_TO_SIGMA * past.to_numpy()
    with np.errstate(invalid="ignore"):  # NaN spread (too little past): NaN, dropped like a missing baseline
        return deviation / np.maximum(spread, 1e-9)


def _stretched(deviation: np.ndarray, knee: float, stretch: float) -> np.ndarray:
    """``deviation`` (in spreads) with each spread beyond ``knee`` either side counted ``1 + stretch`` times."""
    beyond = np.maximum(np.abs(deviation) - knee, 0.0)
    return deviation + stretch * np.sign(deviation) * beyond


def alone_metric(metric: str, spec: BaselineSpec) -> str:
    """The name whose ``_vs_baseline`` field a detector over ``metric`` alone reads (:data:`ALONE_LOCAL`):
    ``metric`` where ``spec`` removes a local level, else ``<metric>_local`` (:func:`residuals` with
    ``alone``)."""
    return metric if spec.local else f"{metric}_local"


def spread(frame: pd.DataFrame, fields: Sequence[str]) -> dict[str, float]:
    """Each field's robust spread (1.4826 × median absolute deviation) over ``frame``: the unit a
    margin rule on that field is written in. A few anomalies in the data barely move it."""
    out = {}
    for f in fields:
        v = frame[f].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        out[f] = float(_MAD_TO_SIGMA * np.median(np.abs(v - np.median(v)))) if len(v) else 0.0
    return out


def tail_factor(
    frame: pd.DataFrame,
    fields: Sequence[str],
    *,
    entity_fields: Sequence[str] = ("host", "process"),
    time_field: str = "@timestamp",
) -> dict[str, float]:
    """How much heavier than Gaussian noise's each field's tail is: a factor for its :func:`spread`.

    Each entity's interval-to-interval changes (which drop what the baseline missed for hours, such as a
    ramp a little late) in units of their own robust spread, pooled over the entities; the factor is their
    99th percentile |change| over a normal distribution's (2.58), at least 1. Gaussian noise gives about 1;
    a metric with occasional large bursts (GC time with heavy-tailed collections) about 1.4, so its margin
    widens where isolated bursts would otherwise alarm, and other metrics keep theirs. 1 with fewer than
    ``MIN_TAIL_CHANGES`` changes (too few to see a 1% tail).
    """
    order = frame.sort_values([*entity_fields, time_field], kind="stable") if len(frame) else frame
    groups = order.groupby(list(entity_fields), sort=False).indices if len(order) else {}
    out = {}
    for f in fields:
        values = order[f].to_numpy(dtype=float)
        pooled = []
        for rows in groups.values():
            v = values[rows]
            d = np.diff(v[np.isfinite(v)])
            if len(d) < 2:
                continue
            d = d - np.median(d)
            mad = _MAD_TO_SIGMA * float(np.median(np.abs(d)))
            if mad > 0:
                pooled.append(np.abs(d) / mad)
        changes = np.concatenate(pooled) if pooled else np.empty(0)
        if len(changes) < MIN_TAIL_CHANGES:
            out[f] = 1.0
        else:
            out[f] = max(1.0, float(np.quantile(changes, _TAIL_QUANTILE)) / _NORMAL_Q99)
    return out


def field_names(metrics: Sequence[str]) -> list[str]:
    """The fields :func:`residuals` adds for ``metrics``."""
    return [m + SUFFIX for m in metrics]


def relabel(labels: pd.DataFrame) -> pd.DataFrame:
    """Event labels (:func:`hcad.quality.synth.fleet_labels`) naming the baseline fields of the metrics
    they touch, so a detector over those fields is scored on the events it can see."""
    out = labels.copy()
    out["metric"] = out["metric"].map(lambda m: ",".join(field_names(str(m).split(","))))
    return out


#: The baseline variant :func:`detector_config` expects (see ``RECOMMENDED_SHINGLE``).
#: Each entity's field scaled by its own spread over the last week (``scale``): a fleet's entities differ in
#: noise, and one margin per field let an event sized against a quiet entity's noise pass under it. On the tuning
#: fleets (business 1–3, cosine fleet 1–3; backtest, held-out days, session 21) scaling raised the daily route's
#: F1 at 4 / 4 spreads, shingle 3, from 0.683 to 0.782 (business) and 0.639 to 0.655 (cosine) at fewer false
#: alarms; against past weeks it cost (2 / 4 spreads, shingle 3: 0.860 → 0.819 at 0.044 → 0.106 false alarms per
#: entity per day on business 1–3), so the weekly baseline is not scaled.
#: Each entity's own share of the fleet's moves removed (``fleet_fit``): the cosine fleets' peak-traffic days
#: lift each entity by its own sensitivity (half to one and a half times the median one's), and the median's
#: share left the rest of the surge in most entities' fields, memory's 99.5th percentile at 10–16 spreads on
#: cosine fleets 1–3; fitted, 4–6, and the events above it went from 53–80% to 87–93% (``detectors/README.md``
#: has the held-out fleets). Not measured to help against past weeks (the business fleets have no fleet-wide
#: surges), so the weekly baseline keeps the median's share.
RECOMMENDED = BaselineSpec(mode="ratio", fleet=True, local=36, scale=1008, fleet_fit=1008)
#: The same against past weeks, without a local level: the weekly baseline already has the week's rhythm,
#: which is what the local level is for, and the local level's lag gives a lasting event an echo (a level
#: shift or a memory leak of a few hours moves the median of the last 36 intervals, so for hours after it
#: ends the deviation shows the opposite change). On business fleets 1–3, 11 and 12 (backtest, held-out days)
#: 42% of the weekly pick's false alarms came 1–12 intervals after a leak or a level shift had ended; on the
#: tuning fleets (business 1–3) without the local level ``recommend --trial``'s pick went from F1 0.774 to
#: 0.841 at 0.047 false alarms per entity per day instead of 0.077 (a local level over 144 intervals: 0.808 /
#: 0.040; the daily baseline without one lost F1 on the cosine fleets, 0.604 → 0.564, so it keeps it).
#: ``detectors/README.md`` has the held-out fleets.
RECOMMENDED_WEEKLY = BaselineSpec(mode="ratio", fleet=True, local=0, season="week")


def detector_config(
    data: pd.DataFrame,
    metrics: Sequence[str],
    *,
    shingle_size: int = RECOMMENDED_SHINGLE,
    spreads: float = RECOMMENDED_SPREADS,
    spreads_below: float | None = RECOMMENDED_SPREADS_BELOW,
    min_grade: float | None = None,
    min_confidence: float | None = None,
    tail: Mapping[str, float] | None = None,
    interval_minutes: int | None = None,
    time_field: str = "@timestamp",
    entity_fields: Sequence[str] = ("host", "process"),
) -> EvalConfig:
    """A detector over the baseline fields of ``metrics`` in ``data`` (what :func:`residuals` returned):
    each field averaged, anomalies within ``spreads`` robust spreads above the expected value and
    ``spreads_below`` below it (None: ``spreads``) ignored (the plugin's margin rules), and a monitor's
    floors (hcad's recommended grade and confidence by default). ``tail`` (field or metric → factor, e.g.
    :func:`tail_factor`) scales each field's spread; a field it does not name keeps its own. The
    detector's interval is ``interval_minutes``, else the most common gap between an entity's
    (``entity_fields``) times in ``data`` (10 when there is no time field or no gap)."""
    from hcad.ad.limits import RECOMMENDED_MIN_CONFIDENCE, RECOMMENDED_MIN_GRADE
    from hcad.quality.evaluate import EvalConfig

    if isinstance(metrics, str):
        metrics = [metrics]
    fields = field_names(metrics)
    missing = [f for f in fields if f not in data.columns]
    if missing:
        raise ConfigError(
            f"data have no column {missing[0]!r}: give metrics that residuals() computed deviations for"
            + ("" if len(data) else " (the frame is empty: no interval had a baseline yet)")
        )
    for name, k in (("spreads", spreads), ("spreads_below", spreads_below)):
        if k is not None and not k > 0:
            raise ConfigError(f"{name} {k} must be above 0 (the plugin refuses a margin of 0); e.g. 3")
    named = {**{m: f for m, f in zip(metrics, fields, strict=True)}, **{f: f for f in fields}}
    stray = [k for k in (tail or {}) if k not in named]
    if stray:
        raise ConfigError(f"tail names {stray[0]!r}, which is none of the metrics or their fields {fields}")
    factor = {named[k]: float(v) for k, v in (tail or {}).items()}
    spreads_by_field = {f: s * factor.get(f, 1.0) for f, s in spread(data, fields).items()}
    if interval_minutes is None:
        interval_minutes = _spacing_minutes(data, time_field, entity_fields) or 10

    def margins(k: float) -> tuple[float, ...]:
        # 4 significant digits, to read well in YAML; the plugin refuses 0, so a constant field gets 1e-6.
        return tuple(max(float(f"{k * spreads_by_field[f]:.4g}"), 1e-6) for f in fields)

    return EvalConfig(
        features=tuple(("avg", f) for f in fields),
        interval_minutes=interval_minutes,
        shingle_size=shingle_size,
        rule_margins=margins(spreads),
        rule_margins_below=None if spreads_below is None else margins(spreads_below),
        min_grade=RECOMMENDED_MIN_GRADE if min_grade is None else min_grade,
        min_confidence=RECOMMENDED_MIN_CONFIDENCE if min_confidence is None else min_confidence,
    )


def _spacing_minutes(data: pd.DataFrame, time_field: str, entity_fields: Sequence[str]) -> int | None:
    """The most common gap between one entity's times, in whole minutes (None: not known). Per entity,
    since hosts that report at different offsets interleave."""
    import pandas as pd

    if time_field not in data.columns or data.empty:
        return None
    times = _utc_times(data[time_field])
    keys = [f for f in ([entity_fields] if isinstance(entity_fields, str) else entity_fields) if f in data.columns]
    frame = pd.DataFrame({"t": times.to_numpy(), **{k: data[k].to_numpy() for k in keys}})
    frame = frame.drop_duplicates().sort_values([*keys, "t"])
    gaps = frame.groupby(keys)["t"].diff() if keys else frame["t"].diff()
    minutes = (gaps.dropna().dt.total_seconds() / 60).round()
    minutes = minutes[minutes >= 1]
    return int(minutes.mode().iloc[0]) if len(minutes) else None


def _utc_times(column: pd.Series) -> pd.Series:
    """A time column as UTC datetimes; numbers are epoch milliseconds, as OpenSearch stores dates (pandas
    would read them as nanoseconds)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        return pd.to_datetime(column, unit="ms", utc=True)
    return pd.to_datetime(column, utc=True)
