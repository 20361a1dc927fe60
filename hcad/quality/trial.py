"""Try detector configs on the user's own data: which one wins where the detector will really run.

:func:`trial` takes documents read from the user's index, adds labelled anomalies with
:func:`hcad.quality.tuning.inject_anomalies` (spikes, outages, level shifts up and down sized by each
series' own noise; :data:`EVENTS_PER_ENTITY` on each entity, each kind in turn), runs every candidate config
through the local backtest (the plugin's model, run locally) and scores it. The winner follows the same rule
that chose hcad's defaults (:func:`hcad.quality.tuning.select`): the best F1 among configs within the
false-alarm budget.

Besides detectors on the raw metric, the default candidates include the *baseline route*
(:mod:`hcad.quality.baseline`, what ``hcad baseline`` writes): the same injected data averaged per
interval, each value compared with the same entity at the same time of day on past days, and a detector
over that deviation with margins in robust spreads. On seasonal fleets it beat every raw config held
out (``detectors/README.md``); the trial shows whether it does on the user's data. It needs about two
days of documents per entity (one past day to compare with); with less it is left out, with a note.
With 15 days or more it is also tried against the same weekday of past weeks (``season="week"``), which
suits fleets whose local weekends are not the UTC one and costs fleets without a weekly rhythm; then
every config is scored, and the events injected, only where that baseline has its past weeks, so that
its first weeks (the daily fallback) do not count against it. With ``alone`` metrics
(``candidates(..., alone=["memory"])``, ``recommend --trial --alone memory``) each baseline-route config is
also tried with a detector over each of those metrics alone beside it (:func:`companions`), and slow leaks
in those metrics join the injected events, so every config is scored on them alike.

The user's data are taken as normal apart from the injected events, so a real anomaly already in
the data counts as a false alarm for every config alike: rankings stay fair, absolute false-alarm
rates are an upper bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hcad.errors import ConfigError
from hcad.quality.baseline import RECOMMENDED as BASELINE
from hcad.quality.baseline import (
    RECOMMENDED_KNEE,
    RECOMMENDED_SPREADS,
    RECOMMENDED_SPREADS_BELOW,
    RECOMMENDED_STRETCH,
    RECOMMENDED_WEEKLY_SPREADS,
    RECOMMENDED_WEEKLY_SPREADS_BELOW,
    SUFFIX,
    BaselineSpec,
    alone_metric,
    detector_config,
    field_names,
    relabel,
    residuals,
    tail_factor,
)
from hcad.quality.baseline import RECOMMENDED_SHINGLE as BASELINE_SHINGLE
from hcad.quality.baseline import RECOMMENDED_WEEKLY as WEEKLY_BASELINE
from hcad.quality.scoring import Scores, score
from hcad.quality.tuning import DEFAULT_INJECTED, MAX_FALSE_ALARMS, choose, inject_anomalies, score_row

#: The baseline route's configs are also tried at this shingle. A storm that builds over a few intervals
#: (GC time and CPU climbing together) often scores above the forest's threshold at shingle 2 and then
#: has its grade zeroed by the conditional-forecast correction (RCF's CONDITIONAL_FORECAST: near
#: neighbours in the sample lie within the margins); at 3 it is caught more often. On the tuning fleets
#: (business 1, cosine fleet 1; backtest) shingle 3 raised F1 for the default, 4 / 4 and weekly margins
#: (+0.02 to +0.13) at 0.01–0.03 more false alarms per entity per day, and lowered it for 3 / 3, which is
#: left at 2 only.
BASELINE_WIDER_SHINGLE = 3

#: Events injected per entity (each kind in turn). Every candidate's trial F1 rests on them, and with two
#: per entity (36 events on 18 entities) one event is ~0.03 of recall, and the top candidates' trial F1 were
#: often closer than that (business fleet 3: 0.921 against 0.918 for configs that scored 0.79 and 0.68 on
#: the days held out).
#: On the tuning fleets (business 1–3, cosine fleet 1–3; backtest, held-out days) four raised the pick's F1
#: from 0.718 to 0.774 on the business ones (with the leak detector 0.793 to 0.825) and from 0.589 to 0.604
#: on the cosine ones (at 0.063 → 0.095 false alarms per entity per day), at the same number of model runs;
#: on the held-out fleets the gain is smaller (``detectors/README.md``). Eight raised the tuning fleets' F1 too
#: (business 0.791 → 0.808, cosine 0.598 → 0.632) but put business 3 at 0.153 false alarms per entity per day
#: and held-out cosine fleet 41 at 0.132 (3 / 3 spreads won more often), so it stays at four.
EVENTS_PER_ENTITY = 4

#: The rules of the raw-metric variations (ignore anomalies within 30% / 5% of the expected value). The tight
#: one is tried only on data without a daily rhythm (``candidates(tight=True)``; the CLI passes it when
#: ``recommend`` finds no dominant period): on every tuning fleet (business 1–3, cosine fleet 1–3; backtest)
#: each 5% config (shingle 2, 4, 8) raised 0.84–1.88 false alarms per entity per day on the days held out,
#: ~10× the budget, also where the trial had measured 0.06–0.08 (cosine fleet 2): on seasonal data a tight
#: rule flags every busier day the trial's days did not have. On flat, quiet series it is the config that
#: sees an event of a few per cent (``tests/integration/test_cli_recommend.py``).
LOOSE_RULE = 0.3
TIGHT_RULE = 0.05

if TYPE_CHECKING:
    import pandas as pd

    from hcad.ad.model import Detector
    from hcad.quality.evaluate import EvalConfig


@dataclass(frozen=True)
class Candidate:
    """Detector settings to try (features are ``(agg, field)`` pairs; ``rule_ratio`` None is the
    plugin's default 20% rule) and the monitor's trigger thresholds.

    With ``baseline`` the detector reads each feature's field as a deviation from that seasonal
    baseline instead (averaged per interval, as ``hcad baseline`` writes it; the features' aggs are not
    used) and ignores anomalies within ``spreads`` = (above, below) robust spreads of the expected value,
    each field's spread scaled by its :func:`~hcad.quality.baseline.tail_factor` with ``tail``. Each metric in
    ``alone`` (baseline route only) also gets a detector of its own beside it (:func:`companions`): a slow
    change of one metric, such as a memory leak, that a forest over every field dilutes; an alert on any of
    them counts.
    """

    name: str
    features: tuple[tuple[str, str], ...]
    shingle_size: int
    rule_ratio: float | None
    min_grade: float = 0.0
    min_confidence: float = 0.0
    baseline: BaselineSpec | None = None
    spreads: tuple[float, float] = (RECOMMENDED_SPREADS, RECOMMENDED_SPREADS_BELOW)
    tail: bool = False
    alone: tuple[str, ...] = ()

    def run_key(self) -> tuple[Any, ...]:
        """What the (first) model run depends on: candidates that differ only in the monitor's floor or in
        their companions share one run."""
        if self.baseline is not None:
            return (self.baseline, self.shingle_size, self.spreads, self.tail)
        return (self.features, self.shingle_size, self.rule_ratio)

    def settings(self) -> dict[str, Any]:
        """The candidate in words for reports: features, baseline, shingle, rule or margins, monitor floors."""
        b = self.baseline
        if b is None:
            features = [f"{a}({f})" for a, f in self.features]
            rule = "plugin default (20%)" if self.rule_ratio is None else f"ignore within {self.rule_ratio:.0%}"
            how = None
        else:
            features = [f"avg({f})" for f in field_names([f for _a, f in self.features])]
            unit = "tail-scaled robust spreads" if self.tail else "robust spreads"
            rule = f"ignore within {self.spreads[0]:g} {unit} above, {self.spreads[1]:g} below"
            past = {"week": f"the same weekday of the past {b.days} weeks", "anyday": f"the past {b.days} days"}.get(
                b.season, f"the past {b.days} days of the same kind")  # fmt: skip
            fleet = ""
            stretched = ", ".join(b.stretched) or "every metric"
            if b.fleet:
                share = f"each entity's share of the fleet's median fitted over {b.fleet_fit} intervals and removed"
                fleet = f", {share}" if b.fleet_fit else ", fleet median removed"
            how = (
                f"{b.mode} to the same time on {past}{fleet}"
                + (f", local level over {b.local} intervals removed" if b.local else "")
                + (f", each entity in its own spreads over {b.scale} intervals" if b.scale else "")
                + (f", {stretched} {1 + b.stretch:g}× past {b.knee:g} spreads" if b.stretch else "")
            )
        return {
            "features": features,
            "alone": [f"avg({f})" for f in field_names(self.alone)],
            "baseline": how,
            "shingle_size": self.shingle_size,
            "rule": rule,
            "min_grade": self.min_grade,
            "min_confidence": self.min_confidence,
        }


@dataclass(frozen=True)
class TrialResult:
    """One candidate's scores on the injected data."""

    candidate: Candidate
    scores: Scores

    def row(self) -> dict[str, Any]:
        """One flat table row: the candidate's name, settings and trial scores."""
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
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "winner": self.winner.row(),
            "reason": self.reason,
            "events": self.events,
            "candidates": [r.row() for r in self.results],
            "notes": list(self.notes),
        }


