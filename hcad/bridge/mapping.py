"""The bridge's declarative configuration and the pure CloudWatch → document transform.

A config names the index HCAD detectors read, the period, and one entry per document field saying
which CloudWatch namespace/metric/statistic (and dimensions) feeds it::

    index: fleet-metrics
    period: 60s
    entity: {host_dimension: InstanceId, process_dimension: process_name}
    metrics:
      cpu:     {namespace: AWS/EC2, metric: CPUUtilization, stat: Average}
      network_in: {namespace: AWS/EC2, metric: NetworkIn, stat: Sum}
      proc_cpu: {namespace: CWAgent, metric: procstat_cpu_usage, stat: Average, per_process: true}

Nothing here does I/O except :func:`load_config` reading the file it is given.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hcad import times
from hcad.errors import ConfigError, Issue, ValidationError

RESERVED_FIELDS = frozenset({"@timestamp", "host", "process"})
FIELD_RE = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
STATS_RE = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?|tm\d+|wm\d+|tc\d+|ts\d+|IQM)$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# CloudWatch keeps 60 s data 15 days, 300 s data 63 days, 3600 s data 455 days; asking for a finer
# period than what is left returns nothing, silently.
RETENTION = ((60, 15 * 86400), (300, 63 * 86400), (3600, 455 * 86400))

# SQS refuses messages over 256 KiB; shard and dead-letter messages stay under this.
MAX_MESSAGE_BYTES = 240_000


def parse_duration(value: Any, path: str) -> int:
    """``60``, ``"60s"``, ``"5m"``, ``"2h"`` → seconds. Raises ConfigError naming ``path``."""
    if isinstance(value, bool):
        raise ConfigError(f"{path}: {value!r} is not a duration; write e.g. 60s, 5m or 1h")
    if isinstance(value, int):
        seconds = value
    else:
        m = _DURATION_RE.match(str(value))
        if not m or m.group(2) == "ms":
            raise ConfigError(f"{path}: {value!r} is not a duration; write e.g. 60s, 5m or 1h")
        seconds = int(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds < 0:
        raise ConfigError(f"{path}: {value!r} must not be negative")
    return seconds


@dataclass(frozen=True)
class MetricSpec:
    """Where one document field comes from in CloudWatch."""

    field: str
    namespace: str
    metric: str
    stat: str
    per_process: bool = False
    dimensions: tuple[tuple[str, str], ...] = ()  # fixed extra dimensions, e.g. (("path", "/"),)
    unit: str | None = None


@dataclass(frozen=True)
class Entity:
    """One thing the detector models: a host, or a process on a host."""

    host: str
    process: str | None = None


@dataclass(frozen=True)
class Series:
    """One CloudWatch time series: an entity's value of one metric."""

    entity: Entity
    spec: MetricSpec


@dataclass(frozen=True)
class OpenSearchSettings:
    """Where and how the sink writes (``url``/``auth`` default to HCAD_URL/HCAD_AUTH)."""

    url: str | None = None
    auth: str | None = None  # none | basic | sigv4
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    region: str | None = None
    service: str = "es"
    verify: bool = True
    ca_certs: str | None = None
    timeout: float = 30.0
    bulk_docs: int = 500
    bulk_bytes: int = 5_000_000
    max_retries: int = 5
    connect_retries: int = 2
    checkpoint_index: str = "hcad-bridge-checkpoints"
    create_template: bool = True
    number_of_shards: int = 1
    number_of_replicas: int | None = None


