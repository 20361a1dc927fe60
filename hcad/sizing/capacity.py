"""The capacity formulas: cache bound, entities used, models per node, data nodes, heap and storage.

Pure functions on integers and exact fractions (no float surprises in ``ceil``), except where the plugin
itself uses doubles (its heap budget ``(long) (heap * model_max_size_percent)``), which is reproduced as is.

Formulas (AWS big-data blog "analyze one million entities with HCAD", reconstructed so every published
number comes out; OpenSearch AD documentation; plugin ``MemoryTracker``):

- ``B = A * ceil(120 / interval_minutes)``: a model stays cached at most two hours (hourly
  inactivity check + one hour TTL), so that many intervals of distinct active entities can be cached.
- ``N = floor(floor(H * P) / max(S))``: the plugin admits a model while ``used + S <= (long)(H * P)``.
- ``D = ceil(overhead * sum(E) / N)`` with overhead 1.2 (the blog's 20% for historical analysis and
  internal operations).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from hcad.errors import ConfigError

Units = Literal["decimal", "binary"]
UNITS: tuple[Units, ...] = ("decimal", "binary")

KB, MB, GB, TB = 10**3, 10**6, 10**9, 10**12
KiB, MiB, GiB, TiB = 2**10, 2**20, 2**30, 2**40

CACHE_HOURS_MINUTES = 120
"""Longest time an entity model stays cached: the hourly TTL check can miss a model by one hour."""
DEFAULT_OVERHEAD = 1.2
DEFAULT_PERCENT = 0.1
DEFAULT_DOC_BYTES = 1000
"""Blog: one anomaly result document is about 1 KB."""
DEFAULT_RETENTION_DAYS = 30
"""``ad_result_history_retention_period`` default (30d)."""

# Amazon OpenSearch Service storage overheads (developer guide, "Calculating storage requirements").
INDEXING_OVERHEAD = Fraction(11, 10)
OS_RESERVED = Fraction(95, 100)
SERVICE_OVERHEAD = Fraction(8, 10)
SERVICE_OVERHEAD_CAP = 20 * GiB
"""The service reserves 20% of each node's storage, but at most 20 GiB per node."""

SHARD_TARGET_SEARCH = (10 * GiB, 30 * GiB)
SHARD_TARGET_WRITE = (30 * GiB, 50 * GiB)
SHARDS_PER_HEAP_GIB = 25
MAX_SHARDS_PER_NODE = 1000
AD_MAX_PRIMARY_SHARDS = 10
"""``plugins.anomaly_detection.max_primary_shards``: result indices get min(data nodes, 10) primaries."""

_INTERVAL_UNITS = {
    "s": Fraction(1, 60),
    "m": Fraction(1),
    "min": Fraction(1),
    "h": Fraction(60),
    "d": Fraction(1440),
}


