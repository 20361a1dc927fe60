"""``hcad bridge``: run the CloudWatch → OpenSearch bridge outside Lambda.

The same code as the Lambda functions, in one process: ``run --once`` is one manager poll with
every shard worked in turn, ``run --every 60s`` repeats it, ``backfill`` reads a past window and
``redrive`` re-indexes dead letters. Dead letters go to the config's SQS queue when it names one,
else to a directory (``--dead-letters``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from hcad.cli.common import CliContext, echo_json, json_option, pass_cli

if TYPE_CHECKING:
    from hcad.bridge.dlq import DirDeadLetters, SqsDeadLetters
    from hcad.bridge.mapping import BridgeConfig
    from hcad.bridge.runner import Bridge, ShardResult

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    envvar="HCAD_BRIDGE_CONFIG",
    required=True,
    metavar="FILE",
    help="Bridge config (YAML/JSON) [env HCAD_BRIDGE_CONFIG]; see hcad/bridge/example-config.yaml.",
)
dlq_option = click.option(
    "--dead-letters",
    "dead_letters",
    metavar="DIR",
    help="Directory for dead letters when the config names no SQS queue [default ./hcad-bridge-dead-letters].",
)


@click.group()
def bridge() -> None:
    """CloudWatch → OpenSearch bridge: one document per host/process per period."""


def _load(cli: CliContext, config_path: str) -> BridgeConfig:
    from hcad.bridge.mapping import load_config

    config = load_config(config_path)
    # Global connection options (--url, --auth, ...) override the config's opensearch section.
    conn = {k: v for k, v in cli.conn.items() if v is not None}
    changes: dict[str, Any] = {
        k: conn[k] for k in ("url", "auth", "user", "password", "region", "service", "timeout") if k in conn
    }
    if "ca_certs" in conn:
        changes["ca_certs"] = conn["ca_certs"]
    if conn.get("insecure"):
        changes["verify"] = False
    if changes:
        config = dataclasses.replace(config, opensearch=dataclasses.replace(config.opensearch, **changes))
    return config


def _queue(config: BridgeConfig, dead_letters: str | None, session: Any) -> SqsDeadLetters | DirDeadLetters:
    from hcad.bridge.dlq import DirDeadLetters, SqsDeadLetters

    if config.dlq_url and not dead_letters:
        from botocore.config import Config

        sqs = session.client(
            "sqs",
            region_name=config.region,
            endpoint_url=config.sqs_endpoint,
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
        )
        return SqsDeadLetters(config.dlq_url, sqs)
    return DirDeadLetters(dead_letters or config.dlq_dir or "hcad-bridge-dead-letters")


def _check_credentials(session: Any) -> None:
    """One line instead of botocore's NoCredentialsError on the first call, before anything is written."""
    from hcad.bridge.fetch import CREDENTIALS_HINT
    from hcad.errors import AuthError

    if session.get_credentials() is None:
        raise AuthError(f"no AWS credentials found; {CREDENTIALS_HINT}")


def _build(cli: CliContext, config_path: str, dead_letters: str | None) -> Bridge:
    import boto3

    from hcad.bridge.fetch import CloudWatchFetcher, cloudwatch_client
    from hcad.bridge.runner import Bridge
    from hcad.bridge.sink import OpenSearchSink

    config = _load(cli, config_path)
    session = boto3.Session(region_name=config.region) if config.region else boto3.Session()
    if not session.region_name and not config.cloudwatch_endpoint:
        from hcad.errors import ConfigError

        raise ConfigError("no AWS region: set region in the bridge config or AWS_REGION")
    _check_credentials(session)
    fetcher = CloudWatchFetcher(cloudwatch_client(config, session), config)
    return Bridge(config, fetcher, OpenSearchSink(config.opensearch), _queue(config, dead_letters, session))


def _progress(total: int, as_json: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="shard", file=sys.stderr, disable=as_json or not sys.stderr.isatty())


def _summary(bridge: Bridge, results: list[ShardResult], seconds: float) -> dict[str, Any]:
    from hcad.bridge.mapping import iso

    starts = [r.start for r in results if r.end > r.start]
    ends = [r.completed_to for r in results if r.completed_to is not None]
    return {
        "index": bridge.config.index,
        "shards": len(results),
        "from": iso(min(starts)) if starts else None,
        "to": iso(max(ends)) if ends else None,
        "documents_indexed": sum(r.write.get("indexed", 0) for r in results),
        "dead_lettered": sum(r.write.get("dead_lettered", 0) for r in results),
        "retried_items": sum(r.write.get("retried_items", 0) for r in results),
        "get_metric_data_calls": sum(r.fetch.get("get_metric_data_calls", 0) for r in results),
        "list_metrics_calls": bridge.fetch_stats.list_metrics_calls,
        "throttled": sum(r.fetch.get("throttled", 0) for r in results),
        "seconds": round(seconds, 2),
    }


