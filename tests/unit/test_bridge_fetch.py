"""CloudWatch fetching: call packing, pagination/PartialData (botocore Stubber), throttling, rate limits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from doubles.cloudwatch import FakeCloudWatch

from hcad.bridge.fetch import CloudWatchError, CloudWatchFetcher, cloudwatch_client
from hcad.bridge.mapping import Entity, doc_id, make_doc, parse_config
from hcad.bridge.ratelimit import Backoff, TokenBucket
from hcad.errors import AuthError, ConfigError

T0 = 1_700_000_040  # a period start
METRICS = {
    "cpu": {"namespace": "AWS/EC2", "metric": "CPUUtilization", "stat": "Average"},
    "memory": {"namespace": "CWAgent", "metric": "mem_used_percent", "stat": "Average"},
    "network_in": {"namespace": "AWS/EC2", "metric": "NetworkIn", "stat": "Sum"},
}


def session() -> Any:
    return boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="us-east-1")


def config(**extra: Any) -> Any:
    return parse_config({"index": "x", "region": "us-east-1", "metrics": METRICS, **extra})


class Clock:
    """A fake monotonic clock advanced by the sleeps it is given."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def fetcher(cfg: Any, client: Any, clock: Clock | None = None) -> CloudWatchFetcher:
    clock = clock or Clock()
    return CloudWatchFetcher(
        client,
        cfg,
        bucket=TokenBucket(cfg.fetch.tps, cfg.fetch.burst, clock=clock, sleep=clock.sleep),
        list_bucket=TokenBucket(cfg.fetch.list_tps, cfg.fetch.burst, clock=clock, sleep=clock.sleep),
        backoff=Backoff(0.5, 20.0, sleep=clock.sleep),
    )


def value(ns: str, metric: str, dims: dict[str, str], stat: str, t: int) -> float | None:
    h = int(dims["InstanceId"][1:])
    return h * 10 + (t - T0) / 60 + len(metric)


def test_client_has_explicit_retry_mode_and_no_botocore_retries():
    c = cloudwatch_client(config(), session())
    assert c.meta.config.retries["mode"] == "standard"
    assert c.meta.config.retries["total_max_attempts"] == 1


def test_500_hosts_3_metrics_is_3_calls_and_every_document_complete():
    cfg = config(inventory={"hosts": [f"h{i:04d}" for i in range(500)]})
    client = cloudwatch_client(cfg, session())
    fake = FakeCloudWatch(value)
    fake.attach(client)
    f = fetcher(cfg, client)
    fleet = f.discover()
    chunks = f.chunks(T0, T0 + 60 * 60, sum(3 for _ in fleet))
    assert chunks == [(T0, T0 + 3600)]  # 500 queries × 60 periods fit one page
    docs = dict(f.fetch_chunk(fleet, T0, T0 + 3600))
    assert f.stats.get_metric_data_calls == 3 == fake.calls
    assert len(docs) == 500 * 60
    # Host 166 straddles calls 1 and 2 (166·3 = 498 < 500): its documents still have all three fields.
    want = make_doc(Entity("h0166"), T0 + 120, {"cpu": 1662 + 14.0, "memory": 1662 + 16.0, "network_in": 1662 + 9.0})
    assert docs[doc_id("h0166", None, T0 + 120)] == want
    assert all(len(src) == 5 for src in docs.values())


def test_long_windows_are_cut_into_single_page_chunks():
    cfg = config(fetch={"max_datapoints_per_call": 1000})
    f = fetcher(cfg, None)
    # 1000 datapoints / 30 queries = 33 periods per call
    bounds = [0, 33, 66, 99, 100]
    assert f.chunks(T0, T0 + 100 * 60, 30) == [(T0 + a * 60, T0 + b * 60) for a, b in itertools.pairwise(bounds)]
    assert fetcher(config(fetch={"max_periods_per_call": 7}), None).chunks(T0, T0 + 600, 3)[0] == (T0, T0 + 420)