def parse_interval(value: Any, name: str = "interval") -> Fraction:
    """``10`` / ``"10m"`` / ``"1h"`` / ``"20s"`` -> minutes, exactly (a plain number is minutes; ``20s`` is 1/3)."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} {value!r} is not an interval; write minutes (10) or 10m, 1h")
    if isinstance(value, Fraction):
        minutes = value
    elif isinstance(value, (int, float)):
        minutes = Fraction(str(value))
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*", str(value).lower())
        if not m or m.group(2) not in {"", *_INTERVAL_UNITS}:
            raise ConfigError(f"{name} {value!r} is not an interval; write minutes (10) or 10m, 1h")
        minutes = Fraction(m.group(1)) * _INTERVAL_UNITS.get(m.group(2) or "m", Fraction(1))
    if minutes <= 0:
        raise ConfigError(f"{name} {value!r} must be greater than zero (e.g. 10m)")
    return minutes


def unit_names(units: Units) -> tuple[str, int]:
    """Display unit and its size in bytes for the convention (``GB``/1e9 or ``GiB``/2^30)."""
    return ("GB", GB) if units == "decimal" else ("GiB", GiB)


def convention_note(units: Units) -> str:
    """The sentence every report carries about its unit convention."""
    if units == "decimal":
        return (
            "units: decimal (1 GB = 10^9 bytes, 1 KB = 10^3 bytes; instance RAM in GiB read as GB), the "
            "convention that reproduces the AWS blog's 36-node example; the plugin itself budgets the JVM's "
            "real heap in bytes (units: binary in a plan, --units binary, for that)"
        )
    return (
        "units: binary (1 GiB = 2^30 bytes), what the plugin budgets with the JVM heap; the AWS blog's "
        "published example uses decimal units (units: decimal, --units decimal)"
    )


def fmt_bytes(n: float, units: Units, digits: int = 1) -> str:
    """``144e9`` -> ``'144.0 GB'`` (decimal) or ``'134.1 GiB'`` (binary); smaller values in MB or KB."""
    tiers = (("GB", GB), ("MB", MB), ("KB", KB)) if units == "decimal" else (("GiB", GiB), ("MiB", MiB), ("KiB", KiB))
    for name, size in tiers:
        if abs(n) >= size:
            return f"{n / size:,.{digits}f} {name}"
    return f"{n:,.0f} B"


def exact_minutes(interval_minutes: Fraction | float | str) -> Fraction:
    """An interval in minutes as an exact fraction (``20s`` is exactly 1/3 minute).

    Ints and fractions are taken as they are, strings as in a plan file (``"20s"``, ``"10m"``). A float is
    read as its shortest decimal (``10.5`` -> 21/2), and one within a microsecond of a whole number of
    seconds as that many seconds (``20 / 60`` computed in floating point -> 1/3, not 0.3333333333333333,
    which would put ``ceil(120 / interval)`` one too high).
    """
    if isinstance(interval_minutes, str):
        return parse_interval(interval_minutes)
    if isinstance(interval_minutes, bool) or not isinstance(interval_minutes, numbers.Real):
        raise ConfigError(f"interval {interval_minutes!r} must be a positive number of minutes")
    if not interval_minutes > 0 or not math.isfinite(interval_minutes):
        raise ConfigError(f"interval {interval_minutes!r} must be a positive number of minutes")
    if isinstance(interval_minutes, numbers.Rational):
        return Fraction(interval_minutes.numerator, interval_minutes.denominator)
    minutes = Fraction(str(interval_minutes))
    seconds = round(minutes * 60)
    if seconds > 0 and abs(minutes * 60 - seconds) < Fraction(1, 10**6):
        return Fraction(seconds, 60)
    return minutes


def format_interval(interval_minutes: Fraction | float | str) -> str:
    """``10`` -> ``'10m'``, 1/3 -> ``'20s'`` (what a plan file or ``--interval`` accepts back, exactly)."""
    minutes = exact_minutes(interval_minutes)
    if minutes.denominator == 1:
        return f"{minutes.numerator}m"
    seconds = minutes * 60
    if seconds.denominator == 1:
        return f"{seconds.numerator}s"
    return f"{float(minutes)!r}m"


def cache_intervals(interval_minutes: Fraction | float | str) -> int:
    """``ceil(120 / interval)``: how many intervals a model can stay cached (computed exactly)."""
    return math.ceil(Fraction(CACHE_HOURS_MINUTES) / exact_minutes(interval_minutes))


def active_entity_bound(active_per_interval: int, interval_minutes: Fraction | float | str) -> int:
    """``B = A * ceil(120 / interval)``: upper bound of cached entity models."""
    _positive_int(active_per_interval, "active_entities")
    return active_per_interval * cache_intervals(interval_minutes)


def entities_used(
    entities: int | None, active_per_interval: int | None, interval_minutes: Fraction | float
) -> tuple[int, str, int | None]:
    """The entity count E to size for, why, and the cache bound B (None without an active count)."""
    if entities is None and active_per_interval is None:
        raise ConfigError("give entities (total count) or active_entities (maximum per interval)")
    bound = None if active_per_interval is None else active_entity_bound(active_per_interval, interval_minutes)
    if entities is not None:
        _positive_int(entities, "entities")
    if bound is None:
        assert entities is not None
        return entities, "C: total entity count known", None
    if entities is None:
        return bound, "B: only the active count is known, so the 2-hour cache bound A x ceil(120/I)", bound
    if entities <= bound:
        return entities, "min(C, B) = C: every entity can be cached at once", bound
    return bound, "min(C, B) = B: at most this many models are cached at once", bound


def heap_budget(heap_bytes: int, percent: float) -> int:
    """``(long) (heap * model_max_size_percent)``, the plugin's per-node model memory limit."""
    _fraction(percent, "model_max_size_percent")
    return math.trunc(heap_bytes * percent)


def models_per_node(heap_bytes: int, percent: float, model_size_bytes: int) -> int:
    """``N = floor(H * P / S)``: entity models one data node hosts (using the plugin's truncated budget)."""
    _positive_int(heap_bytes, "heap")
    _positive_int(model_size_bytes, "model_size")
    return heap_budget(heap_bytes, percent) // model_size_bytes


