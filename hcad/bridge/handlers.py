"""AWS Lambda entry points: ``manager`` (schedule → one SQS message per shard), ``worker`` (SQS →
fetch and index one shard) and ``redrive`` (schedule → dead letters back into OpenSearch).

Configuration comes from the environment (set by ``scripts/lambda/template.yaml``):

=============================  ===============================================================
``HCAD_BRIDGE_CONFIG``         the bridge config: inline JSON, or a path (relative to the package)
``HCAD_BRIDGE_SHARD_QUEUE``    URL of the shard queue (overrides ``queues.shards``)
``HCAD_BRIDGE_DLQ``            URL of the dead-letter queue (overrides ``queues.dead_letters``)
``HCAD_URL`` / ``HCAD_AUTH``   the domain endpoint and ``sigv4`` (credentials refresh themselves)
=============================  ===============================================================

Clients are built once per warm container; the token bucket is shared by every call of an
invocation (and of the container). Handlers return small JSON-able summaries for the logs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from hcad.bridge.dlq import SqsDeadLetters
from hcad.bridge.dlq import redrive as redrive_letters
from hcad.bridge.fetch import CloudWatchFetcher, cloudwatch_client
from hcad.bridge.mapping import BridgeConfig, align_down, check_retention, iso, live_end, load_config, parse_time
from hcad.bridge.runner import Bridge, decode_shard, encode_shard, plan_shards
from hcad.bridge.sink import OpenSearchSink
from hcad.errors import ConfigError

log = logging.getLogger("hcad.bridge")
log.setLevel(logging.INFO)

_CACHE: dict[str, Any] = {}


def config_from_env(env: dict[str, str] | None = None) -> BridgeConfig:
    """The bridge config named by ``HCAD_BRIDGE_CONFIG``, with queue URLs from the environment."""
    env = dict(os.environ) if env is None else env
    source = env.get("HCAD_BRIDGE_CONFIG")
    if not source:
        raise ConfigError("HCAD_BRIDGE_CONFIG is not set: give inline JSON or the path of a config file")
    if not source.lstrip().startswith("{") and not os.path.isabs(source):
        source = str(Path(env.get("LAMBDA_TASK_ROOT", ".")) / source)
    config = load_config(source)
    return dataclasses.replace(
        config,
        shard_queue_url=env.get("HCAD_BRIDGE_SHARD_QUEUE") or config.shard_queue_url,
        dlq_url=env.get("HCAD_BRIDGE_DLQ") or config.dlq_url,
    )


def build(
    config: BridgeConfig,
    *,
    boto3_session: Any = None,
    cloudwatch: Any = None,
    sqs: Any = None,
    http_session: Any = None,
) -> tuple[Bridge, Any]:
    """A :class:`Bridge` writing dead letters to the config's SQS queue, and the SQS client."""
    import boto3
    from botocore.config import Config

    session = boto3_session or boto3.Session()
    if sqs is None:
        sqs = session.client(
            "sqs",
            region_name=config.region,
            endpoint_url=config.sqs_endpoint,
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
        )
    if not config.dlq_url:
        raise ConfigError("no dead-letter queue: set queues.dead_letters or HCAD_BRIDGE_DLQ")
    fetcher = CloudWatchFetcher(cloudwatch or cloudwatch_client(config, session), config)
    sink = OpenSearchSink(config.opensearch, session=http_session, boto3_session=session)
    return Bridge(config, fetcher, sink, SqsDeadLetters(config.dlq_url, sqs)), sqs


def _bridge() -> tuple[Bridge, Any]:
    if "bridge" not in _CACHE:
        _CACHE["bridge"] = build(config_from_env())
    bridge, sqs = _CACHE["bridge"]
    return bridge, sqs


def _time_left(context: Any) -> Any:
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000.0


