"""Evaluation harness: run detector configs on a labelled synthetic fleet, score them, report.

Two engines produce AD-shaped results (entity columns, ``data_start_time``, ``anomaly_grade``,
``confidence``):

- ``plugin``: the real AD plugin's historical analysis through :mod:`hcad.ad.client` (needs the plugin on
  the cluster). Each config becomes a detector on the fleet index; hcad starts a historical run over
  the whole series, waits for it, reads the results and deletes the detector.
- ``backtest``: the plugin's ThresholdedRandomCutForest run locally through :mod:`hcad.quality.backtest`.
  Its numbers are *local-TRCF* numbers; they are labelled so in every report.

Results are scored with :func:`hcad.quality.scoring.score`. :func:`grid` builds the cartesian product of
config axes; :class:`EvalReport` renders a table, JSON and a precision/recall PNG. What interval and
shingle size suit a user's index is :mod:`hcad.quality.recommend`.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hcad.ad.limits import (
    RECOMMENDED_MIN_CONFIDENCE,
    RECOMMENDED_MIN_GRADE,
    RECOMMENDED_RULE_RATIO,
    RECOMMENDED_SHINGLE_SIZE,
)
from hcad.errors import ConfigError, HcadError, Issue, ValidationError
from hcad.quality.scoring import Scores, score
from hcad.quality.synth import HOST_FIELD, PROCESS_FIELD, TIME_FIELD, FleetSpec

if TYPE_CHECKING:
    import pandas as pd

    from hcad.ad.model import Detector, Rule
    from hcad.connection import HcadClient

ENGINES = ("backtest", "plugin")
AGGS = ("avg", "max", "min", "sum")
IMPUTATIONS = ("ZERO", "PREVIOUS")
#: The seed blog's measurement on cosine waves (precision, recall), shown beside every report.
BLOG_REFERENCE = {"precision": 0.57, "recall": 0.61}
TARGET = {"precision": 0.9, "recall": 0.8}
AD_BASE = "/_plugins/_anomaly_detection/detectors"
ENTITY_FIELDS = (HOST_FIELD, PROCESS_FIELD)


@dataclass(frozen=True)
class EvalConfig:
    """One detector configuration to evaluate.

    ``features`` are ``(agg, field)`` pairs. ``imputation`` None means the plugin's default.
    ``rule_ratio`` None keeps the plugin's default rule (ignore anomalies within ±20% of the expected
    value); a number r > 0 gives every feature an explicit ignore-within-r rule (the plugin refuses 0).
    ``min_grade`` and ``min_confidence`` are applied when scoring, like a monitor's trigger: only
    results with a grade above ``min_grade`` and a confidence of at least ``min_confidence`` count.
    ``rule_margins`` (one number per feature) gives every feature an ignore-within-this-margin rule
    instead (the plugin's ``actual_over_expected_margin`` and ``expected_over_actual_margin``, 2.19+):
    the absolute form suits features already in comparable units, such as
    :mod:`hcad.quality.baseline`'s deviations from a seasonal baseline. ``rule_margins_below`` (one per
    feature) sets the margin for actual values *below* the expected one apart (None: the same as
    ``rule_margins``): in RCF both margins also widen the box within which near neighbours in the sample
    explain a point away (``CONDITIONAL_FORECAST``), so a small margin above keeps upward events
    (spikes, GC storms) that a wide symmetric one would let the sample explain.
    """

    features: tuple[tuple[str, str], ...] = (("avg", "jvmGcTime"),)
    interval_minutes: int = 10
    shingle_size: int = 8
    imputation: str | None = None
    rule_ratio: float | None = None
    window_delay_minutes: int = 0
    min_grade: float = 0.0
    min_confidence: float = 0.0
    name: str = ""
    rule_margins: tuple[float, ...] | None = None
    rule_margins_below: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple((str(a), str(f)) for a, f in self.features))
        for name in ("rule_margins", "rule_margins_below"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(float(m) for m in getattr(self, name)))
        issues = self.issues()
        if issues:
            raise ValidationError(issues, source=f"config {self.label}")

    def issues(self) -> list[Issue]:
        """Every problem with this config, each naming its field."""
        out = []
        if not self.features:
            out.append(Issue("features", "needs at least one (agg, field)", "e.g. (('avg', 'cpu'),)"))
        for agg, _f in self.features:
            if agg not in AGGS:
                out.append(Issue("features", f"aggregation {agg!r} is not supported", f"use one of {AGGS}"))
        if self.interval_minutes < 1:
            out.append(Issue("interval_minutes", "must be ≥ 1", "use e.g. 10"))
        if not 1 <= self.shingle_size <= 128:
            out.append(Issue("shingle_size", f"{self.shingle_size} is not in 1–128", "use e.g. 8"))
        if self.imputation is not None and self.imputation not in IMPUTATIONS:
            out.append(Issue("imputation", f"{self.imputation!r} is not supported here", f"use {IMPUTATIONS}"))
        if self.rule_ratio is not None and not self.rule_ratio > 0:
            # The plugin refuses rule thresholds ≤ 0, so "no rule" is not possible; 0.05 comes close.
            out.append(Issue("rule_ratio", f"{self.rule_ratio} is not > 0", "use e.g. 0.05, or None for 0.2"))
        if self.rule_margins is not None and self.rule_ratio is not None:
            out.append(Issue("rule_margins", "cannot be combined with rule_ratio", "set one of them"))
        if self.rule_margins_below is not None and self.rule_margins is None:
            out.append(Issue("rule_margins_below", "needs rule_margins (the margins above)", "set both"))
        for name, example in (("rule_margins", "0.2"), ("rule_margins_below", "0.4")):
            margins = getattr(self, name)
            if margins is None:
                continue
            if len(margins) != len(self.features):
                n = len(self.features)
                out.append(Issue(name, f"needs one margin per feature ({n})", f"e.g. ({example},) * n"))
            if any(not m > 0 for m in margins):
                out.append(Issue(name, "every margin must be > 0 (the plugin refuses 0)", f"e.g. {example}"))
        if not 0 <= self.min_grade < 1:
            out.append(Issue("min_grade", "must be in [0, 1)", "use e.g. 0.0"))
        if not 0 <= self.min_confidence <= 1:
            out.append(Issue("min_confidence", "must be in [0, 1]", "use e.g. 0.9"))
        return out

    @property
    def feature_names(self) -> list[str]:
        """The detector's feature names, ``<field>_<agg>``."""
        return [f"{fld}_{agg}" for agg, fld in self.features]

    @property
    def label(self) -> str:
        """A short readable id, e.g. ``10m s8 avg(jvmGcTime) rule0.2``."""
        if self.name:
            return self.name
        feats = "+".join(f"{a}({f})" for a, f in self.features)
        parts = [f"{self.interval_minutes}m", f"s{self.shingle_size}", feats]
        if self.imputation:
            parts.append(f"imp={self.imputation.lower()}")
        if self.rule_margins is not None:
            parts.append("margin=" + "/".join(f"{m:.3g}" for m in self.rule_margins))
            if self.rule_margins_below is not None and self.rule_margins_below != self.rule_margins:
                parts.append("below=" + "/".join(f"{m:.3g}" for m in self.rule_margins_below))
        else:
            parts.append("rule=default" if self.rule_ratio is None else f"rule={self.rule_ratio:g}")
        if self.min_grade:
            parts.append(f"grade>{self.min_grade:g}")
        if self.min_confidence:
            parts.append(f"conf>={self.min_confidence:g}")
        return " ".join(parts)

    def detector(
        self,
        index: str,
        name: str = "hcad-eval",
        *,
        time_field: str = TIME_FIELD,
        category_fields: Sequence[str] = ENTITY_FIELDS,
    ) -> Detector:
        """The config as an HCAD detector over ``index`` (host and process, or ``category_fields``)."""
        from hcad.ad.model import Detector, Imputation

        features = {n: (agg, fld) for n, (agg, fld) in zip(self.feature_names, self.features, strict=True)}
        more: dict[str, Any] = {}
        if self.imputation:
            more["imputation"] = Imputation(self.imputation)
        rules = self.rules()
        if rules is not None:
            more["rules"] = rules
        return Detector.hcad(
            name,
            index,
            time_field,
            list(category_fields),
            features,
            f"{self.interval_minutes}m",
            window_delay=f"{self.window_delay_minutes}m",
            shingle_size=self.shingle_size,
            description=f"hcad eval: {self.label}",
            # rule_ratio None means the plugin's own default rule: no builder defaults here.
            plugin_defaults=True,
            **more,
        )

    def rules(self) -> list[Rule] | None:
        """The detector's rules: one per feature from ``rule_ratio`` or ``rule_margins``; None for the
        plugin's default rule."""
        from hcad.ad.model import Condition, Rule

        if self.rule_margins is not None:
            below = self.rule_margins_below or self.rule_margins
            return [
                Rule(
                    [
                        Condition(n, "ACTUAL_OVER_EXPECTED_MARGIN", "LTE", up),
                        Condition(n, "EXPECTED_OVER_ACTUAL_MARGIN", "LTE", down),
                    ]
                )
                for n, up, down in zip(self.feature_names, self.rule_margins, below, strict=True)
            ]
        if self.rule_ratio is not None:
            return [Rule.ignore_within(n, self.rule_ratio) for n in self.feature_names]
        return None

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), features=[list(f) for f in self.features], label=self.label)


