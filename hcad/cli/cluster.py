"""``hcad cluster``: what the cluster runs, as far as HCAD is concerned."""

from __future__ import annotations

from typing import Any

import click

from hcad.cli.common import CliContext, echo_json, echo_table, json_option, pass_cli
from hcad.transport import AD_PLUGIN, ALERTING_PLUGIN, JOB_SCHEDULER_PLUGIN, NOTIFICATIONS_PLUGIN

# What each hcad feature needs on the cluster.
NEEDED = {
    JOB_SCHEDULER_PLUGIN: "detectors (real-time jobs)",
    AD_PLUGIN: "detectors, results, sizing --measure",
    ALERTING_PLUGIN: "monitors",
    "opensearch-notifications-core": "channels",
    NOTIFICATIONS_PLUGIN: "channels",
}


@click.command("cluster")
@json_option
@pass_cli
def cluster(cli: CliContext, as_json: bool) -> None:
    """The cluster's OpenSearch version, which of the plugins hcad uses are installed, and the
    anomaly-detection plugin's counts: detectors (HC and single-stream) and models in memory per node."""
    client = cli.client
    version = ".".join(map(str, client.version))
    installed = sorted(client.installed_plugins)
    out: dict[str, Any] = {
        "url": client.settings.url,
        "version": version,
        "plugins": installed,
        "missing": {p: why for p, why in NEEDED.items() if p not in installed},
    }
    if AD_PLUGIN in installed:
        stats = client.ad.stats()
        nodes = stats.get("nodes") or {}
        out["ad"] = {
            "detectors": stats.get("detector_count"),
            "hc_detectors": stats.get("hc_detector_count"),
            "single_stream_detectors": stats.get("single_stream_detector_count"),
            "models_per_node": {n: int(v.get("model_count") or 0) for n, v in sorted(nodes.items())},
        }
    if as_json:
        echo_json(out)
        return
    click.echo(f"{out['url']}: OpenSearch {version}")
    rows = [(p, "installed" if p in installed else "MISSING", use) for p, use in NEEDED.items()]
    echo_table(rows, ["plugin", "state", "hcad uses it for"])
    if "ad" in out:
        ad = out["ad"]
        click.echo(
            f"anomaly detection: {ad['detectors']} detectors ({ad['hc_detectors']} high-cardinality, "
            f"{ad['single_stream_detectors']} single-stream)"
        )
        echo_table(sorted(ad["models_per_node"].items()), ["node", "models in memory"])
