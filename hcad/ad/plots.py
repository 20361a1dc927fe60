"""PNG plots of anomaly results (matplotlib's Agg backend; no display needed).

- :func:`plot_features`: one panel per entity, feature values over time with the anomaly grade on a
  second axis and anomalous intervals shaded (what the Dashboards feature breakdown shows).
- :func:`plot_heatmap`: entities x time buckets coloured by the maximum anomaly grade, most
  anomalous entities on top (like the Dashboards anomaly-overview heatmap).

Both take the DataFrame of :func:`hcad.ad.results.results_frame` (``data_start_time``, category
columns, ``anomaly_grade``, ``confidence``, ``anomaly_score``, features, ``<feature>_expected``).
matplotlib is imported inside the functions and pyplot is never used, so nothing global changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hcad.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

# Columns of results_frame that are neither entity nor feature.
_NOT_FEATURES = frozenset(
    {
        "data_start_time",
        "data_end_time",
        "anomaly_grade",
        "confidence",
        "anomaly_score",
        "threshold",
        "model_id",
        "task_id",
        "error",
        "execution_end_time",
        # hcad.quality.backtest adds these
        "approx_anomaly_start_time",
        "imputed",
    }
)
MAX_HEATMAP_COLUMNS = 60


def category_columns(frame: pd.DataFrame) -> list[str]:
    """The entity columns of a results frame (between ``data_end_time`` and ``anomaly_grade``)."""
    cols = [str(c) for c in frame.columns]
    if "data_end_time" in cols and "anomaly_grade" in cols:
        between = cols[cols.index("data_end_time") + 1 : cols.index("anomaly_grade")]
        if between:
            return between
    # Other layouts (e.g. hcad.quality.backtest puts the entity first): the text columns that are not metadata.
    from pandas.api.types import is_object_dtype, is_string_dtype

    return [c for c in cols if c not in _NOT_FEATURES and (is_string_dtype(frame[c]) or is_object_dtype(frame[c]))]


def feature_columns(frame: pd.DataFrame, category_fields: Sequence[str] | None = None) -> list[str]:
    """The feature value columns of a results frame (not expected values, not metadata)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    cats = set(category_fields if category_fields is not None else category_columns(frame))
    return [
        str(c)
        for c in frame.columns
        if str(c) not in _NOT_FEATURES
        and str(c) not in cats
        and not str(c).endswith("_expected")
        # Feature values are numbers; anything else (times, flags, ids) is metadata.
        and is_numeric_dtype(frame[c])
        and not is_bool_dtype(frame[c])
    ]


def _entity_keys(frame: pd.DataFrame, cats: Sequence[str]) -> pd.Series:
    if not cats:
        return frame["anomaly_grade"].map(lambda _: "(all data)")
    parts = [c + "=" + frame[c].astype(str) for c in cats]
    out = parts[0]
    for p in parts[1:]:
        out = out + "," + p
    return out


def _ranked_entities(frame: pd.DataFrame, keys: pd.Series) -> list[str]:
    """Entities by max grade, then number of anomalies, then name (most anomalous first)."""
    grade = frame["anomaly_grade"].fillna(0.0)
    stats = (
        frame.assign(_key=keys, _grade=grade, _anom=(grade > 0).astype(int))
        .groupby("_key")
        .agg(max_grade=("_grade", "max"), anomalies=("_anom", "sum"))
        .reset_index()
        .sort_values(["max_grade", "anomalies", "_key"], ascending=[False, False, True])
    )
    return [str(k) for k in stats["_key"]]


def _check(frame: pd.DataFrame) -> None:
    missing = {"data_start_time", "anomaly_grade"} - {str(c) for c in frame.columns}
    if missing:
        raise ConfigError(f"not a results frame: missing column(s) {', '.join(sorted(missing))}")
    if not len(frame):
        raise ConfigError("no results to plot; widen the time range or check the detector")


def _save(fig: Any, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = Path(path)
    if out.parent and not out.parent.exists():
        raise ConfigError(f"cannot write {out}: folder {out.parent} does not exist")
    FigureCanvasAgg(fig)
    fig.savefig(out, format="png", dpi=100)
    return out


def plot_features(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    features: Sequence[str] | None = None,
    category_fields: Sequence[str] | None = None,
    max_entities: int = 8,
    title: str | None = None,
) -> Path:
    """Feature values and anomaly grade over time, one panel per entity (the most anomalous first).

    Each panel draws every feature (with its expected value dashed where the plugin gave one), the
    anomaly grade as bars on a 0-1 right axis, and shades intervals with grade > 0. At most
    ``max_entities`` panels; the title says how many entities were left out.
    """
    from matplotlib.figure import Figure

    _check(frame)
    if max_entities < 1:
        raise ConfigError(f"max_entities {max_entities} must be at least 1")
    cats = list(category_fields) if category_fields is not None else category_columns(frame)
    feats = list(features) if features is not None else feature_columns(frame, cats)
    unknown = [f for f in feats if f not in frame.columns]
    if unknown:
        raise ConfigError(
            f"feature(s) {', '.join(unknown)} not in the results; have {', '.join(feature_columns(frame))}"
        )
    keys = _entity_keys(frame, cats)
    ranked = _ranked_entities(frame, keys)
    shown = ranked[:max_entities]
    n = len(shown)
    fig = Figure(figsize=(11, 1.2 + 2.3 * n), layout="constrained")
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    colors = ["tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown"]
    for ax, key in zip(axes, shown, strict=True):
        part = frame[keys == key].sort_values("data_start_time")
        t = part["data_start_time"]
        for i, f in enumerate(feats):
            color = colors[i % len(colors)]
            ax.plot(t, part[f], color=color, linewidth=1.0, label=f)
            exp = f"{f}_expected"
            if exp in part.columns and part[exp].notna().any():
                # The plugin writes expected values for anomalies only: points, not a line.
                ax.plot(t, part[exp], color=color, linestyle="none", marker="x", markersize=6, label=f"{f} expected")
        grade = part["anomaly_grade"].fillna(0.0)
        gax = ax.twinx()
        if "data_end_time" in part.columns and len(part) > 1:
            width = (part["data_end_time"] - part["data_start_time"]).median()
        else:
            width = None
        anom = part[grade > 0]
        for _, row in anom.iterrows():
            end = row["data_end_time"] if "data_end_time" in part.columns else row["data_start_time"]
            ax.axvspan(row["data_start_time"], end, color="tab:red", alpha=0.15, linewidth=0)
        if width is not None and len(anom):
            gax.bar(anom["data_start_time"], anom["anomaly_grade"], width=width, align="edge", color="tab:red",
                    alpha=0.6, label="anomaly grade")  # fmt: skip
        gax.set_ylim(0, 1.05)
        gax.set_ylabel("grade", color="tab:red")
        gax.tick_params(axis="y", colors="tab:red")
        ax.set_title(f"{key}   max grade {grade.max():.2f}, {int((grade > 0).sum())} anomalies", fontsize=9, loc="left")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=7, ncol=max(1, len(feats)))
    axes[-1].set_xlabel("time (UTC)")
    left_out = len(ranked) - n
    head = title or "anomaly results"
    fig.suptitle(
        f"{head}: {n} of {len(ranked)} entities" + (f" ({left_out} less anomalous not shown)" if left_out else "")
    )
    return _save(fig, path)


