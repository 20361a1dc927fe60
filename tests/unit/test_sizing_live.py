"""hcad.sizing.live: which heap and which model_max_size_percent a measured cluster gives (response shapes
from OpenSearch 2.19 ``_nodes/stats/jvm`` and ``_cluster/settings?include_defaults&flat_settings``)."""

from __future__ import annotations

import pytest

from hcad.errors import ConfigError
from hcad.sizing import SizingPlan, evaluate
from hcad.sizing.live import ClusterFacts, apply_cluster_facts, data_node_heaps, effective_percent

KEY = "plugins.anomaly_detection.model_max_size_percent"
LEGACY = "opendistro.anomaly_detection.model_max_size_percent"


def _node(name: str, roles: list[str], heap: int) -> dict:
    return {"name": name, "roles": roles, "jvm": {"mem": {"heap_max_in_bytes": heap, "heap_used_in_bytes": 1}}}


def test_only_data_nodes_count_and_the_smallest_heap_is_kept_apart() -> None:
    stats = {
        "nodes": {
            "a": _node("data-1", ["data", "ingest"], 32 * 2**30),
            "b": _node("data-2", ["data_hot"], 16 * 2**30),
            "c": _node("master-1", ["cluster_manager"], 4 * 2**30),  # holds no models
        }
    }
    assert data_node_heaps(stats) == {"data-1": 32 * 2**30, "data-2": 16 * 2**30}


@pytest.mark.parametrize(
    ("settings", "value", "source"),
    [
        ({"transient": {KEY: "0.3"}, "persistent": {KEY: "0.5"}, "defaults": {KEY: "0.1"}}, 0.3, "(transient)"),
        ({"transient": {}, "persistent": {KEY: "0.5"}, "defaults": {KEY: "0.1"}}, 0.5, "(persistent)"),
        ({"persistent": {LEGACY: "0.4"}, "defaults": {KEY: "0.1"}}, 0.4, f"{LEGACY} = 0.4 (persistent)"),
        # The new key wins over the legacy one whatever their scopes.
        ({"transient": {LEGACY: "0.3"}, "persistent": {KEY: "0.2"}}, 0.2, f"{KEY} = 0.2 (persistent)"),
        ({"transient": {}, "persistent": {}, "defaults": {KEY: "0.1"}}, 0.1, "(default)"),
    ],
)
def test_setting_precedence(settings: dict, value: float, source: str) -> None:
    got, why = effective_percent(settings)
    assert got == value and why.endswith(source)


def test_no_setting_at_all_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="--percent"):
        effective_percent({"transient": {}, "persistent": {}, "defaults": {}})


def test_measured_node_replaces_the_plan_node_unless_kept() -> None:
    plan = SizingPlan.from_dict(
        {
            "node": {"instance_type": "r6g.2xlarge", "model_max_size_percent": 0.5},
            "detectors": [{"name": "a", "entities": 1000}],
        }
    )
    facts = ClusterFacts(2**30, "n1", 3, 0.137, f"{KEY} = 0.137 (transient)", "2.19.4.0")
    report = evaluate(apply_cluster_facts(plan, facts))
    # By hand: (long) (1,073,741,824 x 0.137) = 147,102,629 B; / 400,768 = 367.05 -> 367 models per node.
    assert (report.heap_bytes, report.budget_bytes, report.models_per_node) == (2**30, 147_102_629, 367)
    assert report.heap_source.startswith("measured: jvm.mem.heap_max_in_bytes of data node n1, the smallest of 3")
    assert report.percent_source == f"measured: cluster setting {KEY} = 0.137 (transient)"
    assert report.fit is not None and report.fit["data_nodes"] == 3
    assert report.plan.plugin_version == "2.19"
    kept = apply_cluster_facts(plan, facts, frozenset({"heap", "percent"}))
    assert (kept.instance_type, kept.heap_bytes, kept.percent) == ("r6g.2xlarge", None, 0.5)


def test_measure_cluster_reads_the_three_endpoints() -> None:
    from fake_transport import recording_client

    from hcad.sizing.live import measure_cluster

    seen: list[tuple[str, dict]] = []

    def handle(method: str, url: str, params: dict, body: object) -> tuple[int, object]:
        seen.append((url, params))
        if url == "/_nodes/stats/jvm":
            nodes = {"a": _node("big", ["data"], 31 * 2**30), "b": _node("small", ["data"], 15 * 2**30)}
            return 200, {"nodes": nodes}
        if url == "/_cluster/settings":
            return 200, {"persistent": {KEY: "0.25"}, "transient": {}, "defaults": {}}
        if url == "/_cat/plugins":
            return 200, [{"component": "opensearch-anomaly-detection", "version": "2.13.0.0"}]
        return 404, {"error": url}

    facts = measure_cluster(recording_client(handle))
    assert (facts.heap_bytes, facts.heap_node, facts.data_nodes) == (15 * 2**30, "small", 2)
    assert (facts.percent, facts.plugin_version) == (0.25, "2.13.0.0")
    assert ("/_cluster/settings", {"include_defaults": "true", "flat_settings": "true"}) in seen