def _result(qid: str, ts: list[int], vals: list[float], status: str = "Complete") -> dict[str, Any]:
    return {
        "Id": qid,
        "Label": qid,
        "Timestamps": [datetime.fromtimestamp(t, UTC) for t in ts],
        "Values": vals,
        "StatusCode": status,
    }


def test_next_token_and_partial_data_are_followed():
    cfg = config(inventory={"hosts": ["h1"]})
    client = cloudwatch_client(cfg, session())
    f = fetcher(cfg, client)
    with Stubber(client) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    _result("q0", [T0, T0 + 60], [1.0, 2.0], "PartialData"),
                    _result("q1", [T0], [10.0], "PartialData"),
                    _result("q2", [], [], "PartialData"),
                ],
                "NextToken": "page-2",
            },
            {
                "MetricDataQueries": ANY,
                "StartTime": datetime.fromtimestamp(T0, UTC),
                "EndTime": datetime.fromtimestamp(T0 + 180, UTC),
                "ScanBy": "TimestampAscending",
            },
        )
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    _result("q0", [T0 + 120], [3.0]),
                    _result("q1", [T0 + 60, T0 + 120], [11.0, 12.0]),
                    _result("q2", [T0 + 120], [7.0]),
                ]
            },
            {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": ANY, "NextToken": "page-2"},
        )
        docs = dict(f.fetch_chunk(f.discover(), T0, T0 + 180))
        stub.assert_no_pending_responses()
    assert f.stats.get_metric_data_calls == 2
    h = Entity("h1")
    assert docs == {
        doc_id("h1", None, T0): make_doc(h, T0, {"cpu": 1.0, "memory": 10.0}),
        doc_id("h1", None, T0 + 60): make_doc(h, T0 + 60, {"cpu": 2.0, "memory": 11.0}),
        doc_id("h1", None, T0 + 120): make_doc(h, T0 + 120, {"cpu": 3.0, "memory": 12.0, "network_in": 7.0}),
    }


def test_query_ids_are_valid_and_dimensions_exact():
    cfg = config(inventory={"hosts": ["h1", "h2"]})
    client = cloudwatch_client(cfg, session())
    seen: dict[str, Any] = {}

    def keep(params: dict[str, Any], **_: Any) -> None:
        seen.update(params)

    client.meta.events.register("before-parameter-build.cloudwatch.GetMetricData", keep)
    FakeCloudWatch(value).attach(client)
    f = fetcher(cfg, client)
    list(f.fetch_chunk(f.discover(), T0, T0 + 60))
    ids = [q["Id"] for q in seen["MetricDataQueries"]]
    assert ids == [f"q{i}" for i in range(6)] and len(set(ids)) == 6
    q = seen["MetricDataQueries"][4]["MetricStat"]
    assert q == {
        "Metric": {
            "Namespace": "CWAgent",
            "MetricName": "mem_used_percent",
            "Dimensions": [{"Name": "InstanceId", "Value": "h2"}],
        },
        "Period": 60,
        "Stat": "Average",
    }
    assert seen["StartTime"].timestamp() % 60 == 0 and seen["EndTime"].timestamp() % 60 == 0


def test_internal_error_result_retries_the_page():
    cfg = config(inventory={"hosts": ["h1"]}, fetch={"max_attempts": 3})
    client = cloudwatch_client(cfg, session())
    clock = Clock()
    f = fetcher(cfg, client, clock)
    with Stubber(client) as stub:
        bad = {"MetricDataResults": [_result("q0", [], [], "InternalError"), _result("q1", [T0], [1.0])]}
        good = {"MetricDataResults": [_result("q0", [T0], [5.0]), _result("q1", [T0], [1.0]), _result("q2", [], [])]}
        stub.add_response("get_metric_data", bad)
        stub.add_response("get_metric_data", good)
        docs = list(f.fetch_chunk(f.discover(), T0, T0 + 60))
    assert docs == [(doc_id("h1", None, T0), make_doc(Entity("h1"), T0, {"cpu": 5.0, "memory": 1.0}))]
    assert f.stats.retries == 1 and len(f.backoff.sleeps) == 1  # type: ignore[union-attr]
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response("get_metric_data", bad)
        with pytest.raises(CloudWatchError, match="kept failing for 1 queries: q0 \\(h1 cpu\\): InternalError"):
            list(f.fetch_chunk(f.discover(), T0, T0 + 60))