def heatmap_matrix(
    frame: pd.DataFrame,
    *,
    category_fields: Sequence[str] | None = None,
    max_entities: int = 30,
    columns: int = MAX_HEATMAP_COLUMNS,
) -> tuple[pd.DataFrame, pd.Timedelta]:
    """Max anomaly grade per entity (rows, most anomalous first) and time bucket (columns).

    Buckets are whole multiples of the detector interval, at most ``columns`` of them; cells with no
    result are NaN, cells with results and no anomaly are 0.
    """
    import pandas as pd

    _check(frame)
    cats = list(category_fields) if category_fields is not None else category_columns(frame)
    keys = _entity_keys(frame, cats)
    ranked = _ranked_entities(frame, keys)[:max_entities]
    t = frame["data_start_time"]
    interval: Any
    if "data_end_time" in frame.columns:
        interval = (frame["data_end_time"] - t).median()
    else:
        steps = t.drop_duplicates().sort_values().diff().dropna()
        interval = steps.min() if len(steps) else pd.Timedelta(minutes=10)
    if pd.isna(interval) or interval <= pd.Timedelta(0):
        interval = pd.Timedelta(minutes=10)
    t0 = t.min()
    span = t.max() - t0 + interval
    n_intervals = -(-span // interval)  # ceil
    per_bucket = max(1, -(-n_intervals // max(1, columns)))
    bucket = interval * per_bucket
    idx = ((t - t0) // bucket).astype(int)
    n_buckets = int(idx.max()) + 1
    grid = (
        frame.assign(_key=keys, _b=idx, _g=frame["anomaly_grade"].fillna(0.0))
        .loc[lambda d: d["_key"].isin(ranked)]
        .pivot_table(index="_key", columns="_b", values="_g", aggfunc="max")
        .reindex(index=ranked, columns=range(n_buckets))
    )
    grid.columns = [t0 + bucket * i for i in range(n_buckets)]
    grid.index.name = "entity"
    return grid, bucket


def plot_heatmap(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    category_fields: Sequence[str] | None = None,
    max_entities: int = 30,
    columns: int = MAX_HEATMAP_COLUMNS,
    title: str | None = None,
) -> Path:
    """Entities x time coloured by max anomaly grade (grey: no result; white: no anomaly)."""
    import matplotlib as mpl
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    grid, bucket = heatmap_matrix(frame, category_fields=category_fields, max_entities=max_entities, columns=columns)
    rows, cols = grid.shape
    fig = Figure(figsize=(min(16, 4 + 0.18 * cols), 1.8 + 0.28 * rows), layout="constrained")
    ax = fig.subplots()
    cmap = mpl.colormaps["YlOrRd"].with_extremes(bad="#dddddd", under="white")
    values = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    # Grade 0 is drawn white (under the colour range): only anomalies take colour.
    image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=1e-9, vmax=1.0, interpolation="nearest")
    ax.set_yticks(range(rows), [str(k) for k in grid.index], fontsize=7)
    step = max(1, cols // 10)
    ticks = list(range(0, cols, step))
    ax.set_xticks(
        ticks,
        [pd.Timestamp(grid.columns[i]).strftime("%m-%d %H:%M") for i in ticks],
        rotation=45,
        ha="right",
        fontsize=7,
    )
    ax.set_xlabel(f"time (UTC), buckets of {_pretty(bucket)}")
    bar = fig.colorbar(image, ax=ax, extend="min", fraction=0.03)
    bar.set_label("max anomaly grade")
    cats = list(category_fields) if category_fields is not None else category_columns(frame)
    total = int(_entity_keys(frame, cats).nunique())
    head = title or "anomaly grade"
    ax.set_title(f"{head}: top {rows} entities" + (f" of {total}" if total > rows else ""), loc="left")
    return _save(fig, path)


def _pretty(delta: Any) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes and minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m" if minutes else f"{int(delta.total_seconds())}s"