def candidates(
    metrics: Sequence[str],
    shingle_size: int | None = None,
    *,
    baseline: bool = True,
    alone: Sequence[str] = (),
    tight: bool = False,
    stretch: Sequence[str] = (),
) -> list[Candidate]:
    """The configs :func:`trial` compares by default: the plugin's defaults, hcad's defaults, and
    shingles 2, 4 and 8 with the :data:`LOOSE_RULE` (with ``tight``, for data without a daily rhythm, also
    the :data:`TIGHT_RULE`) and confidence ≥ 0.9 (``shingle_size`` adds that size too, e.g. one that covers
    the data's period); with ``baseline``, also the baseline route with
    ``hcad baseline``'s defaults and with 3 and 4 spreads both ways, and against past weeks
    (``hcad baseline --season week``) with its defaults, each at ``hcad baseline``'s shingle and all but
    the 3 / 3 spreads also at :data:`BASELINE_WIDER_SHINGLE`; with ``alone`` (some of ``metrics``), each
    baseline-route config also with a detector of its own over each of those metrics (:func:`companions`); with
    ``stretch`` (some of ``metrics``), for each of those metrics the baseline against any past day
    (``season="anyday"``) in the ``level`` form with that metric's deviations stretched past
    :data:`~hcad.quality.baseline.RECOMMENDED_KNEE` spreads, 3 / 3 spreads: for a metric whose events are only
    a few spreads beyond its normal tail, such as GC time on fleets with peak-traffic days (the trial injects no
    GC storms, so it cannot tell which metric that is)."""
    from hcad.ad.limits import RECOMMENDED_MIN_CONFIDENCE, RECOMMENDED_MIN_GRADE
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
        for r in (TIGHT_RULE, LOOSE_RULE) if tight else (LOOSE_RULE,):
            out.append(Candidate(f"s{s} rule {r:g} conf≥0.9", feats, s, r, 0.0, 0.9))
    if baseline:
        defaults = (RECOMMENDED_SPREADS, RECOMMENDED_SPREADS_BELOW)
        weekly_defaults = (RECOMMENDED_WEEKLY_SPREADS, RECOMMENDED_WEEKLY_SPREADS_BELOW)
        for spec, (up, down), tail in ((BASELINE, defaults, False), (BASELINE, (3.0, 3.0), False),
                                       (BASELINE, (4.0, 4.0), False),
                                       (WEEKLY_BASELINE, weekly_defaults, True)):  # fmt: skip
            name = f"baseline{' weekly' if spec.season == 'week' else ''} {up:g} up / {down:g} down"
            name += " (tail-scaled)" if tail else ""
            for s in (BASELINE_SHINGLE, BASELINE_WIDER_SHINGLE):
                if s == BASELINE_WIDER_SHINGLE and (up, down) == (3.0, 3.0):
                    continue  # the narrowest margins at shingle 3: more false alarms, lower F1 (see the constant)
                label = name + (f", shingle {s}" if s != BASELINE_SHINGLE else "")
                if (spec, (up, down), s) == (BASELINE, defaults, BASELINE_SHINGLE):
                    label += " (hcad baseline)"
                out.append(
                    Candidate(label, feats, s, None, RECOMMENDED_MIN_GRADE, RECOMMENDED_MIN_CONFIDENCE,
                              baseline=spec, spreads=(up, down), tail=tail)
                )  # fmt: skip
    for what, named in (("a stretched metric (stretch)", stretch), ("a detector of its own (alone)", alone)):
        stray = [m for m in named if m not in metrics]
        if named and (stray or not baseline):
            why = f"{stray} are not among the metrics {list(metrics)}" if stray else "needs the baseline route"
            raise ConfigError(f"{what} {why}; name some of the metrics")
    if stretch:
        for m in dict.fromkeys(stretch):
            # Against any past day: on the cosine fleets the switch between weekdays and weekends moved every
            # deviation at once, and the stretch turned that into false alarms (detectors/README.md).
            spec = replace(BASELINE, mode="level", season="anyday", stretch=RECOMMENDED_STRETCH, knee=RECOMMENDED_KNEE,
                           stretched=(m,))  # fmt: skip
            out.append(Candidate(f"baseline level any day 3 up / 3 down, {m} stretched", feats, BASELINE_SHINGLE, None,
                                 RECOMMENDED_MIN_GRADE, RECOMMENDED_MIN_CONFIDENCE, baseline=spec,
                                 spreads=(3.0, 3.0)))  # fmt: skip
    if alone:
        out += [replace(c, name=f"{c.name} + {', '.join(alone)} alone", alone=tuple(alone))
                for c in out if c.baseline is not None]  # fmt: skip
    unique: dict[tuple[Any, ...], Candidate] = {}
    for c in out:
        key = (c.features, c.shingle_size, c.rule_ratio, c.min_grade, c.min_confidence, c.baseline, c.spreads, c.tail,
               c.alone)  # fmt: skip
        unique.setdefault(key, c)
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
    per_entity: int = EVENTS_PER_ENTITY,
    max_false_alarms: float = MAX_FALSE_ALARMS,
    workers: int | None = None,
) -> Trial:
    """Inject anomalies into ``frame`` and score each candidate on it (see the module docstring)."""
    import pandas as pd

    from hcad.quality.backtest import run

    if not metrics:
        raise ConfigError("give at least one metric to try detectors on (--feature)")
    if configs is not None and not configs:
        raise ConfigError("no configs to try; pass candidates or None for hcad's default set")
    cands = list(configs) if configs is not None else candidates(metrics)
    notes: list[str] = []
    warmup, scored_from = _scored_window(frame, fields, time_field, cands, notes)
    # Leaks go in only where a candidate has a detector for them: every config is scored on them alike.
    slow = tuple(dict.fromkeys(m for c in cands for m in c.alone))
    data, labels = inject_anomalies(
        frame, fields, metrics, time_field=time_field, interval_minutes=interval_minutes, seed=seed,
        per_entity=per_entity, warmup_fraction=warmup, kinds=(*DEFAULT_INJECTED, "drift") if slow else DEFAULT_INJECTED,
        drift_metrics=slow,
    )  # fmt: skip
    if labels.empty:
        raise ConfigError(
            "too little data to try detectors on: each entity needs at least ~70 intervals of history; "
            "read more documents (--docs-per-entity) or a longer range"
        )
    window = None  # (each entity's first document, the offset scored from)
    if scored_from is not None:
        window = (data.groupby(list(fields))[time_field].min().rename("_first").reset_index(), scored_from)
        labels = _after(labels, window, fields, "start")  # an entity with gaps can have an event just before

    def detector(cfg: EvalConfig) -> Detector:
        return cfg.detector("trial", "hcad-trial", time_field=time_field, category_fields=fields)

    deviations: dict[BaselineSpec, pd.DataFrame | None] = {}
    field_labels = relabel(labels)  # the events, named by the baseline fields they show in
    results: list[TrialResult] = []
    cache: dict[tuple[Any, ...], pd.DataFrame] = {}
    for c in cands:
        if c.baseline is not None:
            if c.baseline not in deviations:
                deviations[c.baseline] = baseline_deviations(data, fields, metrics, time_field=time_field,
                                                             interval_minutes=interval_minutes, spec=c.baseline,
                                                             notes=notes, alone=slow)  # fmt: skip
            dev = deviations[c.baseline]
            if dev is None:
                continue
            labs = field_labels
        else:
            dev = None
            labs = labels
        frame_c, cfg = prepare(c, data, dev, metrics, fields, time_field=time_field, interval_minutes=interval_minutes)
        runs = []
        for key, each in ((c.run_key(), cfg), *companions(c, frame_c, cfg)):
            if key not in cache:
                out = run(frame_c, detector(each), seed=seed, workers=workers)
                cache[key] = out if window is None else _after(out, window, fields, "data_start_time")
            runs.append(cache[key])
        s = score(
            runs[0] if len(runs) == 1 else pd.concat(runs, ignore_index=True), labs, interval_minutes,
            entity_fields=fields, min_grade=c.min_grade, min_confidence=c.min_confidence,
        )  # fmt: skip
        results.append(TrialResult(c, s))
    notes = list(dict.fromkeys(notes))  # both seasons' specs give the same note when the data are too short
    if not results:
        raise ConfigError(f"no config could be tried: {'; '.join(notes)}")
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
    return Trial(tuple(results), winner, len(labels), reason, tuple(notes))