def _report(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(summary)
        return
    window = f"{summary['from']} → {summary['to']}" if summary["from"] else "nothing new to read"
    click.echo(
        f"{summary['index']}: {summary['documents_indexed']:,} documents from {summary['shards']} shard(s), "
        f"{window}; {summary['get_metric_data_calls']} GetMetricData call(s), {summary['throttled']} throttled, "
        f"{summary['seconds']} s"
    )
    if summary["dead_lettered"]:
        click.echo(
            f"{summary['dead_lettered']:,} document(s) went to the dead-letter queue; "
            "run 'hcad bridge redrive' once the cluster is healthy",
            err=True,
        )


def _poll(bridge: Bridge, as_json: bool) -> dict[str, Any]:
    from hcad.bridge.mapping import live_end

    t0 = time.monotonic()
    end = live_end(time.time(), bridge.config)
    shards = bridge.shards()
    results = []
    with _progress(len(shards), as_json, "polling") as bar:
        for s in shards:
            results.append(bridge.run_shard(s, end))
            bar.update(1)
    return _summary(bridge, results, time.monotonic() - t0)


@bridge.command("run")
@config_option
@click.option("--once", is_flag=True, help="Poll once and exit.")
@click.option("--every", metavar="DURATION", help="Poll every DURATION (e.g. 60s, 5m) until interrupted.")
@dlq_option
@json_option
@pass_cli
def run(
    cli: CliContext, config_path: str, once: bool, every: str | None, dead_letters: str | None, as_json: bool
) -> None:
    """Read the newest complete periods of the whole fleet and index them."""
    from hcad.bridge.mapping import parse_duration
    from hcad.errors import ConfigError

    if once == bool(every):
        raise ConfigError("give exactly one of --once or --every DURATION")
    interval = parse_duration(every, "--every") if every else 0
    if every and interval < 1:
        raise ConfigError("--every must be at least 1s")
    b = _build(cli, config_path, dead_letters)
    while True:
        summary = _poll(b, as_json)
        _report(summary, as_json)
        if once:
            if summary["dead_lettered"]:
                sys.exit(1)
            return
        # Wake just after the next period boundary (plus the lag already in the window logic).
        time.sleep(max(1.0, interval - time.time() % interval))


@bridge.command("backfill")
@config_option
@click.option("--from", "start", required=True, metavar="TIME",
              help="Start (inclusive): ISO-8601, epoch ms or now-2h (now-1d/d rounds down).")  # fmt: skip
@click.option("--to", "end", default="now", show_default=True, metavar="TIME", help="End (exclusive).")
@dlq_option
@json_option
@pass_cli
def backfill(cli: CliContext, config_path: str, start: str, end: str, dead_letters: str | None, as_json: bool) -> None:
    """Read a past window for the whole fleet; checkpoints move forward so live runs continue seamlessly."""
    from hcad.bridge.mapping import align_down, parse_time

    now = time.time()
    t_from = parse_time(start, "--from", now)
    b = _build(cli, config_path, dead_letters)
    # Never read periods younger than the lag: they are not complete yet.
    t_to = min(parse_time(end, "--to", now), align_down(now - b.config.lag, b.config.period))
    b.check_backfill(t_from, t_to)  # before listing the fleet
    t0 = time.monotonic()
    shards = b.shards()
    results = []
    with _progress(len(shards), as_json, "backfill") as bar:
        for s in shards:
            results.extend(b.backfill(t_from, t_to, shards=[s]))
            bar.update(1)
    summary = _summary(b, results, time.monotonic() - t0)
    _report(summary, as_json)
    if summary["dead_lettered"]:
        sys.exit(1)


@bridge.command("redrive")
@config_option
@dlq_option
@click.option("--max-messages", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Stop after this many dead-letter messages.")  # fmt: skip
@json_option
@pass_cli
def redrive(cli: CliContext, config_path: str, dead_letters: str | None, max_messages: int, as_json: bool) -> None:
    """Re-index dead letters, checking cluster health before each retry."""
    import boto3

    from hcad.bridge.dlq import redrive as do_redrive
    from hcad.bridge.sink import OpenSearchSink
    from hcad.errors import HcadConnectionError

    config = _load(cli, config_path)
    session = boto3.Session(region_name=config.region) if config.region else boto3.Session()
    if config.dlq_url and not dead_letters:
        _check_credentials(session)
    report = do_redrive(
        OpenSearchSink(config.opensearch), _queue(config, dead_letters, session), max_messages=max_messages
    )
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(
            f"re-drove {report.messages} message(s): {report.indexed:,} documents indexed, "
            f"{report.failed_again:,} failed again" + (f"; stopped: {report.stopped}" if report.stopped else "")
        )
    if report.stopped and report.stopped != "out of time":
        raise HcadConnectionError(f"re-drive stopped: {report.stopped}; the dead letters are kept")
