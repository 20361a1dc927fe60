"""Catalog of Amazon OpenSearch Service data-node instance types and their memory.

RAM follows the service's published rule: vCPU by size (medium 1, large 2, xlarge 4, 2xlarge 8, …,
24xlarge 96) times GiB per vCPU for the family (memory-optimised r* and or1: 8, general purpose m*: 4,
compute-optimised c*: 2). The burstable t3 types are listed explicitly. The service gives the JVM half
of RAM, at most 32 GiB (``heap = min(RAM / 2, 32 GiB)``).

Names are accepted with or without the ``.search`` suffix (``r6g.large`` == ``r6g.large.search``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from hcad.errors import ConfigError

#: vCPU count by instance size.
VCPU_BY_SIZE: dict[str, int] = {
    "medium": 1,
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "9xlarge": 36,
    "12xlarge": 48,
    "16xlarge": 64,
    "18xlarge": 72,
    "24xlarge": 96,
}

#: GiB of RAM per vCPU by family.
GIB_PER_VCPU: dict[str, int] = {
    "r5": 8,
    "r6g": 8,
    "r6gd": 8,
    "r7g": 8,
    "or1": 8,
    "m5": 4,
    "m6g": 4,
    "m7g": 4,
    "c5": 2,
    "c6g": 2,
    "c7g": 2,
}

#: Sizes the service offers per family (data nodes).
SIZES_BY_FAMILY: dict[str, tuple[str, ...]] = {
    "r5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "r6g": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge"),
    "r6gd": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    "r7g": ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    "or1": ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    "m5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "m6g": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge"),
    "m7g": ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    "c5": ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "c6g": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge"),
    "c7g": ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
}

#: Types that do not follow the vCPU rule: name -> (vCPU, RAM GiB).
EXPLICIT: dict[str, tuple[int, float]] = {
    "t3.small": (2, 2),
    "t3.medium": (2, 4),
}

#: The JVM heap ceiling the service applies (compressed object pointers stop working above it).
MAX_HEAP_GIB = 32


@dataclass(frozen=True)
class InstanceType:
    """One data-node instance type: name (``r5.2xlarge.search``), vCPUs and RAM in GiB."""

    name: str
    vcpu: int
    ram_gib: float

    @property
    def heap_gib(self) -> float:
        """JVM heap the service gives this type: half the RAM, at most 32 GiB."""
        return heap_gib_for_ram(self.ram_gib)

    @property
    def short_name(self) -> str:
        """The name without the ``.search`` suffix."""
        return self.name.removesuffix(".search")


def heap_gib_for_ram(ram_gib: float) -> float:
    """``min(RAM / 2, 32)`` in GiB, the heap Amazon OpenSearch Service configures for a node."""
    if ram_gib <= 0:
        raise ConfigError(f"ram {ram_gib} GiB must be positive")
    return min(ram_gib / 2, MAX_HEAP_GIB)


def _build() -> dict[str, InstanceType]:
    out: dict[str, InstanceType] = {}
    for family, sizes in SIZES_BY_FAMILY.items():
        for size in sizes:
            vcpu = VCPU_BY_SIZE[size]
            name = f"{family}.{size}.search"
            out[name] = InstanceType(name, vcpu, float(vcpu * GIB_PER_VCPU[family]))
    for short, (vcpu, ram) in EXPLICIT.items():
        out[f"{short}.search"] = InstanceType(f"{short}.search", vcpu, float(ram))
    return out


CATALOG: dict[str, InstanceType] = _build()


def instance_types() -> list[InstanceType]:
    """Every known type, ordered by RAM, then vCPUs (fewer is cheaper), then name."""
    return sorted(CATALOG.values(), key=lambda t: (t.ram_gib, t.vcpu, t.name))


def get_instance_type(name: str) -> InstanceType:
    """Look up a type by name (``.search`` suffix optional, case-insensitive).

    Raises :class:`ConfigError` naming the closest known types when the name is unknown.
    """
    key = name.strip().lower()
    if not key.endswith(".search"):
        key += ".search"
    found = CATALOG.get(key)
    if found is not None:
        return found
    shorts = [t.short_name for t in CATALOG.values()]
    close = difflib.get_close_matches(key.removesuffix(".search"), shorts, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"known families: {', '.join(sorted(GIB_PER_VCPU))}"
    raise ConfigError(f"instance type {name!r} is unknown ({hint}); or give the heap directly with --heap / node.heap")