def _scored_window(
    frame: pd.DataFrame, fields: Sequence[str], time_field: str, cands: Sequence[Candidate], notes: list[str]
) -> tuple[float, pd.Timedelta | None]:
    """Where to inject and score: after the first 40% of each entity's documents, or, when a weekly
    baseline is tried, only once it has its past weeks (every candidate on that window alike: scored over
    the whole span, the weekly one would pay for its daily fallback in the first weeks)."""
    import pandas as pd

    weekly = [c.baseline.min_days for c in cands if c.baseline is not None and c.baseline.season == "week"]
    if not weekly:
        return DEFAULT_WARMUP, None
    span = _median_span(frame, fields, time_field)
    need = pd.Timedelta(days=7 * max(weekly))
    if span < need + pd.Timedelta(days=1):
        return DEFAULT_WARMUP, None  # too short for the weekly baseline: baseline_deviations says so
    scored = span - need
    notes.append(
        f"every config was scored on the last {scored / pd.Timedelta(days=1):.1f} days of each entity, where the "
        f"weekly baseline has {max(weekly)} past weeks to compare with"
    )
    return max(DEFAULT_WARMUP, need / span), need


def _median_span(frame: pd.DataFrame, fields: Sequence[str], time_field: str) -> pd.Timedelta:
    """The median entity's span from its first document to its last."""
    import pandas as pd

    t = pd.to_datetime(frame[time_field], utc=True)
    by = t.groupby([frame[f] for f in fields])
    return pd.Timedelta((by.max() - by.min()).median())


