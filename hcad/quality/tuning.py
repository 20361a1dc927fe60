"""Choosing detector defaults honestly: tune on some datasets, report on others held out.

:func:`select` picks one config from evaluation reports of the *tuning* datasets only, by a rule
fixed before anyone looks at the held-out data: among configs whose false alarms per entity per day
stay within ``max_false_alarms`` on every tuning dataset, the highest mean F1; when none does, the
highest mean F1 among those within it on average; when none is, the lowest mean false-alarm rate.
:func:`held_out_rows` then scores the chosen config beside the
baselines (the plugin's defaults, hcad's previous defaults) on datasets the choice never saw.

:func:`inject_anomalies` adds labelled anomalies to a user's own documents, so configs can be
compared on the data a detector will really see (``hcad detectors recommend --trial``).

Pure: it reads :class:`hcad.quality.evaluate.EvalReport` objects and frames and returns rows; running
the configs is :func:`hcad.quality.evaluate.evaluate`'s job (``scripts/tune_defaults.py`` ties them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hcad.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from hcad.quality.evaluate import ConfigResult, EvalConfig, EvalReport
    from hcad.quality.scoring import Scores

#: The issue's goal for on-call load: at most one false alarm per entity every ten days.
MAX_FALSE_ALARMS = 0.1


def config_key(cfg: EvalConfig) -> tuple[Any, ...]:
    """What identifies a config across datasets: its settings with the features reduced to the set of
    aggregations they use (``avg``, ``avg+max``), since datasets have different metrics."""
    return (
        "+".join(sorted({agg for agg, _f in cfg.features})),
        cfg.interval_minutes,
        cfg.shingle_size,
        cfg.imputation,
        cfg.rule_ratio,
        cfg.min_grade,
        cfg.min_confidence,
    )


@dataclass(frozen=True)
class Choice:
    """The selected config and the evidence behind it (tuning datasets only)."""

    key: tuple[Any, ...]
    config: EvalConfig
    mean_f1: float
    worst_false_alarms: float
    mean_false_alarms: float
    candidates: int
    within_budget: int
    reason: str


Row = tuple[Any, float, float, float]


def choose(rows: Sequence[Row], max_false_alarms: float) -> tuple[Row, str, int]:
    """The selection rule on ``(item, F1, worst false alarms, mean false alarms)`` rows: the best F1
    (ties: fewer false alarms on average) among rows within the budget on every dataset
    (``"everywhere"``), else among those within it on average (``"on_average"``), else the row with
    the fewest false alarms on average (``"fewest"``). Returns the row, its tier and the tier's size."""
    for tier, col in (("everywhere", 2), ("on_average", 3)):
        within = [r for r in rows if r[col] <= max_false_alarms]
        if within:
            return max(within, key=lambda r: (r[1], -r[3])), tier, len(within)
    return min(rows, key=lambda r: (r[3], -r[1])), "fewest", len(rows)


def score_row(s: Scores) -> dict[str, Any]:
    """The scores a report row shows: precision, recall, F1, false alarms per entity per day and
    recall per kind, rounded to 3 places, and the missed events by cause."""
    return {
        "precision": round(s.precision, 3),
        "recall": round(s.recall, 3),
        "f1": round(s.f1, 3),
        "false_alarms_per_entity_day": round(s.false_alarms_per_entity_day, 3),
        "recall_by_kind": {k: round(v.recall, 3) for k, v in s.per_kind.items()},
        "missed_by": dict(s.missed_by),
    }


def _by_key(report: EvalReport) -> dict[tuple[Any, ...], ConfigResult]:
    return {config_key(r.config): r for r in report.results if r.scores is not None}


def select(reports: Sequence[EvalReport], *, max_false_alarms: float = MAX_FALSE_ALARMS) -> Choice:
    """The config to ship, chosen on ``reports`` (the tuning datasets) by the rule in the module
    docstring. Only configs scored on every report compete."""
    if not reports:
        raise ConfigError("no tuning reports to choose from; evaluate a grid on the tuning datasets first")
    tables = [_by_key(r) for r in reports]
    common = set(tables[0])
    for t in tables[1:]:
        common &= set(t)
    if not common:
        raise ConfigError("no config was scored on every tuning dataset; run the same grid on each")
    rows = []
    for key in sorted(common, key=repr):
        scores = [t[key].scores for t in tables]
        f1 = sum(s.f1 for s in scores if s) / len(scores)
        fas = [s.false_alarms_per_entity_day for s in scores if s]
        rows.append((key, f1, max(fas), sum(fas) / len(fas)))
    (key, f1, worst, mean), tier, n = choose(rows, max_false_alarms)
    if tier == "everywhere":
        reason = (
            f"highest mean F1 ({f1:.3f}) among the {n} of {len(rows)} configs with at most "
            f"{max_false_alarms:g} false alarms per entity per day on every tuning dataset"
        )
    elif tier == "on_average":
        reason = (
            f"no config kept false alarms within {max_false_alarms:g} per entity per day on every tuning dataset; "
            f"highest mean F1 ({f1:.3f}) among the {n} of {len(rows)} within it on average"
        )
    else:
        reason = (
            f"no config kept false alarms within {max_false_alarms:g} per entity per day even on average; "
            f"this one has the fewest ({mean:.3f} on average)"
        )
    return Choice(
        key=key,
        config=replace(tables[0][key].config, name=""),
        mean_f1=f1,
        worst_false_alarms=worst,
        mean_false_alarms=mean,
        candidates=len(rows),
        within_budget=sum(1 for r in rows if r[2] <= max_false_alarms),
        reason=reason,
    )