@dataclass(frozen=True)
class FetchSettings:
    """GetMetricData batching and rate limiting."""

    tps: float = 40.0  # below the default 50 TPS GetMetricData quota
    burst: int = 5
    list_tps: float = 20.0  # ListMetrics quota is 25 TPS
    max_attempts: int = 8
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    queries_per_call: int = 500
    max_datapoints_per_call: int = 100_800
    max_periods_per_call: int | None = None


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge needs; build it with :func:`parse_config` or :func:`load_config`."""

    index: str
    metrics: tuple[MetricSpec, ...]
    period: int = 60
    lag: int = 120
    overlap: int = 300
    initial_lookback: int = 600
    max_window: int = 6 * 3600
    name: str = "default"
    region: str | None = None
    host_dimension: str = "InstanceId"
    process_dimension: str | None = None
    inventory_hosts: tuple[str, ...] | None = None
    inventory_processes: tuple[tuple[str, str], ...] = ()
    recently_active: bool = True
    hosts_per_shard: int = 500
    shard_queue_url: str | None = None
    dlq_url: str | None = None
    dlq_dir: str | None = None
    cloudwatch_endpoint: str | None = None
    sqs_endpoint: str | None = None
    opensearch: OpenSearchSettings = field(default_factory=OpenSearchSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)

    @property
    def fields(self) -> tuple[str, ...]:
        """The metric field names, in config order."""
        return tuple(m.field for m in self.metrics)

    def spec(self, field_name: str) -> MetricSpec:
        """The metric written to ``field_name`` (``KeyError`` when the config has none)."""
        for m in self.metrics:
            if m.field == field_name:
                return m
        raise KeyError(field_name)

    def dimensions_for(self, series: Series) -> list[dict[str, str]]:
        """The exact CloudWatch dimension set of ``series`` (a metric only matches its full set)."""
        dims = [{"Name": self.host_dimension, "Value": series.entity.host}]
        if series.spec.per_process:
            assert self.process_dimension and series.entity.process is not None
            dims.append({"Name": self.process_dimension, "Value": series.entity.process})
        dims.extend({"Name": k, "Value": v} for k, v in series.spec.dimensions)
        return dims

    def metrics_for(self, entity: Entity) -> tuple[MetricSpec, ...]:
        """Host metrics apply to host entities, per-process metrics to process entities."""
        want = entity.process is not None
        return tuple(m for m in self.metrics if m.per_process == want)


# ----------------------------------------------------------------------------------------------
# Loading and validation


def load_config(source: str | os.PathLike[str]) -> BridgeConfig:
    """Read a YAML or JSON config file (or inline JSON starting with ``{``) and validate it."""
    text: str
    name: str
    if isinstance(source, str) and source.lstrip().startswith("{"):
        text, name = source, "inline config"
    else:
        path = Path(source)
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"bridge config {name!r} does not exist; pass the path of a YAML file") from None
        except OSError as e:
            raise ConfigError(f"bridge config {name!r} cannot be read: {e.strerror}") from None
    try:
        if name.endswith(".json") or text.lstrip().startswith("{"):
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
    except ValueError as e:  # json.JSONDecodeError and yaml.YAMLError both derive from it or Exception
        raise ConfigError(f"{name}: not valid JSON/YAML ({e})") from None
    except Exception as e:  # yaml.YAMLError
        raise ConfigError(f"{name}: not valid YAML ({str(e).splitlines()[0]})") from None
    return parse_config(raw, source=name)


def parse_config(raw: Any, source: str | None = None) -> BridgeConfig:
    """Validate a config mapping; every problem is reported at once with its field path."""
    issues: list[Issue] = []
    if not isinstance(raw, Mapping):
        raise ValidationError(
            [Issue("", "the config must be a mapping", "see hcad/bridge/example-config.yaml")], source
        )

    def dur(key: str, default: int, node: Mapping[str, Any] = raw, prefix: str = "") -> int:
        if key not in node or node[key] is None:
            return default
        try:
            return parse_duration(node[key], prefix + key)
        except ConfigError as e:
            issues.append(Issue(prefix + key, str(e).split(": ", 1)[-1], "write e.g. 60s, 5m or 1h"))
            return default

    def integer(node: Mapping[str, Any], key: str, default: int, path: str, lo: int, hi: int) -> int:
        v = node.get(key, default)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            issues.append(Issue(path, f"{v!r} is not an integer in [{lo}, {hi}]"))
            return default
        return v

    def number(node: Mapping[str, Any], key: str, default: float, path: str, lo: float) -> float:
        v = node.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo:
            issues.append(Issue(path, f"{v!r} is not a number ≥ {lo}"))
            return default
        return float(v)

    def section(key: str, what: str) -> Mapping[str, Any]:
        node = raw.get(key) or {}
        if not isinstance(node, Mapping):
            issues.append(Issue(key, f"must be a mapping of {what}, not {type(node).__name__}"))
            return {}
        return node

    def text(node: Mapping[str, Any], key: str, path: str) -> str | None:
        v = node.get(key)
        if v is None or isinstance(v, str):
            return v
        issues.append(Issue(path, f"{v!r} is not a string"))
        return None

    known = {
        "index", "name", "period", "lag", "overlap", "initial_lookback", "max_window", "region", "entity",
        "inventory", "metrics", "shards", "queues", "fetch", "opensearch", "endpoints",
    }  # fmt: skip
    for key in raw:
        if key not in known:
            issues.append(Issue(str(key), "unknown setting", f"use one of {', '.join(sorted(known))}"))

    index = raw.get("index")
    if not isinstance(index, str) or not re.match(r"^[a-z0-9][a-z0-9_.\-]*$", index or ""):
        issues.append(Issue("index", f"{index!r} is not a valid index name", "lowercase letters, digits, - _ ."))
        index = "invalid"
    name = str(raw.get("name") or "default")
    if not re.match(r"^[A-Za-z0-9_.\-]{1,64}$", name):
        issues.append(Issue("name", f"{name!r} must be 1-64 of letters, digits, - _ ."))

    period = dur("period", 60)
    if period and period % 60 != 0 and period not in (1, 5, 10, 20, 30):
        issues.append(Issue("period", f"{period}s is not allowed", "use a multiple of 60s (or 1/5/10/20/30s)"))
    if period <= 0:
        issues.append(Issue("period", "must be positive"))
        period = 60
    lag = dur("lag", 120)
    overlap = dur("overlap", 300)
    initial_lookback = dur("initial_lookback", max(600, period))
    max_window = dur("max_window", 6 * 3600)
    if max_window < period:
        issues.append(Issue("max_window", f"must be at least one period ({period}s)"))

    entity = raw.get("entity") or {}
    if not isinstance(entity, Mapping):
        issues.append(Issue("entity", "must be a mapping with host_dimension (and process_dimension)"))
        entity = {}
    host_dim = str(entity.get("host_dimension") or "InstanceId")
    proc_dim = entity.get("process_dimension")
    proc_dim = str(proc_dim) if proc_dim else None

    metrics: list[MetricSpec] = []
    raw_metrics = raw.get("metrics")
    if not isinstance(raw_metrics, Mapping) or not raw_metrics:
        issues.append(
            Issue("metrics", "must map field names to CloudWatch metrics", "e.g. cpu: {namespace: AWS/EC2, ...}")
        )
        raw_metrics = {}
    for fname, m in raw_metrics.items():
        path = f"metrics.{fname}"
        if not isinstance(fname, str) or not FIELD_RE.match(fname) or fname in RESERVED_FIELDS:
            issues.append(Issue(path, "field name must match [a-z_][a-z0-9_]* and not be host/process"))
            continue
        if not isinstance(m, Mapping):
            issues.append(Issue(path, "must be a mapping with namespace, metric, stat"))
            continue
        for req in ("namespace", "metric", "stat"):
            if not m.get(req):
                issues.append(Issue(f"{path}.{req}", "is required"))
        stat = str(m.get("stat") or "Average")
        if not STATS_RE.match(stat):
            issues.append(Issue(f"{path}.stat", f"{stat!r} is not a CloudWatch statistic", "e.g. Average, Sum, p99"))
        per_process = bool(m.get("per_process", False))
        if per_process and not proc_dim:
            issues.append(Issue(f"{path}.per_process", "needs entity.process_dimension to be set"))
        dims = m.get("dimensions") or {}
        if not isinstance(dims, Mapping):
            issues.append(Issue(f"{path}.dimensions", "must map dimension names to fixed values"))
            dims = {}
        for d in dims:
            if d in (host_dim, proc_dim):
                issues.append(Issue(f"{path}.dimensions.{d}", "is the entity's own dimension; remove it"))
        for key in m:
            if key not in ("namespace", "metric", "stat", "per_process", "dimensions", "unit"):
                issues.append(Issue(f"{path}.{key}", "unknown setting"))
        metrics.append(
            MetricSpec(
                field=fname,
                namespace=str(m.get("namespace") or ""),
                metric=str(m.get("metric") or ""),
                stat=stat,
                per_process=per_process,
                dimensions=tuple(sorted((str(k), str(v)) for k, v in dims.items())),
                unit=str(m["unit"]) if m.get("unit") else None,
            )
        )

    inventory = raw.get("inventory")
    inv_hosts: tuple[str, ...] | None = None
    inv_procs: list[tuple[str, str]] = []
    recently_active = True
    if inventory is not None:
        if not isinstance(inventory, Mapping):
            issues.append(Issue("inventory", "must be a mapping (hosts: [...], processes: {host: [...]})"))
        else:
            recently_active = bool(inventory.get("recently_active", True))
            hosts = inventory.get("hosts")
            if hosts is not None:
                if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
                    issues.append(Issue("inventory.hosts", "must be a list of host dimension values"))
                else:
                    inv_hosts = tuple(dict.fromkeys(hosts))
            procs = inventory.get("processes") or {}
            if not isinstance(procs, Mapping):
                issues.append(Issue("inventory.processes", "must map a host to its process names"))
            else:
                for h, plist in procs.items():
                    if not isinstance(plist, list):
                        issues.append(Issue(f"inventory.processes.{h}", "must be a list of process names"))
                        continue
                    inv_procs.extend((str(h), str(p)) for p in plist)
            if inv_procs and inv_hosts is None:
                issues.append(Issue("inventory.hosts", "is required when inventory.processes is given"))

    shards = section("shards", "shard settings")
    hosts_per_shard = integer(shards, "hosts_per_shard", 500, "shards.hosts_per_shard", 1, 5000)
    queues = section("queues", "queue URLs")
    endpoints = section("endpoints", "endpoint URLs")

    f = section("fetch", "fetch settings")
    fetch = FetchSettings(
        tps=number(f, "tps", 40.0, "fetch.tps", 0.1),
        burst=integer(f, "burst", 5, "fetch.burst", 1, 1000),
        list_tps=number(f, "list_tps", 20.0, "fetch.list_tps", 0.1),
        max_attempts=integer(f, "max_attempts", 8, "fetch.max_attempts", 1, 50),
        backoff_base=number(f, "backoff_base", 0.5, "fetch.backoff_base", 0.0),
        backoff_cap=number(f, "backoff_cap", 20.0, "fetch.backoff_cap", 0.0),
        queries_per_call=integer(f, "queries_per_call", 500, "fetch.queries_per_call", 1, 500),
        max_datapoints_per_call=integer(
            f, "max_datapoints_per_call", 100_800, "fetch.max_datapoints_per_call", 1, 100_800
        ),
        max_periods_per_call=(
            integer(f, "max_periods_per_call", 0, "fetch.max_periods_per_call", 1, 100_800) or None
            if f.get("max_periods_per_call") is not None
            else None
        ),
    )

    o = section("opensearch", "connection settings")
    auth = o.get("auth")
    if auth is not None and auth not in ("none", "basic", "sigv4"):
        issues.append(Issue("opensearch.auth", f"{auth!r} is not none, basic or sigv4"))
    service = str(o.get("service") or "es")
    if service not in ("es", "aoss"):
        issues.append(Issue("opensearch.service", f"{service!r} is not es or aoss"))
    opensearch = OpenSearchSettings(
        url=text(o, "url", "opensearch.url"),
        auth=auth,
        user=text(o, "user", "opensearch.user"),
        password=text(o, "password", "opensearch.password"),
        region=o.get("region") or raw.get("region"),
        service=service,
        verify=bool(o.get("verify", True)),
        ca_certs=text(o, "ca_certs", "opensearch.ca_certs"),
        timeout=number(o, "timeout", 30.0, "opensearch.timeout", 0.1),
        bulk_docs=integer(o, "bulk_docs", 500, "opensearch.bulk_docs", 1, 100_000),
        bulk_bytes=integer(o, "bulk_bytes", 5_000_000, "opensearch.bulk_bytes", 1000, 100_000_000),
        max_retries=integer(o, "max_retries", 5, "opensearch.max_retries", 0, 50),
        connect_retries=integer(o, "connect_retries", 2, "opensearch.connect_retries", 0, 20),
        checkpoint_index=str(o.get("checkpoint_index") or "hcad-bridge-checkpoints"),
        create_template=bool(o.get("create_template", True)),
        number_of_shards=integer(o, "number_of_shards", 1, "opensearch.number_of_shards", 1, 1024),
        number_of_replicas=(
            integer(o, "number_of_replicas", 1, "opensearch.number_of_replicas", 0, 16)
            if o.get("number_of_replicas") is not None
            else None
        ),
    )
    if issues:
        raise ValidationError(issues, source)
    return BridgeConfig(
        index=str(index),
        metrics=tuple(metrics),
        period=period,
        lag=lag,
        overlap=overlap,
        initial_lookback=initial_lookback,
        max_window=max_window,
        name=name,
        region=raw.get("region"),
        host_dimension=host_dim,
        process_dimension=proc_dim,
        inventory_hosts=inv_hosts,
        inventory_processes=tuple(dict.fromkeys(inv_procs)),
        recently_active=recently_active,
        hosts_per_shard=hosts_per_shard,
        shard_queue_url=text(queues, "shards", "queues.shards"),
        dlq_url=text(queues, "dead_letters", "queues.dead_letters"),
        dlq_dir=text(queues, "dead_letter_dir", "queues.dead_letter_dir"),
        cloudwatch_endpoint=text(endpoints, "cloudwatch", "endpoints.cloudwatch"),
        sqs_endpoint=text(endpoints, "sqs", "endpoints.sqs"),
        opensearch=opensearch,
        fetch=fetch,
    )


# ----------------------------------------------------------------------------------------------
# Time


def align_down(t: float, period: int) -> int:
    """The start of the period containing ``t`` (epoch seconds)."""
    return int(t // period) * period


def live_end(now: float, config: BridgeConfig) -> int:
    """The exclusive end of the newest period old enough (``lag``) to read."""
    return align_down(now - config.lag, config.period)


def check_retention(start: int, now: float, period: int) -> None:
    """Refuse a window CloudWatch no longer holds at ``period`` (it would silently return nothing)."""
    keep = 3 * 3600  # sub-minute (high-resolution) data
    for p, k in RETENTION:
        if period >= p:
            keep = k
    age = now - start
    if age > keep:
        coarser = next((p for p, k in RETENTION if k >= age), None)
        fix = f"use a period of at least {coarser}s" if coarser else "CloudWatch no longer has it"
        raise ConfigError(
            f"start {iso(start)} is older than the {keep / 86400:g} days CloudWatch keeps {period}s data; {fix}"
        )


@functools.lru_cache(maxsize=8192)
def iso(t: int) -> str:
    """Epoch seconds → ``2025-01-01T00:00:00Z`` (cached: a window has few distinct periods)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str, path: str, now: float | None = None) -> int:
    """A time as :func:`hcad.times.parse_time` reads it (ISO-8601, ``now-2h``, ``now-1d/d``, epoch ms) → epoch
    seconds (UTC); ``now`` in epoch seconds."""
    return times.parse_time(value, path, now_ms=None if now is None else int(now * 1000)) // 1000


