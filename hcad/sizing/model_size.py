"""Entity model size as the AD plugin estimates it, byte-exact, per plugin version.

The plugin does not measure a model's heap; it budgets every entity model of a detector with one
closed-form estimate (``MemoryTracker.estimateTRCFModelSize``), and the profile API's
``model_size_in_bytes`` reports that same number. Reproducing the estimate therefore reproduces what
the plugin budgets and reports. Sources (opensearch-project/anomaly-detection, read at the tags named):

- 1.1.0.0 – 2.14.0.0: ``src/main/java/org/opensearch/ad/MemoryTracker.java`` (identical method body at
  every tag in that range), called from ``ad/caching/PriorityCache.getRequiredMemory`` with
  ``NUM_TREES = 30`` and ``REAL_TIME_BOUNDING_BOX_CACHE_RATIO = 0`` (``ad/settings/AnomalyDetectorSettings``)
  and internal shingling on. Shingle sizes above 64 make the estimator throw; the detector validator
  already rejects more than ``MAX_SHINGLE_SIZE = 60``.
- 2.15.0.0 – 3.x: ``src/main/java/org/opensearch/timeseries/MemoryTracker.java`` (identical at 2.15.0.0,
  2.19.4.0 and 3.6.0.0), called from ``timeseries/caching/TimeSeriesCache.getRequiredMemoryPerEntity`` with
  ``NUM_TREES = 50``, ``NUM_SAMPLES_PER_TREE = 256``, ``REAL_TIME_BOUNDING_BOX_CACHE_RATIO = 0``
  (``timeseries/settings/TimeSeriesSettings``); shingle sizes 1–128 (``MAX_SHINGLE_SIZE = 128``).
- 1.0: HCAD used 10 trees per entity and a different estimator; hcad does not size it.

In both versions the dimension is ``enabled features × shingle size``. The arithmetic below keeps the
Java evaluation order (int products first, then IEEE doubles, then a truncating ``(long)`` cast), so the
results match the JVM bit for bit: Python floats are the same IEEE-754 doubles.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hcad.errors import ConfigError

SAMPLES_PER_TREE = 256
"""``NUM_SAMPLES_PER_TREE`` (both version ranges)."""
REAL_TIME_BOUNDING_BOX_CACHE_RATIO = 0.0
"""Bounding-box cache fraction of real-time entity models (both version ranges)."""
TREES_LEGACY = 30
"""``AnomalyDetectorSettings.NUM_TREES`` from 1.1 through 2.14."""
TREES_CURRENT = 50
"""``TimeSeriesSettings.NUM_TREES`` from 2.15."""
_CHAR_MAX_VALUE = 65535
"""Java ``Character.MAX_VALUE``: above it the RCF point store switches to 4-byte locations."""

DEFAULT_PLUGIN_VERSION = "2.19"
DEFAULT_SHINGLE_SIZE = 8


def parse_plugin_version(version: str | tuple[int, ...]) -> tuple[int, int]:
    """``"2.19.4.0"`` / ``"2.19"`` / ``(2, 19)`` -> ``(2, 19)``; raises :class:`ConfigError` if unsizable."""
    if isinstance(version, tuple):
        parts = version
    else:
        m = re.fullmatch(r"\s*(\d+)\.(\d+)(?:\.\d+)*\s*", str(version))
        if not m:
            raise ConfigError(f"plugin_version {version!r} is not a version like 2.19 or 2.19.4.0")
        parts = (int(m.group(1)), int(m.group(2)))
    if len(parts) < 2:
        raise ConfigError(f"plugin_version {version!r} needs major and minor, e.g. 2.19")
    major, minor = int(parts[0]), int(parts[1])
    if (major, minor) < (1, 1):
        raise ConfigError(
            f"plugin_version {major}.{minor} is not supported: HCAD sizing starts at 1.1 (1.0 used another model)"
        )
    return major, minor


def is_current(version: str | tuple[int, ...]) -> bool:
    """True for plugin 2.15 and later (50 trees, the ``timeseries`` MemoryTracker)."""
    return parse_plugin_version(version) >= (2, 15)


def trees_for(version: str | tuple[int, ...]) -> int:
    """Trees per entity model: 30 up to 2.14, 50 from 2.15."""
    return TREES_CURRENT if is_current(version) else TREES_LEGACY


def max_shingle_size(version: str | tuple[int, ...]) -> int:
    """Largest shingle the plugin accepts: 60 up to 2.14, 128 from 2.15 (``MAX_SHINGLE_SIZE``)."""
    return 128 if is_current(version) else 60


def percent_range(version: str | tuple[int, ...]) -> tuple[float, float]:
    """Valid ``model_max_size_percent`` bounds: [0, 0.7] up to 2.14, [0, 0.9] from 2.15.

    (``AnomalyDetectorSettings.MODEL_MAX_SIZE_PERCENTAGE`` / ``AD_MODEL_MAX_SIZE_PERCENTAGE``.)
    """
    return (0.0, 0.9) if is_current(version) else (0.0, 0.7)


LONG_INTERVAL_MINUTES = 60
"""``TimeSeriesSettings.HOURLY_MAINTENANCE``: from 3.2 a detector whose interval reaches it is "long frequency"."""


def caches_models(version: str | tuple[int, ...], interval_minutes: float) -> bool:
    """Whether the plugin keeps a detector's entity models in memory between intervals.

    Up to 3.1, always (the priority cache). From 3.2 (``Config.isLongFrequency``, anomaly-detection#1513) a
    detector whose interval is an hour or more is not cached: ``PriorityCache`` puts its entities in the
    cold queue, each interval loads their models from checkpoints, and the profile reports no models and
    0 bytes for it. (3.3's optional ``frequency`` counts when set; hcad's plans size by the interval.)
    """
    return parse_plugin_version(version) < (3, 2) or interval_minutes < LONG_INTERVAL_MINUTES


def trcf_size_current(
    dimension: int,
    trees: int = TREES_CURRENT,
    bounding_box_ratio: float = REAL_TIME_BOUNDING_BOX_CACHE_RATIO,
    shingle_size: int = DEFAULT_SHINGLE_SIZE,
    sample_size: int = SAMPLES_PER_TREE,
) -> int:
    """``estimateTRCFModelSize(dimension, trees, bbr, shingle, sampleSize)`` of plugin 2.15+."""
    s = shingle_size
    if s < 1 or dimension < 1:
        raise ConfigError(f"shingle size {s} and dimension {dimension} must be positive")
    if s == 1:
        psc = 1.0
    elif s == 2:
        psc = 0.53
    elif s <= 4:
        psc = 0.27
    elif s <= 8:
        psc = 0.18
    elif s <= 16:
        psc = 0.13
    elif s <= 32:
        psc = 0.07
    elif s <= 128:
        psc = 0.05
    else:
        raise ConfigError(f"shingle_size {s} is out of range: plugin 2.15+ accepts 1 to 128")
    base_dimension = float(dimension // s)  # Java: double baseDimension = dimension / shingleSize (int division)
    capacity = sample_size * trees
    point_store_capacity = max(capacity + 1, 2 * sample_size)
    pt = 4 if s * point_store_capacity >= _CHAR_MAX_VALUE else 2
    be = 1 if bounding_box_ratio > 0 else 0
    internal_nodes = sample_size - 1
    if internal_nodes < 256 and dimension <= 256:
        node_store = 10 * sample_size + 208  # NodeStoreSmall
    elif internal_nodes < 65535 and dimension <= 65535:
        node_store = 16 * sample_size + 202  # NodeStoreMedium
    else:
        node_store = 20 * sample_size + 198  # NodeStoreLarge
    # Same left-to-right order as the Java expression, so every double rounding is the same.
    per_tree = (
        32 * be
        + 8 * bounding_box_ratio * dimension * sample_size
        + 8 * bounding_box_ratio * sample_size
        + node_store
        + 8 * sample_size
        + 352
    )
    total = (
        152 * base_dimension
        + 4 * dimension * psc * capacity
        + 64 * dimension
        + pt * capacity
        + 4 * s
        + capacity
        + trees * per_tree
        + 3944
    )
    return math.trunc(total)


def trcf_size_legacy(
    dimension: int,
    trees: int = TREES_LEGACY,
    bounding_box_ratio: float = REAL_TIME_BOUNDING_BOX_CACHE_RATIO,
    shingle_size: int = DEFAULT_SHINGLE_SIZE,
    internal_shingling: bool = True,
) -> int:
    """``estimateTRCFModelSize(dimension, trees, bbr, shingle, internalShingling)`` of plugin 1.1–2.14."""
    s = shingle_size
    if s < 1 or dimension < 1:
        raise ConfigError(f"shingle size {s} and dimension {dimension} must be positive")
    if not internal_shingling or s == 1:
        usage = 1.0
    elif s <= 3:
        usage = 0.53
    elif s <= 12:
        usage = 0.27
    elif s <= 24:
        usage = 0.13
    elif s <= 64:
        usage = 0.07
    else:
        raise ConfigError(f"shingle_size {s} is out of range: plugin 1.1-2.14 estimates 1 to 64 (accepts 1 to 60)")
    bbu = 1.0 if bounding_box_ratio >= 0.3 else bounding_box_ratio
    compact_rcf = math.trunc(
        56 + trees * (8624 + (1040 + 255 * (dimension * 8 + 64)) * bbu) + 256 * trees * dimension * 4 * usage + 77192
    )
    threshold = 6 * (dimension * 8 + 16) + s * 8 + 624
    return compact_rcf + threshold


@dataclass(frozen=True)
class ModelSizeEstimate:
    """An entity model's estimated bytes and the inputs that produced it."""

    bytes: int
    features: int
    shingle_size: int
    dimension: int
    trees: int
    plugin_version: str
    formula: str

    def explain(self) -> str:
        """One line: the formula used and its inputs."""
        return (
            f"{self.formula}: d = {self.features} feature(s) x shingle {self.shingle_size} "
            f"= {self.dimension}, "
            f"{self.trees} trees x {SAMPLES_PER_TREE} samples, bounding-box cache 0 -> {self.bytes:,} bytes"
        )


def estimate_entity_model_size(
    features: int, shingle_size: int = DEFAULT_SHINGLE_SIZE, plugin_version: str = DEFAULT_PLUGIN_VERSION
) -> ModelSizeEstimate:
    """Bytes the plugin budgets for one real-time entity model of a detector.

    ``features`` counts the detector's *enabled* features. Raises :class:`ConfigError` for a feature count
    below 1 or a shingle size the plugin version rejects (e.g. 129 on any version, 61 before 2.15).
    """
    major, minor = parse_plugin_version(plugin_version)
    version = f"{major}.{minor}"
    if isinstance(features, bool) or not isinstance(features, int) or features < 1:
        raise ConfigError(f"features {features!r} must be a whole number >= 1 (enabled features of the detector)")
    limit = max_shingle_size((major, minor))
    if isinstance(shingle_size, bool) or not isinstance(shingle_size, int) or not 1 <= shingle_size <= limit:
        raise ConfigError(f"shingle_size {shingle_size!r} is out of range: plugin {version} accepts 1 to {limit}")
    dimension = features * shingle_size
    if is_current((major, minor)):
        size = trcf_size_current(dimension, TREES_CURRENT, REAL_TIME_BOUNDING_BOX_CACHE_RATIO, shingle_size)
        formula = "plugin >= 2.15 estimateTRCFModelSize"
        trees = TREES_CURRENT
    else:
        size = trcf_size_legacy(dimension, TREES_LEGACY, REAL_TIME_BOUNDING_BOX_CACHE_RATIO, shingle_size)
        formula = "plugin 1.1-2.14 estimateTRCFModelSize"
        trees = TREES_LEGACY
    return ModelSizeEstimate(size, features, shingle_size, dimension, trees, version, formula)
