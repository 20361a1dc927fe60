"""An in-process CloudWatch GetMetricData double for tests and benchmarks (a test double: not shipped).

It plugs into a real boto3 client through botocore events: ``before-parameter-build`` keeps the
call's parameters, ``before-send`` answers with a real wire response (JSON or CBOR, whichever
protocol the installed botocore speaks to CloudWatch) that botocore then parses as usual. So
serialization, parsing, error mapping and the bridge's own retry code all run; only the network and
the server are replaced.
Unlike moto it answers 10,000-host fleets quickly, can page (``NextToken``) and can throttle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import cbor2

ValueFn = Callable[[str, str, dict[str, str], str, int], float | None]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def wire_response(
    request: Any, protocol: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Any:
    """A botocore ``AWSResponse`` carrying ``body`` in the client's wire protocol (JSON or CBOR)."""
    from botocore.awsrequest import AWSResponse

    if protocol == "smithy-rpc-v2-cbor":
        h = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
        # Timestamps as CBOR tag 1 (epoch seconds), as CloudWatch sends them.
        payload = cbor2.dumps(body, datetime_as_timestamp=True)
    elif protocol == "json":
        h = {"Content-Type": "application/x-amz-json-1.0"}
        payload = json.dumps(body, default=lambda o: o.timestamp()).encode()
    else:
        raise NotImplementedError(f"the fake CloudWatch does not speak {protocol!r}; upgrade botocore")
    return AWSResponse(request.url, status, {**h, **(headers or {})}, _Raw(payload))


def client_protocol(client: Any) -> str:
    """The wire protocol a boto3 client speaks (botocore picks one of the service's protocols)."""
    model = client.meta.service_model
    return str(getattr(model, "resolved_protocol", None) or model.protocol)


def throttling_response(request: Any, protocol: str) -> Any:
    """The error CloudWatch sends when the API rate quota is exceeded."""
    return wire_response(
        request,
        protocol,
        400,
        {"__type": "com.amazonaws.cloudwatch#Throttling", "message": "Rate exceeded"},
        {"x-amzn-query-error": "Throttling;Sender"},
    )


class FakeCloudWatch:
    """Answers a client's GetMetricData calls from ``value_fn`` (None = no datapoint).

    ``page_points`` caps datapoints per response (the rest follows with ``NextToken``);
    ``throttle(n)`` is asked before answering call number ``n`` (0-based) and returns True to
    answer ``Throttling`` instead.
    """

    def __init__(
        self,
        value_fn: ValueFn,
        *,
        page_points: int | None = None,
        throttle: Callable[[int], bool] | None = None,
    ) -> None:
        self.value_fn = value_fn
        self.page_points = page_points
        self.throttle = throttle
        self.calls = 0
        self.throttled = 0
        self.queries = 0
        self.protocol = "json"

    def attach(self, client: Any) -> Any:
        self.protocol = client_protocol(client)
        events = client.meta.events
        events.register("before-parameter-build.cloudwatch.GetMetricData", self._keep_params)
        events.register("before-send.cloudwatch.GetMetricData", self._answer)
        return client

    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["fake_cw_params"] = params

    def _answer(self, request: Any, **_: Any) -> Any:
        n = self.calls
        self.calls += 1
        if self.throttle is not None and self.throttle(n):
            self.throttled += 1
            return throttling_response(request, self.protocol)
        params = request.context["fake_cw_params"]
        start, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        token = int(params.get("NextToken") or 0)  # our token: how many (query, period) cells are done
        results = []
        cells = 0
        budget = self.page_points if self.page_points else 1 << 62
        more = False
        for q in params["MetricDataQueries"]:
            self.queries += 1
            ms = q["MetricStat"]
            period = int(ms["Period"])
            m = ms["Metric"]
            dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
            ts_out: list[datetime] = []
            vals: list[float] = []
            status = "Complete"
            for t in range(start, end, period):
                if cells < token:
                    cells += 1
                    continue
                if budget == 0:
                    more = True
                    status = "PartialData"
                    break
                cells += 1
                v = self.value_fn(m["Namespace"], m["MetricName"], dims, ms["Stat"], t)
                budget -= 1
                if v is not None:
                    ts_out.append(datetime.fromtimestamp(t, UTC))
                    vals.append(float(v))
            results.append(
                {"Id": q["Id"], "Label": m["MetricName"], "Timestamps": ts_out, "Values": vals, "StatusCode": status}
            )
        body: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
        if more:
            body["NextToken"] = str(token + (self.page_points or 0))
        return wire_response(request, self.protocol, 200, body)


def _epoch(v: Any) -> int:
    if isinstance(v, datetime):
        return int(v.timestamp())
    if isinstance(v, str):
        return int(datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp())
    return int(v)
