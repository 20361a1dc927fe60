"""A sizing plan's evaluation: :func:`evaluate` turns a :class:`~hcad.sizing.plan.SizingPlan` into a
:class:`SizingReport` whose ``to_text()`` shows each formula with its numbers and ``to_dict()`` is
JSON-ready; instance-type comparison, fitting on a measured cluster and the nodes curve.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from hcad.errors import ConfigError
from hcad.sizing import capacity as cap
from hcad.sizing import model_size as ms
from hcad.sizing.capacity import Units
from hcad.sizing.plan import DetectorSpec, SizingPlan
from hcad.sizing.prices import PriceTable

# ----------------------------------------------------------------------------------------------------------
# Evaluation


def _per_interval(minutes: int, interval_minutes: Fraction | float) -> str:
    """``120 / 10 min``, or ``7200 / 20 s`` for an interval in seconds (the report's formulas)."""
    exact = cap.exact_minutes(interval_minutes)
    if exact.denominator == 1:
        return f"{minutes} / {exact.numerator} min"
    seconds = exact * 60
    if seconds.denominator == 1:
        return f"{minutes * 60} / {seconds.numerator} s"
    return f"{minutes} / {float(exact):g} min"


@dataclass(frozen=True)
class DetectorResult:
    """One detector's numbers: entities used, model size and result storage."""

    name: str
    entities: int | None
    active_entities: int | None
    interval_minutes: Fraction | float
    cache_intervals: int
    bound: int | None
    used: int
    reason: str
    model_size: int
    model_size_source: str
    model_size_explain: str
    docs_per_interval: int
    storage: cap.ResultStorage
    doc_bytes: int = cap.DEFAULT_DOC_BYTES
    doc_size_source: str = DetectorSpec.doc_size_source

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entities": self.entities,
            "active_entities": self.active_entities,
            "interval_minutes": float(self.interval_minutes),
            "interval": cap.format_interval(self.interval_minutes),
            "cache_intervals": self.cache_intervals,
            "cache_bound": self.bound,
            "entities_used": self.used,
            "entities_used_reason": self.reason,
            "model_size_bytes": self.model_size,
            "model_size_source": self.model_size_source,
            "model_size_explain": self.model_size_explain,
            "result_doc_bytes": self.doc_bytes,
            "result_doc_bytes_source": self.doc_size_source,
            "result_docs_per_interval": self.docs_per_interval,
            "result_docs_per_day": self.storage.docs_per_day,
            "result_bytes_per_day": self.storage.bytes_per_day,
        }


@dataclass(frozen=True)
class TypeOption:
    """One instance type evaluated for the same workload."""

    instance_type: str
    ram_gib: float
    heap_bytes: int
    models_per_node: int
    data_nodes: int
    hourly_usd: float | None = None  # one node, On-Demand (hcad/sizing/prices.json); None: not in the table
    monthly_usd: float | None = None  # data_nodes x hourly x hours per month

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_type": self.instance_type,
            "ram_gib": self.ram_gib,
            "heap_bytes": self.heap_bytes,
            "models_per_node": self.models_per_node,
            "data_nodes": self.data_nodes,
            "hourly_usd_per_node": self.hourly_usd,
            "monthly_usd": self.monthly_usd,
        }


