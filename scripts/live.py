"""The whole system live: a simulated fleet → CloudWatch (moto) → the Lambda bridge (manager → SQS →
worker) → the index → a real-time HCAD detector → an entities monitor → a webhook, with each alert's
detection latency measured (run through ``scripts/live``; ``scripts/bench_latency.py`` and
``tests/integration/test_live_pipeline.py`` reuse :class:`LivePipeline`).

What runs where:

- **CloudWatch and SQS**: moto in server mode, in this process (``ThreadedMotoServer``), on 127.0.0.1.
- **The fleet**: ``hosts`` × ``processes`` entities publishing ``cpu`` (Average), ``memory`` (Average)
  and ``network`` (Sum) with PutMetricData once a minute, just after the minute ends (as the CloudWatch
  agent does), day/night traffic (two levels with half-hour ramps), deterministic noise.
- **The bridge**: its real Lambda handlers, called as the Lambda runtime would: ``manager`` on a 1-minute
  schedule (an EventBridge rule), ``worker`` on every batch of up to 10 shard messages received from
  the SQS queue (the SQS trigger; messages a worker reports as failed stay in the queue), ``redrive``
  every 5 minutes. Configuration only through the environment (``HCAD_BRIDGE_CONFIG`` etc.). One warm
  container serves them, so every CloudWatch call goes through its one token bucket. Dead letters go to
  an SQS dead-letter queue that ``redrive`` empties. History is backfilled through the same path: a
  manager invocation with a ``{"backfill": {from, to}}`` event, then the workers.
- **OpenSearch**: the detector (``Detector.hcad``: hcad's recommended shingle 2 and the plugin's rule), its
  pre-flight, ``wait_initialized`` for readiness, a monitor (``kind: entities``) with a webhook channel
  to a receiver on 127.0.0.1 — all through hcad's public API.

Latency of one injected anomaly = webhook received − timestamp of its first anomalous datapoint, split
into: the datapoint's own period (published when its minute ends), the bridge (schedule + SQS + fetch
+ index), waiting for the detector's run that covers the period (window delay and the job's phase), the
detector's run, the monitor's schedule (result lag and phase) and delivery. The phases are chosen: the
detector is started just after a bridge poll completes, the monitor just after the detector's results
are written (see README "Live pipeline").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import hcad  # noqa: E402
from hcad.ad.model import NUM_MIN_SAMPLES, Detector  # noqa: E402
from hcad.alerting.monitors import Alerting, ChannelSpec, MonitorSpec, Notifications, apply, plan  # noqa: E402
from hcad.bridge.mapping import doc_id, iso  # noqa: E402
from hcad.errors import HcadError, NotFound  # noqa: E402

P = 60  # the period of everything: datapoints, bridge polls, detector interval, monitor schedule
NAMESPACE = "HcadLive/Fleet"
HOST_DIM, PROC_DIM = "InstanceId", "process"
METRICS = {  # document field: (CloudWatch metric, statistic)
    "cpu": ("CPUUtilization", "Average"),
    "memory": ("mem_used_percent", "Average"),
    "network": ("NetworkIn", "Sum"),
}
REGION = "us-east-1"
log = logging.getLogger("hcad.live")


# ---------------------------------------------------------------------------------------------- the fleet
@dataclass
class Injection:
    """An anomaly on one entity: ``minutes`` anomalous datapoints from ``start`` (a minute start)."""

    host: str
    process: str
    start: int
    minutes: int = 3

    @property
    def end(self) -> int:
        return self.start + self.minutes * P

    def covers(self, t: int) -> bool:
        return self.start <= t < self.end


class Fleet:
    """Deterministic per-minute metrics of ``hosts`` × ``processes`` entities, with injected anomalies."""

    def __init__(self, hosts: int = 40, processes: int = 3, *, seed: int = 7, day_seconds: int = 86400) -> None:
        self.hosts, self.processes, self.seed, self.day_seconds = hosts, processes, seed, day_seconds
        self.entities = [(f"host{h:02d}", f"proc{p}") for h in range(hosts) for p in range(processes)]
        rng = np.random.default_rng(seed)
        n = len(self.entities)
        self.base_cpu = rng.uniform(25, 55, n)
        self.base_mem = rng.uniform(40, 70, n)
        self.base_net = rng.uniform(2e5, 2e6, n)
        self.injections: list[Injection] = []
        self._lock = threading.Lock()
        self.published: dict[tuple[str, str, int], dict[str, float]] = {}

    def traffic(self, t: int) -> float:
        """Bimodal day/night level: 1.0 by day (07:12-19:12 UTC by default), 0.3 by night, half-hour ramps."""
        frac = (t % self.day_seconds) / self.day_seconds
        w = 0.02
        day = 0.5 * (math.tanh((frac - 0.3) / w) - math.tanh((frac - 0.8) / w))
        return 0.3 + 0.7 * day

    def inject(self, inj: Injection) -> None:
        with self._lock:
            self.injections.append(inj)

    def injection_at(self, host: str, process: str, t: int) -> Injection | None:
        with self._lock:
            return next((i for i in self.injections if (i.host, i.process) == (host, process) and i.covers(t)), None)

    def values(self, i: int, t: int) -> dict[str, float]:
        host, process = self.entities[i]
        noise = np.random.default_rng([self.seed, i, t // P]).normal(0, 1, 3)
        tr = self.traffic(t)
        cpu = self.base_cpu[i] * (0.35 + 0.65 * tr) + 1.0 * noise[0]
        mem = self.base_mem[i] + 6 * tr + 0.3 * noise[1]
        net = self.base_net[i] * (0.3 + 0.7 * tr) * (1 + 0.04 * noise[2])
        if self.injection_at(host, process, t) is not None:
            cpu, net = min(100.0, cpu * 1.8 + 30), net * 4
        # Three decimals: the value survives PutMetricData → GetMetricData → JSON exactly.
        return {"cpu": round(max(cpu, 0.0), 3), "memory": round(mem, 3), "network": round(max(net, 0.0), 3)}

    def publish(self, cw: Any, start: int, end: int) -> int:
        """PutMetricData for every entity and minute in ``[start, end)``; returns the datapoints sent."""
        data: list[dict[str, Any]] = []
        for t in range(start, end, P):
            for i, (host, process) in enumerate(self.entities):
                vals = self.values(i, t)
                self.published[(host, process, t)] = vals
                dims = [{"Name": HOST_DIM, "Value": host}, {"Name": PROC_DIM, "Value": process}]
                for f, (metric, _) in METRICS.items():
                    data.append({"MetricName": metric, "Dimensions": dims, "Timestamp": t, "Value": vals[f]})
        for k in range(0, len(data), 1000):
            cw.put_metric_data(Namespace=NAMESPACE, MetricData=data[k : k + 1000])
        return len(data)


# ---------------------------------------------------------------------------------------------- CloudWatch
class ServedLog:
    """Every datapoint moto's GetMetricData answered: ``(host, process, t) → {field: value}``."""

    def __init__(self) -> None:
        self.points: dict[tuple[str, str, int], dict[str, float]] = {}
        self.calls = 0
        self._lock = threading.Lock()
        self._undo: Callable[[], None] | None = None

    def install(self) -> None:
        from moto.cloudwatch.models import CloudWatchBackend

        original = CloudWatchBackend.get_metric_data
        by_metric = {m: f for f, (m, _) in METRICS.items()}
        served = self

        def recording(backend: Any, queries: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
            results = original(backend, queries, *args, **kwargs)
            q_by_id = {q["Id"]: q for q in queries}
            with served._lock:
                served.calls += 1
                for r in results:
                    ms = q_by_id.get(r["id"], {}).get("MetricStat") or {}
                    metric = ms.get("Metric") or {}
                    dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                    f = by_metric.get(metric.get("MetricName", ""))
                    if f is None or HOST_DIM not in dims or PROC_DIM not in dims:
                        continue
                    for ts, v in zip(r["timestamps"], r["values"], strict=True):
                        key = (dims[HOST_DIM], dims[PROC_DIM], int(ts.timestamp()))
                        served.points.setdefault(key, {})[f] = float(v)
            return results

        CloudWatchBackend.get_metric_data = recording  # type: ignore[method-assign,assignment]
        self._undo = lambda: setattr(CloudWatchBackend, "get_metric_data", original)

    def uninstall(self) -> None:
        if self._undo:
            self._undo()
            self._undo = None


# ---------------------------------------------------------------------------------------------- the Lambda runtime
class _Context:
    """The Lambda context object the handlers read (remaining time of a 900 s invocation)."""

    def __init__(self, timeout: float = 900) -> None:
        self.deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


class _Capture(logging.Handler):
    """Keeps the JSON summaries the handlers log (``worker: {...}``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.workers: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("worker: {"):
            with contextlib.suppress(ValueError):
                self.workers.append(json.loads(msg[len("worker: ") :]))


@dataclass
class BridgeRun:
    """One scheduled poll: manager invocation, then the workers until the shard queue is empty."""

    at: float
    manager_s: float
    done: float
    end: int  # exclusive end of the periods it read
    shards: int
    docs: int
    failures: int


class LambdaRuntime:
    """Invokes the bridge's handlers the way AWS would: schedule → manager, SQS → worker, schedule → redrive."""

    def __init__(self, raw_config: dict[str, Any], sqs: Any, shard_queue: str, dlq: str, os_url: str) -> None:
        import hcad.bridge.handlers as handlers

        self.handlers = handlers
        self.sqs, self.shard_queue, self.dlq = sqs, shard_queue, dlq
        self.env = {
            "HCAD_BRIDGE_CONFIG": json.dumps(raw_config),
            "HCAD_BRIDGE_SHARD_QUEUE": shard_queue,
            "HCAD_BRIDGE_DLQ": dlq,
            "HCAD_URL": os_url,
            "HCAD_AUTH": "none",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
        self._saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        handlers._CACHE.clear()  # a cold container
        self.capture = _Capture()
        logging.getLogger("hcad.bridge").addHandler(self.capture)
        self.runs: list[BridgeRun] = []
        self.redrives: list[dict[str, Any]] = []
        self.worker_invocations = 0

    def close(self) -> None:
        logging.getLogger("hcad.bridge").removeHandler(self.capture)
        self.handlers._CACHE.clear()
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    @property
    def bridge(self) -> Any:
        return self.handlers._bridge()[0]

    def manager(self, event: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(self.handlers.manager(event or {}, _Context()))

    def drain(self) -> tuple[int, int, int]:
        """Worker invocations until the shard queue is empty: (shard messages, documents, failures)."""
        shards = docs = failures = 0
        while True:
            msgs = self.sqs.receive_message(
                QueueUrl=self.shard_queue, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=120
            ).get("Messages", [])
            if not msgs:
                return shards, docs, failures
            before = len(self.capture.workers)
            event = {
                "Records": [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "eventSource": "aws:sqs",
                    }
                    for m in msgs
                ]
            }
            self.worker_invocations += 1
            resp = self.handlers.worker(event, _Context())
            failed = {f["itemIdentifier"] for f in resp.get("batchItemFailures", [])}
            for m in msgs:  # what the SQS event source mapping does with a partial batch response
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=self.shard_queue, ReceiptHandle=m["ReceiptHandle"])
            failures += len(failed)
            shards += len(msgs) - len(failed)
            docs += sum(int(w.get("write", {}).get("indexed", 0)) for w in self.capture.workers[before:])
            if failed:
                return shards, docs, failures  # SQS retries them after the visibility timeout

    def poll(self) -> BridgeRun:
        t0 = time.time()
        summary = self.manager()
        t1 = time.time()
        shards, docs, failures = self.drain()
        run = BridgeRun(t0, t1 - t0, time.time(), int(summary["end"]), shards, docs, failures)
        self.runs.append(run)
        return run

    def backfill(self, start: int, end: int) -> BridgeRun:
        t0 = time.time()
        summary = self.manager({"backfill": {"from": iso(start), "to": iso(end)}})
        t1 = time.time()
        shards, docs, failures = self.drain()
        return BridgeRun(t0, t1 - t0, time.time(), int(summary["end"]), shards, docs, failures)

    def redrive(self) -> dict[str, Any]:
        report = dict(self.handlers.redrive({}, _Context()))
        self.redrives.append(report)
        return report

    def dead_letters_waiting(self) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


# ---------------------------------------------------------------------------------------------- the on-call channel
ENTITY_LINE = re.compile(
    r"^- host=(?P<host>\S+) process=(?P<process>\S+) grade (?P<grade>\S+) confidence "
    r"(?P<confidence>\S+) data_end_time (?P<end>\d+)",
    re.M,
)
PERIOD_LINE = re.compile(r"^Period: (?P<start>\S+) to (?P<end>\S+)$", re.M)


@dataclass
class Alert:
    """One webhook message: when it arrived and the entities it names."""

    received: float
    body: str
    entities: list[dict[str, Any]]
    period_end: float | None

    @classmethod
    def parse(cls, received: float, body: str) -> Alert:
        ents = [
            {
                "host": m["host"],
                "process": m["process"],
                "grade": float(m["grade"]),
                "confidence": float(m["confidence"]),
                "data_end": int(m["end"]) / 1000,
            }
            for m in ENTITY_LINE.finditer(body)
        ]
        pm = PERIOD_LINE.search(body)
        period_end = None
        if pm:
            with contextlib.suppress(ValueError):
                period_end = datetime.fromisoformat(pm["end"].replace("Z", "+00:00")).timestamp()
        return cls(received, body, ents, period_end)


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every request (the on-call channel) and answers 200."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                now = time.time()
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
                with receiver._lock:
                    receiver.alerts.append(Alert.parse(now, body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hcad-live"
        threading.Thread(target=self.server.serve_forever, name="hcad-live-receiver", daemon=True).start()

    def snapshot(self) -> list[Alert]:
        with self._lock:
            return list(self.alerts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------- the pipeline
@dataclass
class Options:
    hosts: int = 40
    processes: int = 3
    history_minutes: int = 120
    confidence: float = 0.15
    grade: float = 0.35  # P2 (the monitor's low threshold); P1 at max(0.7, grade)
    anomaly_minutes: int = 3
    seed: int = 7
    day_seconds: int = 86400
    hosts_per_shard: int = 10
    tps: float = 5.0  # GetMetricData calls/s for the container (the token bucket)
    max_periods_per_call: int = 5  # moto scans every datapoint of the window per query: keep calls small
    publish_at: float = 0.5  # seconds after the minute: the fleet publishes the minute that just ended
    bridge_at: float = 2.0  # seconds after the minute: the manager's schedule
    result_lag: int = 10  # seconds: the monitor's window ends this long before its run
    ready_timeout: float = 900
    name: str = ""


@dataclass
class Measured:
    """What one injection led to."""

    injection: Injection
    first_alert: float | None = None
    components: dict[str, float] = field(default_factory=dict)

    @property
    def latency(self) -> float | None:
        return None if self.first_alert is None else self.first_alert - self.injection.start


class LivePipeline:
    """Sets up and runs the whole system; :meth:`close` removes everything it created."""

    def __init__(self, url: str, opts: Options, *, out: Callable[[str], None] = print) -> None:
        self.url, self.opts, self.out = url, opts, out
        self.client = hcad.connect(url, timeout=120)
        suffix = opts.name or uuid.uuid4().hex[:6]
        self.index = f"hcad-live-{suffix}"
        self.det_name = f"hcad-live-{suffix}"
        self.monitor_name = f"hcad-live-{suffix}-entities"
        self.channel_name = f"hcad-live-{suffix}-oncall"
        self.fleet = Fleet(opts.hosts, opts.processes, seed=opts.seed, day_seconds=opts.day_seconds)
        self.served = ServedLog()
        self.detector: Detector | None = None
        self.monitor_id: str | None = None
        self.channel_id: str | None = None
        self.receiver: Receiver | None = None
        self.moto: Any = None
        self.runtime: LambdaRuntime | None = None
        self._stop = threading.Event()
        self._world: threading.Thread | None = None
        self._world_error: BaseException | None = None
        self.last_published_end = 0
        self.started_at = time.time()
        self.ad_phase: float | None = None
        self.exec_spread: float = 0.0
        self.history_needed = 0
        self._settings_restore: dict[str, Any] = {}

    # -- setup -------------------------------------------------------------------------------------
    def setup(self) -> None:
        import boto3
        from moto.server import ThreadedMotoServer

        o = self.opts
        self.served.install()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        self.cw = session.client("cloudwatch", endpoint_url=moto_url)
        sqs = session.client("sqs", endpoint_url=moto_url)
        dlq = sqs.create_queue(QueueName=f"{self.index}-dead-letters")["QueueUrl"]
        shard_dlq = sqs.create_queue(QueueName=f"{self.index}-shards-dlq")["QueueUrl"]
        shard_dlq_arn = sqs.get_queue_attributes(QueueUrl=shard_dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        shards = sqs.create_queue(
            QueueName=f"{self.index}-shards",
            Attributes={
                "VisibilityTimeout": "120",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": shard_dlq_arn, "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        raw = {
            "index": self.index,
            "name": "live",
            "region": REGION,
            "period": "60s",
            "lag": "0s",  # moto has a minute's data as soon as the fleet published it; CloudWatch: 2m
            "overlap": "3m",
            "initial_lookback": "10m",
            "entity": {"host_dimension": HOST_DIM, "process_dimension": PROC_DIM},
            "metrics": {
                f: {"namespace": NAMESPACE, "metric": m, "stat": s, "per_process": True}
                for f, (m, s) in METRICS.items()
            },
            "shards": {"hosts_per_shard": o.hosts_per_shard},
            "fetch": {"tps": o.tps, "burst": 2, "max_periods_per_call": o.max_periods_per_call},
            "endpoints": {"cloudwatch": moto_url, "sqs": moto_url},
            "opensearch": {
                "url": self.url,
                "auth": "none",
                "checkpoint_index": f"{self.index}-ckpt",
                "number_of_replicas": 0,
            },
        }
        self.runtime = LambdaRuntime(raw, sqs, shards, dlq, self.url)
        self.receiver = Receiver()

        # What the models need, from hcad's own pre-flight numbers: shingle + 32 intervals of history.
        det = self._detector_spec()
        self.history_needed = NUM_MIN_SAMPLES + det.effective_shingle_size
        if o.history_minutes < self.history_needed:
            raise HcadError(
                f"--history {o.history_minutes}m is less than the {self.history_needed} intervals each model needs "
                f"(shingle {det.effective_shingle_size} + {NUM_MIN_SAMPLES} samples)"
            )
        now = int(time.time())
        end = now // P * P
        start = end - o.history_minutes * P
        self.out(
            f"fleet: {o.hosts} hosts × {o.processes} processes = {len(self.fleet.entities)} entities, "
            f"{len(METRICS)} metrics each; publishing {o.history_minutes} minutes of history to CloudWatch (moto)"
        )
        t0 = time.time()
        n = self.fleet.publish(self.cw, start, end)
        self.last_published_end = end
        self.out(f"  {n:,} datapoints in {time.time() - t0:.1f}s")
        self.out("backfill through the bridge: manager {backfill} → SQS → worker")
        run = self.runtime.backfill(start, end)
        self.out(
            f"  {run.shards} shard messages, {run.docs:,} documents indexed in {run.done - run.at:.1f}s "
            f"(token bucket waited {self._bucket_wait():.1f}s)"
        )
        self.client.indices.refresh(index=self.index)
        pre = self.client.ad.preflight(det)
        pre.raise_for_issues()
        short = [k for k, v in pre.density.items() if v < 1.0]
        self.out(
            f"pre-flight: each entity needs {pre.intervals_checked} intervals of 1m history "
            f"(shingle {det.effective_shingle_size} + {NUM_MIN_SAMPLES}); {pre.entities_checked} entities checked, "
            f"{len(pre.density) - len(short)} have all of them"
            + (f"; {len(short)} do not: {short[:3]}" if short else "")
        )
        for w in pre.warnings:
            self.out(f"  warning: {w}")
        self._allow_local_webhooks()

    def _detector_spec(self) -> Detector:
        return Detector.hcad(
            self.det_name,
            self.index,
            "@timestamp",
            ["host", "process"],
            {f: ("avg", f) for f in METRICS},
            "1m",
            window_delay="1m",
            description="hcad live pipeline (scripts/live)",
        )

    def _bucket_wait(self) -> float:
        assert self.runtime is not None
        bucket = self.runtime.bridge.fetcher.bucket
        return float(bucket.waited) if bucket is not None else 0.0

    def _allow_local_webhooks(self) -> None:
        """The notifications plugin may be told to deny 127.0.0.1 or webhooks: lift exactly that, restore later."""
        deny_key = "opensearch.notifications.core.http.host_deny_list"
        s = self.client.cluster.get_settings(include_defaults=True, flat_settings=True)
        merged = {**s.get("defaults", {}), **s.get("persistent", {}), **s.get("transient", {})}
        deny = list(merged.get(deny_key) or [])
        if any(e.strip() in ("127.0.0.1", "localhost", "127.0.0.0/8") for e in deny):
            self._settings_restore[deny_key] = s.get("transient", {}).get(deny_key)
            keep = [e for e in deny if e.strip() not in ("127.0.0.1", "localhost", "127.0.0.0/8")]
            self.client.cluster.put_settings(body={"transient": {deny_key: keep}})
            self.out("  (lifted the notifications deny list for 127.0.0.1 while this runs)")

    # -- the world: fleet and bridge on their schedules ---------------------------------------------
    def start_world(self) -> None:
        self._world = threading.Thread(target=self._world_loop, name="hcad-live-world", daemon=True)
        self._world.start()

    def _world_loop(self) -> None:
        assert self.runtime is not None
        o = self.opts
        last_poll = last_redrive = 0
        try:
            while not self._stop.is_set():
                now = time.time()
                minute = int(now // P * P)
                if minute > self.last_published_end and now - minute >= o.publish_at:
                    self.fleet.publish(self.cw, self.last_published_end, minute)
                    self.last_published_end = minute
                if minute > last_poll and now - minute >= o.bridge_at and self.last_published_end >= minute:
                    last_poll = minute
                    self.runtime.poll()
                    if minute - last_redrive >= 5 * P:
                        last_redrive = minute
                        self.runtime.redrive()
                self._stop.wait(0.2)
        except BaseException as e:  # surfaced by check_world()
            self._world_error = e

    def check_world(self) -> None:
        if self._world_error is not None:
            raise HcadError(f"the fleet/bridge loop failed: {self._world_error!r}") from self._world_error

    def stop_world(self) -> None:
        self._stop.set()
        if self._world is not None:
            self._world.join(timeout=120)
            self._world = None

    def sleep_until_second(self, second: float) -> None:
        """Sleep until ``second`` past the next minute boundary (or this minute's, if still ahead)."""
        now = time.time()
        target = now // P * P + second
        if target <= now + 1:
            target += P
        while time.time() < target:
            self.check_world()
            time.sleep(min(1.0, target - time.time()) if target > time.time() else 0)

    # -- detector and monitor ----------------------------------------------------------------------
    def start_detector(self) -> None:
        """Create the detector and start it just after a bridge poll has indexed the newest minute."""
        assert self.runtime is not None
        deadline = time.time() + 2 * P
        while not self.runtime.runs and time.time() < deadline:  # the first live poll: how long a poll takes
            self.check_world()
            time.sleep(0.5)
        runs = self.runtime.runs[-3:]
        poll_s = max((r.done - r.at for r in runs), default=5.0)
        phase = min(45.0, math.ceil(self.opts.bridge_at + 1.5 * poll_s + 5))
        self.detector = self.client.ad.create(self._detector_spec())
        self.sleep_until_second(phase)
        assert self.detector.id
        self.client.ad.start(self.detector.id)
        self.out(
            f"detector {self.det_name} started at :{phase:02.0f} (bridge polls at :{self.opts.bridge_at:02.0f} and "
            f"take {poll_s:.1f}s; window delay 1m): 1-minute interval, shingle {self.detector.effective_shingle_size}, "
            f"features {', '.join(METRICS)}"
        )

    def wait_ready(self, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Every entity has graded real-time results at the monitor's confidence (hcad's wait_initialized)."""
        assert self.detector and self.detector.id
        t0 = time.time()

        def on_progress(pct: float, prof: dict[str, Any]) -> None:
            self.check_world()
            if progress:
                progress(
                    f"models ready (confidence ≥ {self.opts.confidence}): {prof.get('entities_ready')}/"
                    f"{prof.get('entities_total')} after {time.time() - t0:.0f}s · {self.status()}"
                )

        prof = self.client.ad.wait_initialized(
            self.detector.id,
            entities=1.0,
            min_confidence=self.opts.confidence,
            timeout=self.opts.ready_timeout,
            poll=5,
            progress=on_progress,
        )
        self._measure_ad_phase()
        return prof

    def _measure_ad_phase(self) -> None:
        """The detector job's phase (execution_start_time mod 60) and how long after it results end."""
        assert self.detector and self.detector.id
        resp = self.client.ad.search_results(
            {
                "size": 500,
                "_source": ["execution_start_time", "execution_end_time"],
                "query": {
                    "bool": {
                        "filter": [{"term": {"detector_id": self.detector.id}}, {"exists": {"field": "anomaly_grade"}}],
                        "must_not": [{"exists": {"field": "task_id"}}],
                    }
                },
                "sort": [{"execution_end_time": "desc"}],
            }
        )
        hits = [h["_source"] for h in resp.get("hits", {}).get("hits", [])]
        if not hits:
            return
        starts = [h["execution_start_time"] / 1000 for h in hits]
        phases = sorted(s % P for s in starts)
        self.ad_phase = phases[len(phases) // 2]
        self.exec_spread = max(h["execution_end_time"] / 1000 - h["execution_start_time"] / 1000 for h in hits)

    def create_monitor(self) -> None:
        """The entities monitor and its webhook channel, created in phase just after the detector's results."""
        assert self.receiver is not None and self.detector is not None
        o = self.opts
        phase = ((self.ad_phase or 20.0) + self.exec_spread + o.result_lag + 3) % P
        channel = ChannelSpec.from_dict(
            {
                "name": self.channel_name,
                "type": "webhook",
                "url": self.receiver.url,
                "method": "POST",
                "headers": {"Content-Type": "text/plain; charset=utf-8"},
            }
        )
        spec = MonitorSpec.from_dict(
            {
                "name": self.monitor_name,
                "detector": self.det_name,
                "interval": "1m",
                "result_lag": f"{o.result_lag}s",
                "channel": self.channel_name,
                "thresholds": {"high": max(0.7, o.grade + 0.05), "low": o.grade, "confidence": o.confidence},
            }
        )
        the_plan = plan(self.client, [spec], channels=[channel])
        self.sleep_until_second(phase)
        apply(self.client, the_plan)
        self.channel_id = the_plan.channels[0].channel_id
        found = Alerting(self.client).find(self.monitor_name)
        self.monitor_id = found["id"] if found else None
        self.out(
            f"monitor {self.monitor_name} created at :{phase:02.0f} (detector runs at :{self.ad_phase or 0:02.0f}, "
            f"its results end within {self.exec_spread:.1f}s, result lag {o.result_lag}s): every 1m, grade ≥ "
            f"{o.grade}, confidence ≥ {o.confidence}, webhook → {self.receiver.url}"
        )

    # -- status ------------------------------------------------------------------------------------
    def status(self) -> str:
        assert self.runtime is not None
        parts = []
        if self.detector and self.detector.id:
            now_ms = int(time.time() * 1000)
            resp = self.client.ad.search_results(
                {
                    "size": 0,
                    "query": {
                        "bool": {
                            "filter": [
                                {"term": {"detector_id": self.detector.id}},
                                {"exists": {"field": "anomaly_grade"}},
                            ],
                            "must_not": [{"exists": {"field": "task_id"}}],
                        }
                    },
                    "aggs": {
                        "models": {"cardinality": {"field": "model_id"}},
                        "last": {
                            "filter": {"range": {"execution_end_time": {"gte": now_ms - (P + 5) * 1000}}},
                            "aggs": {"conf": {"min": {"field": "confidence"}}},
                        },
                    },
                }
            )
            aggs = resp.get("aggregations", {})
            last = aggs.get("last", {})
            conf = (last.get("conf") or {}).get("value")
            parts.append(f"models {int(aggs.get('models', {}).get('value') or 0)}/{len(self.fleet.entities)}")
            parts.append(
                f"results last interval {int(last.get('doc_count') or 0)}"
                + (f" (min confidence {conf:.2f})" if conf is not None else "")
            )
        runs = self.runtime.runs
        if runs:
            r = runs[-1]
            parts.append(f"bridge {r.shards} shards {r.docs} docs {r.done - r.at:.1f}s")
        alerts = self.receiver.snapshot() if self.receiver else []
        parts.append(f"alerts {len(alerts)}")
        return " · ".join(parts)

    # -- injections and their latency ---------------------------------------------------------------
    def schedule_injection(self, host: str, process: str, start: int) -> Injection:
        inj = Injection(host, process, start, self.opts.anomaly_minutes)
        self.fleet.inject(inj)
        return inj

    def classify(self) -> tuple[list[Measured], list[tuple[Alert, dict[str, Any]]], list[tuple[Alert, dict[str, Any]]]]:
        """Each injection with its first alert; (alert, entity) namings that are true and false."""
        alerts = self.receiver.snapshot() if self.receiver else []
        measured = [Measured(i) for i in self.fleet.injections]
        true_hits, false_hits = [], []
        for a in alerts:
            for e in a.entities:
                # The result's data_end_time is the end of the detector's window; its period holds the datapoint.
                hit = next(
                    (
                        m
                        for m in measured
                        if (m.injection.host, m.injection.process) == (e["host"], e["process"])
                        and m.injection.start < e["data_end"] <= m.injection.end + 3 * P
                    ),
                    None,
                )
                if hit is None:
                    false_hits.append((a, e))
                    continue
                true_hits.append((a, e))
                if hit.first_alert is None or a.received < hit.first_alert:
                    hit.first_alert = a.received
                    hit.components = self._components(hit.injection, a, e)
        return measured, true_hits, false_hits

    def _components(self, inj: Injection, alert: Alert, entity: dict[str, Any]) -> dict[str, float]:
        """Where the time went, from the first anomalous datapoint to the webhook."""
        assert self.runtime is not None and self.detector is not None
        t0 = inj.start
        period_end = t0 + P
        indexed = next((r.done for r in self.runtime.runs if r.end > t0), None)
        ad = self._result_for(inj, t0)
        out = {"period": float(P)}
        if indexed is not None:
            out["bridge"] = indexed - period_end
        if ad is not None and indexed is not None:
            start, end = ad["execution_start_time"] / 1000, ad["execution_end_time"] / 1000
            out["detector_wait"] = start - indexed
            out["detector_run"] = end - start
            if alert.period_end is not None:
                out["monitor"] = alert.period_end - end
                out["delivery"] = alert.received - alert.period_end
        return out

    def _result_for(self, inj: Injection, t: int) -> dict[str, Any] | None:
        assert self.detector and self.detector.id
        resp = self.client.ad.search_results(
            {
                "size": 1,
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"detector_id": self.detector.id}},
                            {"range": {"data_start_time": {"lte": t * 1000}}},
                            {"range": {"data_end_time": {"gt": t * 1000}}},
                            *(
                                {
                                    "nested": {
                                        "path": "entity",
                                        "query": {
                                            "bool": {
                                                "filter": [{"term": {"entity.name": k}}, {"term": {"entity.value": v}}]
                                            }
                                        },
                                    }
                                }
                                for k, v in (("host", inj.host), ("process", inj.process))
                            ),
                        ],
                        "must_not": [{"exists": {"field": "task_id"}}],
                    }
                },
                "sort": [{"execution_end_time": "asc"}],
            }
        )
        hits = resp.get("hits", {}).get("hits", [])
        return hits[0]["_source"] if hits else None

    # -- exactly once --------------------------------------------------------------------------------
    def verify_exactly_once(self) -> dict[str, Any]:
        """Every datapoint moto served is in the index, once, with its value; nothing else is there."""
        from opensearchpy import helpers

        self.client.indices.refresh(index=self.index)
        expected: dict[str, tuple[tuple[str, str, int], dict[str, float]]] = {}
        with self.served._lock:
            for (h, p, t), vals in self.served.points.items():
                expected[doc_id(h, p, t)] = ((h, p, t), dict(vals))
        seen: dict[str, int] = {}
        keys: set[tuple[Any, Any, Any]] = set()
        wrong, unexpected = [], []
        for hit in helpers.scan(self.client, index=self.index, query={"query": {"match_all": {}}}, size=5000):
            _id, src = hit["_id"], hit["_source"]
            seen[_id] = seen.get(_id, 0) + 1
            keys.add((src.get("host"), src.get("process"), src.get("@timestamp")))
            if _id not in expected:
                unexpected.append(_id)
                continue
            (h, p, t), vals = expected[_id]
            if (src.get("host"), src.get("process"), src.get("@timestamp")) != (h, p, iso(t)) or any(
                abs(float(src.get(f, math.nan)) - v) > 1e-6 * max(1.0, abs(v)) for f, v in vals.items()
            ):
                wrong.append(_id)
        # Documents per (host, process, @timestamp), whatever their ids: a duplicate would show here.
        total = int(self.client.count(index=self.index)["count"])
        distinct = len(keys)
        missing = [i for i in expected if i not in seen]
        published_range = [
            k
            for k in self.fleet.published
            if k[2] < (self.runtime.runs[-1].end if self.runtime and self.runtime.runs else 0)
        ]
        not_served = [k for k in published_range if k not in self.served.points]
        return {
            "served_datapoints": sum(len(v[1]) for v in expected.values()),
            "served_documents": len(expected),
            "index_documents": total,
            "distinct_entity_periods": int(distinct),
            "missing": len(missing),
            "duplicated": total - int(distinct),
            "unexpected": len(unexpected),
            "wrong_values": len(wrong),
            "published_not_served": len(not_served),
            "getmetricdata_calls": self.served.calls,
        }

    # -- cleanup -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Remove everything this run created (each step on its own: one failure does not stop the rest)."""
        steps: list[tuple[str, Callable[[], Any]]] = [("fleet and bridge", self.stop_world)]
        alerting = None
        with contextlib.suppress(Exception):
            alerting = Alerting(self.client)

        def del_monitor() -> None:
            if alerting is None:
                return
            found = alerting.find(self.monitor_name)
            if found:
                alerting.delete(found["id"])

        def del_channel() -> None:
            cid = (
                self.channel_id
                or ChannelSpec.from_dict(
                    {"name": self.channel_name, "type": "webhook", "url": "http://127.0.0.1/"}
                ).config_id
            )
            with contextlib.suppress(NotFound):
                Notifications(self.client, check_plugin=False).delete_config(config_id=cid)

        def del_detector() -> None:
            det = self.detector or self.client.ad.find(self.det_name)
            if det is None or not det.id:
                return
            for historical in (False, True):
                with contextlib.suppress(HcadError):
                    self.client.ad.stop(det.id, historical=historical)
            self.client.ad.delete(det.id)

        def del_indices() -> None:
            for idx in (self.index, f"{self.index}-ckpt"):
                self.client.indices.delete(index=idx, ignore_unavailable=True)
            self.client.indices.delete_index_template(name=f"hcad-bridge-{self.index}", ignore=[404])

        def restore_settings() -> None:
            if self._settings_restore:
                self.client.cluster.put_settings(body={"transient": self._settings_restore})

        steps += [
            ("monitor", del_monitor),
            ("channel", del_channel),
            ("detector", del_detector),
            ("indices", del_indices),
            ("cluster settings", restore_settings),
            ("receiver", lambda: self.receiver.close() if self.receiver else None),
            ("lambda runtime", lambda: self.runtime.close() if self.runtime else None),
            ("moto", lambda: self.moto.stop() if self.moto else None),
            ("moto patch", self.served.uninstall),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as e:
                self.out(f"cleanup: {what}: {e}")


# ---------------------------------------------------------------------------------------------- reports
def percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    if not v:
        return math.nan
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


COMPONENTS = (
    ("period", "the datapoint's own minute (published when it ends)"),
    ("bridge", "bridge: schedule offset + manager + SQS + GetMetricData + bulk index"),
    ("detector_wait", "window delay + the detector job's phase"),
    ("detector_run", "the detector's run (query, models, result write)"),
    ("monitor", "monitor: result lag + its phase"),
    ("delivery", "notification → webhook received"),
)


def summary(
    pipe: LivePipeline, measured: list[Measured], true_hits: list[Any], false_hits: list[Any]
) -> dict[str, Any]:
    lat = [m.latency for m in measured if m.latency is not None]
    comps = {k: [m.components[k] for m in measured if k in m.components] for k, _ in COMPONENTS}
    named = len(true_hits) + len(false_hits)
    alerts = pipe.receiver.snapshot() if pipe.receiver else []
    return {
        "injected": len(measured),
        "detected": len(lat),
        "latency_s": {"median": percentile(lat, 0.5), "p95": percentile(lat, 0.95), "all": [round(x, 1) for x in lat]},
        "components_median_s": {k: percentile(v, 0.5) for k, v in comps.items()},
        "alerts": len(alerts),
        "entity_namings": named,
        "false_namings": len(false_hits),
        "false_entities": sorted({f"{e['host']}/{e['process']}" for _, e in false_hits}),
        "precision": (len(true_hits) / named) if named else math.nan,
        "ad_phase_s": pipe.ad_phase,
        "bridge_polls": len(pipe.runtime.runs) if pipe.runtime else 0,
        "bridge_poll_median_s": percentile([r.done - r.at for r in pipe.runtime.runs], 0.5) if pipe.runtime else None,
        "token_bucket_waited_s": pipe._bucket_wait() if pipe.runtime else None,
        "dead_letters_waiting": pipe.runtime.dead_letters_waiting() if pipe.runtime else None,
        "redrives": len(pipe.runtime.redrives) if pipe.runtime else 0,
    }


def print_report(rep: dict[str, Any], out: Callable[[str], None] = print) -> None:
    lat = rep["latency_s"]
    out(
        f"\ninjected {rep['injected']}, alerted {rep['detected']}; latency median {lat['median']:.1f}s, "
        f"p95 {lat['p95']:.1f}s  (each: {lat['all']})"
    )
    out("where the time goes (median per injection):")
    for k, what in COMPONENTS:
        v = rep["components_median_s"].get(k)
        if v is not None and not math.isnan(v):
            out(f"  {v:6.1f}s  {what}")
    out(
        f"alerts: {rep['alerts']} messages naming {rep['entity_namings']} entities, {rep['false_namings']} of them "
        f"not injected {rep['false_entities'][:5]}; precision {rep['precision']:.2f}"
    )


# ---------------------------------------------------------------------------------------------- the node
def ensure_node(url: str | None, out: Callable[[str], None] = print) -> tuple[str, bool]:
    """The cluster to use, and whether this run started it (then it stops it at the end)."""
    import requests

    if url:
        return url, False
    port = os.environ.get("HCAD_OS_PORT", "9200")
    local = f"http://127.0.0.1:{port}"
    with contextlib.suppress(requests.RequestException):
        if requests.get(local, timeout=5).ok:
            return local, False
    out("starting the local OpenSearch (scripts/opensearch start)")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "opensearch"), "start"], check=True)
    return local, True


def stop_node() -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "opensearch"), "stop"], check=False)


