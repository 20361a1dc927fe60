"""``hcad size``: capacity plan for HCAD from a plan file or flags, optionally measured live."""

from __future__ import annotations

import sys
from typing import Any

import click

from hcad.cli.common import CliContext, echo_json, json_option, pass_cli
from hcad.errors import ConfigError


@click.command("size")
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@click.option("--entities", "-c", type=int, help="Total entity count C (one detector, no plan file).")
@click.option("--active", "-a", type=int, help="Maximum active entities per interval A.")
@click.option("--interval", default=None, help="Detector interval: minutes or 10m, 1h [10m].")
@click.option("--features", type=int, help="Enabled features of the detector [1].")
@click.option("--shingle", type=int, help="Shingle size [8].")
@click.option("--model-size", help="Entity model size (bytes, 471KB, 1MiB); else estimated.")
@click.option("--instance-type", "-t", help="Data-node instance type, e.g. r6g.2xlarge.")
@click.option("--heap", help="Node heap instead of an instance type, e.g. 32GB, 31GiB.")
@click.option("--percent", "-p", type=float, help="model_max_size_percent [0.1].")
@click.option("--overhead", type=float, help="Memory overhead factor [1.2].")
@click.option("--nodes", type=int, help="Data nodes of an existing cluster: what fits on it.")
@click.option("--replicas", type=int, help="Result index replicas [1].")
@click.option("--retention-days", type=float, help="Result retention in days [30].")
@click.option("--plugin-version", help="AD plugin version to size for [2.19].")
@click.option("--units", type=click.Choice(["decimal", "binary"]), help="Unit convention [decimal].")
@click.option("--compare", "compare", multiple=True, help="Instance type to compare (repeatable).")
@click.option(
    "--measure",
    is_flag=True,
    help="Read the cluster: data-node heap and count, model_max_size_percent, AD plugin version, and C, A "
    "and S for the plan's detectors that name an index or detector_id (flags still win).",
)
@click.option("--from", "start", help="Start of the measured range (ISO date or now-7d).")
@click.option("--to", "end", help="End of the measured range [now].")
@click.option("--exact", is_flag=True, help="Count active entities exactly (composite) when measuring.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a PNG of data nodes vs entity count.")
@json_option
@pass_cli
def size(cli: CliContext, plan_file: str | None, as_json: bool, **opts: Any) -> None:
    """Data nodes, memory and result storage for HCAD detectors.

    Give a plan file (see sizing/README.md) or describe one detector with flags; flags override the
    plan's node and result settings. Every report states its unit convention.

    \b
    Examples:
      hcad size sizing/blog-million-entities.yaml
      hcad size -c 1000000 --features 2 -t r6g.2xlarge -p 0.5
      hcad size sizing/fleet-500-servers.yaml --measure --from now-7d --json
    """
    from hcad.sizing import evaluate

    if (opts.get("start") or opts.get("end")) and not opts["measure"]:
        raise ConfigError("--from and --to set the range --measure counts in; add --measure")
    plan = _build_plan(plan_file, opts)
    if opts["measure"]:
        from hcad.times import parse_time

        # Checked before anything is asked of the cluster, and sent as checked; a flag overrides the plan.
        for flag, opt, key, value in (("--from", "start", "from", plan.measure_from),
                                      ("--to", "end", "to", plan.measure_to)):  # fmt: skip
            opts[opt] = parse_time(value, flag if opts.get(opt) else f"{plan_file}: measure.{key}")
        if opts["start"] is not None and opts["end"] is not None and opts["end"] <= opts["start"]:
            raise ConfigError("the measured range ends before it starts: --to must be after --from")
        plan = _measure(cli, plan, opts, quiet=as_json)
    report = evaluate(plan)
    nodes = _nodes(cli, report) if opts["measure"] else None
    if opts["plot"]:
        _plot(plan, report, opts["plot"])
    if as_json:
        out = report.to_dict()
        if nodes is not None:
            out["nodes_measured"] = nodes
        echo_json(out)
    else:
        click.echo(report.to_text())
        if nodes is not None:
            click.echo(_nodes_text(nodes))
        if opts["plot"]:
            click.echo(f"\nplot written to {opts['plot']}")