@dataclass
class SizingReport:
    """Everything :func:`evaluate` found; ``to_text()`` for people, ``to_dict()`` for scripts."""

    plan: SizingPlan
    units: Units
    heap_bytes: int
    heap_source: str
    percent: float
    percent_source: str
    budget_bytes: int
    overhead: float
    detectors: list[DetectorResult]
    max_model_size: int
    models_per_node: int
    total_entities: int
    memory_nodes: int
    data_nodes: int
    constraints: dict[str, int]
    binding_constraint: str
    models_per_node_at_d: int
    used_bytes_per_node: int
    headroom_bytes: int
    headroom_fraction: float
    storage: cap.ResultStorage
    shards: cap.ShardGuidance
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    comparison: list[TypeOption] = field(default_factory=list)
    fit: dict[str, Any] | None = None
    # hcad's correction of N and D for the plugin's dedicated cache (see cap.models_held_per_node).
    models_per_node_corrected: int = 0
    data_nodes_corrected: int = 0

    @property
    def unit_convention(self) -> str:
        """The sentence stating the unit convention (present in every output)."""
        return cap.convention_note(self.units)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result; byte counts are plain integers, ``units`` says how text output scales them."""
        return {
            "plan": self.plan.name,
            "plugin_version": self.plan.plugin_version,
            "units": self.units,
            "unit_convention": self.unit_convention,
            "heap_bytes": self.heap_bytes,
            "heap_source": self.heap_source,
            "model_max_size_percent": self.percent,
            "model_max_size_percent_source": self.percent_source,
            "ad_budget_bytes_per_node": self.budget_bytes,
            "overhead": self.overhead,
            "detectors": [d.to_dict() for d in self.detectors],
            "max_model_size_bytes": self.max_model_size,
            "models_per_node": self.models_per_node,
            "total_entities": self.total_entities,
            "data_nodes": self.data_nodes,
            "data_nodes_by_constraint": dict(self.constraints),
            "binding_constraint": self.binding_constraint,
            "models_per_node_at_data_nodes": self.models_per_node_at_d,
            "models_per_node_corrected": self.models_per_node_corrected,
            "data_nodes_corrected": self.data_nodes_corrected,
            "model_bytes_per_node": self.used_bytes_per_node,
            "headroom_bytes_per_node": self.headroom_bytes,
            "headroom_fraction": round(self.headroom_fraction, 6),
            "storage": {
                "docs_per_day": self.storage.docs_per_day,
                "bytes_per_day": self.storage.bytes_per_day,
                "retention_days": self.storage.retention_days,
                "replicas": self.storage.replicas,
                "retained_primary_bytes": self.storage.retained_primary_bytes,
                "retained_total_bytes": self.storage.retained_total_bytes,
                "provisioned_bytes_aws": self.storage.provisioned_bytes,
            },
            "shards": {
                "result_primaries_per_index": self.shards.result_primaries_per_index,
                "min_primary_shards": self.shards.min_primary_shards,
                "max_primary_shards": self.shards.max_primary_shards,
                "shard_limit_per_node": self.shards.shard_limit_per_node,
                "notes": list(self.shards.notes),
            },
            "comparison": [o.to_dict() for o in self.comparison],
            "fit": self.fit,
            "steps": list(self.steps),
            "warnings": list(self.warnings),
        }

    def to_text(self) -> str:
        """A readable report: the answer first, then every step with its numbers."""
        u = self.units
        lines = [
            f"HCAD sizing: {self.plan.name} (plugin {self.plan.plugin_version})",
            self.unit_convention,
            "",
            f"  data nodes needed        {self.data_nodes:,}  (binding: {self.binding_constraint})",
            f"  entity models per node   {self.models_per_node:,} max, {self.models_per_node_at_d:,} at "
            f"{self.data_nodes:,} nodes",
        ]
        if (self.models_per_node_corrected, self.data_nodes_corrected) != (self.models_per_node, self.data_nodes):
            lines.append(
                f"  corrected (hcad)         N' = {self.models_per_node_corrected:,} models per node, "
                f"D' = {self.data_nodes_corrected:,} data nodes (the published N, D ignore the dedicated cache)"
            )
        lines += [
            f"  AD memory per node       {fmt(self.used_bytes_per_node, u)} of {fmt(self.budget_bytes, u)} "
            f"(headroom {fmt(self.headroom_bytes, u)}, {self.headroom_fraction:.1%})",
            f"  results per day          {self.storage.docs_per_day:,} docs, {fmt(self.storage.bytes_per_day, u)}",
            f"  results retained         {fmt(self.storage.retained_primary_bytes, u)} primary, "
            f"{fmt(self.storage.retained_total_bytes, u)} with {self.storage.replicas} replica(s) over "
            f"{self.storage.retention_days:g} days",
            f"  disk to provision (AWS)  {fmt(self.storage.provisioned_bytes, u)}",
            "",
            "Steps:",
        ]
        lines += [f"  {i}. {s}" for i, s in enumerate(self.steps, 1)]
        lines += ["", "Shards:"] + [f"  - {n}" for n in self.shards.notes]
        if self.comparison:
            from hcad.sizing.prices import price_table

            lines += ["", "Instance types compared (cheapest per month first; unpriced last, fewest nodes first):"]
            for o in self.comparison:
                cost = f"${o.monthly_usd:>11,.2f}/month" if o.monthly_usd is not None else "  (no price in table)"
                lines.append(
                    f"  {o.instance_type:<14} RAM {o.ram_gib:>4g} GiB  heap {fmt(o.heap_bytes, u):>10}  "
                    f"N = {o.models_per_node:>7,}  D = {o.data_nodes:<4,} {cost}"
                )
            lines.append(f"  ({price_table().note()})")
        if self.fit:
            lines += ["", f"On {self.fit['data_nodes']} data nodes:"]
            lines.append(f"  entities that fit         {self.fit['entities_that_fit']:,}")
            if self.fit.get("entities_from_disk"):
                f = self.fit
                lines.append(
                    f"  in memory / from disk     {f['entities_in_memory']:,} / {f['entities_from_disk']:,} "
                    f"(of those, per interval: about {f['from_disk_scored_per_interval']:,} scored from "
                    f"checkpoints, {f['from_disk_unscored_per_interval']:,} not scored)"
                )
                lines.append(
                    "  which: the plugin keeps the most frequent entities (time-decayed hit count); the rarest "
                    "are read from disk"
                )
            sp = self.fit.get("smallest_percent")
            lines.append(
                "  smallest model_max_size_percent  "
                + (f"{sp}" if sp is not None else f"none within the plugin's limit ({self.fit['percent_max']})")
            )
            st = self.fit.get("smallest_instance_type")
            lines.append(f"  smallest instance type    {st or 'none in the catalog'}")
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)


def fmt(n: float, units: Units) -> str:
    """Bytes in the report's unit convention."""
    return cap.fmt_bytes(n, units)


