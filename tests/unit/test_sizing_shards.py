"""Shard guidance for the anomaly-result indices (hcad.sizing.shard_guidance and the report's Shards section).

Rules (shared/reference/sizing.md, AWS sizing guide; AD plugin ``IndexManagement.getNumberOfPrimaryShards``):
write-heavy shards hold 30-50 GiB; at most 25 shards per GiB of heap and 1,000 per node; the plugin gives
each result index min(eligible data nodes, ``max_primary_shards`` = 10) primaries. Every expected value
below is worked out by hand.
"""

from __future__ import annotations

from pathlib import Path

from hcad.sizing import SizingPlan, evaluate, shard_guidance
from hcad.sizing.capacity import GB, GiB

ROOT = Path(__file__).resolve().parents[2]


def test_blog_million_entities_shards() -> None:
    # 4,320 GB retained primary: 4.32e12 / (50 x 2^30) = 80.47 -> 81 shards at most 50 GiB each;
    # 4.32e12 / (30 x 2^30) = 134.11 -> 135 shards at least 30 GiB each. Heap 32 (GB, decimal plan):
    # 25 x 32 = 800 shards per node. 36 nodes -> min(36, 10) = 10 primaries per result index.
    g = shard_guidance(4_320 * GB, replicas=1, nodes=36, heap_gib=32)
    assert (g.min_primary_shards, g.max_primary_shards) == (81, 135)
    assert g.shard_limit_per_node == 800
    assert g.result_primaries_per_index == 10
    # 135 x 2 copies = 270 <= 36 x 800: no warning.
    assert len(g.notes) == 3 and not any("exceed" in n for n in g.notes)


def test_report_carries_the_same_guidance() -> None:
    report = evaluate(SizingPlan.from_yaml(ROOT / "sizing" / "blog-million-entities.yaml"))
    shards = report.to_dict()["shards"]
    assert shards["result_primaries_per_index"] == 10
    assert (shards["min_primary_shards"], shards["max_primary_shards"]) == (81, 135)
    assert shards["shard_limit_per_node"] == 800
    text = report.to_text()
    assert "min(data nodes, 10) = 10 primaries" in text
    assert "81-135 primary shards" in text
    assert "min(25 x heap GiB, 1000) = 800 shards" in text


def test_fewer_nodes_than_ten_give_one_primary_per_node() -> None:
    # 3 nodes: min(3, 10) = 3 primaries; 10 GiB retained fits one shard either way (ceil(10/50) = ceil(10/30) = 1).
    g = shard_guidance(10 * GiB, replicas=1, nodes=3, heap_gib=8)
    assert g.result_primaries_per_index == 3
    assert (g.min_primary_shards, g.max_primary_shards) == (1, 1)
    assert g.shard_limit_per_node == 200  # 25 x 8


def test_boundaries_are_exact() -> None:
    # Exactly 50 GiB is one shard at the upper target, exactly 30 GiB x 2 two at the lower one.
    assert shard_guidance(50 * GiB, 0, 1, 1).min_primary_shards == 1
    assert shard_guidance(50 * GiB + 1, 0, 1, 1).min_primary_shards == 2
    assert shard_guidance(60 * GiB, 0, 1, 1).max_primary_shards == 2
    # The per-node limit is capped at 1,000 shards: 25 x 64 = 1,600 -> 1,000.
    assert shard_guidance(GiB, 0, 1, 64).shard_limit_per_node == 1000


def test_too_many_copies_for_the_nodes_is_flagged() -> None:
    # 3,000 GiB -> 100 shards of 30 GiB; x (1 + 1) = 200 copies; 1 node with a 1 GiB heap carries 25.
    g = shard_guidance(3_000 * GiB, replicas=1, nodes=1, heap_gib=1)
    assert g.max_primary_shards == 100 and g.shard_limit_per_node == 25
    assert g.notes[-1] == "200 shard copies exceed 1 node(s) x 25: add nodes or shorten retention"
    # Eight such nodes carry 8 x 25 = 200: exactly enough, no warning.
    assert not any("exceed" in n for n in shard_guidance(3_000 * GiB, 1, 8, 1).notes)