def grid(
    features: Iterable[Sequence[tuple[str, str]]] = ((("avg", "jvmGcTime"),),),
    intervals: Iterable[int] = (10,),
    shingles: Iterable[int] = (8,),
    imputations: Iterable[str | None] = (None,),
    rule_ratios: Iterable[float | None] = (None,),
    min_grades: Iterable[float] = (0.0,),
    min_confidences: Iterable[float] = (0.0,),
) -> list[EvalConfig]:
    """Every combination of the given axes, as configs (in a stable order)."""
    combos = itertools.product(
        list(features),
        list(intervals),
        list(shingles),
        list(imputations),
        list(rule_ratios),
        list(min_grades),
        list(min_confidences),
    )
    return [EvalConfig(tuple(f), i, s, imp, r, 0, g, c) for f, i, s, imp, r, g, c in combos]


# ---------------------------------------------------------------------------------------- engines
Engine = Callable[[EvalConfig], "pd.DataFrame"]


def backtest_engine(spec: FleetSpec, frame: pd.DataFrame | None = None, workers: int | None = None) -> Engine:
    """An engine running each config through the local TRCF (:mod:`hcad.quality.backtest`) on the fleet."""
    try:
        from hcad.quality import backtest
    except ImportError as e:
        raise ConfigError(f"the backtest engine needs hcad.quality.backtest, which is not available ({e})") from e
    run = backtest.run
    data = frame if frame is not None else _fleet_frame(spec)

    def engine(cfg: EvalConfig) -> pd.DataFrame:
        # Seeded forests make a grid reproducible run to run (the plugin seeds randomly).
        return run(data, cfg.detector("hcad-eval"), seed=spec.seed, workers=workers)

    return engine


