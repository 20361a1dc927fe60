"""The bridge end to end: moto (server mode) as CloudWatch and SQS, the real OpenSearch as the sink."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles.cloudwatch import client_protocol, throttling_response

from hcad.bridge.dlq import SqsDeadLetters, redrive
from hcad.bridge.fetch import CloudWatchFetcher, cloudwatch_client
from hcad.bridge.handlers import build, process_records, send_shards
from hcad.bridge.mapping import BridgeConfig, Entity, align_down, doc_id, iso, make_doc, parse_config
from hcad.bridge.ratelimit import Backoff
from hcad.bridge.runner import Bridge, Shard, encode_shard
from hcad.bridge.sink import BulkWriter, OpenSearchSink
from hcad.errors import ConfigError, HcadConnectionError

ROOT = Path(__file__).resolve().parents[2]
P = 60
METRICS = {
    "cpu": ("AWS/EC2", "CPUUtilization", "Average"),
    "memory": ("CWAgent", "mem_used_percent", "Average"),
    "network_in": ("AWS/EC2", "NetworkIn", "Sum"),
}
OFFSET = {"cpu": 0.25, "memory": 0.5, "network_in": 0.75}


def host(i: int) -> str:
    return f"i-{i:05d}"


def value(h: int, field: str, t: int) -> float:
    """A distinct, exactly representable value per host, metric and period."""
    return h * 1000 + (t // P) % 1000 + OFFSET[field]


def put_fleet(cw: Any, hosts: range, start: int, periods: int, fields: tuple[str, ...] = tuple(METRICS)) -> None:
    by_ns: dict[str, list[dict[str, Any]]] = {}
    for h in hosts:
        for f in fields:
            ns, name, _ = METRICS[f]
            for k in range(periods):
                t = start + k * P
                by_ns.setdefault(ns, []).append(
                    {
                        "MetricName": name,
                        "Dimensions": [{"Name": "InstanceId", "Value": host(h)}],
                        "Timestamp": t,
                        "Value": value(h, f, t),
                    }
                )
    for ns, data in by_ns.items():
        for i in range(0, len(data), 1000):
            cw.put_metric_data(Namespace=ns, MetricData=data[i : i + 1000])


def config_for(index: str, moto_url: str, os_url: str, dlq_url: str, **extra: Any) -> BridgeConfig:
    raw: dict[str, Any] = {
        "index": index,
        "name": "t",
        "region": "us-east-1",
        "period": "60s",
        "lag": "0s",
        "overlap": "5m",
        "metrics": {f: {"namespace": ns, "metric": m, "stat": s} for f, (ns, m, s) in METRICS.items()},
        "fetch": {"max_periods_per_call": 10, "backoff_base": 0.01},
        "queues": {"dead_letters": dlq_url},
        "endpoints": {"cloudwatch": moto_url, "sqs": moto_url},
        "opensearch": {
            "url": os_url,
            "auth": "none",
            "checkpoint_index": f"{index}-ckpt",
            "connect_retries": 1,
            "number_of_replicas": 0,
        },
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(raw.get(k), dict):
            raw[k] = {**raw[k], **v}
        else:
            raw[k] = v
    return parse_config(raw)


@pytest.fixture
def env(aws: Any, moto_url: str, os_url: str, os_client: Any, index_name: str) -> Iterator[dict[str, Any]]:
    """CloudWatch/SQS clients on moto, a dead-letter queue and cleanup of everything created."""
    cw = aws.client("cloudwatch", endpoint_url=moto_url)
    sqs = aws.client("sqs", endpoint_url=moto_url)
    dlq = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
    yield {"aws": aws, "cw": cw, "sqs": sqs, "dlq": dlq, "index": index_name}
    os_client.indices.delete(index=f"{index_name}-ckpt", ignore_unavailable=True)
    os_client.indices.delete_index_template(name=f"hcad-bridge-{index_name}", ignore=[404])


def bridge_for(env: dict[str, Any], config: BridgeConfig, sleeps: list[float] | None = None) -> Bridge:
    bridge, _ = build(config, boto3_session=env["aws"], sqs=env["sqs"])
    if sleeps is not None:
        bridge.fetcher.backoff = Backoff(0.5, 20.0, sleep=sleeps.append)
    return bridge


def all_docs(os_client: Any, index: str) -> dict[str, dict[str, Any]]:
    os_client.indices.refresh(index=index)
    resp = os_client.search(index=index, body={"size": 10000, "query": {"match_all": {}}})
    return {h["_id"]: h["_source"] for h in resp["hits"]["hits"]}


def expected(hosts: range, start: int, periods: int) -> dict[str, dict[str, Any]]:
    return {
        doc_id(host(h), None, start + k * P): make_doc(
            Entity(host(h)), start + k * P, {f: value(h, f, start + k * P) for f in METRICS}
        )
        for h in hosts
        for k in range(periods)
    }


def dead_letters(env: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        msgs = env["sqs"].receive_message(QueueUrl=env["dlq"], MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.extend(json.loads(m["Body"])["docs"])
            env["sqs"].delete_message(QueueUrl=env["dlq"], ReceiptHandle=m["ReceiptHandle"])


def test_50_hosts_3_metrics_30_periods_exact_documents_and_reruns_converge(env, moto_url, os_url, os_client):
    start = align_down(time.time() - 3 * 3600, P)
    put_fleet(env["cw"], range(50), start, 30)
    config = config_for(env["index"], moto_url, os_url, env["dlq"])
    bridge = bridge_for(env, config)

    results = bridge.backfill(start, start + 30 * P)
    want = expected(range(50), start, 30)
    got = all_docs(os_client, env["index"])
    assert got == want  # count, ids and every value
    # 150 series fit one call; 30 periods in chunks of 10 → 3 GetMetricData calls, 1 ListMetrics per metric.
    assert sum(r.fetch["get_metric_data_calls"] for r in results) == 3
    assert bridge.fetch_stats.list_metrics_calls == 3
    mapping = os_client.indices.get_mapping(index=env["index"])[env["index"]]["mappings"]["properties"]
    assert mapping["host"]["type"] == "keyword" and mapping["cpu"]["type"] == "double"
    assert mapping["@timestamp"]["type"] == "date"

    # The same window again, then an overlapping one: no new document, same values.
    bridge.backfill(start, start + 30 * P)
    bridge.backfill(start + 15 * P, start + 45 * P)
    assert all_docs(os_client, env["index"]) == want
    assert dead_letters(env) == []


def test_late_data_overwrites_partial_documents(env, moto_url, os_url, os_client):
    start = align_down(time.time() - 2 * 3600, P)
    put_fleet(env["cw"], range(5), start, 6, fields=("cpu", "network_in"))
    put_fleet(env["cw"], range(5), start, 3, fields=("memory",))
    bridge = bridge_for(env, config_for(env["index"], moto_url, os_url, env["dlq"]))
    bridge.backfill(start, start + 6 * P)
    docs = all_docs(os_client, env["index"])
    assert len(docs) == 30
    late = doc_id(host(2), None, start + 4 * P)
    assert "memory" not in docs[late] and docs[late]["cpu"] == value(2, "cpu", start + 4 * P)

    # Memory for the last three periods arrives late; the overlapping re-read completes the documents.
    cw, ns_name = env["cw"], METRICS["memory"]
    cw.put_metric_data(
        Namespace=ns_name[0],
        MetricData=[
            {
                "MetricName": ns_name[1],
                "Dimensions": [{"Name": "InstanceId", "Value": host(h)}],
                "Timestamp": start + k * P,
                "Value": value(h, "memory", start + k * P),
            }
            for h in range(5)
            for k in range(3, 6)
        ],
    )
    bridge.backfill(start + 2 * P, start + 6 * P)
    assert all_docs(os_client, env["index"]) == expected(range(5), start, 6)


def test_backfill_then_live_leaves_no_gap_at_the_seam(env, moto_url, os_url, os_client):
    t0 = align_down(time.time() - 2 * 3600, P)
    put_fleet(env["cw"], range(8), t0, 25)
    config = config_for(env["index"], moto_url, os_url, env["dlq"], lag="2m", overlap="3m")
    bridge = bridge_for(env, config)
    seam = t0 + 12 * P
    bridge.backfill(t0, seam)
    assert len(all_docs(os_client, env["index"])) == 8 * 12
    # Live poll "now" = t0 + 25 periods + lag: it reads from the checkpoint (the seam) minus the overlap.
    results = bridge.run_once(now=t0 + 25 * P + 120)
    assert results[0].start == seam - 3 * P and results[0].end == t0 + 25 * P
    assert all_docs(os_client, env["index"]) == expected(range(8), t0, 25)
    ckpt = bridge.sink.read_checkpoints([bridge.checkpoint_key("0000")])
    assert ckpt == {bridge.checkpoint_key("0000"): t0 + 25 * P}
    # A late, stale backfill does not move the checkpoint back.
    bridge.backfill(t0, t0 + 5 * P)
    assert bridge.sink.read_checkpoints([bridge.checkpoint_key("0000")])[bridge.checkpoint_key("0000")] == t0 + 25 * P


def test_throttling_is_retried_with_full_jitter_backoff(env, moto_url, os_url, os_client):
    start = align_down(time.time() - 2 * 3600, P)
    put_fleet(env["cw"], range(6), start, 20)
    config = config_for(env["index"], moto_url, os_url, env["dlq"])
    sleeps: list[float] = []
    bridge = bridge_for(env, config, sleeps)
    cw = bridge.fetcher.client
    protocol = client_protocol(cw)
    sent = {"n": 0}

    def throttle_first_two(request: Any, **_: Any) -> Any:
        # Answer the first two GetMetricData calls with CloudWatch's Throttling error; the rest reach moto.
        sent["n"] += 1
        return throttling_response(request, protocol) if sent["n"] <= 2 else None

    cw.meta.events.register_first("before-send.cloudwatch.GetMetricData", throttle_first_two)
    results = bridge.backfill(start, start + 20 * P)
    assert all_docs(os_client, env["index"]) == expected(range(6), start, 20)
    stats = results[0].fetch
    # Two chunks of 10 periods: 2 calls that succeed + 2 throttled attempts.
    assert stats["get_metric_data_calls"] == 4 and stats["throttled"] == 2 and stats["retries"] == 2
    assert sent["n"] == 4
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0  # full jitter: U(0, base·2^attempt)


def test_opensearch_down_mid_run_dead_letters_then_redrive_completes(env, moto_url, os_client, fault_proxy):
    start = align_down(time.time() - 2 * 3600, P)
    put_fleet(env["cw"], range(10), start, 30)
    config = config_for(env["index"], moto_url, fault_proxy.url, env["dlq"], opensearch={"bulk_docs": 40})
    bridge = bridge_for(env, config)
    shard = Shard("0000", tuple((Entity(host(h)), None) for h in range(10)))
    chunks: list[int] = []
    orig = bridge.run_shard

    def stop_proxy(cs: int, ce: int) -> None:
        chunks.append(ce)
        fault_proxy.stop()

    def stop_after_first_chunk(*a: Any, **kw: Any) -> Any:
        return orig(*a, on_chunk=stop_proxy, **kw)

    bridge.run_shard = stop_after_first_chunk  # type: ignore[method-assign]
    record = {"messageId": "m-1", "body": encode_shard(config, shard, start + 30 * P, start)}
    out = process_records(bridge, [record])
    # The worker reports the message as failed (its checkpoint could not be written) ...
    assert out == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert len(chunks) == 1
    # ... the first chunk is indexed, the documents of the second went to the dead-letter queue.
    assert len(all_docs(os_client, env["index"])) == 10 * 10
    assert bridge.writes.dead_lettered == 10 * 10 and bridge.writes.unreachable_batches > 0

    queue = SqsDeadLetters(env["dlq"], env["sqs"])
    down = redrive(bridge.sink, queue)
    assert down.stopped == "cluster health is unreachable" and down.indexed == 0
    fault_proxy.start()  # the cluster is back
    report = redrive(bridge.sink, queue)
    assert report.stopped is None and report.indexed == 100 and report.failed_again == 0
    assert report.health_checks == report.messages >= 1
    docs = all_docs(os_client, env["index"])
    assert len(docs) == 200 and set(docs) <= set(expected(range(10), start, 30))
    assert dead_letters(env) == []
    # SQS redelivers the failed shard message: the third chunk is read, nothing is duplicated.
    bridge.run_shard = orig  # type: ignore[method-assign]
    assert process_records(bridge, [record]) == {"batchItemFailures": []}
    assert all_docs(os_client, env["index"]) == expected(range(10), start, 30)


def test_bulk_items_answered_429_are_retried(env, moto_url, os_client, fault_proxy):
    start = align_down(time.time() - 2 * 3600, P)
    put_fleet(env["cw"], range(10), start, 10)
    config = config_for(env["index"], moto_url, fault_proxy.url, env["dlq"], opensearch={"bulk_docs": 50})
    bridge = bridge_for(env, config)
    fault_proxy.reject_every, fault_proxy.reject_requests = 3, 2
    bridge.backfill(start, start + 10 * P)
    assert fault_proxy.rejected_items > 0
    assert bridge.writes.retried_items == fault_proxy.rejected_items
    assert bridge.writes.dead_lettered == 0 and dead_letters(env) == []
    assert all_docs(os_client, env["index"]) == expected(range(10), start, 10)


def test_poisoned_document_goes_to_dlq_with_reason_rest_indexed(env, moto_url, os_url, os_client):
    config = config_for(env["index"], moto_url, os_url, env["dlq"])
    sink = OpenSearchSink(config.opensearch)
    from hcad.bridge.mapping import index_template

    assert sink.ensure_template(f"hcad-bridge-{env['index']}", index_template(config)) is True
    assert sink.ensure_template(f"hcad-bridge-{env['index']}", index_template(config)) is False
    t = align_down(time.time(), P)
    docs = [(doc_id(host(h), None, t), make_doc(Entity(host(h)), t, {"cpu": float(h)})) for h in range(20)]
    poison_id = docs[7][0]
    docs[7][1]["cpu"] = "not a number"
    writer = BulkWriter(sink, env["index"], SqsDeadLetters(env["dlq"], env["sqs"]))
    report = writer.write(docs)
    assert report.indexed == 19 and report.dead_lettered == 1
    got = all_docs(os_client, env["index"])
    assert len(got) == 19 and poison_id not in got
    (dead,) = dead_letters(env)
    assert dead["_id"] == poison_id and dead["_source"]["cpu"] == "not a number"
    assert "HTTP 400" in dead["reason"] and "parsing" in dead["reason"] and dead["retryable"] is False


def test_manager_enqueues_shards_and_workers_index_them(env, moto_url, os_url, os_client):
    now = time.time()
    end = align_down(now, P)
    start = end - 10 * P
    put_fleet(env["cw"], range(50), start, 10)
    queue = env["sqs"].create_queue(QueueName="shards")["QueueUrl"]
    config = config_for(
        env["index"],
        moto_url,
        os_url,
        env["dlq"],
        shards={"hosts_per_shard": 20},
        overlap="0s",
        initial_lookback="10m",
        queues={"dead_letters": env["dlq"], "shards": queue},
    )
    bridge = bridge_for(env, config)
    summary = send_shards(bridge, env["sqs"], now=now)
    assert summary["shards"] == 3 and summary["entities"] == 50 and summary["end"] == end
    records = []
    while msgs := env["sqs"].receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        records += [{"messageId": m["MessageId"], "body": m["Body"]} for m in msgs]
        for m in msgs:
            env["sqs"].delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert len(records) == 3
    # One Lambda event with every record, as an SQS trigger with batch size 10 would deliver it.
    assert process_records(bridge, records) == {"batchItemFailures": []}
    assert all_docs(os_client, env["index"]) == expected(range(50), start, 10)
    keys = [bridge.checkpoint_key(f"{i:04d}") for i in range(3)]
    assert bridge.sink.read_checkpoints(keys) == dict.fromkeys(keys, end)


def test_cli_backfill_and_run_once(env, moto_url, os_url, os_client, tmp_path):
    start = align_down(time.time() - 3600, P)
    put_fleet(env["cw"], range(4), start, 10)
    cfg = {
        "index": env["index"],
        "region": "us-east-1",
        "period": "1m",
        "lag": "0s",
        "metrics": {f: {"namespace": ns, "metric": m, "stat": s} for f, (ns, m, s) in METRICS.items()},
        "endpoints": {"cloudwatch": moto_url},
        "opensearch": {"checkpoint_index": f"{env['index']}-ckpt", "number_of_replicas": 0},
    }
    path = tmp_path / "bridge.yaml"
    path.write_text(json.dumps(cfg))
    run_env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "HCAD_URL": os_url}
    cmd = [sys.executable, "-m", "hcad", "bridge", "backfill", "-c", str(path), "--from", iso(start)]
    cmd += ["--to", iso(start + 10 * P), "--dead-letters", str(tmp_path / "dl"), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["documents_indexed"] == 40 and summary["dead_lettered"] == 0
    assert all_docs(os_client, env["index"]) == expected(range(4), start, 10)
    # run --once continues from the checkpoint: nothing new exists, so nothing is added.
    cmd = [sys.executable, "-m", "hcad", "bridge", "run", "--once", "-c", str(path), "--dead-letters", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "GetMetricData call(s)" in proc.stdout
    assert len(all_docs(os_client, env["index"])) == 40
    bad = subprocess.run(
        [sys.executable, "-m", "hcad", "bridge", "backfill", "-c", str(path), "--from", "yesterday-ish"],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=ROOT,
        timeout=60,
    )
    assert bad.returncode == 2 and "hcad: error: --from 'yesterday-ish' is not a time" in bad.stderr


def test_fetcher_on_moto_reads_discovered_fleet(env, moto_url, os_url):
    start = align_down(time.time() - 3600, P)
    put_fleet(env["cw"], range(3), start, 2, fields=("cpu",))
    config = config_for(env["index"], moto_url, os_url, env["dlq"])
    fetcher = CloudWatchFetcher(cloudwatch_client(config, env["aws"]), config)
    fleet = fetcher.discover()
    assert fleet == [(Entity(host(h)), ("cpu",)) for h in range(3)]
    docs = dict(fetcher.fetch_chunk(fleet, start, start + 2 * P))
    assert docs[doc_id(host(1), None, start + P)] == make_doc(
        Entity(host(1)), start + P, {"cpu": value(1, "cpu", start + P)}
    )


def test_unreachable_cluster_fails_checkpoint_read_clearly(env, moto_url):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    config = config_for(env["index"], moto_url, f"http://127.0.0.1:{port}", env["dlq"])
    bridge = bridge_for(env, config)
    with pytest.raises(HcadConnectionError, match="cannot reach"):
        bridge.run_shard(Shard("0000", ((Entity("i-1"), None),)), align_down(time.time(), P))


def test_manager_backfill_event_enqueues_the_past_window_for_the_workers(env, moto_url, os_url, os_client):
    """A manager event {"backfill": {"from", "to"}}: every shard message carries that window, workers index
    it through the queue, and checkpoints end at "to" (a later live run continues from there)."""
    now = time.time()
    end = align_down(now, P) - 30 * P
    start = end - 40 * P
    put_fleet(env["cw"], range(7), start, 40)
    queue = env["sqs"].create_queue(QueueName="shards")["QueueUrl"]
    config = config_for(
        env["index"], moto_url, os_url, env["dlq"], shards={"hosts_per_shard": 3},
        queues={"dead_letters": env["dlq"], "shards": queue},
    )  # fmt: skip
    bridge = bridge_for(env, config)
    summary = send_shards(bridge, env["sqs"], now=now, start=start + 17, end=end + 59)
    assert (summary["start"], summary["end"], summary["shards"]) == (start, end, 3)
    msgs = env["sqs"].receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert process_records(bridge, [{"messageId": m["MessageId"], "body": m["Body"]} for m in msgs]) == {
        "batchItemFailures": []
    }
    assert all_docs(os_client, env["index"]) == expected(range(7), start, 40)
    keys = [bridge.checkpoint_key(f"{i:04d}") for i in range(3)]
    assert bridge.sink.read_checkpoints(keys) == dict.fromkeys(keys, end)
    with pytest.raises(ConfigError, match="must be after"):
        send_shards(bridge, env["sqs"], now=now, start=end, end=end)
    with pytest.raises(ConfigError, match="older than"):
        send_shards(bridge, env["sqs"], now=now, start=int(now) - 16 * 86400, end=end)


def test_lambda_entry_points_from_environment(env, moto_url, os_url, os_client, monkeypatch):
    """manager → SQS → worker → (nothing to) redrive, configured only through the environment."""
    import hcad.bridge.handlers as handlers

    # The manager reads the clock again: keep both reads inside one period so they agree on the window.
    if time.time() % P > P - 15:
        time.sleep(P - time.time() % P + 1)
    now = time.time()
    end = align_down(now, P)
    put_fleet(env["cw"], range(12), end - 10 * P, 10)
    shards_q = env["sqs"].create_queue(QueueName="shards")["QueueUrl"]
    raw = {
        "index": env["index"],
        "region": "us-east-1",
        "lag": "0s",
        "overlap": "0s",
        "initial_lookback": "10m",
        "metrics": {f: {"namespace": ns, "metric": m, "stat": s} for f, (ns, m, s) in METRICS.items()},
        "shards": {"hosts_per_shard": 5},
        "endpoints": {"cloudwatch": moto_url, "sqs": moto_url},
        "opensearch": {"checkpoint_index": f"{env['index']}-ckpt", "number_of_replicas": 0},
    }
    for k, v in {
        "HCAD_BRIDGE_CONFIG": json.dumps(raw),
        "HCAD_BRIDGE_SHARD_QUEUE": shards_q,
        "HCAD_BRIDGE_DLQ": env["dlq"],
        "HCAD_URL": os_url,
        "HCAD_AUTH": "none",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(handlers, "_CACHE", {})

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    summary = handlers.manager({}, Context())
    assert summary["shards"] == 3 and summary["messages"] == 3 and summary["entities"] == 12
    msgs = env["sqs"].receive_message(QueueUrl=shards_q, MaxNumberOfMessages=10)["Messages"]
    event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in msgs]}
    assert len(event["Records"]) == 3
    assert handlers.worker(event, Context()) == {"batchItemFailures": []}
    assert all_docs(os_client, env["index"]) == expected(range(12), end - 10 * P, 10)
    report = handlers.redrive({}, Context())
    assert report["messages"] == 0 and report["stopped"] is None
    # A manual backfill invocation: the same shards, each message carrying the past window.
    summary = handlers.manager({"backfill": {"from": iso(end - 10 * P), "to": iso(end - 5 * P)}}, Context())
    assert (summary["start"], summary["end"], summary["messages"]) == (end - 10 * P, end - 5 * P, 3)
    msgs = env["sqs"].receive_message(QueueUrl=shards_q, MaxNumberOfMessages=10)["Messages"]
    assert {json.loads(m["Body"])["start"] for m in msgs} == {end - 10 * P}
    with pytest.raises(ConfigError, match="backfill must be"):
        handlers.manager({"backfill": "yesterday"}, Context())


def test_cli_run_every_keeps_polling(env, moto_url, os_url, os_client, tmp_path):
    start = align_down(time.time() - 600, P)
    put_fleet(env["cw"], range(3), start, 5)
    cfg = {
        "index": env["index"],
        "region": "us-east-1",
        "lag": "0s",
        "initial_lookback": "15m",
        "metrics": {f: {"namespace": ns, "metric": m, "stat": s} for f, (ns, m, s) in METRICS.items()},
        "endpoints": {"cloudwatch": moto_url},
        "opensearch": {"checkpoint_index": f"{env['index']}-ckpt", "number_of_replicas": 0},
    }
    path = tmp_path / "bridge.json"
    path.write_text(json.dumps(cfg))
    run_env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "HCAD_URL": os_url}
    cmd = [sys.executable, "-m", "hcad", "bridge", "run", "--every", "1s", "-c", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env, cwd=ROOT)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # two polls
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "15 documents" in lines[0] and "documents" in lines[1], lines
    assert all_docs(os_client, env["index"]) == expected(range(3), start, 5)