def _model_size(spec: DetectorSpec, version: str) -> tuple[int, str, str]:
    if spec.model_size is not None:
        src = spec.model_size_source
        return spec.model_size, src, f"{src}: {spec.model_size:,} bytes"
    est = ms.estimate_entity_model_size(spec.features, spec.shingle_size, version)
    return est.bytes, "estimated", est.explain()


def _detector_result(spec: DetectorSpec, plan: SizingPlan) -> DetectorResult:
    if spec.entities is None and spec.active_entities is None:
        where = f"detector {spec.detector_id}" if spec.detector_id else f"index {spec.index}"
        raise ConfigError(
            f"detectors: {spec.name} has no entities or active_entities; add them to the plan or run "
            f"'hcad size PLAN --measure' to count them in {where}"
        )
    used, reason, bound = cap.entities_used(spec.entities, spec.active_entities, spec.interval_minutes)
    if not ms.caches_models(plan.plugin_version, float(spec.interval_minutes)):
        used = 0
        reason = (
            f"interval {cap.format_interval(spec.interval_minutes)} >= 1h on plugin {plan.plugin_version}: from 3.2 "
            "the plugin keeps no model of such a detector in memory, it reads them from checkpoints every interval"
        )
    size, source, explain = _model_size(spec, plan.plugin_version)
    known = [x for x in (spec.entities, spec.active_entities) if x is not None]
    docs = min(known)  # one result per active entity per interval
    storage = cap.result_storage(docs, spec.interval_minutes, spec.doc_bytes, plan.retention_days, plan.replicas)
    return DetectorResult(
        name=spec.name,
        entities=spec.entities,
        active_entities=spec.active_entities,
        interval_minutes=spec.interval_minutes,
        cache_intervals=cap.cache_intervals(spec.interval_minutes),
        bound=bound,
        used=used,
        reason=reason,
        model_size=size,
        model_size_source=source,
        model_size_explain=explain,
        docs_per_interval=docs,
        storage=storage,
        doc_bytes=spec.doc_bytes,
        doc_size_source=spec.doc_size_source,
    )


def _nodes_for(plan: SizingPlan, total: int, max_size: int, heap: int) -> tuple[int, int]:
    n = cap.models_per_node(heap, plan.percent, max_size)
    if n <= 0:
        return 0, 0
    return n, cap.data_nodes(total, n, plan.overhead)


