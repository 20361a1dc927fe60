"""hcad.ad.plots: the heatmap matrix's numbers, entity ranking, and PNGs that are real images."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest
from test_cli_detectors_fake import result_docs

from hcad.ad.plots import category_columns, feature_columns, heatmap_matrix, plot_features, plot_heatmap
from hcad.ad.results import results_frame
from hcad.errors import ConfigError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def frame():
    docs = result_docs(
        anomalies={("h2", 10): 0.4, ("h2", 11): 0.9, ("h3", 30): 0.6},
        missing={("h1", 5), ("h1", 6)},
    )
    return results_frame(docs)


def test_columns_are_inferred(frame) -> None:
    assert category_columns(frame) == ["host"]
    assert feature_columns(frame) == ["cpu_avg", "mem_max"]


def test_heatmap_matrix_max_grade_per_bucket_and_ranking(frame) -> None:
    grid, bucket = heatmap_matrix(frame, columns=12)
    # 48 ten-minute intervals into at most 12 columns: 4 intervals (40 minutes) per bucket.
    assert bucket.total_seconds() == 2400 and grid.shape == (3, 12)
    assert list(grid.index) == ["host=h2", "host=h3", "host=h1"]  # by max grade
    assert grid.loc["host=h2"].iloc[2] == 0.9  # intervals 8-11 hold grades 0, 0, 0.4, 0.9
    assert grid.loc["host=h3"].iloc[7] == 0.6
    assert grid.loc["host=h1"].iloc[1] == 0.0  # bucket 4-7 still has results for 4 and 7
    assert grid.loc["host=h1"].max() == 0.0


def test_heatmap_matrix_marks_buckets_without_results(frame) -> None:
    grid, _ = heatmap_matrix(frame, columns=48)
    assert math.isnan(grid.loc["host=h1"].iloc[5]) and math.isnan(grid.loc["host=h1"].iloc[6])
    assert grid.loc["host=h1"].iloc[4] == 0.0


def test_heatmap_keeps_top_entities(frame) -> None:
    grid, _ = heatmap_matrix(frame, max_entities=2)
    assert list(grid.index) == ["host=h2", "host=h3"]


def test_plot_features_png(frame, tmp_path) -> None:
    out = plot_features(frame, tmp_path / "f.png", title="cpu-test")
    w, h = png_size(out)
    assert w == 1100 and h == int((1.2 + 2.3 * 3) * 100)
    assert out.stat().st_size > 20_000


def test_plot_features_limits_panels(frame, tmp_path) -> None:
    out = plot_features(frame, tmp_path / "f.png", max_entities=1, features=["cpu_avg"])
    assert png_size(out)[1] == int((1.2 + 2.3) * 100)


def test_plot_heatmap_png(frame, tmp_path) -> None:
    out = plot_heatmap(frame, tmp_path / "h.png", title="cpu-test")
    w, h = png_size(out)
    assert w > 600 and h > 200 and out.stat().st_size > 10_000


def test_single_stream_frame(tmp_path) -> None:
    docs = result_docs(hosts=("h1",), anomalies={("h1", 3): 0.7})
    for d in docs:
        d.pop("entity")
    frame = results_frame(docs)
    assert category_columns(frame) == []
    grid, _ = heatmap_matrix(frame)
    assert list(grid.index) == ["(all data)"]
    assert png_size(plot_features(frame, tmp_path / "s.png"))[1] == int((1.2 + 2.3) * 100)


def test_bad_input(frame, tmp_path) -> None:
    with pytest.raises(ConfigError, match="no results to plot"):
        plot_features(frame.iloc[0:0], tmp_path / "x.png")
    with pytest.raises(ConfigError, match="feature"):
        plot_features(frame, tmp_path / "x.png", features=["nope"])
    with pytest.raises(ConfigError, match="does not exist"):
        plot_heatmap(frame, tmp_path / "no" / "x.png")
    with pytest.raises(ConfigError, match="missing column"):
        plot_heatmap(frame.drop(columns=["anomaly_grade"]), tmp_path / "x.png")


def test_backtest_shaped_frame_is_split_by_entity(tmp_path) -> None:
    """hcad.quality.backtest puts the entity columns first (not between data_end_time and anomaly_grade)."""
    import pandas as pd

    from hcad.ad import plots

    t = pd.date_range("2024-01-01", periods=6, freq="10min", tz="UTC")
    frame = pd.DataFrame(
        {
            "host": ["h1"] * 3 + ["h2"] * 3,
            "process": ["p"] * 6,
            "data_start_time": list(t[:3]) * 2,
            "data_end_time": list(t[1:4]) * 2,
            "anomaly_grade": [0, 0.9, 0, 0, 0, 0],
            "confidence": [0.95] * 6,
            "approx_anomaly_start_time": list(t[:3]) * 2,
            "imputed": [False] * 6,
            "cpu": [1.0, 9.0, 1.0, 2.0, 2.0, 2.0],
            "cpu_expected": [None, 1.0, None, None, None, None],
        }
    )
    assert plots.category_columns(frame) == ["host", "process"]
    assert plots.feature_columns(frame) == ["cpu"]
    out = plots.plot_features(frame, tmp_path / "f.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
