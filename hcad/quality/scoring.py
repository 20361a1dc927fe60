"""Event-level scoring of anomaly results against labelled anomalies. Pure: no I/O.

Definitions (``iv`` = the detector interval, ``tol`` = ``tolerance`` in intervals):

- A *flag* is a result with ``anomaly_grade > min_grade`` (and ``confidence ≥ min_confidence``);
  it covers ``[data_start_time, data_start_time + iv)``. Duplicate rows of one entity and time count
  once.
- An event's *window* is ``[start − tol·iv, end + tol·iv)`` (``end`` exclusive, as in the labels of
  :mod:`hcad.quality.synth`). A flag is *inside* a window when the intervals overlap, so coarser detector
  intervals than the data's are handled.
- **Recall** = events with at least one flag of the same entity inside their window / events.
- **Precision** (the issue's definition) = flags inside some window of their entity / all flags.
  A false positive is a flag outside every event window of its entity.
- **Alarm precision** (reported too): consecutive flags of an entity (no gap longer than
  ``merge_gap`` intervals) form one *alarm*; an alarm is true when any of its flags is inside a
  window. It keeps one long event (many flagged intervals) from inflating precision and counts
  what an on-call engineer would see.
- **F1** = 2PR/(P+R) with interval precision; ``alarm_f1`` uses alarm precision.
- **False alarms per entity per day** = false alarms / entity-days, where an entity's days run from
  its first to the end of its last result (every result row counts, flagged or not): the on-call
  load of one series, comparable across fleets and run lengths.
- **Time to detect** = (first flag inside the window − event start) / iv, in intervals; it can be
  negative when the flag is within the tolerance before the labelled start.
- **Per kind**: recall and time to detect over that kind's events; precision = flags inside that
  kind's windows / (those + false positives), i.e. the precision the detector would have on a
  dataset with only that kind (flags on other kinds' events are neither right nor wrong there).

- **Why missed** (``missed_by``, and ``missed_because`` per event): for each event without a flag,
  what the results inside its window show: ``no results``; ``below the monitor floor`` (graded, but not
  above ``min_grade``/``min_confidence``); ``suppressed: <correction>`` (the score passed the
  threshold and a correction zeroed the grade; the backtest's ``suppressed_by`` column names it, the
  plugin's results do not: ``suppressed``); ``score below threshold``; ``not flagged`` when the
  results carry no score or threshold.

Undefined ratios (no flags, no events) are 0.0, like scikit-learn's ``zero_division=0``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hcad.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_ENTITY_FIELDS = ("host", "process")


@dataclass(frozen=True)
class KindScores:
    """Scores of one anomaly kind (see the module docstring for the precision definition)."""

    kind: str
    events: int
    detected: int
    recall: float
    tp_intervals: int
    precision: float
    f1: float
    ttd_mean: float | None
    ttd_median: float | None


@dataclass(frozen=True)
class Scores:
    """Event-level precision/recall/F1 of one run; ``events_detail`` has one row per event."""

    events: int
    detected: int
    recall: float
    flagged_intervals: int
    tp_intervals: int
    fp_intervals: int
    precision: float
    f1: float
    alarms: int
    true_alarms: int
    false_alarms: int
    alarm_precision: float
    alarm_f1: float
    ttd_mean: float | None
    ttd_median: float | None
    tolerance: int
    interval_minutes: float
    entity_days: float = 0.0
    false_alarms_per_entity_day: float = 0.0
    per_kind: dict[str, KindScores] = field(default_factory=dict)
    #: Missed events by cause (see the module docstring), most frequent first.
    missed_by: dict[str, int] = field(default_factory=dict)
    events_detail: Any = field(default=None, repr=False, compare=False)

    def to_dict(self, detail: bool = False) -> dict[str, Any]:
        """JSON-ready dict; ``detail=True`` adds the per-event rows."""
        d = asdict(self)
        d.pop("events_detail")
        d["per_kind"] = {k: asdict(v) for k, v in self.per_kind.items()}
        if detail and self.events_detail is not None:
            import pandas as pd

            rows = self.events_detail.to_dict(orient="records")
            for r in rows:
                for k, v in r.items():
                    if pd.isna(v):
                        r[k] = None  # NaT/NaN are not JSON
                    elif isinstance(v, pd.Timestamp):
                        r[k] = v.isoformat()
                    elif isinstance(v, np.generic):
                        r[k] = v.item()
            d["events_detail"] = rows
        return d


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _to_ns(values: pd.Series, what: str) -> np.ndarray:
    """Times as int64 ns since the epoch (UTC); numbers are epoch milliseconds like AD results."""
    import pandas as pd

    try:
        if pd.api.types.is_numeric_dtype(values):
            ts = pd.to_datetime(values, unit="ms", utc=True)
        else:
            ts = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{what}: cannot read times ({e}); use datetimes, ISO-8601 or epoch ms") from e
    # pandas keeps the input's resolution (s, ms, us or ns): normalise before taking integers.
    return np.asarray(pd.Series(ts).dt.as_unit("ns").astype("int64"))


def _require(frame: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ConfigError(f"{what} lack columns {missing} (have {list(frame.columns)})")


def _entity_days(results_df: pd.DataFrame, ents: list[str], iv: int) -> float:
    """Σ over entities of (last result − first result + one interval), in days."""
    if results_df.empty:
        return 0.0
    frame = results_df[ents].astype(str).copy()
    frame["t"] = _to_ns(results_df["data_start_time"], "results.data_start_time")
    span = frame.groupby(ents, sort=False)["t"].agg(["min", "max"])
    return float(((span["max"] - span["min"] + iv) / (86400 * 1e9)).sum())


def score(
    results_df: pd.DataFrame,
    labels_df: pd.DataFrame,
    interval_minutes: float,
    tolerance: int = 2,
    *,
    entity_fields: Sequence[str] = DEFAULT_ENTITY_FIELDS,
    min_grade: float = 0.0,
    min_confidence: float = 0.0,
    merge_gap: int = 1,
) -> Scores:
    """Score anomaly results against labels (definitions in the module docstring).

    ``results_df`` needs the entity columns, ``data_start_time`` and ``anomaly_grade`` (and
    ``confidence`` when ``min_confidence`` > 0); ``labels_df`` needs the entity columns, ``start``,
    ``end`` and ``kind`` (what :func:`hcad.quality.synth.fleet_labels` returns).
    """
    import pandas as pd

    if interval_minutes <= 0:
        raise ConfigError(f"interval_minutes must be > 0, got {interval_minutes}")
    if tolerance < 0:
        raise ConfigError(f"tolerance must be ≥ 0 intervals, got {tolerance}")
    if merge_gap < 1:
        raise ConfigError(f"merge_gap must be ≥ 1 interval, got {merge_gap}")
    ents = list(entity_fields)
    need = [*ents, "data_start_time", "anomaly_grade"] + (["confidence"] if min_confidence > 0 else [])
    _require(results_df, need, "results")
    _require(labels_df, [*ents, "start", "end", "kind"], "labels")

    iv = round(interval_minutes * 60e9)
    tol = tolerance * iv

    grade = pd.to_numeric(results_df["anomaly_grade"], errors="coerce").fillna(0.0).to_numpy()
    keep = grade > min_grade
    if min_confidence > 0:
        conf = pd.to_numeric(results_df["confidence"], errors="coerce").fillna(0.0).to_numpy()
        keep &= conf >= min_confidence
    flags = results_df.loc[keep, ents].astype(str).copy()
    flags["t"] = _to_ns(results_df.loc[keep, "data_start_time"], "results.data_start_time")
    flags = flags.drop_duplicates().sort_values([*ents, "t"])

    labels = labels_df[[*ents, "start", "end", "kind"]].copy()
    labels[ents] = labels[ents].astype(str)
    labels["s"] = _to_ns(labels["start"], "labels.start")
    labels["e"] = _to_ns(labels["end"], "labels.end")
    labels = labels.reset_index(drop=True)

    kinds = sorted(labels["kind"].astype(str).unique())
    first_flag = np.full(len(labels), np.iinfo(np.int64).min, dtype=np.int64)
    detected = np.zeros(len(labels), dtype=bool)
    n_flags = tp = 0
    tp_kind = dict.fromkeys(kinds, 0)
    alarms = true_alarms = 0

    label_groups = {k: g for k, g in labels.groupby(ents, sort=False)} if len(labels) else {}
    for key, g in flags.groupby(ents, sort=False):
        t = g["t"].to_numpy()
        n_flags += len(t)
        lab = label_groups.get(key)
        inside = np.zeros(len(t), dtype=bool)
        if lab is not None:
            for idx, s, e in zip(lab.index, lab["s"], lab["e"], strict=True):
                # Overlap of [t, t+iv) with [s−tol, e+tol).
                hit = (t < e + tol) & (t + iv > s - tol)
                if hit.any():
                    detected[idx] = True
                    first_flag[idx] = t[hit][0]
                    inside |= hit
            for kind in kinds:
                sub = lab[lab["kind"].astype(str) == kind]
                if len(sub):
                    m = np.zeros(len(t), dtype=bool)
                    for s, e in zip(sub["s"], sub["e"], strict=True):
                        m |= (t < e + tol) & (t + iv > s - tol)
                    tp_kind[kind] += int(m.sum())
        tp += int(inside.sum())
        # Alarms: runs of flags no more than merge_gap intervals apart.
        new = np.ones(len(t), dtype=bool)
        new[1:] = np.diff(t) > merge_gap * iv
        alarm_id = np.cumsum(new)
        alarms += int(alarm_id[-1])
        true_alarms += len(np.unique(alarm_id[inside]))
    fp = n_flags - tp
    entity_days = _entity_days(results_df, ents, iv)

    ttd = np.where(detected, (first_flag - labels["s"].to_numpy()) / iv, np.nan)
    detail = labels[[*ents, "start", "end", "kind"]].copy()
    detail["start"] = pd.to_datetime(labels["s"], utc=True)
    detail["end"] = pd.to_datetime(labels["e"], utc=True)
    detail["detected"] = detected
    # The int64 minimum used for "no flag" is NaT in datetime64.
    detail["first_flag"] = pd.to_datetime(first_flag.view("datetime64[ns]")).tz_localize("UTC")
    detail["ttd"] = ttd
    detail["missed_because"] = _missed_because(results_df, labels, detected, ents, iv, tol)
    missed_by = detail.loc[~detected, "missed_because"].value_counts()

    def stats(mask: np.ndarray) -> tuple[float | None, float | None]:
        vals = ttd[mask & detected]
        if not len(vals):
            return None, None
        return float(np.mean(vals)), float(np.median(vals))

    recall = _ratio(detected.sum(), len(labels))
    precision = _ratio(tp, n_flags)
    alarm_precision = _ratio(true_alarms, alarms)
    per_kind: dict[str, KindScores] = {}
    kind_col = labels["kind"].astype(str).to_numpy()
    for kind in kinds:
        mask = kind_col == kind
        k_recall = _ratio(detected[mask].sum(), mask.sum())
        k_prec = _ratio(tp_kind[kind], tp_kind[kind] + fp)
        mean, median = stats(mask)
        per_kind[kind] = KindScores(
            kind=kind,
            events=int(mask.sum()),
            detected=int(detected[mask].sum()),
            recall=k_recall,
            tp_intervals=tp_kind[kind],
            precision=k_prec,
            f1=_f1(k_prec, k_recall),
            ttd_mean=mean,
            ttd_median=median,
        )
    mean, median = stats(np.ones(len(labels), dtype=bool))
    return Scores(
        events=len(labels),
        detected=int(detected.sum()),
        recall=recall,
        flagged_intervals=n_flags,
        tp_intervals=tp,
        fp_intervals=fp,
        precision=precision,
        f1=_f1(precision, recall),
        alarms=alarms,
        true_alarms=true_alarms,
        false_alarms=alarms - true_alarms,
        alarm_precision=alarm_precision,
        alarm_f1=_f1(alarm_precision, recall),
        ttd_mean=mean,
        ttd_median=median,
        tolerance=tolerance,
        interval_minutes=float(interval_minutes),
        entity_days=entity_days,
        false_alarms_per_entity_day=_ratio(alarms - true_alarms, entity_days),
        per_kind=per_kind,
        missed_by={str(k): int(v) for k, v in missed_by.items()},
        events_detail=detail,
    )


def _missed_because(
    results_df: pd.DataFrame,
    labels: pd.DataFrame,
    detected: np.ndarray,
    ents: list[str],
    iv: int,
    tol: int,
) -> list[str | None]:
    """Per label row, None when detected, else the cause read from the results inside its window."""
    import pandas as pd

    out: list[str | None] = [None] * len(labels)
    if detected.all():
        return out

    def num(col: str) -> np.ndarray:
        return pd.to_numeric(pd.Series(results_df[col]), errors="coerce").fillna(0.0).to_numpy()

    has_score = "anomaly_score" in results_df and "threshold" in results_df
    times = _to_ns(results_df["data_start_time"], "results.data_start_time")
    graded = num("anomaly_grade") > 0
    above = (num("anomaly_score") > num("threshold")) & (num("threshold") > 0) if has_score else None
    named = results_df["suppressed_by"].to_numpy() if "suppressed_by" in results_df else None
    rows = results_df[ents].astype(str).groupby(ents, sort=False).indices
    for i in np.flatnonzero(~detected):
        lab = labels.iloc[i]
        idx = rows.get(tuple(lab[e] for e in ents) if len(ents) > 1 else lab[ents[0]])
        if idx is None:
            out[i] = "no results"
            continue
        t = times[idx]
        sel = idx[(t < lab["e"] + tol) & (t + iv > lab["s"] - tol)]
        if not len(sel):
            out[i] = "no results"
        elif graded[sel].any():
            out[i] = "below the monitor floor"
        elif above is None:
            out[i] = "not flagged"
        elif not above[sel].any():
            out[i] = "score below threshold"
        else:
            by = Counter(b for b in (named[sel] if named is not None else []) if isinstance(b, str) and b)
            out[i] = f"suppressed: {by.most_common(1)[0][0]}" if by else "suppressed"
    return out
