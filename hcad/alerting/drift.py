"""Drift watch: is a detector's daily mean anomaly grade moving away from its own recent baseline?

The seed deployment's retraining loop, with the lessons it learned: a short window retrained six
times in 72 hours during a maintenance window, fixed by a 14-day window and 3 consecutive breaches.

For each day ``t`` with results, the baseline is the mean of the daily mean grades of the previous
``window`` days (default 14) and ``sigma`` their standard deviation. Day ``t`` *breaches* when
``|mean_t - baseline| > k * max(sigma, min_sigma)`` (default k 1.5). The detector has *drifted* once
``consecutive`` days in a row breach in the same direction (default 3; a drift moves one way, noise
alternates, which cuts false alarms on a noisy but stable series about fourfold). A one-off spike
breaches once and is then part of the baseline (raising sigma), so it never reaches 3; a sustained
shift keeps breaching while the window still holds mostly pre-shift days. ``min_sigma`` keeps a
perfectly flat baseline (a quiet detector whose grades are all 0) from turning any tiny change into
a breach.

Days without results (detector stopped, no data) are not evaluated and end a streak; a day is only
evaluated when at least ``min_baseline_days`` of its window have results.

:func:`evaluate` is pure; :func:`daily_grade_query` builds the search, :func:`parse_daily_grades`
reads its response, and :func:`read_daily_grades` is the thin I/O between them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hcad.errors import ConfigError

DEFAULT_WINDOW_DAYS = 14
DEFAULT_K = 1.5
DEFAULT_CONSECUTIVE = 3
DEFAULT_MIN_SIGMA = 0.002
EVENTS_INDEX = "hcad-events"


@dataclass(frozen=True)
class DriftConfig:
    """Parameters of the drift rule (defaults are the seed deployment's final ones)."""

    window_days: int = DEFAULT_WINDOW_DAYS
    k: float = DEFAULT_K
    consecutive: int = DEFAULT_CONSECUTIVE
    min_sigma: float = DEFAULT_MIN_SIGMA
    min_baseline_days: int | None = None  # default: half the window, at least 3

    def __post_init__(self) -> None:
        for name, whole in (("window_days", True), ("k", False), ("consecutive", True), ("min_sigma", False),
                            ("min_baseline_days", True)):  # fmt: skip
            value = getattr(self, name)
            kinds: tuple[type, ...] = (numbers.Integral,) if whole else (numbers.Real,)
            if (value is not None or name != "min_baseline_days") and (
                isinstance(value, bool) or not isinstance(value, kinds) or value != value  # nan
            ):
                raise ConfigError(f"{name} {value!r} must be a {'whole ' if whole else ''}number")
        if self.window_days < 2:
            raise ConfigError(f"window {self.window_days} days is too short; use at least 2 (default 14)")
        if not self.k > 0:
            raise ConfigError(f"k {self.k} must be positive (default 1.5)")
        if self.consecutive < 1:
            raise ConfigError(f"consecutive {self.consecutive} must be at least 1 (default 3)")
        if self.min_sigma < 0:
            raise ConfigError(f"min_sigma {self.min_sigma} must not be negative")
        if self.min_baseline_days is not None and not 2 <= self.min_baseline_days <= self.window_days:
            raise ConfigError(f"min_baseline_days must be between 2 and the window ({self.window_days})")

    @property
    def needed_baseline_days(self) -> int:
        """Days of history before a day can be judged (``min_baseline_days``, else half the window, ≥ 3)."""
        return self.min_baseline_days or max(3, self.window_days // 2)


@dataclass(frozen=True)
class DailyGrade:
    """One day of results: the mean anomaly grade and how many results it averages."""

    day: date
    mean: float | None
    count: int = 0


@dataclass(frozen=True)
class DayVerdict:
    """One evaluated day."""

    day: date
    mean: float | None
    count: int
    baseline: float | None
    sigma: float | None
    deviation: float | None  # (mean - baseline) / max(sigma, min_sigma)
    breach: bool
    streak: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "mean": self.mean,
            "count": self.count,
            "baseline": self.baseline,
            "sigma": self.sigma,
            "deviation": self.deviation,
            "breach": self.breach,
            "streak": self.streak,
        }


@dataclass
class DriftReport:
    """The verdict over a series: every day, whether and since when the detector drifted."""

    config: DriftConfig
    days: list[DayVerdict] = field(default_factory=list)
    drifted: bool = False
    drift_start: date | None = None  # first day of the first run of ``consecutive`` breaches
    drift_confirmed: date | None = None  # the day that run reached ``consecutive``

    @property
    def current_streak(self) -> int:
        """Consecutive drifting days up to the last day evaluated."""
        return self.days[-1].streak if self.days else 0

    @property
    def evaluated(self) -> int:
        """Days that had a baseline to be judged against."""
        return sum(1 for d in self.days if d.baseline is not None)

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "drifted": self.drifted,
            "drift_start": self.drift_start.isoformat() if self.drift_start else None,
            "drift_confirmed": self.drift_confirmed.isoformat() if self.drift_confirmed else None,
            "current_streak": self.current_streak,
            "evaluated_days": self.evaluated,
            "config": {
                "window_days": c.window_days,
                "k": c.k,
                "consecutive": c.consecutive,
                "min_sigma": c.min_sigma,
                "min_baseline_days": c.needed_baseline_days,
            },
            "days": [d.to_dict() for d in self.days],
        }


