#!/usr/bin/env python3
"""Benchmark the CloudWatch → OpenSearch bridge against baselines measured in the same run.

    .venv/bin/python scripts/bench_bridge.py [--url http://127.0.0.1:9200] [--rounds 3] [--json]

1. Throughput, 500 hosts × 3 metrics × 60 periods (30,000 documents): the bridge's transform
   (GetMetricData results → documents) + bulk indexing, versus opensearch-py
   ``helpers.streaming_bulk`` of the same documents pre-built (target ratio ≥ 0.9). Rounds alternate
   and the median of each is used. The end-to-end figure with CloudWatch responses parsed by botocore
   is printed too, for information.
2. CloudWatch calls per poll for 500 hosts × 3 metrics (target 3).
3. Whole-process peak RSS of one worker invocation (a fresh process: imports, clients, fetch,
   index) for 500 and 10,000 hosts (targets: ≤ 128 MB; 10,000 within 10 % of 500).

CloudWatch is the in-process double ``tests/doubles/cloudwatch.py`` (real botocore serialization and
parsing, no network); OpenSearch is the real node at ``--url``. Indices are unique and deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T0 = 1_800_000_000 // 60 * 60
METRICS = {
    "cpu": {"namespace": "AWS/EC2", "metric": "CPUUtilization", "stat": "Average"},
    "memory": {"namespace": "CWAgent", "metric": "mem_used_percent", "stat": "Average"},
    "network_in": {"namespace": "AWS/EC2", "metric": "NetworkIn", "stat": "Sum"},
}


def value(ns: str, metric: str, dims: dict[str, str], stat: str, t: int) -> float:
    h = int(dims["InstanceId"][2:])
    return float((h * 7919 + t // 60 * 31 + len(metric)) % 10_000) / 100.0


def config(index: str, url: str, hosts: int) -> Any:
    from hcad.bridge.mapping import parse_config

    return parse_config(
        {
            "index": index,
            "region": "us-east-1",
            "metrics": METRICS,
            "inventory": {"hosts": [f"i-{i:06d}" for i in range(hosts)]},
            "fetch": {"tps": 1000, "burst": 1000},  # the double has no quota; pacing is tested elsewhere
            "shards": {"hosts_per_shard": 5000},
            "opensearch": {
                "url": url,
                "auth": "none",
                "checkpoint_index": f"{index}-ckpt",
                "number_of_replicas": 0,
            },
        }
    )


def fake_client(cfg: Any) -> tuple[Any, Any]:
    import boto3

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from doubles.cloudwatch import FakeCloudWatch

    from hcad.bridge.fetch import cloudwatch_client

    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
    client = cloudwatch_client(cfg, session)
    fake = FakeCloudWatch(value)
    fake.attach(client)
    return client, fake


def create_index(url: str, index: str, cfg: Any) -> None:
    import requests

    from hcad.bridge.mapping import index_template

    body = index_template(cfg)["template"]
    requests.put(f"{url}/{index}", json=body, timeout=60).raise_for_status()


def delete_index(url: str, *names: str) -> None:
    import requests

    for n in names:
        requests.delete(f"{url}/{n}", params={"ignore_unavailable": "true"}, timeout=60)


def count(url: str, index: str) -> int:
    import requests

    requests.post(f"{url}/{index}/_refresh", timeout=60)
    return int(requests.get(f"{url}/{index}/_count", timeout=60).json()["count"])


# ------------------------------------------------------------------------------------- throughput


def _replay_class() -> Any:
    from hcad.bridge.fetch import CloudWatchFetcher

    class ReplayFetcher(CloudWatchFetcher):
        """Feeds recorded GetMetricData results (already parsed) instead of calling CloudWatch."""

        answers: list[list[dict[str, Any]]]

        def _fetch_group(self, group: Any, start: int, end: int, acc: Any) -> None:
            for r in self.answers.pop(0):
                acc.add(group[int(r["Id"][1:])], [t.timestamp() for t in r["Timestamps"]], r["Values"])

    return ReplayFetcher


def throughput(url: str, rounds: int) -> dict[str, Any]:
    from opensearchpy import OpenSearch, helpers

    from hcad.bridge.dlq import MemoryDeadLetters
    from hcad.bridge.fetch import CloudWatchFetcher
    from hcad.bridge.mapping import series_for
    from hcad.bridge.sink import BulkWriter, OpenSearchSink

    ReplayFetcher = _replay_class()
    hosts, periods = 500, 60
    cfg = config("bench-bridge-prep", url, hosts)
    client, _ = fake_client(cfg)
    fetcher = CloudWatchFetcher(client, cfg)
    fleet = fetcher.discover()
    start, end = T0, T0 + periods * 60

    # The CloudWatch answers, fetched once (parsed by botocore) and kept for the timed transform.
    series = list(series_for(cfg, fleet))
    groups = [series[i : i + 500] for i in range(0, len(series), 500)]
    answers: list[list[dict[str, Any]]] = []
    for g in groups:
        queries = [
            {
                "Id": f"q{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": s.spec.namespace,
                        "MetricName": s.spec.metric,
                        "Dimensions": cfg.dimensions_for(s),
                    },
                    "Period": 60,
                    "Stat": s.spec.stat,
                },
            }
            for i, s in enumerate(g)
        ]
        answers.append(
            client.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)["MetricDataResults"]
        )

    # The same documents, pre-built (by the same transform), for the baseline.
    replay = ReplayFetcher(client, cfg)
    replay.answers = list(answers)
    prebuilt = list(replay.fetch_chunk(fleet, start, end))
    assert len(prebuilt) == hosts * periods and len({i for i, _ in prebuilt}) == len(prebuilt)
    n_docs = len(prebuilt)

    os_client = OpenSearch([url], timeout=120)
    times: dict[str, list[float]] = {"bridge": [], "streaming_bulk": [], "bridge_end_to_end": []}
    created: list[str] = []
    try:
        for rnd in range(rounds):
            order = ["bridge", "streaming_bulk", "bridge_end_to_end"]
            if rnd % 2:
                order.reverse()
            for kind in order:
                index = f"bench-bridge-{kind.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
                created.append(index)
                create_index(url, index, cfg)
                t = time.perf_counter()
                if kind == "streaming_bulk":
                    actions = ({"_index": index, "_id": i, "_source": s} for i, s in prebuilt)
                    for ok, _ in helpers.streaming_bulk(os_client, actions, chunk_size=500, max_retries=3):
                        assert ok
                else:
                    sink = OpenSearchSink(config(index, url, hosts).opensearch)
                    writer = BulkWriter(sink, index, MemoryDeadLetters())
                    if kind == "bridge":
                        # The library's own grouping and transform, with CloudWatch's answers replayed.
                        replay = ReplayFetcher(client, cfg)
                        replay.answers = list(answers)
                        writer.write(replay.fetch_chunk(fleet, start, end))
                    else:
                        fetcher = CloudWatchFetcher(client, config(index, url, hosts))
                        writer.write(fetcher.fetch_chunk(fleet, start, end))
                    assert writer.report.indexed == n_docs, (kind, writer.report, n_docs)
                times[kind].append(time.perf_counter() - t)
                got = count(url, index)
                assert got == n_docs, f"{kind}: {got} documents, expected {n_docs}"
                delete_index(url, index)
    finally:
        delete_index(url, *created)
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: n_docs / v for k, v in med.items()}
    return {
        "documents": n_docs,
        "docs_per_s": {k: round(v) for k, v in rate.items()},
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "ratio_bridge_vs_streaming_bulk": round(rate["bridge"] / rate["streaming_bulk"], 3),
        "ratio_end_to_end_vs_streaming_bulk": round(rate["bridge_end_to_end"] / rate["streaming_bulk"], 3),
    }


# ------------------------------------------------------------------------------------- calls


def calls_per_poll(url: str) -> dict[str, Any]:
    from hcad.bridge.fetch import CloudWatchFetcher

    cfg = config("bench-bridge-calls", url, 500)
    client, fake = fake_client(cfg)
    fetcher = CloudWatchFetcher(client, cfg)
    fleet = fetcher.discover()
    n = sum(1 for _ in fetcher.fetch_chunk(fleet, T0, T0 + 5 * 60))
    return {
        "hosts": 500,
        "metrics": 3,
        "get_metric_data_calls": fetcher.stats.get_metric_data_calls,
        "answered_by_double": fake.calls,
        "documents": n,
    }


# ------------------------------------------------------------------------------------- memory


def vm_hwm_kb() -> int:
    """This process's peak resident set (kB). Not ru_maxrss: Linux carries that across exec from
    the parent, so a child of a big benchmark process would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def worker_child(url: str, hosts: int, periods: int) -> None:
    """One worker invocation in this (fresh) process; prints its peak RSS as JSON."""
    from hcad.bridge.dlq import MemoryDeadLetters
    from hcad.bridge.fetch import CloudWatchFetcher
    from hcad.bridge.runner import Bridge, Shard, decode_shard
    from hcad.bridge.sink import OpenSearchSink

    index = f"bench-bridge-rss-{hosts}-{uuid.uuid4().hex[:6]}"
    cfg = config(index, url, 0)
    client, _ = fake_client(cfg)
    # The shard as a worker receives it: a message body listing its hosts.
    body = json.dumps(
        {"v": 1, "kind": "hcad-bridge-shard", "shard": "0000", "end": T0 + periods * 60, "start": T0}
        | {"e": [[f"i-{i:06d}", None, None] for i in range(hosts)]}
    )
    base = vm_hwm_kb()
    try:
        bridge = Bridge(cfg, CloudWatchFetcher(client, cfg), OpenSearchSink(cfg.opensearch), MemoryDeadLetters())
        shard, end, start = decode_shard(body)
        del body
        assert isinstance(shard, Shard)
        result = bridge.run_shard(shard, end, start)
        peak = vm_hwm_kb()
        print(
            json.dumps(
                {
                    "hosts": hosts,
                    "periods": periods,
                    "documents": result.write["indexed"],
                    "get_metric_data_calls": result.fetch["get_metric_data_calls"],
                    "peak_rss_mb": round(peak / 1024, 1),
                    "rss_before_invocation_mb": round(base / 1024, 1),
                }
            )
        )
    finally:
        delete_index(url, index, f"{index}-ckpt")
        import requests

        requests.delete(f"{url}/_index_template/hcad-bridge-{index}", timeout=60)


