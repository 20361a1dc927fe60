"""Reading CloudWatch: the fleet (ListMetrics or an inventory) and values (GetMetricData).

Calls are as few as CloudWatch allows: series are packed 500 to a GetMetricData call in entity
order, and the time window is cut into chunks small enough that one call's answer fits in one
page (100,800 datapoints), so pages and calls are the same number and memory stays one call's
data. Every call, page and retry first takes a token from the invocation's shared
:class:`~hcad.bridge.ratelimit.TokenBucket`; botocore's own retries are switched off (retry mode
set explicitly, one attempt) because they would bypass that bucket and hide their sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hcad.bridge.mapping import Accumulator, BridgeConfig, Entity, Series, series_for
from hcad.bridge.ratelimit import Backoff, TokenBucket
from hcad.errors import AuthError, ConfigError, HcadConnectionError, ServerError

log = logging.getLogger(__name__)

THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled"}
)
TRANSIENT_CODES = frozenset({"InternalFailure", "InternalServiceError", "InternalError", "ServiceUnavailable"})
AUTH_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidClientTokenId"})
#: What to do when botocore finds no credentials (said by the CLI and by :class:`CloudWatchFetcher`).
CREDENTIALS_HINT = "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them"

Doc = tuple[str, dict[str, Any]]


class CloudWatchError(ServerError):
    """CloudWatch refused a call or kept failing after every retry."""


def cloudwatch_client(config: BridgeConfig, session: Any = None) -> Any:
    """A boto3 CloudWatch client with botocore retries off (this module retries, see above)."""
    import boto3
    from botocore.config import Config

    session = session or boto3.Session()
    cfg = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=4,
    )
    return session.client("cloudwatch", region_name=config.region, endpoint_url=config.cloudwatch_endpoint, config=cfg)


@dataclass
class FetchStats:
    """What reading cost: API calls (pages included), throttles and retries, datapoints read."""

    get_metric_data_calls: int = 0
    list_metrics_calls: int = 0
    throttled: int = 0
    retries: int = 0
    datapoints: int = 0
    series: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class CloudWatchFetcher:
    """Fetches one bridge config's series; one per invocation so its bucket is shared."""

    client: Any
    config: BridgeConfig
    bucket: TokenBucket | None = None
    list_bucket: TokenBucket | None = None
    backoff: Backoff | None = None
    stats: FetchStats = field(default_factory=FetchStats)

    def __post_init__(self) -> None:
        f = self.config.fetch
        self.bucket = self.bucket or TokenBucket(f.tps, f.burst)
        self.list_bucket = self.list_bucket or TokenBucket(f.list_tps, f.burst)
        self.backoff = self.backoff or Backoff(f.backoff_base, f.backoff_cap)

    # -- one call, retried -----------------------------------------------------------------
    def _call(self, op: str, bucket: TokenBucket, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        assert self.backoff is not None
        method: Callable[..., dict[str, Any]] = getattr(self.client, op)
        attempts = self.config.fetch.max_attempts
        for attempt in range(attempts):
            bucket.acquire()
            if op == "get_metric_data":
                self.stats.get_metric_data_calls += 1
            else:
                self.stats.list_metrics_calls += 1
            try:
                return method(**kwargs)
            except ClientError as e:
                code = str(e.response.get("Error", {}).get("Code", ""))
                status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                if code in THROTTLE_CODES:
                    self.stats.throttled += 1
                elif code in AUTH_CODES:
                    raise AuthError(f"CloudWatch {op}: {code} — the role needs cloudwatch:{_action(op)}") from e
                elif code not in TRANSIENT_CODES and status < 500:
                    msg = e.response.get("Error", {}).get("Message", "")
                    raise ConfigError(f"CloudWatch {op} refused the request: {code}: {msg}") from e
                if attempt + 1 == attempts:
                    raise CloudWatchError(f"CloudWatch {op}: {code} after {attempts} attempts", status=status) from e
            except (ConnectionError, HTTPClientError) as e:
                if attempt + 1 == attempts:
                    raise HcadConnectionError(f"CloudWatch {op}: cannot reach the endpoint ({e})") from e
            except (NoCredentialsError, PartialCredentialsError) as e:
                raise AuthError(f"CloudWatch {op}: {e}; {CREDENTIALS_HINT}") from None
            self.stats.retries += 1
            self.backoff.wait(attempt)
        raise AssertionError("unreachable")

    # -- the fleet -------------------------------------------------------------------------
    def discover(self) -> list[tuple[Entity, tuple[str, ...] | None]]:
        """The entities to read and, when known, which metric fields each has.

        From the configured inventory (all applicable metrics), else from ListMetrics (paginated;
        only metrics whose dimension set is exactly the entity's are kept, which also drops the
        duplicates some emulators return). Sorted by host, then process.
        """
        c = self.config
        if c.inventory_hosts is not None:
            ents: list[tuple[Entity, tuple[str, ...] | None]] = [(Entity(h), None) for h in c.inventory_hosts]
            ents += [(Entity(h, p), None) for h, p in c.inventory_processes]
            return sorted(ents, key=lambda x: (x[0].host, x[0].process or ""))
        found: dict[Entity, set[str]] = {}
        assert self.list_bucket is not None
        for spec in c.metrics:
            names = (
                {c.host_dimension}
                | ({c.process_dimension} if spec.per_process else set())
                | {k for k, _ in spec.dimensions}
            )
            dim_filter: list[dict[str, str]] = [{"Name": c.host_dimension}]
            if spec.per_process and c.process_dimension:
                dim_filter.append({"Name": c.process_dimension})
            dim_filter += [{"Name": k, "Value": v} for k, v in spec.dimensions]
            kwargs: dict[str, Any] = {"Namespace": spec.namespace, "MetricName": spec.metric, "Dimensions": dim_filter}
            if c.recently_active:
                kwargs["RecentlyActive"] = "PT3H"
            while True:
                page = self._call("list_metrics", self.list_bucket, **kwargs)
                for m in page.get("Metrics", []):
                    dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
                    if set(dims) != names or any(dims.get(k) != v for k, v in spec.dimensions):
                        continue
                    proc = dims[c.process_dimension] if spec.per_process and c.process_dimension else None
                    found.setdefault(Entity(dims[c.host_dimension], proc), set()).add(spec.field)
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        order = {f: i for i, f in enumerate(c.fields)}
        return [
            (e, tuple(sorted(fs, key=order.__getitem__)))
            for e, fs in sorted(found.items(), key=lambda x: (x[0].host, x[0].process or ""))
        ]

    # -- values ----------------------------------------------------------------------------
    def chunks(self, start: int, end: int, n_series: int) -> list[tuple[int, int]]:
        """Cut ``[start, end)`` so one call of ``n_series`` queries fits in one page."""
        f, p = self.config.fetch, self.config.period
        per_call = max(1, min(f.queries_per_call, n_series))
        periods = max(1, f.max_datapoints_per_call // per_call)
        if f.max_periods_per_call:
            periods = min(periods, f.max_periods_per_call)
        step = periods * p
        return [(s, min(end, s + step)) for s in range(start, end, step)]

    def fetch_chunk(
        self, entities: Iterable[tuple[Entity, Sequence[str] | None]], start: int, end: int
    ) -> Iterator[Doc]:
        """Documents ``(_id, _source)`` of ``entities`` for ``[start, end)``, streamed call by call."""
        acc = Accumulator()
        group: list[Series] = []
        for s in series_for(self.config, entities):
            if len(group) == self.config.fetch.queries_per_call:
                self._fetch_group(group, start, end, acc)
                # The last entity may continue in the next call: keep its values until then.
                yield from acc.pop_docs(keep=s.entity if s.entity == group[-1].entity else None)
                group = []
            group.append(s)
        if group:
            self._fetch_group(group, start, end, acc)
        yield from acc.pop_docs()

    def _fetch_group(self, group: list[Series], start: int, end: int, acc: Accumulator) -> None:
        assert self.bucket is not None and self.backoff is not None
        c = self.config
        queries = []
        for i, s in enumerate(group):
            stat: dict[str, Any] = {
                "Metric": {
                    "Namespace": s.spec.namespace,
                    "MetricName": s.spec.metric,
                    "Dimensions": c.dimensions_for(s),
                },
                "Period": c.period,
                "Stat": s.spec.stat,
            }
            if s.spec.unit:
                stat["Unit"] = s.spec.unit
            # Ids must start with a lowercase letter and be unique within the call.
            queries.append({"Id": f"q{i}", "MetricStat": stat, "ReturnData": True})
        self.stats.series += len(group)
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
            "ScanBy": "TimestampAscending",
        }
        internal_errors = 0
        while True:
            resp = self._call("get_metric_data", self.bucket, **kwargs)
            failed = []
            partial = False
            for r in resp.get("MetricDataResults", []):
                rid = str(r.get("Id", ""))
                if not rid.startswith("q") or not rid[1:].isdigit() or int(rid[1:]) >= len(group):
                    raise CloudWatchError(f"GetMetricData answered an unknown query id {rid!r}")
                series = group[int(rid[1:])]
                status = r.get("StatusCode", "Complete")
                if status in ("InternalError", "Forbidden"):
                    failed.append(f"{rid} ({series.entity.host} {series.spec.field}): {status}")
                    continue
                partial = partial or status == "PartialData"
                ts = [t.timestamp() if isinstance(t, datetime) else float(t) for t in r.get("Timestamps", [])]
                vals = r.get("Values", [])
                self.stats.datapoints += len(vals)
                acc.add(series, ts, vals)
            for m in resp.get("Messages", []) or []:
                log.warning("GetMetricData message: %s %s", m.get("Code"), m.get("Value"))
            if failed:
                # Retry the same page: values already added are simply overwritten by the re-read.
                internal_errors += 1
                if internal_errors >= c.fetch.max_attempts:
                    raise CloudWatchError(f"GetMetricData kept failing for {len(failed)} queries: {failed[0]}")
                self.stats.retries += 1
                self.backoff.wait(internal_errors - 1)
                continue
            token = resp.get("NextToken")
            if not token:
                if partial:
                    log.warning("GetMetricData said PartialData but gave no NextToken; data may be incomplete")
                return
            kwargs["NextToken"] = token


def _action(op: str) -> str:
    return "".join(p.capitalize() for p in op.split("_"))