# ---------------------------------------------------------------------------------------------- the run
def pick_entities(fleet: Fleet, n: int, seed: int) -> list[tuple[str, str]]:
    ents = list(fleet.entities)
    random.Random(seed).shuffle(ents)
    return [ents[i % len(ents)] for i in range(n)]


def run_live(
    pipe: LivePipeline,
    *,
    duration: float,
    inject: int,
    inject_every: int,
    first_inject_after: int = 60,
    progress_every: float = 10,
    stop_when_done: bool = False,
) -> dict[str, Any]:
    """Set up, wait for readiness, inject, watch the alerts; returns the report (the caller closes ``pipe``)."""
    out = pipe.out
    tty = sys.stdout.isatty()

    def show(line: str) -> None:
        if tty:
            sys.stdout.write("\r\033[K" + line[:200])
            sys.stdout.flush()
        else:
            out(line)

    t_begin = time.time()
    pipe.setup()
    pipe.start_world()
    pipe.start_detector()
    last = [0.0]

    def progress(line: str) -> None:
        if time.time() - last[0] >= progress_every:
            last[0] = time.time()
            show(f"[{time.time() - t_begin:5.0f}s] {line}")

    prof = pipe.wait_ready(progress)
    if tty:
        sys.stdout.write("\n")
    out(
        f"ready after {time.time() - t_begin:.0f}s: {prof.get('entities_ready')}/{prof.get('entities_total')} entities "
        f"have graded results with confidence ≥ {pipe.opts.confidence}"
    )
    pipe.create_monitor()
    targets = pick_entities(pipe.fleet, inject, pipe.opts.seed)
    first = int((time.time() + first_inject_after) // P * P + P)
    schedule = [(first + k * inject_every * P, h, p) for k, (h, p) in enumerate(targets)]
    for t, h, p in schedule:
        pipe.schedule_injection(h, p, t)
    if schedule:
        out(
            "injections (first anomalous datapoint): " + ", ".join(f"{h}/{p} @ {iso(t)[11:16]}" for t, h, p in schedule)
        )
    end_at = t_begin + duration
    if schedule:
        end_at = max(end_at, schedule[-1][0] + (pipe.opts.anomaly_minutes + 4) * P) if stop_when_done else end_at
    printed = 0
    while time.time() < end_at:
        pipe.check_world()
        alerts = pipe.receiver.snapshot() if pipe.receiver else []
        for a in alerts[printed:]:
            if tty:
                sys.stdout.write("\r\033[K")
            names = ", ".join(f"{e['host']}/{e['process']} (grade {e['grade']:.2f})" for e in a.entities)
            inj = [
                i
                for i in pipe.fleet.injections
                if any((i.host, i.process) == (e["host"], e["process"]) for e in a.entities) and i.start <= a.received
            ]
            lat = f"latency {a.received - inj[-1].start:.0f}s" if inj else "NOT INJECTED"
            out(f"ALERT {datetime.fromtimestamp(a.received, UTC):%H:%M:%S} {names} — {lat}")
        printed = len(alerts)
        if stop_when_done and schedule:
            measured, _, _ = pipe.classify()
            if (
                all(m.first_alert is not None for m in measured)
                and time.time() > max(i.end for i in pipe.fleet.injections) + P
            ):
                break
        progress(pipe.status() + f" · injected {sum(1 for t, _, _ in schedule if t <= time.time())}/{len(schedule)}")
        time.sleep(1)
    if tty:
        sys.stdout.write("\n")
    pipe.stop_world()
    measured, true_hits, false_hits = pipe.classify()
    rep = summary(pipe, measured, true_hits, false_hits)
    rep["exactly_once"] = pipe.verify_exactly_once()
    rep["wall_s"] = time.time() - t_begin
    rep["injections"] = [
        {
            "entity": f"{m.injection.host}/{m.injection.process}",
            "start": iso(m.injection.start),
            "latency_s": m.latency,
            "components_s": m.components,
        }
        for m in measured
    ]
    return rep


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="scripts/live", description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("HCAD_URL"), help="cluster (default HCAD_URL, else the local node)")
    ap.add_argument("--duration", default="20m", help="how long to run after setup starts (e.g. 20m, 1h)")
    ap.add_argument("--inject", type=int, default=3, help="anomalies to inject (distinct entities, in turn)")
    ap.add_argument("--inject-every", type=int, default=4, help="minutes between injections")
    ap.add_argument("--anomaly-minutes", type=int, default=3, help="anomalous datapoints per injection")
    ap.add_argument("--hosts", type=int, default=40)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--history", type=int, default=120, help="minutes of history to backfill (≥ what models need)")
    ap.add_argument("--confidence", type=float, default=Options.confidence, help="the monitor's minimum confidence")
    ap.add_argument("--grade", type=float, default=Options.grade, help="the monitor's minimum grade (P2)")
    ap.add_argument("--result-lag", type=int, default=Options.result_lag, help="seconds (monitor window shift)")
    ap.add_argument("--day-length", default="24h", help="length of the simulated day/night cycle")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the final report as JSON too")
    return ap.parse_args(argv)