def test_throttling_backs_off_with_full_jitter_then_succeeds():
    cfg = config(inventory={"hosts": ["h1", "h2"]})
    client = cloudwatch_client(cfg, session())
    fake = FakeCloudWatch(value, throttle=lambda n: n < 3)
    fake.attach(client)
    clock = Clock()
    f = fetcher(cfg, client, clock)
    docs = list(f.fetch_chunk(f.discover(), T0, T0 + 120))
    assert len(docs) == 4 and fake.calls == 4 and fake.throttled == 3
    assert (f.stats.get_metric_data_calls, f.stats.throttled, f.stats.retries) == (4, 3, 3)
    sleeps = f.backoff.sleeps  # type: ignore[union-attr]
    assert len(sleeps) == 3
    for attempt, s in enumerate(sleeps):
        assert 0 <= s <= 0.5 * 2**attempt


def test_throttling_forever_gives_up_after_max_attempts():
    cfg = config(inventory={"hosts": ["h1"]}, fetch={"max_attempts": 4})
    client = cloudwatch_client(cfg, session())
    FakeCloudWatch(value, throttle=lambda n: True).attach(client)
    f = fetcher(cfg, client)
    with pytest.raises(CloudWatchError, match="Throttling after 4 attempts"):
        list(f.fetch_chunk(f.discover(), T0, T0 + 60))
    assert f.stats.get_metric_data_calls == 4 and len(f.backoff.sleeps) == 3  # type: ignore[union-attr]


def test_access_denied_and_bad_request_are_not_retried():
    cfg = config(inventory={"hosts": ["h1"]})
    client = cloudwatch_client(cfg, session())
    f = fetcher(cfg, client)
    with Stubber(client) as stub:
        stub.add_client_error("get_metric_data", "AccessDenied", "no", 403)
        with pytest.raises(AuthError, match="cloudwatch:GetMetricData"):
            list(f.fetch_chunk(f.discover(), T0, T0 + 60))
        stub.add_client_error("get_metric_data", "InvalidParameterValue", "bad stat", 400)
        with pytest.raises(ConfigError, match="InvalidParameterValue: bad stat"):
            list(f.fetch_chunk(f.discover(), T0, T0 + 60))
    assert f.stats.get_metric_data_calls == 2 and f.stats.retries == 0