def data_nodes(total_entities: int, per_node: int, overhead: float = DEFAULT_OVERHEAD) -> int:
    """``D = ceil(overhead * sum(E) / N)``; at least 1."""
    if per_node <= 0:
        raise ConfigError("a data node fits no entity model: raise the heap or model_max_size_percent")
    _non_negative_int(total_entities, "entities")
    _overhead(overhead)
    return max(1, math.ceil(Fraction(str(overhead)) * total_entities / per_node))


def entities_that_fit(
    nodes: int, heap_bytes: int, percent: float, model_size_bytes: int, overhead: float = DEFAULT_OVERHEAD
) -> int:
    """Reverse of :func:`data_nodes`: most entities ``nodes`` data nodes host with the overhead reserved."""
    _positive_int(nodes, "data_nodes")
    _overhead(overhead)
    return math.floor(nodes * models_per_node(heap_bytes, percent, model_size_bytes) / Fraction(str(overhead)))


def heap_bytes_for_ram(ram_gib: float, units: Units) -> int:
    """Heap of a managed node: ``min(RAM / 2, 32 GiB)``, as bytes in the chosen convention."""
    from hcad.sizing.instances import heap_gib_for_ram

    heap = Fraction(str(heap_gib_for_ram(ram_gib)))
    return int(heap * (GB if units == "decimal" else GiB))


@dataclass(frozen=True)
class ResultStorage:
    """Disk needed for anomaly results over the retention period."""

    docs_per_day: int
    bytes_per_day: int
    retained_primary_bytes: int
    retained_total_bytes: int
    provisioned_bytes: int
    replicas: int
    retention_days: float


def result_storage(
    docs_per_interval: int,
    interval_minutes: Fraction | float | str,
    doc_bytes: int = DEFAULT_DOC_BYTES,
    retention_days: float = DEFAULT_RETENTION_DAYS,
    replicas: int = 1,
    nodes: int | None = None,
) -> ResultStorage:
    """Result documents and bytes per day, retained bytes, and the disk to provision on the service.

    ``docs/day = docs_per_interval * 1440 / interval``; ``retained = bytes/day * days * (1 + replicas)``;
    provisioned = retained x 1.1 / 0.95 / 0.8 (the 0.8 capped at 20 GiB per node when ``nodes`` is known).
    """
    _positive_int(doc_bytes, "doc_bytes")
    _non_negative_int(docs_per_interval, "docs_per_interval")
    if not retention_days > 0:
        raise ConfigError(f"retention_days {retention_days!r} must be positive")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ConfigError(f"replicas {replicas!r} must be a whole number >= 0")
    docs_day = Fraction(docs_per_interval) * 1440 / exact_minutes(interval_minutes)
    bytes_day = docs_day * doc_bytes
    primary = bytes_day * Fraction(str(retention_days))
    total = primary * (1 + replicas)
    return ResultStorage(
        docs_per_day=math.ceil(docs_day),
        bytes_per_day=math.ceil(bytes_day),
        retained_primary_bytes=math.ceil(primary),
        retained_total_bytes=math.ceil(total),
        provisioned_bytes=aws_provisioned_bytes(math.ceil(primary), replicas, nodes),
        replicas=replicas,
        retention_days=retention_days,
    )


def aws_provisioned_bytes(source_bytes: int, replicas: int = 1, nodes: int | None = None) -> int:
    """Amazon OpenSearch Service storage for ``source_bytes`` of primary data.

    ``source x (1 + replicas) x 1.1 / 0.95 / 0.8`` (about x1.45 per copy). The 20% service reserve is capped
    at 20 GiB per node; with ``nodes`` given, the cap is applied (a node reserving less than 20% needs less).
    """
    needed = Fraction(source_bytes) * (1 + replicas) * INDEXING_OVERHEAD / OS_RESERVED
    uncapped = needed / SERVICE_OVERHEAD
    if nodes:
        per_node = uncapped / nodes
        if per_node * (1 - SERVICE_OVERHEAD) > SERVICE_OVERHEAD_CAP:
            return math.ceil(needed + nodes * SERVICE_OVERHEAD_CAP)
    return math.ceil(uncapped)


@dataclass(frozen=True)
class ShardGuidance:
    """How the result data should be sharded, and whether the nodes can carry the shard count."""

    result_primaries_per_index: int
    min_primary_shards: int
    max_primary_shards: int
    shard_limit_per_node: int
    notes: tuple[str, ...]


