"""scripts/threshold_bound.py's rule: the mean or the smallest of an entity's last k values against a threshold."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def bound():
    saved = list(sys.path)  # the script puts scripts/ and the repository on the path when loaded
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location("threshold_bound", SCRIPTS / "threshold_bound.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path[:] = saved


def frame(values_a, values_b):
    """Two entities' values, rows shuffled (the rule must put each entity in time order itself)."""
    t = pd.date_range("2024-01-01", periods=len(values_a), freq="10min", tz="UTC")
    rows = [{"host": h, "process": "p", "@timestamp": ts, "x": v} for h, vs in (("a", values_a), ("b", values_b))
            for ts, v in zip(t, vs, strict=True)]  # fmt: skip
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)


def flagged(f, mask):
    return sorted((r.host, int((r._3 - f["@timestamp"].min()) / pd.Timedelta("10min"))) for r in f[mask].itertuples())


def test_mean_of_last_three_flags_each_entity_on_its_own(bound):
    f = frame([0, 6, 6, 6, 0, 0], [0, 0, 0, 0, 9, 0])
    got = bound.rule_flags(f, "x", "mean", 3, 4.0)
    # a: (0 + 6 + 6) / 3 = 4 at its second high value, 6, then (6 + 6 + 0) / 3 = 4; b's lone 9 is 3 on average.
    assert flagged(f, got) == [("a", 2), ("a", 3), ("a", 4)]
    assert flagged(f, bound.rule_flags(f, "x", "mean", 1, 4.0)) == [("a", 1), ("a", 2), ("a", 3), ("b", 4)]


def test_min_of_last_two_needs_both_at_the_threshold(bound):
    f = frame([0, 5, 3.9, 5, 5, 0], [5, 5, 0, 0, 0, 0])
    got = bound.rule_flags(f, "x", "min", 2, 4.0)
    assert flagged(f, got) == [("a", 4), ("b", 1)]
    assert not np.any(bound.rule_flags(f, "x", "min", 2, 5.5))