def evaluate(series: Sequence[DailyGrade], config: DriftConfig | None = None) -> DriftReport:
    """Apply the drift rule to a daily series (any order; days missing from it count as no data)."""
    cfg = config or DriftConfig()
    by_day = {g.day: g for g in series}
    report = DriftReport(cfg)
    if not by_day:
        return report
    first, last = min(by_day), max(by_day)
    streak = 0
    last_sign = 0
    day = first
    while day <= last:
        g = by_day.get(day)
        mean = g.mean if g is not None and g.mean is not None and not math.isnan(g.mean) else None
        count = g.count if g is not None else 0
        history = []
        for back in range(1, cfg.window_days + 1):
            h = by_day.get(day - timedelta(days=back))
            if h is not None and h.mean is not None and not math.isnan(h.mean):
                history.append(h.mean)
        baseline = sigma = deviation = None
        breach = False
        if mean is not None and len(history) >= cfg.needed_baseline_days:
            baseline = sum(history) / len(history)
            sigma = math.sqrt(sum((x - baseline) ** 2 for x in history) / (len(history) - 1))
            scale = max(sigma, cfg.min_sigma)
            deviation = (mean - baseline) / scale if scale > 0 else (math.inf if mean != baseline else 0.0)
            breach = abs(mean - baseline) > cfg.k * scale
        # A drift moves one way: a breach in the other direction starts a new streak (noise alternates).
        sign = 0 if not breach or deviation is None else (1 if deviation > 0 else -1)
        streak = (streak + 1 if sign == last_sign else 1) if breach else 0
        last_sign = sign
        if streak >= cfg.consecutive and not report.drifted:
            report.drifted = True
            report.drift_confirmed = day
            report.drift_start = day - timedelta(days=cfg.consecutive - 1)
        report.days.append(DayVerdict(day, mean, count, baseline, sigma, deviation, breach, streak))
        day += timedelta(days=1)
    return report


# ---------------------------------------------------------------------------------------------- reading
def daily_grade_query(
    detector_id: str,
    start: datetime,
    end: datetime,
    *,
    task_id: str | None = None,
) -> dict[str, Any]:
    """Search body: daily mean ``anomaly_grade`` by ``data_start_time`` (UTC days) in ``[start, end)``.

    Real-time results only (documents without ``task_id``) unless ``task_id`` picks one historical run.
    A naive datetime means UTC, as everywhere in hcad.
    """
    start, end = (t if t.tzinfo is not None else t.replace(tzinfo=UTC) for t in (start, end))
    filters: list[dict[str, Any]] = [
        {"term": {"detector_id": detector_id}},
        {
            "range": {
                "data_start_time": {
                    "gte": int(start.timestamp() * 1000),
                    "lt": int(end.timestamp() * 1000),
                    "format": "epoch_millis",
                }
            }
        },
        {"exists": {"field": "anomaly_grade"}},  # NaN grades are left out of the document
    ]
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if task_id:
        filters.append({"term": {"task_id": task_id}})
    else:
        query["bool"]["must_not"] = [{"exists": {"field": "task_id"}}]
    return {
        "size": 0,
        "track_total_hits": False,
        "query": query,
        "aggregations": {
            "days": {
                "date_histogram": {
                    "field": "data_start_time",
                    "calendar_interval": "1d",
                    "time_zone": "UTC",
                    "min_doc_count": 0,
                    "extended_bounds": {
                        "min": int(start.timestamp() * 1000),
                        "max": int(end.timestamp() * 1000) - 1,
                    },
                },
                "aggregations": {"grade": {"avg": {"field": "anomaly_grade"}}},
            }
        },
    }