def peak_rss(url: str, hosts: int, periods: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--url", url, "--worker-child", str(hosts), "--periods", str(periods)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        sys.exit(f"worker child for {hosts} hosts failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("HCAD_URL", "http://127.0.0.1:9200"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--periods", type=int, default=6, help="periods per worker invocation for the RSS part [6]")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--worker-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.worker_child is not None:
        worker_child(args.url, args.worker_child, args.periods)
        return 0

    out: dict[str, Any] = {}
    checks: list[tuple[str, bool]] = []
    if not args.skip_throughput:
        tp = throughput(args.url, args.rounds)
        out["throughput"] = tp
        checks.append(("throughput ratio ≥ 0.9", tp["ratio_bridge_vs_streaming_bulk"] >= 0.9))
    calls = calls_per_poll(args.url)
    out["calls_per_poll"] = calls
    checks.append(("3 GetMetricData calls per poll for 500 hosts", calls["get_metric_data_calls"] == 3))
    small = peak_rss(args.url, 500, args.periods)
    large = peak_rss(args.url, 10_000, args.periods)
    growth = large["peak_rss_mb"] / small["peak_rss_mb"]
    out["memory"] = {"500": small, "10000": large, "ratio_10000_vs_500": round(growth, 3)}
    checks.append(("peak RSS ≤ 128 MB for 500 hosts", small["peak_rss_mb"] <= 128))
    checks.append(("peak RSS for 10,000 hosts within 10 % of 500", growth <= 1.10))
    out["targets"] = {name: ok for name, ok in checks}

    if args.json:
        print(json.dumps(out, indent=2))
    else:
        if "throughput" in out:
            tp = out["throughput"]
            r = tp["docs_per_s"]
            print(f"throughput, {tp['documents']:,} documents (median of {args.rounds} rounds):")
            print(f"  opensearch-py streaming_bulk (pre-built docs): {r['streaming_bulk']:>8,} docs/s")
            print(f"  bridge transform + index:                      {r['bridge']:>8,} docs/s")
            print(f"  ratio bridge / streaming_bulk:                 {tp['ratio_bridge_vs_streaming_bulk']:>8}")
            print(f"  (end to end incl. botocore parsing: {r['bridge_end_to_end']:,} docs/s, ratio "
                  f"{tp['ratio_end_to_end_vs_streaming_bulk']})")  # fmt: skip
        print(f"GetMetricData calls per poll, 500 hosts × 3 metrics: {calls['get_metric_data_calls']}")
        for m in (small, large):
            print(
                f"peak RSS, one worker invocation, {m['hosts']:>6,} hosts × {m['periods']} periods "
                f"({m['documents']:,} docs, {m['get_metric_data_calls']} calls): {m['peak_rss_mb']} MB"
            )
        print(f"  ratio 10,000 / 500 hosts: {out['memory']['ratio_10000_vs_500']}")
        for name, ok in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