def shard_guidance(retained_primary_bytes: int, replicas: int, nodes: int, heap_gib: float) -> ShardGuidance:
    """Shard counts for the retained results (write-heavy: 30–50 GiB per shard) and per-node limits."""
    lo, hi = SHARD_TARGET_WRITE
    min_shards = max(1, math.ceil(retained_primary_bytes / hi))
    max_shards = max(1, math.ceil(retained_primary_bytes / lo))
    per_node_limit = min(int(SHARDS_PER_HEAP_GIB * heap_gib), MAX_SHARDS_PER_NODE)
    primaries = min(nodes, AD_MAX_PRIMARY_SHARDS)
    copies = max_shards * (1 + replicas)
    notes = [
        f"the plugin creates each result index with min(data nodes, 10) = {primaries} primaries and rolls it over",
        f"{min_shards:,}-{max_shards:,} primary shards keep retained results at 30-50 GiB per shard",
        f"limit per node: min(25 x heap GiB, 1000) = {per_node_limit:,} shards",
    ]
    if copies > per_node_limit * nodes:
        notes.append(
            f"{copies:,} shard copies exceed {nodes} node(s) x {per_node_limit:,}: add nodes or shorten retention"
        )
    return ShardGuidance(primaries, min_shards, max_shards, per_node_limit, tuple(notes))


def _positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ConfigError(f"{name} {value!r} must be a whole number > 0")


def _non_negative_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f"{name} {value!r} must be a whole number >= 0")


def _fraction(value: object, name: str) -> None:
    # A fraction of the heap, not a percentage: 10 would size for ten heaps.
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < float(value) <= 1:
        raise ConfigError(f"{name} {value!r} must be a fraction of the heap in (0, 1], e.g. 0.1 for 10%")


def _overhead(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 1 <= float(value) <= 10:
        raise ConfigError(f"overhead {value!r} must be a factor between 1 and 10 (1.2 reserves 20%)")


#: ``plugins.anomaly_detection.dedicated_cache_size``: entity slots each HC detector reserves per node.
DEFAULT_DEDICATED_CACHE = 10
#: ``plugins.anomaly_detection.expected_cold_entity_execution_time_in_millisecs``: the cold-entity worker
#: takes ``checkpoint_read_queue_batch_size`` (25) entities per 25 x this, i.e. one per 3 s per node.
DEFAULT_COLD_ENTITY_MS = 3000


def models_held_per_node(
    budget_bytes: int,
    model_size_bytes: int,
    detectors: int = 1,
    entities_on_node: Sequence[int | None] | None = None,
    dedicated: int = DEFAULT_DEDICATED_CACHE,
) -> int:
    """Entity models the plugin's cache holds on one node: the published N corrected by the plugin's rules.

    From ``PriorityCache``/``CacheBuffer``/``MemoryTracker`` (AD 2.x): each HC detector with models on the
    node first reserves ``dedicated x S`` of the budget ``H x P`` (``canAllocateReserved``; a detector whose
    reservation does not fit gets no cache at all); its first ``dedicated`` entities live in that reserved
    part, the rest in shared slots, added while ``total + S <= budget`` (``canAllocate``). So:

    - with every detector having at least ``dedicated`` entities on the node the answer is the published
      ``floor(H x P / S)`` (reserved + shared = the whole budget);
    - a detector with fewer entities on the node wastes the reserved slots it does not use;
    - a node never holds more models than entities are routed to it (the hash ring spreads entities over
      the data nodes: a node's share can be below N even when the cluster total is above D x N).

    ``entities_on_node`` gives, per detector, the entities routed to this node (None for a detector: more
    than fit; None for the argument: ``detectors`` detectors, each with more than fit).
    """
    _positive_int(model_size_bytes, "model_size")
    if budget_bytes <= 0:
        return 0
    counts: list[int | None] = list(entities_on_node) if entities_on_node is not None else [None] * detectors
    reservation = dedicated * model_size_bytes
    reserved = 0
    dedicated_used = 0
    demand: int | None = 0
    for e in counts:
        if e is not None and e <= 0:
            continue  # the cache buffer (and its reservation) is made when a first entity comes
        if reserved + reservation > budget_bytes:
            continue  # no cache for this detector on this node
        reserved += reservation
        if e is None:
            dedicated_used += dedicated
            demand = None
        else:
            dedicated_used += min(dedicated, e)
            if demand is not None:
                demand += max(0, e - dedicated)
    shared = (budget_bytes - reserved) // model_size_bytes
    return dedicated_used + (shared if demand is None else min(shared, demand))