def send_shards(
    bridge: Bridge, sqs: Any, now: float | None = None, *, start: int | None = None, end: int | None = None
) -> dict[str, Any]:
    """Discover the fleet, split it and enqueue one message per shard (the manager's work).

    Without ``start`` each shard reads its live window (checkpoint − overlap up to the newest period
    old enough); with ``start`` (and ``end``) the messages carry that window: a backfill, read by the
    same workers through the same queue, moving checkpoints forward to ``end`` at most.
    """
    config = bridge.config
    if not config.shard_queue_url:
        raise ConfigError("no shard queue: set queues.shards or HCAD_BRIDGE_SHARD_QUEUE")
    clock = time.time() if now is None else now
    if end is None:
        end = live_end(clock, config)
    if start is not None:
        start, end = align_down(start, config.period), align_down(end, config.period)
        if end <= start:
            raise ConfigError(f"backfill: to {iso(end)} must be after from {iso(start)}")
        check_retention(start, clock, config.period)
    shards = plan_shards(config, bridge.discover())
    bodies = [encode_shard(config, s, end, start) for s in shards]
    batch: list[dict[str, str]] = []
    size = 0
    sent = 0

    def flush() -> None:
        nonlocal batch, size, sent
        if not batch:
            return
        resp = sqs.send_message_batch(QueueUrl=config.shard_queue_url, Entries=batch)
        failed = resp.get("Failed") or []
        if failed:
            # Send the failed ones again, one by one; an exception here fails the invocation.
            by_id = {e["Id"]: e for e in batch}
            for f in failed:
                sqs.send_message(QueueUrl=config.shard_queue_url, MessageBody=by_id[f["Id"]]["MessageBody"])
        sent += len(batch)
        batch, size = [], 0

    for i, body in enumerate(bodies):
        # A batch holds 10 messages and 256 KiB in all.
        if len(batch) == 10 or size + len(body) > 250_000:
            flush()
        batch.append({"Id": f"s{i}", "MessageBody": body})
        size += len(body)
    flush()
    return {
        "start": start,
        "end": end,
        "shards": len(shards),
        "messages": sent,
        "entities": sum(len(s.entities) for s in shards),
        "list_metrics_calls": bridge.fetch_stats.list_metrics_calls,
    }


def manager(event: Any, context: Any) -> dict[str, Any]:
    """EventBridge schedule → one SQS message per shard.

    An event ``{"backfill": {"from": "2025-01-31T00:00Z", "to": "now-2m"}}`` (a manual invocation)
    enqueues that past window for every shard instead of the live one (times as ``hcad bridge backfill``).
    """
    bridge, sqs = _bridge()
    backfill = event.get("backfill") if isinstance(event, dict) else None
    if backfill is not None:
        if not isinstance(backfill, dict) or "from" not in backfill:
            raise ConfigError('manager event: backfill must be {"from": <time>, "to": <time, default now>}')
        now = time.time()
        start = parse_time(str(backfill["from"]), "backfill.from", now)
        end = parse_time(str(backfill.get("to") or "now"), "backfill.to", now)
        summary = send_shards(bridge, sqs, now, start=start, end=end)
    else:
        summary = send_shards(bridge, sqs)
    log.info("manager: %s", json.dumps(summary))
    return summary


def process_records(bridge: Bridge, records: list[dict[str, Any]], time_left: Any = None) -> dict[str, Any]:
    """Run each shard message; failed ones are reported for SQS to retry (partial batch failure)."""
    failures = []
    for rec in records:
        msg_id = rec.get("messageId", "")
        try:
            shard, end, start = decode_shard(rec["body"])
            result = bridge.run_shard(shard, end, start, time_left=time_left)
            log.info("worker: %s", json.dumps(result.as_dict()))
        except Exception as e:
            log.exception("worker: shard message %s failed: %s", msg_id, e)
            failures.append({"itemIdentifier": msg_id})
    return {"batchItemFailures": failures}


def worker(event: Any, context: Any) -> dict[str, Any]:
    """SQS → fetch and index the shards in the batch; reports failures per message."""
    bridge, _ = _bridge()
    return process_records(bridge, list(event.get("Records", [])), _time_left(context))


def redrive(event: Any, context: Any) -> dict[str, Any]:
    """Schedule → re-index dead letters, checking the cluster's health before each retry."""
    bridge, sqs = _bridge()
    assert bridge.config.dlq_url
    queue = SqsDeadLetters(bridge.config.dlq_url, sqs)
    report = redrive_letters(bridge.sink, queue, time_left=_time_left(context))
    log.info("redrive: %s", json.dumps(report.as_dict()))
    return report.as_dict()