# ----------------------------------------------------------------------------------------------
# Documents


def doc_id(host: str, process: str | None, timestamp: int) -> str:
    """The document id of an entity's period: the same inputs always give the same id.

    A hash keeps ids short whatever the host names are (``_id`` is limited to 512 bytes). The hashed
    key length-prefixes each name, so ``("a/b", None)``, ``("a", "b")`` and ``("a", "")`` all differ:
    ``<len>:<host>/<len>:<process>/<epoch seconds>`` (``-`` for no process).
    """
    proc = "-" if process is None else f"{len(process)}:{process}"
    key = f"{len(host)}:{host}/{proc}/{int(timestamp)}".encode()
    return base64.urlsafe_b64encode(hashlib.blake2b(key, digest_size=15).digest()).decode()


def make_doc(entity: Entity, timestamp: int, values: Mapping[str, float]) -> dict[str, Any]:
    """The ``_source`` of one document."""
    src: dict[str, Any] = {"@timestamp": iso(timestamp), "host": entity.host}
    if entity.process is not None:
        src["process"] = entity.process
    src.update(values)
    return src


@dataclass
class Accumulator:
    """Gathers the values of one time chunk; hands back each entity's documents once complete.

    Series arrive grouped by entity in call order, so only the entity whose series straddle two
    GetMetricData calls is held across calls: memory is one call's data, whatever the fleet size.
    """

    pending: dict[Entity, dict[int, dict[str, float]]] = field(default_factory=dict)

    def add(self, series: Series, timestamps: Iterable[float], values: Iterable[float]) -> None:
        """Buffer one series' finite values under its entity, by timestamp (NaN and inf are dropped)."""
        per_ts = self.pending.setdefault(series.entity, {})
        for t, v in zip(timestamps, values, strict=True):
            fv = float(v)
            if math.isfinite(fv):
                per_ts.setdefault(int(t), {})[series.spec.field] = fv

    def touch(self, entity: Entity) -> None:
        """Mark ``entity`` as seen even when it has no values yet."""
        self.pending.setdefault(entity, {})

    def pop_docs(self, keep: Entity | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(_id, _source)`` for every pending entity except ``keep``, oldest period first."""
        for entity in [e for e in self.pending if e != keep]:
            per_ts = self.pending.pop(entity)
            for t in sorted(per_ts):
                yield doc_id(entity.host, entity.process, t), make_doc(entity, t, per_ts[t])


def series_for(config: BridgeConfig, entities: Iterable[tuple[Entity, Sequence[str] | None]]) -> Iterator[Series]:
    """Every series of ``entities`` in entity order; ``None`` fields means all that apply."""
    for entity, fields in entities:
        specs = config.metrics_for(entity)
        if fields is not None:
            wanted = set(fields)
            specs = tuple(s for s in specs if s.field in wanted)
        for spec in specs:
            yield Series(entity, spec)


def index_template(config: BridgeConfig) -> dict[str, Any]:
    """The index template body for ``config.index``: what HCAD detectors read."""
    settings: dict[str, Any] = {"number_of_shards": config.opensearch.number_of_shards}
    if config.opensearch.number_of_replicas is not None:
        settings["number_of_replicas"] = config.opensearch.number_of_replicas
    props: dict[str, Any] = {
        "@timestamp": {"type": "date"},
        "host": {"type": "keyword"},
        "process": {"type": "keyword"},
    }
    for m in config.metrics:
        props[m.field] = {"type": "double"}
    return {
        "index_patterns": [config.index],
        "priority": 200,
        "version": 1,
        "template": {"settings": settings, "mappings": {"dynamic": "strict", "properties": props}},
        "_meta": {"created_by": "hcad bridge", "bridge": config.name},
    }
