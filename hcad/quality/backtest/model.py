"""Detector configuration → ThresholdedRandomCutForest, exactly as the plugin builds it.

Mirrors the AD plugin 2.19 (``ADBatchTaskCache``, the historical-analysis model; ``ADModelManager``'s
preview builds the same one): 50 trees (``TimeSeriesSettings.NUM_TREES``), 256 samples per tree,
time decay ``1 / recency_emphasis`` (default 2560), output after 32 points with initial accept
fraction 32/256, float32 compact trees, bounding-box cache fraction 1, ``NORMALIZE`` transform,
anomaly rate 0.005 (``1 - THRESHOLD_MIN_PVALUE``), alert-once and auto-adjust on, internal
shingling; ``STREAMING_IMPUTE`` with the detector's imputation method (``PREVIOUS`` when none) for
shingle size > 1, else ``STANDARD``; and the detector's rules mapped to the TRCF's
ignore-near-expected arrays (``IgnoreSimilarExtractor``).

The plugin (since 2.15) gives a detector without rules a default rule per enabled feature: ignore an
anomaly whose actual value is within 20% of the expected one, either way. It removes many small
anomalies (recall drops on subtle spikes), so :func:`effective_rules` reports whether it applied.

Real-time detection differs: its cold start trains on up to 24 h of history with linear
interpolation and uses a bounding-box cache ratio of 0; the backtest mirrors historical analysis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hcad.ad.limits import DEFAULT_SHINGLE_SIZE, MAX_SHINGLE_SIZE, NUM_MIN_SAMPLES
from hcad.ad.validation import historical_shingle_issue
from hcad.errors import Issue, ValidationError

NUM_TREES = 50
NUM_SAMPLES_PER_TREE = 256
DEFAULT_RECENCY_EMPHASIS = 10 * NUM_SAMPLES_PER_TREE
THRESHOLD_MIN_PVALUE = 0.995
BATCH_BOUNDING_BOX_CACHE_RATIO = 1.0
DEFAULT_RULE_RATIO = 0.2

AGGS = ("avg", "max", "min", "sum", "value_count", "cardinality")
_AGG_ALIASES = {"count": "value_count", "average": "avg", "mean": "avg"}
IMPUTATION_METHODS = ("ZERO", "FIXED_VALUES", "PREVIOUS")
# Rule threshold types that become ignore-near-expected arrays inside the TRCF.
RATIO_OR_MARGIN_TYPES = {
    "ACTUAL_OVER_EXPECTED_MARGIN": "above",
    "EXPECTED_OVER_ACTUAL_MARGIN": "below",
    "ACTUAL_OVER_EXPECTED_RATIO": "above_ratio",
    "EXPECTED_OVER_ACTUAL_RATIO": "below_ratio",
}
# Rule threshold types the plugin applies after the model, on the result (AnomalyResult).
DIRECTION_TYPES = ("ACTUAL_IS_OVER_EXPECTED", "ACTUAL_IS_BELOW_EXPECTED")


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: a name and how a bucket's value is computed (``agg`` of ``field``).

    ``query`` keeps the detector's raw aggregation for index queries; frames are aggregated from
    ``agg``/``field`` (one of :data:`AGGS`).
    """

    name: str
    agg: str
    field: str
    query: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Condition:
    """A rule condition (plugin ``Condition``): threshold type, feature and value."""

    feature_name: str
    threshold_type: str
    value: float | None = None
    operator: str = "LTE"


@dataclass(frozen=True)
class Rule:
    """An IGNORE_ANOMALY rule: its conditions."""

    conditions: tuple[Condition, ...]
    action: str = "IGNORE_ANOMALY"