def _build_plan(plan_file: str | None, opts: dict[str, Any]) -> Any:
    from hcad.sizing import SizingPlan

    one = {
        k: opts[k]
        for k in ("entities", "active", "interval", "features", "shingle", "model_size")
        if opts.get(k) is not None
    }
    if plan_file:
        if one:
            raise ConfigError(f"--{next(iter(one)).replace('_', '-')} describes a detector; put it in {plan_file}")
        base = SizingPlan.from_yaml(plan_file).to_dict()
    else:
        if "entities" not in one and "active" not in one:
            raise ConfigError("give a plan file or --entities/--active (see 'hcad size --help')")
        det: dict[str, Any] = {"name": "detector"}
        names = {"active": "active_entities", "shingle": "shingle_size"}
        for key, value in one.items():
            det[names.get(key, key)] = value
        base = {"name": "command line", "detectors": [det], "node": {}}
    node = dict(base.get("node") or {})
    if opts.get("instance_type"):
        node["instance_type"] = opts["instance_type"]
        node.pop("heap", None)
    if opts.get("heap"):
        node["heap"] = opts["heap"]
        node.pop("instance_type", None)
    for key, name in (("percent", "model_max_size_percent"), ("overhead", "overhead"), ("nodes", "data_nodes")):
        if opts.get(key) is not None:
            node[name] = opts[key]
    base["node"] = node
    results = dict(base.get("results") or {})
    for key in ("replicas", "retention_days"):
        if opts.get(key) is not None:
            results[key] = opts[key]
    base["results"] = results
    if opts.get("plugin_version"):
        base["plugin_version"] = opts["plugin_version"]
    if opts.get("units"):
        base["units"] = opts["units"]
    if opts.get("compare"):
        base["compare"] = list(opts["compare"])
    if opts.get("start") or opts.get("end"):
        base["measure"] = {k: v for k, v in (("from", opts.get("start")), ("to", opts.get("end"))) if v}
    return SizingPlan.from_dict(base, source=plan_file or "command line")


def _measure(cli: CliContext, plan: Any, opts: dict[str, Any], quiet: bool) -> Any:
    from tqdm import tqdm

    from hcad.sizing.entities import measure_plan
    from hcad.sizing.live import apply_cluster_facts, measure_cluster

    # The node the plan is sized for is the measured one, except what a flag fixes explicitly.
    keep = {
        name
        for name, flags in (
            ("heap", ("heap", "instance_type")),
            ("percent", ("percent",)),
            ("data_nodes", ("nodes",)),
            ("plugin_version", ("plugin_version",)),
        )
        if any(opts.get(f) is not None for f in flags)
    }
    plan = apply_cluster_facts(plan, measure_cluster(cli.client), frozenset(keep))
    if not any(s.detector_id or (s.index and s.category_fields) for s in plan.detectors):
        return plan  # nothing to count: the node facts alone were measured
    bar = tqdm(desc="measuring", unit=" buckets", file=sys.stderr, disable=quiet or not sys.stderr.isatty())
    try:
        return measure_plan(cli.client, plan, start=opts.get("start"), end=opts.get("end"),
                            exact=opts["exact"], progress=bar.update)  # fmt: skip
    finally:
        bar.close()


def _nodes(cli: CliContext, report: Any) -> dict[str, Any]:
    """Per data node: the published N = floor(H x P / S) and hcad's corrected one next to the models held."""
    from hcad.sizing.capacity import models_held_per_node
    from hcad.sizing.live import measure_nodes

    measured = measure_nodes(cli.client, report.max_model_size, report.percent)
    # The entities the hash ring routes to one node: each detector's E spread evenly over the data nodes.
    share = [-(-d.used // max(1, len(measured))) for d in report.detectors]
    rows = []
    for n in measured:
        d = n.to_dict()
        d["corrected_models"] = models_held_per_node(n.budget_bytes, report.max_model_size, entities_on_node=share)
        rows.append(d)
    return {
        "model_size_bytes": report.max_model_size,
        "model_max_size_percent": report.percent,
        "source": "held = model_count per node of GET _plugins/_anomaly_detection/stats",
        "nodes": rows,
    }


def _nodes_text(nodes: dict[str, Any]) -> str:
    lines = [
        "",
        f"Entity models per node, predicted vs held (S = {nodes['model_size_bytes']:,} B, "
        f"P = {nodes['model_max_size_percent']:g}; {nodes['source']}):",
        f"  {'node':<20}{'heap':>15}{'budget H x P':>15}{'published N':>13}{'corrected':>11}{'held':>7}",
    ]
    for n in nodes["nodes"]:
        held = "-" if n["held_models"] is None else f"{n['held_models']:,}"
        lines.append(
            f"  {n['name']:<20}{n['heap_bytes']:>15,}{n['budget_bytes']:>15,}{n['predicted_models']:>13,}"
            f"{n['corrected_models']:>11,}{held:>7}"
        )
    return "\n".join(lines)


def _plot(plan: Any, report: Any, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hcad.sizing import nodes_curve

    types = list(plan.compare) or [plan.instance_type or ""]
    if not all(types):
        raise ConfigError("--plot needs an instance type (-t) or --compare types; a bare --heap has no curve")
    total = max(report.total_entities, 1)
    counts = sorted({max(1, round(total * f / 20)) for f in range(1, 41)})  # up to 2x the workload
    curves = nodes_curve(plan, types, counts)
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, nodes in curves.items():
        ax.step(counts, nodes, where="post", label=name)
    ax.axvline(total, color="grey", linestyle=":", label=f"this plan: {total:,} entities")
    ax.set_xlabel("entities sized for (sum of E)")
    ax.set_ylabel("data nodes")
    ax.set_title(f"{plan.name}: max model {report.max_model_size:,} B, P={plan.percent:g} ({plan.units} units)")
    ax.legend()
    ax.grid(alpha=0.3)
    try:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    except OSError as e:
        raise ConfigError(f"cannot write plot {path!r}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