def _fleet_frame(spec: FleetSpec) -> pd.DataFrame:
    from hcad.quality.synth import fleet_frame

    return fleet_frame(spec)


def plugin_engine(
    client: HcadClient,
    index: str,
    spec: FleetSpec,
    *,
    timeout: float = 1800.0,
    poll: float = 2.0,
    keep_detectors: bool = False,
) -> Engine:
    """An engine running each config as a historical analysis of the real AD plugin on ``index``."""
    client.require_plugin("opensearch-anomaly-detection")

    def engine(cfg: EvalConfig) -> pd.DataFrame:
        return run_historical(client, cfg, index, spec, timeout=timeout, poll=poll, keep=keep_detectors)

    return engine


def run_historical(
    client: HcadClient,
    cfg: EvalConfig,
    index: str,
    spec: FleetSpec,
    *,
    timeout: float = 1800.0,
    poll: float = 2.0,
    keep: bool = False,
) -> pd.DataFrame:
    """Create a detector for ``cfg``, run its historical analysis over the whole fleet series, wait
    and return its results as a DataFrame (see :func:`hcad.ad.results.results_frame`)."""
    ad = client.ad
    det = ad.create(cfg.detector(index, f"hcad-eval-{uuid.uuid4().hex[:12]}"))
    assert det.id is not None
    try:
        # The cluster's historical task slots are shared with every other user: wait for one.
        task_id = ad.start_historical(det.id, spec.start, spec.end, slot_wait=timeout, detector=det)
        task = ad.wait_historical(det.id, task_id, timeout=timeout, poll=poll)
        return ad.results(det, task_id=str(task.get("task_id") or task_id))
    finally:
        if not keep:
            # A failed clean-up must not hide the evaluation's own outcome.
            with contextlib.suppress(HcadError):
                if ad.get_state(det.id).historical_running:
                    ad.stop(det.id, historical=True)
                ad.delete(det.id)


# ---------------------------------------------------------------------------------------- harness
@dataclass
class ConfigResult:
    """One config's outcome: its scores, or the error that stopped it."""

    config: EvalConfig
    scores: Scores | None
    seconds: float
    results: int = 0
    error: str | None = None

    def row(self) -> dict[str, Any]:
        """One flat table row: the config's label, its scores (None when it failed) and its error."""
        s = self.scores
        return {
            "config": self.config.label,
            "precision": s.precision if s else None,
            "recall": s.recall if s else None,
            "f1": s.f1 if s else None,
            "alarm_precision": s.alarm_precision if s else None,
            "alarms": s.alarms if s else None,
            "fa_per_entity_day": round(s.false_alarms_per_entity_day, 3) if s else None,
            "ttd": s.ttd_mean if s else None,
            "seconds": round(self.seconds, 1),
            "error": self.error,
        }


