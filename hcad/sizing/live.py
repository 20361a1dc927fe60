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


# ---------------------------------------------------------------- per-node: predicted vs held, result bytes

AD_STATS = "/_plugins/_anomaly_detection/stats"
DEFAULT_RESULT_INDEX = ".opendistro-anomaly-results*"


@dataclass(frozen=True)
class NodeModels:
    """One data node: its heap, the models the formula predicts it holds, and what the plugin holds."""

    node_id: str
    name: str
    heap_bytes: int
    budget_bytes: int  # heap x P, what the plugin's MemoryTracker budgets with
    predicted: int  # N = floor(H x P / S), the published formula for this node's own heap
    held: int | None  # entity models in memory (AD stats model_count); None when the stats say nothing

    @property
    def difference(self) -> int | None:
        """Models held minus the formula's prediction (None when the node did not say)."""
        return None if self.held is None else self.held - self.predicted

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "name": self.name,
            "heap_bytes": self.heap_bytes,
            "budget_bytes": self.budget_bytes,
            "predicted_models": self.predicted,
            "held_models": self.held,
            "difference": self.difference,
        }


def held_models_by_node(stats: Mapping[str, Any]) -> dict[str, int]:
    """``{node id: entity models in memory}`` from ``GET _plugins/_anomaly_detection/stats``.

    Each node reports ``model_count`` and the ``models`` list (entity models only: single-stream models
    are not in the entity cache); the count is taken, the list's length when the count is absent.
    """
    out: dict[str, int] = {}
    for node_id, node in (stats.get("nodes") or {}).items():
        if not isinstance(node, Mapping):
            continue
        count = node.get("model_count")
        if isinstance(count, int):
            out[str(node_id)] = count
        elif isinstance(node.get("models"), list):
            out[str(node_id)] = len(node["models"])
    return out


def nodes_predicted_vs_held(
    nodes_stats: Mapping[str, Any], ad_stats: Mapping[str, Any], percent: float, model_size: int
) -> list[NodeModels]:
    """Per data node: ``floor(heap x P / S)`` next to the models the plugin holds (pure; see :func:`measure_nodes`)."""
    held = held_models_by_node(ad_stats)
    out: list[NodeModels] = []
    for node_id, node in (nodes_stats.get("nodes") or {}).items():
        roles = [str(r) for r in node.get("roles") or []]
        if not any(r == "data" or r.startswith("data_") for r in roles):
            continue
        heap = ((node.get("jvm") or {}).get("mem") or {}).get("heap_max_in_bytes")
        if not isinstance(heap, int) or heap <= 0:
            continue
        budget = int(heap * percent)
        out.append(
            NodeModels(str(node_id), str(node.get("name") or node_id), heap, budget, budget // model_size,
                       held.get(str(node_id)))
        )  # fmt: skip
    return sorted(out, key=lambda n: n.name)


def measure_nodes(client: Any, model_size: int, percent: float | None = None) -> list[NodeModels]:
    """Read each data node's heap and the AD stats: predicted models per node vs the models held."""
    from hcad.transport import translate_errors

    with translate_errors("reading node heaps (_nodes/stats/jvm)"):
        nodes_stats = client.transport.perform_request("GET", "/_nodes/stats/jvm")
    if percent is None:
        with translate_errors("reading cluster settings"):
            settings = client.transport.perform_request(
                "GET", "/_cluster/settings", params={"include_defaults": "true", "flat_settings": "true"}
            )
        percent = effective_percent(settings)[0]
    with translate_errors("reading the AD stats (_plugins/_anomaly_detection/stats)"):
        ad_stats = client.transport.perform_request("GET", AD_STATS)
    return nodes_predicted_vs_held(nodes_stats, ad_stats, percent, model_size)


@dataclass(frozen=True)
class ResultDocSize:
    """Bytes per result document measured on result indices (primaries only)."""

    index: str
    store_bytes: int
    docs: int

    @property
    def bytes_per_doc(self) -> int:
        """Primary store bytes per result document (at least 1)."""
        return max(1, round(self.store_bytes / self.docs))

    def note(self) -> str:
        """How the document size was measured, for the sizing report."""
        return (
            f"measured: {self.store_bytes:,} B primary store / {self.docs:,} result documents of {self.index} "
            f"= {self.bytes_per_doc:,} B per document"
        )


def result_doc_size(client: Any, index: str | None = None) -> ResultDocSize | None:
    """Primary store bytes / top-level result documents of a detector's result indices; None without any.

    ``index`` is the detector's custom result index (alias or pattern), else the plugin's default
    ``.opendistro-anomaly-results*``. The document count is ``_count`` (top-level documents): the index
    stats' ``docs.count`` counts Lucene documents, which includes the nested ``feature_data``/``entity``
    objects of every result and would make a result look several times smaller. On the shared default
    index the bytes per document are an average over every detector writing there.
    """
    from hcad.transport import translate_errors

    target = index or DEFAULT_RESULT_INDEX
    params = {"expand_wildcards": "all", "ignore_unavailable": "true", "allow_no_indices": "true"}
    with translate_errors(f"reading the store size of {target}"):
        stats = client.transport.perform_request("GET", f"/{target}/_stats/store", params=params)
    store = (((stats.get("_all") or {}).get("primaries") or {}).get("store") or {}).get("size_in_bytes") or 0
    with translate_errors(f"counting the result documents of {target}"):
        body = client.transport.perform_request("GET", f"/{target}/_count", params=params)
    docs = int(body.get("count") or 0)
    if docs <= 0 or store <= 0:
        return None
    return ResultDocSize(target, int(store), docs)