def held_out_rows(reports: Sequence[EvalReport], named: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """One row per (dataset, named config): precision, recall, F1, false alarms per entity per day
    and recall per kind, read from ``reports`` (the held-out datasets)."""
    rows: list[dict[str, Any]] = []
    for rep in reports:
        table = _by_key(rep)
        for name, key in named.items():
            res = table.get(key)
            if res is None or res.scores is None:
                rows.append({"dataset": rep.spec.name, "seed": rep.spec.seed, "engine": rep.engine, "config": name,
                             "error": "not run" if res is None else res.error})  # fmt: skip
                continue
            meta = {"dataset": rep.spec.name, "seed": rep.spec.seed, "engine": rep.engine, "config": name}
            rows.append({**meta, "label": res.config.label, **score_row(res.scores)})
    return rows


def summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean over datasets of each (engine, config) in ``rows``, with the worst kind's recall."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if "f1" in r:
            groups.setdefault((r["engine"], r["config"]), []).append(r)
    out = []
    for (engine, name), rs in groups.items():
        kinds: dict[str, list[float]] = {}
        for r in rs:
            for k, v in r["recall_by_kind"].items():
                kinds.setdefault(k, []).append(v)
        by_kind = {k: round(sum(v) / len(v), 3) for k, v in sorted(kinds.items())}
        n = len(rs)
        out.append(
            {
                "engine": engine,
                "config": name,
                "datasets": n,
                "precision": round(sum(r["precision"] for r in rs) / n, 3),
                "recall": round(sum(r["recall"] for r in rs) / n, 3),
                "f1": round(sum(r["f1"] for r in rs) / n, 3),
                "false_alarms_per_entity_day": round(sum(r["false_alarms_per_entity_day"] for r in rs) / n, 3),
                "recall_by_kind": by_kind,
                "worst_kind_recall": min(by_kind.values()) if by_kind else None,
            }
        )
    return out


def summary_table(summary: Sequence[dict[str, Any]]) -> list[str]:
    """:func:`summary`'s rows as Markdown table lines (the scripts' reports)."""
    head = "| engine | config | datasets | precision | recall | F1 | false alarms / entity / day | worst kind recall |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in summary:
        lines.append(
            f"| {r['engine']} | {r['config']} | {r['datasets']} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r['f1']:.3f} | {r['false_alarms_per_entity_day']:.3f} | {r['worst_kind_recall']} |"
        )
    return lines


# ------------------------------------------------------------------ anomalies on the user's own data
#: Kinds :func:`inject_anomalies` adds, with (magnitude in local σ, (min, max) length in intervals).
INJECTED_KINDS: dict[str, tuple[float, tuple[int, int]]] = {
    "spike": (10.0, (1, 3)),
    "dip": (0.0, (2, 6)),  # the level falls to 10% of what it was: an outage
    # held, every other one down (see inject_anomalies)
    "level_shift": (8.0, (12, 24)),
    # a slow leak: one metric climbs to +m·σ, then back (only with ``drift_metrics``: see inject_anomalies)
    "drift": (12.0, (36, 72)),
}
#: What :func:`inject_anomalies` adds by default: events that move every metric at once.
DEFAULT_INJECTED = ("spike", "dip", "level_shift")


def local_sigma(values: np.ndarray, window: int) -> np.ndarray:
    """Noise level around each point: the median absolute interval-to-interval change over
    ``window`` points, scaled to a normal σ (|x_t − x_{t−1}| of white noise has median 0.954·σ)."""
    import pandas as pd

    d = np.abs(np.diff(values, prepend=values[0]))
    med = pd.Series(d).rolling(window, center=True, min_periods=max(3, window // 4)).median()
    sigma = med.bfill().ffill().to_numpy() / 0.954
    floor = max(float(np.nanmedian(sigma)) * 0.25, 1e-9)
    return np.asarray(np.maximum(np.nan_to_num(sigma, nan=floor), floor), dtype=float)


def inject_anomalies(
    frame: pd.DataFrame,
    fields: Sequence[str],
    metrics: Sequence[str],
    *,
    time_field: str,
    interval_minutes: int,
    seed: int = 0,
    per_entity: int = 2,
    kinds: Sequence[str] = DEFAULT_INJECTED,
    warmup_fraction: float = 0.4,
    drift_metrics: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A copy of ``frame`` (one row per document) with ``per_entity`` anomalies added to each entity's
    documents after its first ``warmup_fraction`` (fewer where they would not fit without overlapping), and
    their labels (``fields``, start, end, kind, metric). With at least as many events as ``kinds`` each entity
    gets every kind in turn; with fewer, kinds are drawn at random.

    Magnitudes are in units of the series' own local noise (:func:`local_sigma` over a day), so an
    injected spike is as big, relative to the noise at that hour, on any data. Every metric in
    ``metrics`` is changed (``dip``: all fall to 10%; ``level_shift``: every other one, in the order they are
    injected, goes down, never below 0 on a metric that never is), except by a ``drift`` (a leak: a linear
    climb to 12 σ of the entity's median noise over 36–72 intervals, then back), which changes one of
    ``drift_metrics`` (needed with that kind), the one its label names. Pure: the caller runs the detectors.
    """
    import pandas as pd

    if not kinds or per_entity < 1:
        raise ConfigError(f"inject at least one event ({per_entity} per entity) of at least one kind ({list(kinds)})")
    unknown = [k for k in kinds if k not in INJECTED_KINDS]
    if unknown:
        raise ConfigError(f"kinds: {unknown} cannot be injected; use some of {list(INJECTED_KINDS)}")
    if "drift" in kinds and not drift_metrics:
        raise ConfigError("kinds: a drift changes one metric; name the ones it may change (drift_metrics)")
    if set(drift_metrics) - set(metrics):
        raise ConfigError(f"drift_metrics {sorted(set(drift_metrics) - set(metrics))} are not among {list(metrics)}")
    missing = [c for c in (time_field, *fields, *metrics) if c not in frame.columns]
    if missing:
        raise ConfigError(f"data lack columns {missing}; pass the time field, category fields and metrics")
    out = frame.copy()
    out[time_field] = pd.to_datetime(out[time_field], utc=True)
    out = out.sort_values([*fields, time_field]).reset_index(drop=True)
    for m in metrics:
        out[m] = pd.to_numeric(out[m], errors="coerce").astype(float)
    arrays = {m: out[m].to_numpy(dtype=float, copy=True) for m in metrics}
    times = list(out[time_field])
    rng = np.random.default_rng([seed, 21])
    iv = pd.Timedelta(minutes=interval_minutes)
    day = max(8, int(1440 // interval_minutes))
    labels = []
    longest = max(INJECTED_KINDS[k][1][1] for k in kinds)
    shifts = 0  # level shifts so far: every other one goes down
    for key, idx in out.groupby(list(fields), sort=True).indices.items():
        rows = np.asarray(idx)
        n = len(rows)
        first = int(np.ceil(n * warmup_fraction))
        if n - first < 40:
            continue
        sig = {m: local_sigma(arrays[m][rows], day) for m in metrics}
        # One event per slot, each slot long enough for the longest kind: events never overlap.
        count = min(per_entity, max(1, (n - 30 - first) // (longest + 6)))
        slots = np.array_split(np.arange(first, n - 30), count)
        for k, slot in enumerate(slots):
            if not len(slot):
                continue
            kind = kinds[int(rng.integers(len(kinds)))] if count < len(kinds) else kinds[k % len(kinds)]
            mag, (lo, hi) = INJECTED_KINDS[kind]
            length = int(rng.integers(lo, hi + 1))
            s = int(rng.integers(int(slot[0]), max(int(slot[0]) + 1, int(slot[-1]) - length)))
            sel = rows[s : s + length]
            touched = list(metrics)
            if kind == "drift":
                touched = [drift_metrics[int(rng.integers(len(drift_metrics)))]]
            for m in touched:
                vals = arrays[m]
                if kind == "spike":
                    vals[sel] += mag * sig[m][s : s + length]
                elif kind == "level_shift":
                    moved = vals[sel] + (-1.0 if shifts % 2 else 1.0) * mag * float(sig[m][s])
                    # a metric that is never negative (a rate, a gauge) stays so when it shifts down
                    vals[sel] = moved if (vals[rows] < 0).any() else np.maximum(moved, 0.0)
                elif kind == "drift":
                    vals[sel] += mag * float(np.median(sig[m])) * np.linspace(1.0 / length, 1.0, length)
                else:
                    vals[sel] *= 0.1
            shifts += kind == "level_shift"
            t0 = times[rows[s]]
            t1 = times[sel[-1]] + iv
            entity = key if isinstance(key, tuple) else (key,)
            labels.append({**dict(zip(fields, entity, strict=True)), "start": t0, "end": t1, "kind": kind,
                           "metric": ",".join(touched)})  # fmt: skip
    for m in metrics:
        out[m] = arrays[m]
    cols = [*fields, "start", "end", "kind", "metric"]
    return out, pd.DataFrame(labels, columns=cols)
