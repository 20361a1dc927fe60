"""Per-node capacity: the published N = floor(H x P / S), the plugin's cache rules (hcad's correction),
the AD stats parsing for models held per node, and the bytes per result document."""

from __future__ import annotations

from typing import Any

import pytest

from hcad.sizing.capacity import models_held_per_node, models_per_node
from hcad.sizing.live import ResultDocSize, held_models_by_node, nodes_predicted_vs_held, result_doc_size

S = 400_768  # 1 feature, shingle 8, plugin 2.19
HEAP = 671_088_640  # -Xmx640m


def test_one_detector_with_enough_entities_is_the_published_formula() -> None:
    # budget = trunc(671,088,640 x 0.02) = 13,421,772; reserved 10 x S, shared floor((13,421,772 - 4,007,680) / S) = 23
    budget = int(HEAP * 0.02)
    assert budget == 13_421_772
    assert models_per_node(HEAP, 0.02, S) == 33
    assert models_held_per_node(budget, S) == 33
    assert models_held_per_node(budget, S, entities_on_node=[53]) == 33


def test_a_node_never_holds_more_than_the_entities_routed_to_it() -> None:
    budget = int(HEAP * 0.02)
    assert models_held_per_node(budget, S, entities_on_node=[28]) == 28
    assert models_held_per_node(budget, S, entities_on_node=[10]) == 10


def test_unused_dedicated_slots_of_small_detectors_are_lost() -> None:
    # Two detectors on a node: one with 3 entities there, one with 100. Each reserves 10 x S = 20 x S in all;
    # the small one uses 3 of its 10, the big one 10 + floor((33.49 S - 20 S) / S) = 10 + 13 shared.
    budget = int(HEAP * 0.02)
    assert models_held_per_node(budget, S, entities_on_node=[3, 100]) == 3 + 10 + 13
    assert models_held_per_node(budget, S, entities_on_node=[3, 100]) < models_per_node(HEAP, 0.02, S)


def test_a_detector_whose_reservation_does_not_fit_gets_no_cache() -> None:
    # budget of 25 models: two reservations of 10 fit, the third does not (20 + 10 > 25).
    budget = 25 * S
    assert models_held_per_node(budget, S, entities_on_node=[50, 50, 50]) == 25
    assert models_held_per_node(budget, S, entities_on_node=[1, 1, 50]) == 2
    assert models_held_per_node(0, S) == 0


def _stats(counts: dict[str, int]) -> dict[str, Any]:
    return {
        "anomaly_detectors_index_status": "green",
        "nodes": {
            n: {"model_count": c, "models": [{"model_id": f"m{i}"} for i in range(c)]} for n, c in counts.items()
        },
    }


def test_held_models_come_from_model_count_per_node() -> None:
    assert held_models_by_node(_stats({"a": 33, "b": 31})) == {"a": 33, "b": 31}
    assert held_models_by_node({"nodes": {"a": {"models": [{}, {}]}}}) == {"a": 2}


def test_predicted_vs_held_per_data_node() -> None:
    nodes = {
        "nodes": {
            "a": {"name": "n1", "roles": ["data"], "jvm": {"mem": {"heap_max_in_bytes": HEAP}}},
            "b": {"name": "n2", "roles": ["data"], "jvm": {"mem": {"heap_max_in_bytes": 2 * HEAP}}},
            "c": {"name": "m", "roles": ["cluster_manager"], "jvm": {"mem": {"heap_max_in_bytes": HEAP}}},
        }
    }
    rows = nodes_predicted_vs_held(nodes, _stats({"a": 33, "b": 60}), 0.02, S)
    assert [(r.name, r.predicted, r.held, r.difference) for r in rows] == [("n1", 33, 33, 0), ("n2", 66, 60, -6)]
    assert rows[0].to_dict()["budget_bytes"] == 13_421_772


class _Transport:
    def __init__(self, store: int, count: int) -> None:
        self.store, self.count, self.calls = store, count, []

    def perform_request(self, method: str, path: str, params: Any = None, body: Any = None) -> Any:
        self.calls.append(path)
        if path.endswith("/_stats/store"):
            return {
                "_all": {
                    "primaries": {"store": {"size_in_bytes": self.store}},
                    "total": {"store": {"size_in_bytes": 2 * self.store}},
                }
            }
        return {"count": self.count}


class _Client:
    def __init__(self, store: int, count: int) -> None:
        self.transport = _Transport(store, count)


def test_result_doc_size_is_primary_store_over_top_level_documents() -> None:
    c = _Client(store=2_345_000, count=1_000)
    rd = result_doc_size(c)
    assert rd == ResultDocSize(".opendistro-anomaly-results*", 2_345_000, 1_000)
    assert rd.bytes_per_doc == 2_345 and "2,345 B per document" in rd.note()
    assert c.transport.calls == ["/.opendistro-anomaly-results*/_stats/store", "/.opendistro-anomaly-results*/_count"]
    assert result_doc_size(_Client(store=0, count=0)) is None
    assert result_doc_size(_Client(1, 1), "my-results").index == "my-results"


@pytest.mark.parametrize("entities", [0, -1])
def test_no_entities_no_models(entities: int) -> None:
    assert models_held_per_node(int(HEAP * 0.02), S, entities_on_node=[entities]) == 0