def parse_daily_grades(resp: Mapping[str, Any]) -> list[DailyGrade]:
    """The daily series from a :func:`daily_grade_query` response (empty days have mean None)."""
    buckets = ((resp.get("aggregations") or {}).get("days") or {}).get("buckets") or []
    out = []
    for b in buckets:
        day = datetime.fromtimestamp(int(b["key"]) / 1000, tz=UTC).date()
        value = (b.get("grade") or {}).get("value")
        out.append(DailyGrade(day, float(value) if value is not None else None, int(b.get("doc_count") or 0)))
    return out


Search = Callable[[dict[str, Any]], Mapping[str, Any]]


def read_daily_grades(
    search: Search,
    detector_id: str,
    *,
    days: int,
    end: datetime | None = None,
    task_id: str | None = None,
) -> list[DailyGrade]:
    """The last ``days`` UTC days (ending with the day of ``end``, default now) of daily mean grades.

    ``search(body)`` runs one search on the results: ``lambda b: client.search(index=..., body=b)``
    or the AD plugin's results search.
    """
    if days < 1:
        raise ConfigError(f"days {days} must be at least 1")
    end = end or datetime.now(UTC)
    end_day = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    start = end_day - timedelta(days=days)
    return parse_daily_grades(search(daily_grade_query(detector_id, start, end_day, task_id=task_id)))


# ---------------------------------------------------------------------------------------------- events
def drift_event(
    detector_id: str, detector_name: str, report: DriftReport, action: str, when: datetime | None = None
) -> dict[str, Any]:
    """The document recorded in ``hcad-events`` when a drifted detector is (or would be) retrained."""
    last = report.days[-1] if report.days else None
    return {
        "@timestamp": (when or datetime.now(UTC)).isoformat(),
        "type": "drift",
        "action": action,
        "detector_id": detector_id,
        "detector_name": detector_name,
        "drift_start": report.drift_start.isoformat() if report.drift_start else None,
        "drift_confirmed": report.drift_confirmed.isoformat() if report.drift_confirmed else None,
        "last_day": last.day.isoformat() if last else None,
        "last_mean": last.mean if last else None,
        "last_baseline": last.baseline if last else None,
        "window_days": report.config.window_days,
        "k": report.config.k,
        "consecutive": report.config.consecutive,
    }


EVENTS_MAPPING: dict[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "type": {"type": "keyword"},
        "action": {"type": "keyword"},
        "detector_id": {"type": "keyword"},
        "detector_name": {"type": "keyword"},
        "drift_start": {"type": "date"},
        "drift_confirmed": {"type": "date"},
        "last_day": {"type": "date"},
        "last_mean": {"type": "double"},
        "last_baseline": {"type": "double"},
        "window_days": {"type": "integer"},
        "k": {"type": "double"},
        "consecutive": {"type": "integer"},
    }
}


def record_event(client: Any, event: Mapping[str, Any], index: str = EVENTS_INDEX) -> str:
    """Index ``event`` (creating the events index with its mapping when missing); returns the doc id."""
    from hcad.transport import translate_errors

    with translate_errors(f"recording the event in {index}"):
        if not client.indices.exists(index=index):
            client.indices.create(index=index, body={"mappings": EVENTS_MAPPING}, ignore=400)  # 400: a racer made it
        resp = client.index(index=index, body=dict(event), refresh="wait_for")
    return str(resp["_id"])


def last_retrain(client: Any, detector_id: str, index: str = EVENTS_INDEX) -> date | None:
    """The day of the detector's last recorded retrain, if any (drift is only judged after it)."""
    from hcad.transport import translate_errors

    body = {
        "size": 1,
        "sort": [{"@timestamp": {"order": "desc"}}],
        "query": {"bool": {"filter": [{"term": {"detector_id": detector_id}}, {"term": {"action": "retrained"}}]}},
    }
    with translate_errors(f"reading {index}"):
        if not client.indices.exists(index=index):
            return None
        hits = client.search(index=index, body=body)["hits"]["hits"]
    if not hits:
        return None
    return datetime.fromisoformat(str(hits[0]["_source"]["@timestamp"]).replace("Z", "+00:00")).date()


def since(series: Sequence[DailyGrade], after: date | None) -> list[DailyGrade]:
    """Only the days after ``after`` (a retrain resets the baseline: older grades came from old models)."""
    return [g for g in series if after is None or g.day > after]
