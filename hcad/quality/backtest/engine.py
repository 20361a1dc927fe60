"""Run the plugin's TRCF over each entity's buckets, as historical analysis does (AD 2.19).

Per entity (``ADBatchTaskRunner``): the range is the entity's first to last document time, clipped
to the requested range and floored to the interval; the interval holding the last document is
not scored (the plugin's end is exclusive); an entity spanning fewer than 32 intervals is skipped
("not enough data"). Each interval is scored with ``process(values, data_end_epoch_seconds,
missing)``. An interval without documents is skipped when the detector has no imputation option
(the plugin writes an error result, no score) and scored as all-missing (imputed) when it has
one. Rules of type ACTUAL_IS_OVER/BELOW_EXPECTED zero the grade afterwards, as ``AnomalyResult``
does. The plugin analyses only the top 1,000 entities by document count
(``max_top_entities_for_historical_analysis``); so does the backtest by default.

An entity with no gap and no missing value goes through ``processSequentially`` (same results:
the imputing preprocessor only uses timestamp differences relative to their mean); others are
processed point by point with ``process``. Either way the whole entity is one Java call into the
``HcadBatch`` helper (see :mod:`hcad.quality.backtest.jvm`), which returns primitive arrays; the
direction rules are applied to them afterwards. JPype releases the GIL during that call, so worker
threads score entities on all cores. Without the helper (no ``javac``), or with
``HCAD_BACKTEST_BATCH=0``, the reference path calls Java from Python per point (a Python callback
per descriptor): identical results, slower.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hcad.quality.backtest.buckets import TIME
from hcad.quality.backtest.model import NUM_MIN_SAMPLES, BacktestConfig, ModelParams, build_trcf

if TYPE_CHECKING:
    import pandas as pd

MAX_TOP_ENTITIES = 1000
#: ``correction`` code of a grade zeroed by an ACTUAL_IS_OVER/BELOW_EXPECTED rule (the plugin applies
#: those after RCF, so RCF's own CorrectionMode says NONE there).
DIRECTION_RULE = -1


@dataclass
class _EntityResult:
    key: tuple[Any, ...]
    times: np.ndarray  # bucket start, epoch seconds
    values: np.ndarray  # n x features (NaN = missing)
    grade: np.ndarray
    score: np.ndarray
    confidence: np.ndarray
    threshold: np.ndarray
    expected: np.ndarray  # n x features, NaN where grade == 0
    relative: np.ndarray  # relative index of the anomaly start (0 = this interval)
    imputed: np.ndarray  # bool: the whole interval was missing and imputed
    # Per point: the ordinal of RCF's CorrectionMode (0 = NONE), or DIRECTION_RULE (see suppressed_by)
    correction: np.ndarray


def _collector_class() -> Any:
    """A java.util.function.Function that records each descriptor and keeps none (built lazily)."""
    import jpype

    @jpype.JImplements("java.util.function.Function")
    class _Collect:
        def __init__(self, sink: Callable[[Any], None]) -> None:
            self.sink = sink

        @jpype.JOverride
        def apply(self, descriptor: Any) -> bool:
            self.sink(descriptor)
            return False

    return _Collect


_COLLECT: Any = None


def run_entity(
    key: tuple[Any, ...],
    times: np.ndarray,
    values: np.ndarray,
    params: ModelParams,
    config: BacktestConfig,
    *,
    seed: int | None = None,
    force_pointwise: bool = False,
    batch: bool | None = None,
) -> _EntityResult:
    """Score one entity's buckets (times: bucket starts in epoch seconds, sorted, unique).

    ``force_pointwise`` uses ``process`` per point even for a gapless entity; ``batch`` True runs the
    entity in one call to the Java helper (an error when it is unavailable), False calls Java per
    point from Python (the reference), None (default) uses the helper when available unless
    ``HCAD_BACKTEST_BATCH=0``.
    """
    global _COLLECT
    from hcad.quality.backtest.jvm import rcf

    j = rcf()
    step = config.interval_seconds
    impute_gaps = config.imputation is not None
    if impute_gaps and len(times):
        grid = np.arange(times[0], times[-1] + step, step, dtype=np.int64)
        full = np.full((len(grid), values.shape[1]), np.nan)
        full[((times - times[0]) // step).astype(np.int64)] = values
        times, values = grid, full
    n, nf = values.shape
    res = _EntityResult(
        key=key,
        times=times,
        values=values,
        grade=np.zeros(n),
        score=np.zeros(n),
        confidence=np.zeros(n),
        threshold=np.zeros(n),
        expected=np.full((n, nf), np.nan),
        relative=np.zeros(n, dtype=np.int64),
        imputed=np.isnan(values).all(axis=1),
        correction=np.zeros(n, dtype=np.int8),
    )
    if n == 0:
        return res
    trcf = build_trcf(params, seed)
    nan = np.isnan(values)
    gapless = not nan.any() and (n < 2 or bool((np.diff(times) == step).all()))
    pos = 0

    def record(d: Any) -> None:
        nonlocal pos
        i = pos
        pos += 1
        g = float(d.getAnomalyGrade())
        res.score[i] = float(d.getRCFScore())
        res.confidence[i] = min(1.0, float(d.getDataConfidence()))
        res.threshold[i] = float(d.getThreshold())
        res.correction[i] = int(d.getCorrectionMode().ordinal())
        if g > 0:
            res.relative[i] = int(d.getRelativeIndex())
            exp = d.getExpectedValuesList()
            if exp is not None and len(exp) > 0:
                res.expected[i] = np.asarray(exp[len(exp) - 1], dtype=float)
            g = _apply_direction_rules(g, d, res, i, params, config)
        res.grade[i] = max(0.0, g)

    sequential = gapless and not force_pointwise
    use_batch = batch_enabled() if batch is None else batch
    if use_batch and j.Batch is not None:
        _run_batched(j, trcf, res, sequential, step, params, config)
        return res
    if batch:
        from hcad.errors import ConfigError

        raise ConfigError(f"the backtest's Java batch helper is unavailable: {j.batch_note}")
    if sequential:
        if _COLLECT is None:
            _COLLECT = _collector_class()
        trcf.processSequentially(j.JDouble2(values), _COLLECT(record))
    else:
        rows = j.JDouble2(values)  # NaN stays NaN where missing, as the plugin passes it
        for i in range(n):
            miss = np.flatnonzero(nan[i])
            missing = j.JInt(miss.tolist()) if len(miss) else None
            record(trcf.process(rows[i], int(times[i] + step), missing))
    return res


def batch_enabled() -> bool:
    """False when ``HCAD_BACKTEST_BATCH=0`` asks for the per-point reference path."""
    return os.environ.get("HCAD_BACKTEST_BATCH", "1").strip() != "0"


def _run_batched(
    j: Any, trcf: Any, res: _EntityResult, sequential: bool, step: int, params: ModelParams, config: BacktestConfig
) -> None:
    """The whole entity in one Java call (``HcadBatch.run``); fills ``res`` like the reference path."""
    n, nf = res.values.shape
    ends = j.jpype.JArray(j.jpype.JLong)((res.times + step).astype(np.int64))
    out = j.Batch.run(trcf, j.JDouble2(res.values), ends, sequential)
    raw = np.array(out.grade, dtype=float)
    res.score[:] = np.array(out.score, dtype=float)
    res.confidence[:] = np.array(out.confidence, dtype=float)  # capped at 1 in Java
    res.threshold[:] = np.array(out.threshold, dtype=float)
    res.relative[:] = np.array(out.relative, dtype=np.int64)
    res.expected[:] = np.array(out.expected, dtype=float).reshape(n, nf)
    res.correction[:] = np.array(out.correction, dtype=np.int8)
    grade = np.where(raw > 0, raw, 0.0)  # max(0.0, g), NaN included
    if params.direction_rules:
        past = np.array(out.past, dtype=float).reshape(n, nf)
        attribution = np.array(out.attribution, dtype=float).reshape(n, nf)
        has_past = np.array(out.hasPast, dtype=bool)
        has_attribution = np.array(out.hasAttribution, dtype=bool)
        for i in np.flatnonzero(raw > 0):
            actual = past[i] if has_past[i] else res.values[i]
            attr = attribution[i] if has_attribution[i] else None
            if _direction_hit(actual, res.expected[i], attr, params, config):
                grade[i] = 0.0
                res.correction[i] = DIRECTION_RULE
    res.grade[:] = grade


def _apply_direction_rules(
    grade: float, d: Any, res: _EntityResult, i: int, params: ModelParams, config: BacktestConfig
) -> float:
    """ACTUAL_IS_OVER/BELOW_EXPECTED: zero the grade as the plugin's AnomalyResult does."""
    if not params.direction_rules:
        return grade
    names = config.feature_names
    actual = res.values[i]
    past = d.getPastValues()
    if past is not None and int(d.getRelativeIndex()) < 0 and len(past) == len(names):
        actual = np.asarray(past, dtype=float)
    attribution = d.getRelevantAttribution()
    attr = None
    if attribution is not None and len(attribution) == len(names):
        attr = np.asarray(attribution, dtype=float)
    if _direction_hit(actual, res.expected[i], attr, params, config):
        res.correction[i] = DIRECTION_RULE
        return 0.0
    return grade