def _after(
    rows: pd.DataFrame, window: tuple[pd.DataFrame, pd.Timedelta], fields: Sequence[str], column: str
) -> pd.DataFrame:
    """The ``rows`` whose ``column`` is ``offset`` or more after their entity's first document, ``window``
    being (each entity's first document as ``_first``, ``offset``)."""
    import pandas as pd

    starts, offset = window
    m = rows.merge(starts, on=list(fields), how="left")
    keep = (pd.to_datetime(m[column], utc=True) >= m["_first"] + offset).to_numpy()
    return rows[keep]


def prepare(
    c: Candidate,
    data: pd.DataFrame,
    deviations: pd.DataFrame | None,
    metrics: Sequence[str],
    fields: Sequence[str],
    *,
    time_field: str,
    interval_minutes: int,
) -> tuple[pd.DataFrame, EvalConfig]:
    """The frame ``c``'s detector reads and its config, ``c``'s monitor floor included: the documents
    ``data`` for a raw-metric candidate; for a baseline-route one, ``deviations`` (from
    :func:`baseline_deviations` with ``c.baseline``) with the detector ``hcad baseline`` proposes for them,
    at ``c``'s shingle and margins (each field's spread scaled by its tail factor with ``c.tail``)."""
    from hcad.quality.evaluate import EvalConfig

    if c.baseline is None:
        cfg = EvalConfig(features=c.features, interval_minutes=interval_minutes, shingle_size=c.shingle_size,
                         rule_ratio=c.rule_ratio, min_grade=c.min_grade, min_confidence=c.min_confidence)  # fmt: skip
        return data, cfg
    if deviations is None:
        raise ConfigError(f"{c.name}: a baseline-route candidate needs the deviations from its baseline")
    up, down = c.spreads
    tail = None
    if c.tail:
        tail = tail_factor(deviations, field_names(metrics), entity_fields=fields, time_field=time_field)
    cfg = detector_config(deviations, metrics, shingle_size=c.shingle_size, spreads=up, spreads_below=down,
                          min_grade=c.min_grade, min_confidence=c.min_confidence, tail=tail)  # fmt: skip
    return deviations, replace(cfg, interval_minutes=interval_minutes)