@dataclass(frozen=True)
class BacktestConfig:
    """What the backtest needs of a detector (use :meth:`from_detector` for an ``hcad.Detector``).

    ``rules=None`` means "as the plugin": the default ±20 % rule per feature; ``rules=()`` is not
    possible on the plugin (an empty list also gets the default) and is treated the same way;
    pass ``default_rule=False`` to see what the model flags without any rule.
    """

    features: tuple[FeatureSpec, ...]
    interval_minutes: float = 10
    shingle_size: int = DEFAULT_SHINGLE_SIZE
    category_fields: tuple[str, ...] = ()
    imputation: str | None = None
    default_fill: Mapping[str, float] = field(default_factory=dict)
    rules: tuple[Rule, ...] | None = None
    default_rule: bool = True
    recency_emphasis: int = DEFAULT_RECENCY_EMPHASIS
    time_field: str = "@timestamp"
    indices: tuple[str, ...] = ()
    filter_query: Mapping[str, Any] | None = None
    window_delay_minutes: float = 0
    name: str = "backtest"

    @property
    def feature_names(self) -> list[str]:
        """The detector's enabled feature names, in order."""
        return [f.name for f in self.features]

    @property
    def interval_seconds(self) -> int:
        """The detector interval in whole seconds."""
        return round(self.interval_minutes * 60)

    def validate(self) -> BacktestConfig:
        """Raise :class:`ValidationError` listing every problem; returns ``self`` when valid."""
        issues: list[Issue] = []
        if not self.features:
            issues.append(Issue("features", "no enabled feature", "add at least one feature"))
        names = [f.name for f in self.features]
        for i, f in enumerate(self.features):
            if names.count(f.name) > 1:
                issues.append(Issue(f"features[{i}].name", f"duplicate feature name {f.name!r}", "rename it"))
            if f.agg not in AGGS:
                issues.append(Issue(f"features.{f.name}.agg", f"{f.agg!r} is not supported", f"use one of {AGGS}"))
        if not (isinstance(self.shingle_size, int) and 1 <= self.shingle_size <= MAX_SHINGLE_SIZE):
            issues.append(
                Issue("shingle_size", f"{self.shingle_size!r} is out of range", f"use 1 to {MAX_SHINGLE_SIZE}")
            )
        elif (issue := historical_shingle_issue(self.shingle_size)) is not None:
            issues.append(issue)
        if not (self.interval_minutes > 0 and math.isfinite(self.interval_minutes)):
            issues.append(Issue("interval", f"{self.interval_minutes!r} minutes", "use a positive interval"))
        if self.recency_emphasis <= 1:
            issues.append(Issue("recency_emphasis", f"{self.recency_emphasis} is too small", "use 2 or more"))
        if self.imputation is not None:
            if self.imputation not in IMPUTATION_METHODS:
                issues.append(
                    Issue("imputation.method", f"{self.imputation!r} unknown", f"use one of {IMPUTATION_METHODS}")
                )
            elif self.imputation == "FIXED_VALUES":
                for n in names:
                    if n not in self.default_fill:
                        issues.append(Issue("imputation.default_fill", f"no value for {n!r}", "add one per feature"))
        for r, rule in enumerate(self.rules or ()):
            for c, cond in enumerate(rule.conditions):
                path = f"rules[{r}].conditions[{c}]"
                if cond.feature_name not in names:
                    issues.append(Issue(path, f"unknown feature {cond.feature_name!r}", f"use one of {names}"))
                if cond.threshold_type not in RATIO_OR_MARGIN_TYPES and cond.threshold_type not in DIRECTION_TYPES:
                    issues.append(Issue(path, f"unknown threshold type {cond.threshold_type!r}", "see ad-api.md"))
        if issues:
            raise ValidationError(issues, self.name)
        return self

    @classmethod
    def from_detector(cls, detector: Any) -> BacktestConfig:
        """Adapt an :class:`hcad.ad.model.Detector` (its enabled features, interval, rules...)."""
        features = []
        for f in detector.features:
            if not f.enabled:
                continue
            simple = f.simple
            if simple is None:
                fields = f.fields_used()
                agg, fld = fields[0] if fields else ("", "")
            else:
                agg, fld = simple
            features.append(FeatureSpec(f.name, _AGG_ALIASES.get(agg, agg), fld, dict(f.aggregation_query)))
        rules = None
        if detector.rules:
            rules = tuple(
                Rule(
                    tuple(
                        Condition(c.feature_name, str(c.threshold_type).upper(), c.value, c.operator or "LTE")
                        for c in r.conditions
                    ),
                    r.action,
                )
                for r in detector.rules
            )
        imputation = detector.imputation
        interval = detector.interval
        delay = detector.window_delay
        return cls(
            features=tuple(features),
            interval_minutes=interval.minutes if interval is not None else 10,
            shingle_size=detector.effective_shingle_size,
            category_fields=tuple(detector.category_fields or ()),
            imputation=imputation.method.upper() if imputation is not None else None,
            default_fill=dict(imputation.default_fill or {}) if imputation is not None else {},
            rules=rules,
            recency_emphasis=detector.recency_emphasis or DEFAULT_RECENCY_EMPHASIS,
            time_field=detector.time_field,
            indices=tuple(detector.indices),
            filter_query=detector.filter_query,
            window_delay_minutes=delay.minutes if delay is not None else 0,
            name=detector.name,
        )


def feature(name: str, agg: str, field_name: str) -> FeatureSpec:
    """A :class:`FeatureSpec` with the agg name normalised (``count`` → ``value_count``)."""
    return FeatureSpec(name, _AGG_ALIASES.get(agg.lower(), agg.lower()), field_name)