def test_no_credentials_is_an_auth_error_with_the_fix_and_not_retried(tmp_path, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    cfg = config(inventory={"hosts": ["h1"]}, endpoints={"cloudwatch": "http://127.0.0.1:1"})
    f = fetcher(cfg, cloudwatch_client(cfg, boto3.Session(region_name="us-east-1")))
    with pytest.raises(AuthError, match="get_metric_data: Unable to locate credentials; set AWS_PROFILE"):
        list(f.fetch_chunk(f.discover(), T0, T0 + 60))
    assert f.stats.get_metric_data_calls == 1 and f.stats.retries == 0


def test_token_bucket_paces_calls_under_the_quota():
    clock = Clock()
    bucket = TokenBucket(40.0, 5, clock=clock, sleep=clock.sleep)
    for _ in range(45):
        bucket.acquire()
    # 5 immediate (the burst), then one every 1/40 s: 40 more take exactly one second.
    assert clock.t == pytest.approx(1.0)
    assert len(clock.sleeps) == 40 and all(s == pytest.approx(0.025) for s in clock.sleeps)
    clock.t += 10  # idle: the bucket refills to its capacity only
    waits = [bucket.acquire() for _ in range(6)]
    assert waits[:5] == [0, 0, 0, 0, 0] and waits[5] == pytest.approx(0.025)


def test_backoff_full_jitter_bounds():
    b = Backoff(0.5, 4.0, sleep=lambda s: None)
    for attempt in range(8):
        for _ in range(50):
            assert 0 <= b.delay(attempt) <= min(4.0, 0.5 * 2**attempt)
    assert max(b.delay(6) for _ in range(200)) > 2.0  # reaches up to the cap, not a fixed value


def test_list_metrics_pagination_and_exact_dimension_filter():
    cfg = config(
        entity={"host_dimension": "InstanceId", "process_dimension": "pidfile"},
        metrics={
            "cpu": METRICS["cpu"],
            "proc_cpu": {
                "namespace": "CWAgent",
                "metric": "procstat_cpu_usage",
                "stat": "Average",
                "per_process": True,
            },
        },
    )
    client = cloudwatch_client(cfg, session())
    f = fetcher(cfg, client)
    cpu = {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization"}
    proc = {"Namespace": "CWAgent", "MetricName": "procstat_cpu_usage"}

    def dims(**kw: str) -> list[dict[str, str]]:
        return [{"Name": k, "Value": v} for k, v in kw.items()]

    with Stubber(client) as stub:
        stub.add_response(
            "list_metrics",
            {"Metrics": [{**cpu, "Dimensions": dims(InstanceId="b")}], "NextToken": "p2"},
            {**cpu, "Dimensions": [{"Name": "InstanceId"}], "RecentlyActive": "PT3H"},
        )
        stub.add_response(
            "list_metrics",
            {
                "Metrics": [
                    {**cpu, "Dimensions": dims(InstanceId="a")},
                    {**cpu, "Dimensions": dims(InstanceId="a")},  # duplicate
                    {**cpu, "Dimensions": dims(InstanceId="c", AutoScalingGroupName="g")},  # other series
                ]
            },
            {**cpu, "Dimensions": [{"Name": "InstanceId"}], "RecentlyActive": "PT3H", "NextToken": "p2"},
        )
        stub.add_response(
            "list_metrics",
            {"Metrics": [{**proc, "Dimensions": dims(InstanceId="a", pidfile="/run/nginx.pid")}]},
            {**proc, "Dimensions": [{"Name": "InstanceId"}, {"Name": "pidfile"}], "RecentlyActive": "PT3H"},
        )
        fleet = f.discover()
        stub.assert_no_pending_responses()
    assert fleet == [
        (Entity("a"), ("cpu",)),
        (Entity("a", "/run/nginx.pid"), ("proc_cpu",)),
        (Entity("b"), ("cpu",)),
    ]
    assert f.stats.list_metrics_calls == 3


def test_fake_cloudwatch_cbor_answer_parses_with_botocore():
    """The double's CBOR (cbor2, timestamps as tag 1) is what botocore's rpc-v2-cbor parser reads."""
    from datetime import UTC, datetime

    import botocore.parsers
    from botocore.awsrequest import AWSRequest
    from doubles.cloudwatch import wire_response

    ts = [datetime(2024, 1, 1, 0, m, tzinfo=UTC) for m in (0, 1)]
    body = {"MetricDataResults": [{"Id": "q0", "Timestamps": ts, "Values": [1.5, 2.0], "StatusCode": "Complete"}]}
    req = AWSRequest(method="POST", url="https://monitoring.us-east-1.amazonaws.com/").prepare()
    resp = wire_response(req, "smithy-rpc-v2-cbor", 200, body)
    assert resp.headers["Content-Type"] == "application/cbor"
    import boto3

    model = boto3.client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    ).meta.service_model.operation_model("GetMetricData")
    parser = botocore.parsers.create_parser("smithy-rpc-v2-cbor")
    parsed = parser.parse({"status_code": 200, "headers": dict(resp.headers), "body": resp.content}, model.output_shape)
    r = parsed["MetricDataResults"][0]
    assert r["Values"] == [1.5, 2.0] and [t.timestamp() for t in r["Timestamps"]] == [t.timestamp() for t in ts]