def _direction_hit(
    actual: np.ndarray,
    expected: np.ndarray,
    attribution: np.ndarray | None,
    params: ModelParams,
    config: BacktestConfig,
) -> bool:
    """Whether a direction rule ignores this anomaly: one of its top-attributed features (all when
    there is no attribution; attribution rounded to 0.01, ties kept) is on the rule's side."""
    names = config.feature_names
    top = list(range(len(names)))
    if attribution is not None:
        rounded = [round(float(a) * 100) / 100 for a in attribution]
        best = max(rounded)
        top = [k for k, r in enumerate(rounded) if r == best]
    for k in top:
        exp = expected[k]
        value = actual[k]
        if np.isnan(exp) or np.isnan(value):
            continue
        for feature_name, kind in params.direction_rules:
            if feature_name != names[k]:
                continue
            if (kind == "ACTUAL_IS_BELOW_EXPECTED" and value < exp) or (
                kind == "ACTUAL_IS_OVER_EXPECTED" and value > exp
            ):
                return True
    return False


def entity_ranges(
    buckets: pd.DataFrame,
    config: BacktestConfig,
    start_s: int | None,
    end_s: int | None,
    max_entities: int | None,
    entities: Sequence[Sequence[str]] | None = None,
) -> tuple[list[tuple[tuple[Any, ...], np.ndarray, np.ndarray]], dict[str, str]]:
    """Split buckets per entity and apply the plugin's range rules; returns work and skip reasons."""
    step = config.interval_seconds
    cats = list(config.category_fields)
    secs = (buckets[TIME].astype("int64") // _per_second(buckets[TIME])).to_numpy()
    vals = buckets[config.feature_names].to_numpy(dtype=float)
    if cats:
        grouped = buckets.groupby(cats, sort=True, dropna=False)
        codes = grouped.ngroup().to_numpy()
        # size() is indexed in ngroup order.
        keys = [k if isinstance(k, tuple) else (k,) for k in grouped.size().index]
    else:
        codes = np.zeros(len(buckets), dtype=np.int64)
        keys = [()]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    wanted = {tuple(str(v) for v in e) for e in entities} if entities else None
    work: list[tuple[tuple[Any, ...], np.ndarray, np.ndarray]] = []
    skipped: dict[str, str] = {}
    for g, key in enumerate(keys):
        if wanted is not None and tuple(str(v) for v in key) not in wanted:
            continue
        idx = order[bounds[g] : bounds[g + 1]]
        t, v = secs[idx], vals[idx]
        lo = t[0] if start_s is None else max(int(t[0]), start_s - start_s % step)
        hi = t[-1] if end_s is None else min(int(t[-1]), end_s - end_s % step)
        keep = (t >= lo) & (t < hi)
        label = "/".join(str(k) for k in key) or "(single stream)"
        if hi - lo < NUM_MIN_SAMPLES * step:
            skipped[label] = (
                f"not enough data: {max(0, (hi - lo) // step)} intervals, the plugin needs {NUM_MIN_SAMPLES}"
            )
            continue
        work.append((key, t[keep], v[keep]))
    if max_entities is not None and len(work) > max_entities:
        # The plugin ranks entities by document count; bucket count is the closest the frame has.
        work.sort(key=lambda w: -len(w[1]))
        for key, _, _ in work[max_entities:]:
            skipped["/".join(str(k) for k in key)] = f"not in the top {max_entities} entities"
        work = work[:max_entities]
    return work, skipped


def _per_second(ts: Any) -> int:
    return {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[str(getattr(ts.dtype, "unit", "ns"))]


def run_all(
    buckets: pd.DataFrame,
    config: BacktestConfig,
    params: ModelParams,
    *,
    start_s: int | None = None,
    end_s: int | None = None,
    entities: Sequence[Sequence[str]] | None = None,
    max_entities: int | None = MAX_TOP_ENTITIES,
    seed: int | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Score every entity in a bounded thread pool and return the results frame."""

    work, skipped = entity_ranges(buckets, config, start_s, end_s, max_entities, entities)
    workers = max(1, workers or min(4, os.cpu_count() or 1))
    results: list[_EntityResult] = []
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(work), unit="entity", file=sys.stderr, desc="backtest")

    def one(w: tuple[tuple[Any, ...], np.ndarray, np.ndarray], k: int) -> _EntityResult:
        # A seed per entity keeps runs reproducible whatever the thread scheduling.
        return run_entity(w[0], w[1], w[2], params, config, seed=None if seed is None else seed + k)

    try:
        # At most ``workers`` models exist at once: each task builds, runs and drops its own.
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hcad-backtest") as pool:
            for r in pool.map(one, work, range(len(work))):
                results.append(r)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    frame = to_frame(results, config)
    frame.attrs["skipped"] = skipped
    frame.attrs["model"] = asdict(params)
    frame.attrs["default_rule"] = params.default_rule
    frame.attrs["entities"] = len(results)
    return frame


def to_frame(results: list[_EntityResult], config: BacktestConfig) -> pd.DataFrame:
    """Concatenate per-entity results into the hcad results layout."""
    import pandas as pd

    names = config.feature_names
    step = config.interval_seconds
    cols: dict[str, Any] = {}
    sizes = [len(r.times) for r in results]
    for c_i, c in enumerate(config.category_fields):
        cols[c] = (
            np.concatenate([np.full(s, r.key[c_i], dtype=object) for r, s in zip(results, sizes, strict=True)])
            if results
            else []
        )
    times = np.concatenate([r.times for r in results]) if results else np.array([], dtype=np.int64)
    cat = lambda a: np.concatenate([getattr(r, a) for r in results]) if results else np.array([])  # noqa: E731
    start = pd.to_datetime(times, unit="s", utc=True)
    cols[TIME] = start
    cols["data_end_time"] = pd.to_datetime(times + step, unit="s", utc=True)
    grade = cat("grade")
    cols["anomaly_grade"] = grade
    cols["anomaly_score"] = cat("score")
    cols["confidence"] = cat("confidence")
    cols["threshold"] = cat("threshold")
    rel = cat("relative").astype(np.int64) if results else np.array([], dtype=np.int64)
    approx_s = np.where((grade > 0) & (rel < 0), times + rel * step, -1)
    approx = pd.to_datetime(np.where(approx_s >= 0, approx_s, np.nan), unit="s", utc=True)
    cols["approx_anomaly_start_time"] = approx
    values = np.concatenate([r.values for r in results]) if results else np.empty((0, len(names)))
    expected = np.concatenate([r.expected for r in results]) if results else np.empty((0, len(names)))
    for k, n in enumerate(names):
        cols[n] = values[:, k]
    for k, n in enumerate(names):
        cols[f"{n}_expected"] = np.where(grade > 0, expected[:, k], np.nan)
    cols["imputed"] = cat("imputed").astype(bool) if results else np.array([], dtype=bool)
    codes = cat("correction").astype(np.int64) if results else np.array([], dtype=np.int64)
    sup = suppressed_by(codes)
    sup[grade > 0] = None
    cols["suppressed_by"] = sup
    return pd.DataFrame(cols)


def suppressed_by(codes: np.ndarray) -> np.ndarray:
    """Per point, what zeroed an anomaly the score alone would have raised, or None.

    RCF's ThresholdedRandomCutForest names the correction that set the grade to 0 after the score
    passed the threshold (``CorrectionMode``: ``CONDITIONAL_FORECAST`` when samples near the point
    explain it, ``FORECAST`` when the expected value is within the noise or a rule's ratio, ``NOISE``,
    ``ANOMALY_IN_SHINGLE``, ``DATA_DRIFT``, ``ALERT_ONCE``, ``MULTI_MODE``); ``DIRECTION_RULE`` is a
    detector rule ignoring anomalies above or below the expected value. The plugin computes the same
    but does not store it in its results.
    """
    from hcad.quality.backtest.jvm import rcf

    names = [str(m) for m in rcf().CorrectionMode.values()] if len(codes) else ["NONE"]
    table = np.array([None, *names[1:], "DIRECTION_RULE"], dtype=object)  # index -1 = DIRECTION_RULE
    return table[codes]