def as_config(obj: Any) -> BacktestConfig:
    """Accept a :class:`BacktestConfig`, an ``hcad.Detector`` or a YAML path, return a valid config."""
    if isinstance(obj, BacktestConfig):
        return obj.validate()
    if isinstance(obj, str) or hasattr(obj, "__fspath__"):
        from hcad.ad.model import Detector

        obj = Detector.from_yaml(obj if isinstance(obj, str) else obj.__fspath__())
    if hasattr(obj, "features") and hasattr(obj, "time_field"):
        return BacktestConfig.from_detector(obj).validate()
    raise ValidationError(
        [Issue("detector", f"cannot use a {type(obj).__name__}", "pass a Detector or BacktestConfig")]
    )


def effective_rules(config: BacktestConfig) -> tuple[tuple[Rule, ...], bool]:
    """The rules the plugin would use and whether they are its default rule."""
    if config.rules:
        return config.rules, False
    if not config.default_rule:
        return (), False
    return (
        tuple(
            Rule(
                (
                    Condition(n, "ACTUAL_OVER_EXPECTED_RATIO", DEFAULT_RULE_RATIO),
                    Condition(n, "EXPECTED_OVER_ACTUAL_RATIO", DEFAULT_RULE_RATIO),
                )
            )
            for n in config.feature_names
        ),
        True,
    )


@dataclass(frozen=True)
class ModelParams:
    """Every TRCF builder parameter the plugin sets, computed from a config (no JVM needed)."""

    dimensions: int
    shingle_size: int
    number_of_trees: int
    sample_size: int
    time_decay: float
    output_after: int
    initial_accept_fraction: float
    bounding_box_cache_fraction: float
    anomaly_rate: float
    forest_mode: str
    transform_method: str
    imputation_method: str | None
    fill_values: tuple[float, ...] | None
    ignore_near_expected: Mapping[str, tuple[float, ...]]
    direction_rules: tuple[tuple[str, str], ...]
    default_rule: bool
    precision: str = "FLOAT_32"
    compact: bool = True
    parallel: bool = False
    alert_once: bool = True
    auto_adjust: bool = True
    internal_shingling: bool = True


def model_params(config: BacktestConfig) -> ModelParams:
    """The plugin's TRCF parameters for ``config`` (``ADBatchTaskCache`` at AD 2.19)."""
    n = len(config.features)
    shingle = config.shingle_size
    rules, is_default = effective_rules(config)
    names = config.feature_names
    arrays: dict[str, list[float]] = {}
    direction: list[tuple[str, str]] = []
    for rule in rules:
        for cond in rule.conditions:
            if cond.threshold_type in DIRECTION_TYPES:
                direction.append((cond.feature_name, cond.threshold_type))
                continue
            key = RATIO_OR_MARGIN_TYPES.get(cond.threshold_type)
            if key is None:
                continue
            # As the plugin: the operator is not read, a missing value counts as 0, later wins.
            arrays.setdefault(key, [0.0] * n)[names.index(cond.feature_name)] = float(cond.value or 0.0)
    imputation: str | None = None
    fill: tuple[float, ...] | None = None
    if shingle > 1:
        imputation = config.imputation or "PREVIOUS"
        if imputation == "FIXED_VALUES":
            fill = tuple(float(config.default_fill[nm]) for nm in names)
    return ModelParams(
        dimensions=shingle * n,
        shingle_size=shingle,
        number_of_trees=NUM_TREES,
        sample_size=NUM_SAMPLES_PER_TREE,
        time_decay=1.0 / config.recency_emphasis,
        output_after=NUM_MIN_SAMPLES,
        initial_accept_fraction=NUM_MIN_SAMPLES / NUM_SAMPLES_PER_TREE,
        bounding_box_cache_fraction=BATCH_BOUNDING_BOX_CACHE_RATIO,
        anomaly_rate=1 - THRESHOLD_MIN_PVALUE,
        forest_mode="STREAMING_IMPUTE" if shingle > 1 else "STANDARD",
        transform_method="NORMALIZE",
        imputation_method=imputation,
        fill_values=fill,
        ignore_near_expected={k: tuple(v) for k, v in arrays.items()},
        direction_rules=tuple(direction),
        default_rule=is_default,
    )