def evaluate(plan: SizingPlan) -> SizingReport:
    """Size a plan: models per node, data nodes, headroom, storage, shards, with each step explained."""
    u = plan.units
    heap, heap_source = plan.heap()
    dets = [_detector_result(s, plan) for s in plan.detectors]
    max_size = max(d.model_size for d in dets)
    total = sum(d.used for d in dets)
    budget = cap.heap_budget(heap, plan.percent)
    n = budget // max_size
    if n <= 0:
        raise ConfigError(
            f"one node's AD budget ({fmt(budget, u)} = heap x {plan.percent}) is smaller than one "
            f"{max_size:,}-byte entity model: raise node.model_max_size_percent or use a larger instance type"
        )
    memory_nodes = cap.data_nodes(total, n, plan.overhead)
    constraints = {
        "AD model memory": memory_nodes,
        f"{plan.replicas} replica(s) need distinct nodes": plan.replicas + 1,
    }
    binding = max(constraints, key=lambda k: constraints[k])
    d_nodes = constraints[binding]
    at_d = math.ceil(total / d_nodes)
    used_bytes = at_d * max_size
    headroom = budget - used_bytes
    storage_total = _sum_storage([d.storage for d in dets], plan, d_nodes)
    shards = cap.shard_guidance(
        storage_total.retained_primary_bytes, plan.replicas, d_nodes, heap / cap.unit_names(u)[1]
    )

    steps: list[str] = []
    for d in dets:
        if d.bound is not None:
            steps.append(
                f"{d.name}: B = A x ceil({_per_interval(120, d.interval_minutes)}) = {d.active_entities:,} x "
                f"{d.cache_intervals} = {d.bound:,}"
            )
        steps.append(f"{d.name}: E = {d.used:,} ({d.reason})")
        steps.append(f"{d.name}: S = {d.model_size:,} bytes ({d.model_size_explain})")
    steps.append(f"H = {fmt(heap, u)} = {heap:,} bytes ({heap_source})")
    percent_source = plan.percent_note or "given"
    if plan.percent_note:
        steps.append(f"P = {plan.percent:g} ({plan.percent_note})")
    steps.append(
        f"N = floor(H x P / max(S)) = floor({heap:,} x {plan.percent:g} / {max_size:,}) = "
        f"floor({budget:,} / {max_size:,}) = {n:,} models per node"
    )
    steps.append(
        f"D = ceil({plan.overhead:g} x sum(E) / N) = ceil({plan.overhead:g} x {total:,} / {n:,}) = {memory_nodes:,}"
    )
    n_corr, d_corr = corrected_capacity(budget, max_size, [d.used for d in dets], plan.overhead, d_nodes)
    if (n_corr, d_corr) != (n, d_nodes):
        steps.append(
            f"corrected: each detector reserves {cap.DEFAULT_DEDICATED_CACHE} x S per node for its dedicated cache; "
            f"with ceil(E / D') of its entities per node it leaves the unused slots empty: N' = {n_corr:,} models "
            f"per node, D' = {d_corr:,} (published: N = {n:,}, D = {d_nodes:,})"
        )
    if binding != "AD model memory":
        steps.append(f"D = {d_nodes} because {binding} (memory alone needs {memory_nodes})")
    steps.append(
        f"at D = {d_nodes:,}: ceil({total:,} / {d_nodes:,}) = {at_d:,} models per node "
        f"x {max_size:,} bytes = "
        f"{fmt(used_bytes, u)} of the {fmt(budget, u)} budget; headroom {fmt(headroom, u)}"
    )
    for d in dets:
        st = d.storage
        steps.append(
            f"{d.name}: results/day = {d.docs_per_interval:,} x {_per_interval(1440, d.interval_minutes)} "
            f"= {st.docs_per_day:,} "
            f"docs x {plan_doc(plan, d.name):,} B = {fmt(st.bytes_per_day, u)} "
            f"(result document size: {next(s.doc_size_source for s in plan.detectors if s.name == d.name)})"
        )
    steps.append(
        f"retained = {fmt(storage_total.bytes_per_day, u)}/day x {plan.retention_days:g} days = "
        f"{fmt(storage_total.retained_primary_bytes, u)}; x (1 + {plan.replicas}) = "
        f"{fmt(storage_total.retained_total_bytes, u)}"
    )
    steps.append(
        f"AWS disk = retained x 1.1 (indexing) / 0.95 (OS reserve) / 0.8 (service, max 20 GiB per node) = "
        f"{fmt(storage_total.provisioned_bytes, u)}"
    )

    warnings: list[str] = []
    if plan.percent > 0.5:
        warnings.append(
            f"model_max_size_percent {plan.percent:g} leaves {1 - plan.percent:.0%} of the heap for indexing and search"
        )
    if headroom < 0:
        warnings.append("models exceed the AD budget at this node count; the plugin will load models from disk")
    if d_nodes > 200:
        warnings.append(f"{d_nodes} data nodes: consider larger instance types (compare:) or a higher percent")

    report = SizingReport(
        plan=plan,
        units=u,
        heap_bytes=heap,
        heap_source=heap_source,
        percent=plan.percent,
        percent_source=percent_source,
        budget_bytes=budget,
        overhead=plan.overhead,
        detectors=dets,
        max_model_size=max_size,
        models_per_node=n,
        total_entities=total,
        memory_nodes=memory_nodes,
        data_nodes=d_nodes,
        constraints=constraints,
        binding_constraint=binding,
        models_per_node_at_d=at_d,
        used_bytes_per_node=used_bytes,
        headroom_bytes=headroom,
        headroom_fraction=headroom / budget,
        storage=storage_total,
        shards=shards,
        steps=steps,
        warnings=warnings,
        models_per_node_corrected=n_corr,
        data_nodes_corrected=d_corr,
    )
    if len(dets) * cap.DEFAULT_DEDICATED_CACHE * max_size > budget:
        warnings.append(
            f"{len(dets)} detectors each reserve {cap.DEFAULT_DEDICATED_CACHE} x S per node but the budget holds "
            f"{budget // max_size} models: only {budget // (cap.DEFAULT_DEDICATED_CACHE * max_size)} of them get a "
            "cache on a node, the others' entities are all read from disk there"
        )
    if d_corr > d_nodes:
        warnings.append(
            f"detectors with fewer than {cap.DEFAULT_DEDICATED_CACHE} entities per node waste their dedicated cache: "
            f"{d_corr} data nodes, not {d_nodes}"
        )
    if plan.compare:
        report.comparison = compare_instance_types(plan, plan.compare)
    if plan.data_nodes:
        report.fit = fit_on_cluster(plan, plan.data_nodes)
    return report