def test_corrected_capacity_in_the_plan_report() -> None:
    # Issue 15's live run: 640 MB heaps, P = 0.02, S = 400,768: published N = 33. A second detector with 6
    # entities has 2 per node on 3 nodes and leaves 8 of its 10 reserved slots empty: N'(3) = 33 - 8 = 25
    # (held on the live cluster: 24, 25, 26). Sized from scratch: at D' = 9 its share is 1 per node,
    # N' = floor(33.49 - 9) = 24 and ceil(1.2 x 165 / 24) = 9.
    from hcad.sizing import SizingPlan, evaluate
    from hcad.sizing.report import corrected_capacity

    budget = int(HEAP * 0.02)
    assert corrected_capacity(budget, S, [159, 6], 1.2, 6) == (24, 9)
    assert corrected_capacity(budget, S, [159], 1.2, 6) == (33, 6)  # no small detector: the published answer
    plan = SizingPlan.from_dict(
        {
            "name": "t",
            "node": {"heap": HEAP, "model_max_size_percent": 0.02},
            "detectors": [
                {"name": "big", "entities": 159, "interval": "1m", "model_size": S},
                {"name": "small", "entities": 6, "interval": "1m", "model_size": S},
            ],
        }
    )
    report = evaluate(plan)
    assert (report.models_per_node, report.data_nodes) == (33, 6)
    assert (report.models_per_node_corrected, report.data_nodes_corrected) == (24, 9)
    text = report.to_text()
    assert "N' = 24 models per node, D' = 9 data nodes" in text
    assert any("9 data nodes, not 6" in w for w in report.warnings)
    d = report.to_dict()
    assert d["data_nodes_corrected"] == 9 and d["data_nodes"] == 6


def test_too_many_detectors_for_their_reservations_is_a_warning() -> None:
    from hcad.sizing import SizingPlan, evaluate

    dets = [{"name": f"d{i}", "entities": 3, "interval": "1m", "model_size": S} for i in range(5)]
    report = evaluate(SizingPlan.from_dict({"name": "t", "node": {"heap": HEAP, "model_max_size_percent": 0.02},
                                            "detectors": dets}))  # fmt: skip
    assert any("only 3 of them get a cache" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("nodes", "entities", "percent", "expect"),
    [
        # issue 15, 3 nodes: 99 in memory, 60 from disk, 3 x 20 scored per minute: all 60 got 5 of 5 results
        (3, 159, 0.02, (99, 60, 60, 0)),
        # reference run, 1 node of 1 GiB, P = 0.01: 26 in memory, 54 from disk, 20 scored a minute (observed:
        # 25 entities got 8 of 10 results = 20 a minute, 29 got none)
        (1, 80, None, (26, 54, 20, 34)),
    ],
)
def test_entities_served_from_disk(nodes: int, entities: int, percent: float | None, expect: tuple) -> None:
    from hcad.sizing import SizingPlan
    from hcad.sizing.report import fit_on_cluster

    node = (
        {"heap": HEAP, "model_max_size_percent": percent}
        if percent
        else {"heap": 2**30, "model_max_size_percent": 0.01}
    )
    plan = SizingPlan.from_dict(
        {
            "name": "t",
            "node": node,
            "detectors": [{"name": "a", "entities": entities, "interval": "1m", "model_size": S}],
        }
    )
    fit = fit_on_cluster(plan, nodes)
    got = (fit["entities_in_memory"], fit["entities_from_disk"], fit["from_disk_scored_per_interval"],
           fit["from_disk_unscored_per_interval"])  # fmt: skip
    assert got == expect


def test_cli_per_node_table_shows_published_corrected_and_held() -> None:
    from types import SimpleNamespace

    from hcad.cli.size import _nodes, _nodes_text
    from hcad.sizing import SizingPlan, evaluate

    class T:
        def perform_request(self, method: str, path: str, params: Any = None, body: Any = None) -> Any:
            if path == "/_nodes/stats/jvm":
                jvm = {"mem": {"heap_max_in_bytes": HEAP}}
                return {
                    "nodes": {f"id{i}": {"name": f"hcad-local-{i}", "roles": ["data"], "jvm": jvm} for i in (1, 2, 3)}
                }
            assert path == "/_plugins/_anomaly_detection/stats"
            return _stats({"id1": 24, "id2": 25, "id3": 26})

    plan = SizingPlan.from_dict(
        {
            "name": "t",
            "node": {"heap": HEAP, "model_max_size_percent": 0.02},
            "detectors": [
                {"name": "big", "entities": 159, "interval": "1m", "model_size": S},
                {"name": "small", "entities": 6, "interval": "1m", "model_size": S},
            ],
        }
    )
    nodes = _nodes(SimpleNamespace(client=SimpleNamespace(transport=T())), evaluate(plan))
    rows = [(n["name"], n["predicted_models"], n["corrected_models"], n["held_models"]) for n in nodes["nodes"]]
    assert rows == [("hcad-local-1", 33, 25, 24), ("hcad-local-2", 33, 25, 25), ("hcad-local-3", 33, 25, 26)]
    text = _nodes_text(nodes)
    assert "published N" in text and "corrected" in text and "model_count" in text
