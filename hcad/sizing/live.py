"""The node facts a plan needs, read from a live cluster (with :mod:`hcad.sizing.entities`, the I/O of ``hcad.sizing``).

What the AD plugin itself budgets with (``timeseries/MemoryTracker``): each data node's JVM
``heapMax`` times the cluster setting ``plugins.anomaly_detection.model_max_size_percent``. The heap
is ``jvm.mem.heap_max_in_bytes`` of ``GET _nodes/stats/jvm``; with data nodes of different heaps the
smallest one is used, since a plan assumes like nodes and the smallest holds the fewest models. The
setting is read with its precedence: transient, then persistent, then the legacy
``opendistro.anomaly_detection.model_max_size_percent`` (the plugin's fallback), then the default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hcad.errors import ConfigError, ServerError
from hcad.sizing.plan import SizingPlan
from hcad.transport import AD_PLUGIN

PERCENT_SETTING = "plugins.anomaly_detection.model_max_size_percent"
LEGACY_PERCENT_SETTING = "opendistro.anomaly_detection.model_max_size_percent"


@dataclass(frozen=True)
class ClusterFacts:
    """Node facts measured on a cluster: smallest data-node heap, data-node count, AD memory share."""

    heap_bytes: int
    heap_node: str
    data_nodes: int
    percent: float
    percent_source: str
    plugin_version: str | None

    def heap_note(self) -> str:
        """Where the heap came from, for the report's steps."""
        many = f", the smallest of {self.data_nodes} data nodes" if self.data_nodes > 1 else ""
        return f"measured: jvm.mem.heap_max_in_bytes of data node {self.heap_node}{many} (_nodes/stats)"

    def percent_note(self) -> str:
        """Where ``model_max_size_percent`` came from, for the report."""
        return f"measured: cluster setting {self.percent_source}"


def data_node_heaps(nodes_stats: Mapping[str, Any]) -> dict[str, int]:
    """``{node name: heap_max_in_bytes}`` of the data nodes in a ``_nodes/stats/jvm`` response."""
    out: dict[str, int] = {}
    for node_id, node in (nodes_stats.get("nodes") or {}).items():
        roles = [str(r) for r in node.get("roles") or []]
        if not any(r == "data" or r.startswith("data_") for r in roles):
            continue
        heap = ((node.get("jvm") or {}).get("mem") or {}).get("heap_max_in_bytes")
        if isinstance(heap, int) and heap > 0:
            out[str(node.get("name") or node_id)] = heap
    return out


def effective_percent(cluster_settings: Mapping[str, Any]) -> tuple[float, str]:
    """The setting's value and where it comes from, from ``_cluster/settings?include_defaults&flat_settings``."""
    # The new key, set anywhere, wins over its legacy fallback (the plugin's setting falls back to the
    # legacy one only when unset); for one key a transient value hides a persistent one.
    for key in (PERCENT_SETTING, LEGACY_PERCENT_SETTING):
        for scope in ("transient", "persistent"):
            values = cluster_settings.get(scope) or {}
            if values.get(key) is not None:
                return float(values[key]), f"{key} = {values[key]} ({scope})"
    defaults = cluster_settings.get("defaults") or {}
    if defaults.get(PERCENT_SETTING) is not None:
        return float(defaults[PERCENT_SETTING]), f"{PERCENT_SETTING} = {defaults[PERCENT_SETTING]} (default)"
    raise ConfigError(
        f"the cluster reports no {PERCENT_SETTING}: is the anomaly-detection plugin installed? "
        "Give the share with --percent"
    )


def measure_cluster(client: Any) -> ClusterFacts:
    """Read the heap of the data nodes, ``model_max_size_percent`` and the AD plugin version."""
    from hcad.transport import translate_errors

    with translate_errors("reading node heaps (_nodes/stats/jvm)"):
        stats = client.transport.perform_request("GET", "/_nodes/stats/jvm")
    heaps = data_node_heaps(stats)
    if not heaps:
        raise ServerError("the cluster reports no data node with a heap size in _nodes/stats/jvm")
    node = min(heaps, key=lambda n: (heaps[n], n))
    with translate_errors("reading cluster settings"):
        settings = client.transport.perform_request(
            "GET", "/_cluster/settings", params={"include_defaults": "true", "flat_settings": "true"}
        )
    percent, source = effective_percent(settings)
    with translate_errors("listing plugins"):
        rows = client.cat.plugins(format="json")
    versions = {str(r.get("version")) for r in rows if r.get("component") == AD_PLUGIN}
    from hcad.sizing.model_size import parse_plugin_version

    # The oldest plugin on the cluster decides (compared as numbers: 2.9 < 2.10).
    version = min(versions, key=parse_plugin_version) if versions else None
    return ClusterFacts(heaps[node], node, len(heaps), percent, source, version)


def apply_cluster_facts(plan: SizingPlan, facts: ClusterFacts, keep: frozenset[str] = frozenset()) -> SizingPlan:
    """The plan sized for the measured nodes: heap, percent, data-node count and plugin version.

    ``keep`` names what the caller fixed explicitly and must not be replaced (``heap``, ``percent``,
    ``data_nodes``, ``plugin_version``), e.g. the command line's ``--heap``/``--percent``.
    """
    changes: dict[str, Any] = {}
    if "heap" not in keep:
        changes.update(heap_bytes=facts.heap_bytes, instance_type=None, heap_note=facts.heap_note())
    if "percent" not in keep:
        changes.update(percent=facts.percent, percent_note=facts.percent_note())
    if "data_nodes" not in keep:
        changes["data_nodes"] = facts.data_nodes
    if "plugin_version" not in keep and facts.plugin_version:
        from hcad.sizing.model_size import parse_plugin_version

        major, minor = parse_plugin_version(facts.plugin_version)
        changes["plugin_version"] = f"{major}.{minor}"
    return dataclasses.replace(plan, **changes)
