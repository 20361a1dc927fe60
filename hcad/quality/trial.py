"""Try detector configs on the user's own data: which one wins where the detector will really run.

:func:`trial` takes documents read from the user's index, adds labelled anomalies with
:func:`hcad.quality.tuning.inject_anomalies` (spikes, outages, level shifts sized by each series' own
noise), runs every candidate config through the local backtest (the plugin's model, run locally)
and scores it. The winner follows the same rule that chose hcad's defaults
(:func:`hcad.quality.tuning.select`): the best F1 among configs within the false-alarm budget.

The user's data are taken as normal apart from the injected events, so a real anomaly already in
the data counts as a false alarm for every config alike: rankings stay fair, absolute false-alarm
rates are an upper bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hcad.errors import ConfigError
from hcad.quality.scoring import Scores, score
from hcad.quality.tuning import MAX_FALSE_ALARMS, choose, inject_anomalies, score_row

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Candidate:
    """Detector settings to try (features are ``(agg, field)`` pairs; ``rule_ratio`` None is the
    plugin's default 20% rule) and the monitor's trigger thresholds."""

    name: str
    features: tuple[tuple[str, str], ...]
    shingle_size: int
    rule_ratio: float | None
    min_grade: float = 0.0
    min_confidence: float = 0.0

    def settings(self) -> dict[str, Any]:
        return {
            "features": [f"{a}({f})" for a, f in self.features],
            "shingle_size": self.shingle_size,
            "rule": "plugin default (20%)" if self.rule_ratio is None else f"ignore within {self.rule_ratio:.0%}",
            "min_grade": self.min_grade,
            "min_confidence": self.min_confidence,
        }


@dataclass(frozen=True)
class TrialResult:
    """One candidate's scores on the injected data."""

    candidate: Candidate
    scores: Scores

    def row(self) -> dict[str, Any]:
        return {
            "config": self.candidate.name,
            **self.candidate.settings(),
            **score_row(self.scores),
        }


@dataclass(frozen=True)
class Trial:
    """Every candidate's result, the winner and why."""

    results: tuple[TrialResult, ...]
    winner: TrialResult
    events: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "winner": self.winner.row(),
            "reason": self.reason,
            "events": self.events,
            "candidates": [r.row() for r in self.results],
        }


def candidates(metrics: Sequence[str], shingle_size: int | None = None) -> list[Candidate]:
    """The configs :func:`trial` compares by default: the plugin's defaults, hcad's defaults, and
    shingle / rule / threshold variations around them (``shingle_size`` adds that size too, e.g.
    one that covers the data's period)."""
    from hcad.quality.evaluate import RECOMMENDED

    feats = tuple(("avg", m) for m in metrics)
    rule = RECOMMENDED.get("rule_ratio")
    conf = float(RECOMMENDED.get("min_confidence") or 0.0)
    grade = float(RECOMMENDED.get("min_grade") or 0.0)
    shingle = int(RECOMMENDED["shingle_size"])
    out = [
        Candidate("plugin defaults", feats, 8, None),
        Candidate("hcad defaults", feats, shingle, rule, grade, conf),
    ]
    sizes = sorted({2, 4, 8, *([shingle_size] if shingle_size else [])})
    for s in sizes:
        for r in (0.05, 0.3):
            out.append(Candidate(f"s{s} rule {r:g} conf≥0.9", feats, s, r, 0.0, 0.9))
    unique: dict[tuple[Any, ...], Candidate] = {}
    for c in out:
        unique.setdefault((c.features, c.shingle_size, c.rule_ratio, c.min_grade, c.min_confidence), c)
    return list(unique.values())


def trial(
    frame: pd.DataFrame,
    fields: Sequence[str],
    metrics: Sequence[str],
    *,
    time_field: str,
    interval_minutes: int,
    configs: Sequence[Candidate] | None = None,
    seed: int = 0,
    per_entity: int = 2,
    max_false_alarms: float = MAX_FALSE_ALARMS,
    workers: int | None = None,
) -> Trial:
    """Inject anomalies into ``frame`` and score each candidate on it (see the module docstring)."""
    from hcad.ad.model import Detector
    from hcad.quality.backtest import run

    if not metrics:
        raise ConfigError("give at least one metric to try detectors on (--feature)")
    if configs is not None and not configs:
        raise ConfigError("no configs to try; pass candidates or None for hcad's default set")
    data, labels = inject_anomalies(
        frame, fields, metrics, time_field=time_field, interval_minutes=interval_minutes, seed=seed,
        per_entity=per_entity,
    )  # fmt: skip
    if labels.empty:
        raise ConfigError(
            "too little data to try detectors on: each entity needs at least ~70 intervals of history; "
            "read more documents (--docs-per-entity) or a longer range"
        )
    cands = list(configs) if configs is not None else candidates(metrics)
    results: list[TrialResult] = []
    cache: dict[tuple[Any, ...], pd.DataFrame] = {}
    for c in cands:
        key = (c.features, c.shingle_size, c.rule_ratio)
        if key not in cache:
            more: dict[str, Any] = {"plugin_defaults": True, "shingle_size": c.shingle_size}
            if c.rule_ratio is not None:
                from hcad.ad.model import Rule

                more["rules"] = [Rule.ignore_within(f"{f}_{a}", c.rule_ratio) for a, f in c.features]
            det = Detector.hcad(
                "hcad-trial", "trial", time_field, list(fields),
                {f"{f}_{a}": (a, f) for a, f in c.features}, f"{interval_minutes}m", window_delay="0m", **more,
            )  # fmt: skip
            cache[key] = run(data, det, seed=seed, workers=workers)
        s = score(
            cache[key], labels, interval_minutes, entity_fields=fields, min_grade=c.min_grade,
            min_confidence=c.min_confidence,
        )  # fmt: skip
        results.append(TrialResult(c, s))
    # One dataset: the worst and the mean false-alarm rate are the same number.
    rows = [
        (r, r.scores.f1, r.scores.false_alarms_per_entity_day, r.scores.false_alarms_per_entity_day) for r in results
    ]
    (winner, *_), tier, n = choose(rows, max_false_alarms)
    fa = winner.scores.false_alarms_per_entity_day
    if tier == "everywhere":
        reason = (
            f"{winner.candidate.name}: the best F1 ({winner.scores.f1:.2f}) on your data with {len(labels)} injected "
            f"events, among the {n} of {len(results)} configs with at most {max_false_alarms:g} false "
            f"alarms per entity per day ({fa:.2f})"
        )
    else:
        reason = (
            f"{winner.candidate.name}: no config stayed within {max_false_alarms:g} false alarms per entity per day "
            f"on your data; this one raised the fewest ({fa:.2f})"
        )
    return Trial(tuple(results), winner, len(labels), reason)
