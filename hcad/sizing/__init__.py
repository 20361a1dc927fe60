"""Capacity sizing for HCAD: pure functions and plans, no network I/O (except :mod:`hcad.sizing.live`,
which reads a live cluster for ``hcad size --measure``, and :mod:`hcad.sizing.entities`, which counts
entities in a live index; neither is imported here).

Stable entry points::

    from hcad.sizing import SizingPlan, evaluate
    plan = SizingPlan.from_dict({...})          # or SizingPlan.from_yaml("sizing/blog-million-entities.yaml")
    report = evaluate(plan)
    print(report.to_text()); report.to_dict()

Building blocks: :func:`estimate_entity_model_size` (byte-exact with the AD plugin per version),
:func:`models_per_node`, :func:`data_nodes`, :func:`active_entity_bound`, :func:`result_storage`,
:func:`aws_provisioned_bytes`, and the reverse questions :func:`entities_that_fit`,
:func:`fit_on_cluster`, :func:`compare_instance_types`.
"""

from __future__ import annotations

from hcad.sizing.capacity import (
    UNITS,
    ResultStorage,
    ShardGuidance,
    Units,
    active_entity_bound,
    aws_provisioned_bytes,
    cache_intervals,
    convention_note,
    data_nodes,
    entities_that_fit,
    entities_used,
    exact_minutes,
    fmt_bytes,
    format_interval,
    heap_budget,
    heap_bytes_for_ram,
    models_per_node,
    result_storage,
    shard_guidance,
)
from hcad.sizing.model_size import (
    ModelSizeEstimate,
    estimate_entity_model_size,
    max_shingle_size,
    parse_plugin_version,
    percent_range,
    trcf_size_current,
    trcf_size_legacy,
    trees_for,
)
from hcad.sizing.plan import DetectorSpec, SizingPlan, parse_bytes, parse_interval
from hcad.sizing.report import (
    DetectorResult,
    SizingReport,
    TypeOption,
    compare_instance_types,
    evaluate,
    fit_on_cluster,
    nodes_curve,
)

__all__ = [
    "UNITS",
    "DetectorResult",
    "DetectorSpec",
    "ModelSizeEstimate",
    "ResultStorage",
    "ShardGuidance",
    "SizingPlan",
    "SizingReport",
    "TypeOption",
    "Units",
    "active_entity_bound",
    "aws_provisioned_bytes",
    "cache_intervals",
    "compare_instance_types",
    "convention_note",
    "data_nodes",
    "entities_that_fit",
    "entities_used",
    "estimate_entity_model_size",
    "evaluate",
    "exact_minutes",
    "fit_on_cluster",
    "fmt_bytes",
    "format_interval",
    "heap_budget",
    "heap_bytes_for_ram",
    "max_shingle_size",
    "models_per_node",
    "nodes_curve",
    "parse_bytes",
    "parse_interval",
    "parse_plugin_version",
    "percent_range",
    "result_storage",
    "shard_guidance",
    "trcf_size_current",
    "trcf_size_legacy",
    "trees_for",
]