def duration_s(text: str) -> int:
    from hcad.bridge.mapping import parse_duration

    return parse_duration(text, "--duration")


def interruptible() -> None:
    """Ctrl-C and SIGTERM both end the run through its cleanup (also when started in the background,
    where a shell leaves SIGINT ignored)."""

    def on_signal(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def quiet_logging() -> None:
    """Warnings and errors only: the handlers' INFO summaries are kept by the runtime, not printed."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for h in logging.getLogger().handlers:
        h.setLevel(logging.WARNING)
    logging.getLogger("opensearch").setLevel(logging.ERROR)  # expected 404s (e.g. looking up a new channel)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    quiet_logging()
    url, started = ensure_node(args.url)

    interruptible()
    opts = Options(
        hosts=args.hosts,
        processes=args.processes,
        history_minutes=args.history,
        confidence=args.confidence,
        grade=args.grade,
        anomaly_minutes=args.anomaly_minutes,
        seed=args.seed,
        day_seconds=duration_s(args.day_length),
        result_lag=args.result_lag,
    )
    pipe = LivePipeline(url, opts)
    status = 0
    try:
        rep = run_live(pipe, duration=duration_s(args.duration), inject=args.inject, inject_every=args.inject_every)
        print_report(rep)
        eo = rep["exactly_once"]
        print(
            f"datapoints: CloudWatch served {eo['served_datapoints']:,} in {eo['served_documents']:,} documents; "
            f"index has {eo['index_documents']:,}; missing {eo['missing']}, duplicated {eo['duplicated']}, "
            f"wrong {eo['wrong_values']}, unexpected {eo['unexpected']}"
        )
        if args.json:
            print(json.dumps(rep, indent=2, default=str))
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up")
        status = 130
    except HcadError as e:
        print(f"scripts/live: error: {e}", file=sys.stderr)
        status = 1
    finally:
        pipe.close()
        if started:
            print("stopping the OpenSearch node this run started")
            stop_node()
    return status


if __name__ == "__main__":
    sys.exit(main())