#: Robust spreads, both ways, a metric's detector of its own ignores (``Candidate.alone``): what
#: ``detectors/README.md`` found for the memory detector beside the baseline route on the tuning fleets.
ALONE_SPREADS = 3.0


def companions(c: Candidate, deviations: pd.DataFrame, main: EvalConfig) -> list[tuple[tuple[Any, ...], EvalConfig]]:
    """The detectors beside ``c``'s own (``main``, from :func:`prepare`) over the same ``deviations``, with
    their model-run keys: one per metric in ``c.alone``, its deviation field alone (with a local level
    removed: :func:`~hcad.quality.baseline.alone_metric`; ``deviations`` from :func:`baseline_deviations` with
    those metrics as ``alone``), :data:`ALONE_SPREADS` both ways, ``main``'s shingle and monitor floor."""
    if not c.alone:
        return []
    if c.baseline is None:
        raise ConfigError(f"{c.name}: a detector of its own (alone) needs the baseline route")
    out = []
    for m in c.alone:
        field = alone_metric(m, c.baseline)
        if field + SUFFIX not in deviations.columns:
            raise ConfigError(
                f"{c.name}: no {field + SUFFIX} in the deviations; compute them with alone={list(c.alone)}"
            )
        cfg = alone_config(deviations, field, shingle_size=main.shingle_size, min_grade=main.min_grade,
                           min_confidence=main.min_confidence)  # fmt: skip
        out.append((("alone", c.baseline, m, main.shingle_size), replace(cfg, interval_minutes=main.interval_minutes)))
    return out


