"""Local backtest: the AD plugin's own ThresholdedRandomCutForest on a DataFrame, no cluster needed.

>>> from hcad.quality.backtest import BacktestConfig, feature, run
>>> cfg = BacktestConfig(features=(feature("cpu", "avg", "cpu"),), interval_minutes=10,
...                      category_fields=("host", "process"))
>>> results = run(documents_frame, cfg)            # doctest: +SKIP
>>> results[results.anomaly_grade > 0]             # doctest: +SKIP

:func:`backtest` (alias :func:`run`) takes raw documents (``@timestamp``, category fields,
metric fields) or already-aggregated buckets (a ``data_start_time`` column and one column per
feature), and a :class:`BacktestConfig`, an :class:`hcad.Detector` or a detector YAML path. It
returns one row per scored interval and entity: the category fields, ``data_start_time``,
``data_end_time``, ``anomaly_grade``, ``anomaly_score``, ``confidence``, ``threshold``,
``approx_anomaly_start_time``, each feature's value, ``<feature>_expected`` (anomalies only; named
as in :func:`hcad.ad.results.results_frame`), ``imputed`` and ``suppressed_by`` (where the score
passed the threshold but the grade is 0, the correction that zeroed it, e.g. ``CONDITIONAL_FORECAST``;
see :func:`hcad.quality.backtest.engine.suppressed_by`; the plugin does not store this).
``frame.attrs`` holds ``skipped`` (entity → reason), ``dropped`` (rows with an empty category field,
which the plugin does not model: their count and why, or ``{}``), ``model`` (the TRCF parameters)
and ``default_rule`` (whether the plugin's default ±20 % rule applied).

The model mirrors historical analysis of AD 2.19 (see :mod:`hcad.quality.backtest.model` and
:mod:`hcad.quality.backtest.engine` for every rule and where real-time detection differs). It needs Java
11+ and the RCF 4.2.0 jars (``scripts/fetch_rcf_jars``); the JVM starts on first use with a capped
heap (``HCAD_JVM_HEAP``, default 512m).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hcad.quality.backtest.model import (
    BacktestConfig,
    Condition,
    FeatureSpec,
    ModelParams,
    Rule,
    as_config,
    build_trcf,
    effective_rules,
    feature,
    model_params,
    read_back,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BacktestConfig",
    "Condition",
    "FeatureSpec",
    "ModelParams",
    "Rule",
    "as_config",
    "backtest",
    "build_trcf",
    "effective_rules",
    "feature",
    "model_params",
    "read_back",
    "run",
    "to_buckets",
]


def to_buckets(data: pd.DataFrame, config: Any, *, source: str | None = None) -> pd.DataFrame:
    """The per-interval buckets the model sees: validated if ``data`` is buckets, else aggregated."""
    from hcad.quality.backtest.buckets import bucket_documents, check_buckets, is_bucket_frame

    cfg = as_config(config)
    if data is None or len(data) == 0:
        from hcad.errors import Issue, ValidationError

        raise ValidationError([Issue("data", "the frame is empty", "pass documents or buckets")], source)
    if is_bucket_frame(data):
        return check_buckets(data, cfg, source=source)
    return bucket_documents(data, cfg, source=source)


def backtest(
    data: pd.DataFrame,
    detector: Any,
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    entities: Sequence[Sequence[str]] | None = None,
    seed: int | None = None,
    workers: int | None = None,
    max_entities: int | None = 1000,
    default_rule: bool | None = None,
    progress: bool = False,
    source: str | None = None,
) -> pd.DataFrame:
    """Run the plugin's model over ``data`` per entity and return the results frame.

    ``data`` and ``detector`` may also be given the other way round (``run(detector, frame)``).

    ``start``/``end`` clip the analysed range (end exclusive); ``entities`` keeps only those
    (tuples of category values in category-field order); ``seed`` makes runs reproducible (the
    plugin's forests are randomly seeded); ``workers`` bounds the entities scored at once;
    ``default_rule=False`` drops the plugin's default rule when the detector has none.
    """
    from dataclasses import replace

    import pandas as pd

    from hcad.quality.backtest.engine import run_all

    if not isinstance(data, pd.DataFrame) and isinstance(detector, pd.DataFrame):
        data, detector = detector, data  # run(detector, frame) reads naturally too
    cfg = as_config(detector)
    if default_rule is not None:
        cfg = replace(cfg, default_rule=default_rule)
    buckets = to_buckets(data, cfg, source=source)
    params = model_params(cfg)
    results = run_all(
        buckets,
        cfg,
        params,
        start_s=_epoch_s(start, "start"),
        end_s=_epoch_s(end, "end"),
        entities=entities,
        max_entities=max_entities,
        seed=seed,
        workers=workers,
        progress=progress,
    )
    results.attrs["dropped"] = dict(buckets.attrs.get("dropped", {}))
    return results


run = backtest


def _epoch_s(value: datetime | str | None, name: str) -> int | None:
    if value is None:
        return None
    import pandas as pd

    from hcad.errors import ConfigError

    bad = ConfigError(f"{name} {value!r} is not a time; use a datetime or ISO-8601, e.g. 2024-01-01T00:00:00Z")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise bad from None
    if pd.isna(ts):  # '' and 'NaT' parse to NaT, which has no timestamp
        raise bad
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.timestamp())