def corrected_capacity(
    budget: int, model_size: int, entities: Sequence[int], overhead: float, published_nodes: int
) -> tuple[int, int]:
    """hcad's corrected (N', D'): models one node really holds and the data nodes that takes.

    Each detector's entities spread over D' nodes (``ceil(E / D')`` per node, the hash ring's even share);
    per node the plugin's cache rules apply (:func:`hcad.sizing.capacity.models_held_per_node`): a
    detector with fewer than ``dedicated_cache_size`` entities there leaves the rest of its reservation
    empty. D' is the smallest node count, from the published D up, where N'(D') with the overhead covers
    the entities. With every detector at ``dedicated_cache_size`` or more entities per node, N' = N, D' = D.
    """
    active = [e for e in entities if e > 0]
    if not active or len(active) * cap.DEFAULT_DEDICATED_CACHE * model_size > budget:
        # no detector, or not every detector's reservation fits one node: the plugin gives some detectors
        # no cache at all there (evaluate warns); no node count makes that right
        return budget // model_size, published_nodes

    def per_node(d: int) -> int:
        # N'(d) = floor((budget - sum over detectors of (dedicated - share) x S) / S): the reserved slots a
        # detector with fewer entities per node than its dedicated cache leaves empty are lost to the others.
        empty = sum(max(0, cap.DEFAULT_DEDICATED_CACHE - -(-e // d)) for e in active)
        return max(0, (budget - empty * model_size) // model_size)

    d = max(1, published_nodes)
    limit = 10 * d + 1000  # many tiny detectors can waste every slot; stop and report what was reached
    while d < limit and (per_node(d) <= 0 or math.ceil(overhead * sum(active) / per_node(d)) > d):
        d += 1
    return per_node(d), d


def plan_doc(plan: SizingPlan, name: str) -> int:
    """The result document size of the detector called ``name``."""
    return next(s.doc_bytes for s in plan.detectors if s.name == name)


def _sum_storage(parts: Iterable[cap.ResultStorage], plan: SizingPlan, nodes: int) -> cap.ResultStorage:
    parts = list(parts)
    primary = sum(p.retained_primary_bytes for p in parts)
    return cap.ResultStorage(
        docs_per_day=sum(p.docs_per_day for p in parts),
        bytes_per_day=sum(p.bytes_per_day for p in parts),
        retained_primary_bytes=primary,
        retained_total_bytes=sum(p.retained_total_bytes for p in parts),
        provisioned_bytes=cap.aws_provisioned_bytes(primary, plan.replicas, nodes),
        replicas=plan.replicas,
        retention_days=plan.retention_days,
    )


def _workload(plan: SizingPlan) -> tuple[int, int]:
    dets = [_detector_result(s, plan) for s in plan.detectors]
    return sum(d.used for d in dets), max(d.model_size for d in dets)


def compare_instance_types(
    plan: SizingPlan, types: Sequence[str], prices: PriceTable | None = None
) -> list[TypeOption]:
    """Each type's data-node count and monthly On-Demand cost for the plan's workload, cheapest first.

    Types with a price (``prices``, else the packaged table, :func:`hcad.sizing.prices.price_table`) come
    first by monthly cost (``D x $/hour x 730``), then fewer nodes, less RAM and name; types without a
    price follow, fewest nodes first. Types where one node cannot hold a single model are left out.
    """
    if isinstance(types, str):  # one type, not its letters
        types = [types]
    from hcad.sizing.instances import get_instance_type
    from hcad.sizing.prices import price_table

    table = prices or price_table()
    total, max_size = _workload(plan)
    out: list[TypeOption] = []
    for name in dict.fromkeys(types):
        it = get_instance_type(name)
        heap = cap.heap_bytes_for_ram(it.ram_gib, plan.units)
        n, d = _nodes_for(plan, total, max_size, heap)
        if n > 0:
            nodes = max(d, plan.replicas + 1)
            out.append(
                TypeOption(
                    it.short_name, it.ram_gib, heap, n, nodes, table.hourly(it.short_name),
                    table.monthly(it.short_name, nodes),
                )
            )  # fmt: skip
    return sorted(
        out,
        key=lambda o: (
            o.monthly_usd is None, o.monthly_usd or 0.0, o.data_nodes, o.ram_gib, o.instance_type
        ),
    )  # fmt: skip


def fit_on_cluster(plan: SizingPlan, nodes: int) -> dict[str, Any]:
    """Reverse questions for a cluster of ``nodes`` data nodes like the plan's.

    Returns the entities that fit (with the overhead reserved, largest model size), the smallest
    ``model_max_size_percent`` (rounded up to 0.001) and the smallest catalog instance type that host
    the plan's workload on that many nodes (None when nothing within the plugin's limits does).
    """
    from hcad.sizing.instances import instance_types

    total, max_size = _workload(plan)
    heap, _ = plan.heap()
    fit = cap.entities_that_fit(nodes, heap, plan.percent, max_size, plan.overhead)
    lo, hi = ms.percent_range(plan.plugin_version)
    # Models each node must hold: ceil(overhead * total / nodes); P must give that many models of max_size.
    need = math.ceil(Fraction(str(plan.overhead)) * total / nodes)
    p = Fraction(need * max_size, heap)
    smallest = math.ceil(p * 1000) / 1000
    # The plugin truncates heap * P; step up until the truncated budget really holds `need` models.
    while smallest <= hi and cap.heap_budget(heap, smallest) // max_size < need:
        smallest = round(smallest + 0.001, 3)
    smallest_type = None
    for it in instance_types():
        h = cap.heap_bytes_for_ram(it.ram_gib, plan.units)
        n, d = _nodes_for(plan, total, max_size, h)
        if n > 0 and d <= nodes:
            smallest_type = it.short_name
            break
    # Entities beyond what the nodes hold are served from disk (checkpoints) by each node's cold-entity
    # worker, one per expected_cold_entity_execution_time (3 s) on average; a request older than one
    # interval is dropped, so per interval a node scores at most interval / 3 s of them.
    held = nodes * cap.models_per_node(heap, plan.percent, max_size) if heap * plan.percent >= max_size else 0
    interval_s = min(float(d.interval_minutes) for d in plan.detectors) * 60
    from_disk = max(0, total - held)
    cold_rate = nodes * int(interval_s * 1000 // cap.DEFAULT_COLD_ENTITY_MS)
    return {
        "data_nodes": nodes,
        "entities_that_fit": fit,
        "entities_in_memory": min(total, held),
        "entities_from_disk": from_disk,
        "from_disk_scored_per_interval": min(from_disk, cold_rate),
        "from_disk_unscored_per_interval": max(0, from_disk - cold_rate),
        "workload_entities": total,
        "fits": fit >= total,
        "smallest_percent": smallest if lo < smallest <= hi else None,
        "percent_max": hi,
        "smallest_instance_type": smallest_type,
    }


def nodes_curve(plan: SizingPlan, types: Sequence[str], entity_counts: Sequence[int]) -> dict[str, list[int]]:
    """Data nodes needed per instance type for each total entity count (for plotting)."""
    from hcad.sizing.instances import get_instance_type

    _, max_size = _workload(plan)
    out: dict[str, list[int]] = {}
    for name in dict.fromkeys(types):
        it = get_instance_type(name)
        heap = cap.heap_bytes_for_ram(it.ram_gib, plan.units)
        n = cap.models_per_node(heap, plan.percent, max_size)
        if n > 0:
            out[it.short_name] = [max(cap.data_nodes(c, n, plan.overhead), plan.replicas + 1) for c in entity_counts]
    return out