def build_trcf(params: ModelParams, seed: int | None = None) -> Any:
    """Build the Java ThresholdedRandomCutForest for ``params`` (starts the JVM on first use).

    ``seed`` fixes the forest's random seed (the plugin leaves it random); use it for reproducible
    runs, and compare distributions with the plugin, not single points.
    """
    from hcad.quality.backtest.jvm import rcf

    j = rcf()
    b = (
        j.TRCF.builder()
        .dimensions(params.dimensions)
        .numberOfTrees(params.number_of_trees)
        .timeDecay(params.time_decay)
        .sampleSize(params.sample_size)
        .outputAfter(params.output_after)
        .initialAcceptFraction(params.initial_accept_fraction)
        .parallelExecutionEnabled(params.parallel)
        .compact(params.compact)
        .precision(getattr(j.Precision, params.precision))
        .boundingBoxCacheFraction(params.bounding_box_cache_fraction)
        .shingleSize(params.shingle_size)
        .anomalyRate(params.anomaly_rate)
        .transformMethod(getattr(j.TransformMethod, params.transform_method))
        .alertOnce(params.alert_once)
        .autoAdjust(params.auto_adjust)
        .internalShinglingEnabled(params.internal_shingling)
        .forestMode(getattr(j.ForestMode, params.forest_mode))
    )
    if params.imputation_method is not None:
        b = b.imputationMethod(getattr(j.ImputationMethod, params.imputation_method))
        if params.fill_values is not None:
            b = b.fillValues(j.JDouble(list(params.fill_values)))
    setters = {
        "above": b.ignoreNearExpectedFromAbove,
        "below": b.ignoreNearExpectedFromBelow,
        "above_ratio": b.ignoreNearExpectedFromAboveByRatio,
        "below_ratio": b.ignoreNearExpectedFromBelowByRatio,
    }
    for key, values in params.ignore_near_expected.items():
        setters[key](j.JDouble(list(values)))
    if seed is not None:
        b = b.randomSeed(int(seed))
    return b.build()


def read_back(trcf: Any) -> dict[str, Any]:
    """The parameters a built TRCF actually holds, read from the Java objects.

    Note the forest's ``output_after`` is the builder's minus ``shingle_size - 1`` (the
    preprocessor holds back the first shingle), as RCF computes it.
    """
    forest = trcf.getForest()
    pre = trcf.getPreprocessor()
    pc = trcf.getPredictorCorrector()
    base = int(pc.getBaseDimension())
    ignore = [float(v) for v in pc.getIgnoreNearExpected()]
    imputation = pre.getImputationMethod() if str(trcf.getForestMode()) == "STREAMING_IMPUTE" else None
    fill = pre.getDefaultFill()
    return {
        "dimensions": int(forest.getDimensions()),
        "shingle_size": int(forest.getShingleSize()),
        "number_of_trees": int(forest.getNumberOfTrees()),
        "sample_size": int(forest.getSampleSize()),
        "time_decay": float(forest.getTimeDecay()),
        "output_after": int(forest.getOutputAfter()),
        "initial_accept_fraction": float(forest.getComponents().get(0).getSampler().getInitialAcceptFraction()),
        "bounding_box_cache_fraction": float(forest.getBoundingBoxCacheFraction()),
        "precision": str(forest.getPrecision()),
        "compact": bool(forest.isCompact()),
        "parallel": bool(forest.isParallelExecutionEnabled()),
        "internal_shingling": bool(forest.isInternalShinglingEnabled()),
        "forest_mode": str(trcf.getForestMode()),
        "transform_method": str(trcf.getTransformMethod()),
        "imputation_method": str(imputation) if imputation is not None else None,
        "fill_values": tuple(float(v) for v in fill) if fill is not None else None,
        # BasicThresholder(timeDecay, anomalyRate, adjust) keeps the anomaly rate as its
        # secondary deviation's discount.
        "anomaly_rate": float(pc.getThresholders()[0].getSecondaryDeviation().getDiscount()),
        "auto_adjust": bool(pc.isAutoAdjust()),
        "ignore_near_expected": {
            "above": tuple(ignore[0:base]),
            "below": tuple(ignore[base : 2 * base]),
            "above_ratio": tuple(ignore[2 * base : 3 * base]),
            "below_ratio": tuple(ignore[3 * base : 4 * base]),
        },
    }


def describe(params: ModelParams, config: BacktestConfig) -> list[str]:
    """Human lines saying how the model is built, default rule included (for the CLI)."""
    lines = [
        f"model: ThresholdedRandomCutForest {params.number_of_trees} trees x {params.sample_size} samples, "
        f"shingle {params.shingle_size}, {len(config.features)} feature(s), time decay {params.time_decay:.6g}, "
        f"output after {params.output_after} points, {params.forest_mode}"
        + (f"/{params.imputation_method}" if params.imputation_method else ""),
    ]
    if params.default_rule:
        lines.append(
            "rules: plugin default (no rules in the detector): ignore anomalies within 20% of the expected "
            "value for every feature; pass --no-default-rule to see what it hides"
        )
    elif not config.rules:
        lines.append("rules: none (the plugin would add its default ±20% rule)")
    return lines