def alone_config(
    deviations: pd.DataFrame,
    metric: str,
    *,
    shingle_size: int,
    min_grade: float | None = None,
    min_confidence: float | None = None,
) -> EvalConfig:
    """A detector over ``metric``'s deviation field alone: :data:`ALONE_SPREADS` both ways (what
    :func:`companions` tries and ``hcad baseline --alone`` prints)."""
    return detector_config(deviations, [metric], shingle_size=shingle_size, spreads=ALONE_SPREADS,
                           spreads_below=ALONE_SPREADS, min_grade=min_grade, min_confidence=min_confidence)  # fmt: skip


#: The share of each entity's documents before the first injected event, without a weekly candidate.
DEFAULT_WARMUP = 0.4

#: Days of documents per entity the baseline route needs: one past day to compare with, and the day scored.
BASELINE_MIN_DAYS = 2


def baseline_deviations(
    data: pd.DataFrame,
    fields: Sequence[str],
    metrics: Sequence[str],
    *,
    time_field: str,
    interval_minutes: int,
    spec: BaselineSpec,
    notes: list[str],
    alone: Sequence[str] = (),
) -> pd.DataFrame | None:
    """The documents averaged per entity and interval and compared with their baseline (what ``hcad
    baseline`` writes, with ``--alone`` for each of ``alone``); None, with a note in ``notes`` saying why,
    when the data cannot have one."""
    import pandas as pd

    from hcad.quality.backtest import to_buckets
    from hcad.quality.backtest.buckets import TIME
    from hcad.quality.backtest.model import BacktestConfig, feature

    if 1440 % interval_minutes:
        notes.append(f"the baseline route was not tried: its {interval_minutes}-minute interval does not divide a day")
        return None
    span = _median_span(data, fields, time_field)
    if span < pd.Timedelta(days=BASELINE_MIN_DAYS):
        notes.append(
            f"the baseline route was not tried: it needs {BASELINE_MIN_DAYS} days of documents per entity "
            f"(one past day to compare with), the median entity has {span / pd.Timedelta(hours=1):.0f} h; "
            f"read a longer range"
        )
        return None
    # Past weeks: the spec's min_days of them (15 days for hcad's) and a day scored; with fewer, every day
    # falls back to the daily baseline, which is tried anyway.
    weekly_days = 7 * spec.min_days + 1
    if spec.season == "week" and span < pd.Timedelta(days=weekly_days):
        notes.append(
            f"the weekly baseline was not tried: it needs {weekly_days} days of documents per entity "
            f"({spec.min_days} past weeks to compare with), the median entity has {span / pd.Timedelta(days=1):.1f} "
            f"days; read a longer range"
        )
        return None
    config = BacktestConfig(
        features=tuple(feature(m, "avg", m) for m in metrics),
        interval_minutes=interval_minutes,
        category_fields=tuple(fields),
        indices=("trial",),
        time_field=time_field,
    ).validate()
    buckets = to_buckets(data, config).rename(columns={TIME: time_field})[[time_field, *fields, *metrics]]
    spec = replace(spec, interval_minutes=interval_minutes)
    dev = residuals(buckets, metrics, spec=spec, entity_fields=fields, time_field=time_field, alone=alone)
    if dev.empty:
        notes.append("the baseline route was not tried: no interval has a past day to compare with; read more days")
        return None
    return dev
