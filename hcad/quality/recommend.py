"""What interval and shingle size suit an index, from its documents: ``hcad detectors recommend``.

:func:`recommend` inspects documents (time, category fields, one feature): the data's own spacing, the
shortest candidate interval with data for most entities most of the time, and the feature's dominant
period against the shingle. :func:`recommend_from_index` reads the newest documents of an index first
(:func:`read_documents`). Configs tried on the user's own data with injected anomalies are in
:mod:`hcad.quality.trial`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hcad.ad.limits import RECOMMENDED_SHINGLE_SIZE
from hcad.errors import ConfigError
from hcad.quality.synth import TIME_FIELD

if TYPE_CHECKING:
    import pandas as pd

    from hcad.connection import HcadClient


CANDIDATE_INTERVALS = (1, 2, 5, 10, 15, 20, 30, 60)
MIN_DENSITY = 0.9


@dataclass(frozen=True)
class Recommendation:
    """Proposed detector interval and shingle size, with the facts and reasons behind them."""

    interval_minutes: int
    shingle_size: int
    data_interval_minutes: float | None
    density: float
    density_min: float
    entities: int
    dominant_period_minutes: float | None
    density_by_interval: dict[int, float]
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def recommend(
    frame: pd.DataFrame,
    fields: Sequence[str],
    feature: str,
    *,
    time_field: str = TIME_FIELD,
    max_entities: int = 200,
    min_density: float = MIN_DENSITY,
) -> Recommendation:
    """Inspect documents (one row each: time, category ``fields``, ``feature``) and propose an
    interval and shingle size.

    - interval: the shortest candidate (1–60 min) at least the data's own spacing in which at least
      ``min_density`` of an entity's intervals have data (median over entities); the plugin needs
      dense series.
    - dominant period: the strongest autocorrelation peak of the feature, averaged over entities.
    - shingle size: hcad's default ``RECOMMENDED_SHINGLE_SIZE`` (2, chosen by
      ``scripts/tune_defaults.py`` on tuning fleets and checked on held-out ones; the plugin's own
      default is 8) unless the dominant period is shorter than 16 intervals, in which case one whole
      period (≥ 4), so a regular cycle is part of each shingle instead of looking like an anomaly.
    """
    import numpy as np
    import pandas as pd

    missing = [c for c in (time_field, *fields, feature) if c not in frame.columns]
    if missing:
        raise ConfigError(f"data lack columns {missing}; pass the time field, the category fields and the feature")
    if frame.empty:
        raise ConfigError("no documents to inspect; check the index name and time range")
    df = frame[[time_field, *fields, feature]].copy()
    df[time_field] = pd.to_datetime(df[time_field], utc=True)
    df[feature] = pd.to_numeric(df[feature], errors="coerce")
    groups = list(df.groupby(list(fields), sort=True))[:max_entities]
    spacing = []
    for _k, g in groups:
        t = g[time_field].sort_values().drop_duplicates()
        if len(t) > 1:
            spacing.append(float(t.diff().dropna().dt.total_seconds().median()) / 60.0)
    data_iv = float(np.median(spacing)) if spacing else None

    density_by: dict[int, float] = {}
    density_min: dict[int, float] = {}
    for iv in CANDIDATE_INTERVALS:
        per_entity = []
        for _k, g in groups:
            b = g[time_field].dt.floor(f"{iv}min")
            span = (b.max() - b.min()) / timedelta(minutes=iv) + 1
            per_entity.append(b.nunique() / span if span > 0 else 0.0)
        density_by[iv] = round(float(np.median(per_entity)), 4)
        density_min[iv] = round(float(np.min(per_entity)), 4)
    reasons = []
    floor_iv = data_iv or 1.0
    chosen = next((iv for iv in CANDIDATE_INTERVALS if iv >= floor_iv - 1e-9 and density_by[iv] >= min_density), None)
    if chosen is None:
        chosen = CANDIDATE_INTERVALS[-1]
        reasons.append(
            f"data are sparse: even {chosen}-minute intervals have data only {density_by[chosen]:.0%} of the "
            f"time per entity (median); the plugin needs dense series, consider fewer, busier entities"
        )
    else:
        spacing_txt = f"documents arrive every {data_iv:g} min per entity; " if data_iv else ""
        reasons.append(
            f"{spacing_txt}{chosen}-minute intervals have data {density_by[chosen]:.0%} of the time "
            f"(median entity, ≥ {min_density:.0%} needed), the shortest such interval"
        )

    period = _dominant_period(groups, time_field, feature, chosen)
    best = RECOMMENDED_SHINGLE_SIZE
    why_best = (
        f"shingle size {best}: hcad's default, chosen on tuning fleets and checked on held-out ones "
        f"(scripts/tune_defaults.py; the plugin's is 8)"
    )
    shingle = best
    if period is not None:
        p_iv = period / chosen
        if p_iv < 16:
            shingle = max(4, min(128, round(p_iv)))
            reasons.append(
                f"the feature repeats every {period:g} min ({p_iv:.0f} intervals): shingle size {shingle} "
                f"covers one cycle"
            )
        else:
            reasons.append(
                f"the feature repeats every {period:g} min ({p_iv:.0f} intervals), longer than a shingle; "
                f"{why_best} learns the local shape and the forest the cycle"
            )
    else:
        reasons.append(f"no clear period in the feature; {why_best}")
    return Recommendation(
        interval_minutes=chosen,
        shingle_size=shingle,
        data_interval_minutes=data_iv,
        density=density_by[chosen],
        density_min=density_min[chosen],
        entities=len(groups),
        dominant_period_minutes=period,
        density_by_interval=density_by,
        reasons=tuple(reasons),
    )


def _dominant_period(
    groups: Sequence[tuple[Any, pd.DataFrame]], time_field: str, feature: str, iv: int
) -> float | None:
    """Minutes of the strongest autocorrelation peak (averaged over entities), or None."""
    import numpy as np

    acfs = []
    for _k, g in groups:
        s = g.set_index(time_field)[feature].resample(f"{iv}min").mean().interpolate(limit_direction="both")
        x = s.to_numpy(dtype=float)
        if len(x) < 16 or not np.isfinite(x).all():
            continue
        x = x - np.polyval(np.polyfit(np.arange(len(x)), x, 1), np.arange(len(x)))  # remove the trend
        n = len(x)
        spec = np.fft.rfft(x, 2 * n)
        acf = np.fft.irfft(spec * np.conj(spec))[:n]
        if acf[0] <= 0:
            continue
        acfs.append(acf[: n // 2] / acf[0])
    if not acfs:
        return None
    m = min(len(a) for a in acfs)
    acf = np.mean([a[:m] for a in acfs], axis=0)
    below = np.flatnonzero(acf < 0)
    if not len(below):
        return None
    start = int(below[0])
    lag = start + int(np.argmax(acf[start:]))
    if acf[lag] < 0.3 or lag <= 1:
        return None  # no convincing repetition
    return float(lag * iv)


def read_documents(
    client: HcadClient,
    index: str,
    fields: Sequence[str],
    metrics: Sequence[str],
    *,
    time_field: str = TIME_FIELD,
    max_entities: int = 50,
    docs_per_entity: int = 5000,
) -> pd.DataFrame:
    """The most recent ``docs_per_entity`` documents (time, ``fields``, ``metrics``) of up to
    ``max_entities`` entities of ``index`` (entities found with a composite aggregation)."""
    import pandas as pd

    from hcad.transport import translate_errors

    if not fields:
        raise ConfigError("give at least one category field (--field)")
    with translate_errors(f"listing entities of {index}", not_found=f"index {index} not found"):
        resp = client.search(
            index=index,
            body={
                "size": 0,
                "aggs": {
                    "e": {
                        "composite": {"size": max_entities, "sources": [{f: {"terms": {"field": f}}} for f in fields]}
                    }
                },
            },
        )
    rows: list[dict[str, Any]] = []
    for b in resp["aggregations"]["e"]["buckets"]:
        key = b["key"]
        query = {"bool": {"filter": [{"term": {f: key[f]}} for f in fields]}}
        with translate_errors(f"reading documents of {key} in {index}"):
            hits = client.search(
                index=index,
                body={
                    "size": docs_per_entity,
                    "query": query,
                    "sort": [{time_field: "desc"}],
                    "_source": [time_field, *metrics],
                },
            )["hits"]["hits"]
        for h in hits:
            src = h.get("_source") or {}
            rows.append({time_field: src.get(time_field), **key, **{m: src.get(m) for m in metrics}})
    return pd.DataFrame(rows, columns=[time_field, *fields, *metrics])


def recommend_from_index(
    client: HcadClient,
    index: str,
    fields: Sequence[str],
    feature: str,
    *,
    time_field: str = TIME_FIELD,
    max_entities: int = 50,
    docs_per_entity: int = 5000,
    frame: pd.DataFrame | None = None,
) -> Recommendation:
    """:func:`recommend` on the documents :func:`read_documents` reads (or on ``frame``, already read)."""
    if frame is None:
        frame = read_documents(
            client, index, fields, [feature], time_field=time_field, max_entities=max_entities,
            docs_per_entity=docs_per_entity,
        )  # fmt: skip
    return recommend(frame, fields, feature, time_field=time_field, max_entities=max_entities)