@dataclass
class EvalReport:
    """Every config tried on one dataset with one engine."""

    engine: str
    spec: FleetSpec
    tolerance: int
    results: list[ConfigResult] = field(default_factory=list)

    @property
    def note(self) -> str:
        """Which engine the numbers come from, said with every report."""
        if self.engine == "backtest":
            return "local-TRCF numbers (hcad.quality.backtest, the plugin's model run locally), not plugin numbers"
        return "AD plugin historical-analysis numbers"

    def best(self) -> ConfigResult | None:
        """The config with the highest F1 (ties: higher precision)."""
        ok = [r for r in self.results if r.scores is not None]
        if not ok:
            return None
        return max(ok, key=lambda r: (r.scores.f1, r.scores.precision))  # type: ignore[union-attr]

    def rows(self) -> list[dict[str, Any]]:
        """Every config's :meth:`ConfigResult.row`, in the order run."""
        return [r.row() for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        best = self.best()
        return {
            "engine": self.engine,
            "note": self.note,
            "dataset": self.spec.name,
            "spec": self.spec.to_dict(),
            "tolerance_intervals": self.tolerance,
            "reference": {"blog": BLOG_REFERENCE, "target": TARGET},
            "best": best.config.label if best else None,
            "configs": [
                {
                    "config": r.config.to_dict(),
                    "scores": r.scores.to_dict() if r.scores else None,
                    "seconds": round(r.seconds, 2),
                    "results": r.results,
                    "error": r.error,
                }
                for r in self.results
            ],
        }

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` and return it (one-line error when it cannot)."""
        import json

        p = Path(path)
        try:
            p.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        except OSError as e:
            raise ConfigError(f"{p}: cannot write the report ({e.strerror})") from e
        return p

    def plot(self, path: str | Path) -> Path:
        """A precision/recall scatter of every config, with the blog's point and the target zone."""
        return plot_reports([self], path)


def plot_reports(reports: Sequence[EvalReport], path: str | Path) -> Path:
    """One precision/recall chart for one or more reports (e.g. the blog and fleet datasets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    ax.add_patch(
        plt.Rectangle(
            (TARGET["recall"], TARGET["precision"]),
            1.02 - TARGET["recall"],
            1.02 - TARGET["precision"],
            color="tab:green",
            alpha=0.12,
            label="target (P ≥ 0.9, R ≥ 0.8)",
        )
    )
    ax.scatter(
        [BLOG_REFERENCE["recall"]],
        [BLOG_REFERENCE["precision"]],
        marker="*",
        s=220,
        c="k",
        label="seed blog (plugin, 2021)",
    )
    markers = "os^Dv"
    for i, rep in enumerate(reports):
        pts = [r for r in rep.results if r.scores is not None]
        xs = [r.scores.recall for r in pts]  # type: ignore[union-attr]
        ys = [r.scores.precision for r in pts]  # type: ignore[union-attr]
        ax.scatter(xs, ys, marker=markers[i % len(markers)], alpha=0.75, label=f"{rep.spec.name} ({rep.engine})")
        best = rep.best()
        if best is not None and best.scores is not None:
            right = best.scores.recall > 0.5  # keep the label inside the axes
            ax.annotate(
                f"best: {best.config.label}",
                (best.scores.recall, best.scores.precision),
                fontsize=7,
                xytext=(-4 if right else 4, -12 - 10 * i),
                textcoords="offset points",
                ha="right" if right else "left",
            )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("event recall")
    ax.set_ylabel("precision (flagged intervals)")
    engines = sorted({r.engine for r in reports})
    ax.set_title("Detector configs: precision vs recall" + (" (local TRCF)" if engines == ["backtest"] else ""))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    p = Path(path)
    try:
        fig.savefig(p, bbox_inches="tight")
    except OSError as e:
        raise ConfigError(f"{p}: cannot write the chart ({e.strerror})") from e
    finally:
        plt.close(fig)
    return p


def evaluate(
    spec: FleetSpec,
    configs: Sequence[EvalConfig],
    engine: str | Engine = "backtest",
    *,
    client: HcadClient | None = None,
    index: str | None = None,
    labels: pd.DataFrame | None = None,
    tolerance: int = 2,
    progress: bool = True,
    on_result: Callable[[ConfigResult], None] | None = None,
) -> EvalReport:
    """Run every config on the fleet with ``engine`` and score it against the fleet's labels.

    ``engine`` is ``"backtest"``, ``"plugin"`` (then ``client`` and ``index`` are needed and the
    fleet must already be loaded there, see :func:`hcad.quality.loading.load_fleet`) or a callable
    ``config → results DataFrame``. A config whose run fails is recorded with its error and the
    rest still run; only events on the configs' feature fields are scored.
    """
    from hcad.quality.synth import fleet_labels

    if not configs:
        raise ConfigError("no configs to evaluate; give at least one")
    name = engine if isinstance(engine, str) else "custom"
    if engine == "backtest":
        run = backtest_engine(spec)
    elif engine == "plugin":
        if client is None or not index:
            raise ConfigError("the plugin engine needs a client and the index holding the fleet")
        run = plugin_engine(client, index, spec)
    elif callable(engine):
        run = engine
    else:
        raise ConfigError(f"engine {engine!r} is not one of {ENGINES}")
    all_labels = labels if labels is not None else fleet_labels(spec)
    report = EvalReport(name, spec, tolerance)
    bar = _bar(progress, len(configs), f"eval {spec.name} ({name})")
    # Trigger thresholds only filter results: configs differing only in them share one model run.
    cache: dict[EvalConfig, pd.DataFrame] = {}
    try:
        for cfg in configs:
            t0 = time.perf_counter()
            try:
                key = replace(cfg, min_grade=0.0, min_confidence=0.0, name="")
                if key not in cache:
                    cache[key] = run(cfg)
                results = cache[key]
                scored = score(
                    results,
                    labels_for(all_labels, cfg),
                    cfg.interval_minutes,
                    tolerance,
                    entity_fields=ENTITY_FIELDS,
                    min_grade=cfg.min_grade,
                    min_confidence=cfg.min_confidence,
                )
                outcome = ConfigResult(cfg, scored, time.perf_counter() - t0, len(results))
            except HcadError as e:
                outcome = ConfigResult(cfg, None, time.perf_counter() - t0, error=str(e))
            report.results.append(outcome)
            if on_result is not None:
                on_result(outcome)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return report


def labels_for(labels: pd.DataFrame, cfg: EvalConfig) -> pd.DataFrame:
    """The labelled events a config can see: those touching one of its feature fields (a label with
    no ``metric`` is kept)."""
    fields = {fld for _agg, fld in cfg.features}
    if "metric" not in labels.columns:
        return labels
    touched = labels["metric"].fillna("").astype(str).map(lambda m: not m or bool(fields & set(m.split(","))))
    return labels[touched.to_numpy(dtype=bool)]


def _bar(enabled: bool, total: int, desc: str) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="config", file=sys.stderr, leave=False)


#: hcad's defaults (the detector's in :mod:`hcad.ad.limits`, plus the monitor's thresholds), chosen by
#: scripts/tune_defaults.py on tuning fleets and checked on held-out ones (issue 17; numbers in
#: detectors/README.md): every metric averaged at the data's own 10-minute interval, shingle size 2, the
#: plugin's own 20% rule (``rule_ratio`` None), alerts at grade > 0.3 and confidence ≥ 0.9.
RECOMMENDED: dict[str, Any] = {
    "interval_minutes": 10,
    "shingle_size": RECOMMENDED_SHINGLE_SIZE,
    "rule_ratio": RECOMMENDED_RULE_RATIO,
    "min_grade": RECOMMENDED_MIN_GRADE,
    "min_confidence": RECOMMENDED_MIN_CONFIDENCE,
}


def recommended_config(spec: FleetSpec) -> EvalConfig:
    """hcad's default config (:data:`RECOMMENDED`) for the metrics of ``spec``."""
    rule = RECOMMENDED["rule_ratio"]
    return EvalConfig(
        features=tuple(("avg", m) for m in spec.metrics),
        interval_minutes=int(RECOMMENDED["interval_minutes"]),
        shingle_size=int(RECOMMENDED["shingle_size"]),
        rule_ratio=None if rule is None else float(rule),
        min_grade=float(RECOMMENDED["min_grade"]),
        min_confidence=float(RECOMMENDED["min_confidence"]),
    )


def default_grid(spec: FleetSpec) -> list[EvalConfig]:
    """The grid ``hcad eval`` searches when no axis is given: each metric alone and all together,
    10/20-minute intervals, shingle sizes 4/8/16, and the default 20% rule versus a 5% one."""
    metric_sets: list[tuple[tuple[str, str], ...]] = [(("avg", m),) for m in spec.metrics]
    if len(spec.metrics) > 1:
        metric_sets.append(tuple(("avg", m) for m in spec.metrics))
    return grid(features=metric_sets, intervals=(10, 20), shingles=(4, 8, 16), rule_ratios=(None, 0.05))
