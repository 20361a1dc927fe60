"""Live entity counts on the real local OpenSearch, and the estimator against a live AD profile."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from opensearchpy import helpers

from hcad.errors import NotFound
from hcad.sizing import estimate_entity_model_size
from hcad.sizing.entities import distinct_entities, iter_entities, max_active_entities, measured_model_size

T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
MAPPING = {
    "properties": {
        "@timestamp": {"type": "date"},
        "host": {"type": "keyword"},
        "process": {"type": "keyword"},
        "ip": {"type": "ip"},
        "cpu": {"type": "double"},
        "mem": {"type": "double"},
    }
}


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _create(client, name: str) -> None:
    client.indices.create(
        index=name, body={"settings": {"number_of_shards": 2, "number_of_replicas": 0}, "mappings": MAPPING}
    )


def _load(client, name: str, docs: Iterator[dict]) -> None:
    _, errors = helpers.bulk(client, ({"_index": name, **d} for d in docs), chunk_size=5000, refresh=True)
    assert not errors


# Active (host, process) combinations per 10-minute interval, constructed: the maximum is 240 in
# interval 3. Entities repeat across intervals, and each active entity sends 3 docs per interval,
# so neither doc counts nor per-field cardinalities give the answer.
PATTERN = [10, 75, 120, 240, 239, 1, 60]


def _pattern_docs() -> Iterator[dict]:
    for k, active in enumerate(PATTERN):
        for e in range(active):
            host, proc = f"h{e % 40}", f"p{e // 40}"
            for j in range(3):
                ts = T0 + dt.timedelta(minutes=10 * k, seconds=60 * j + 7)
                yield {"@timestamp": _iso(ts), "host": host, "process": proc, "cpu": float(e)}
    # Documents missing a category field are no entity for the plugin: many of them in interval 5.
    for i in range(500):
        yield {"@timestamp": _iso(T0 + dt.timedelta(minutes=50, seconds=i % 600)), "host": f"solo{i}"}


def test_max_active_equals_constructed(os_client, index_name: str) -> None:
    _create(os_client, index_name)
    _load(os_client, index_name, _pattern_docs())
    expected_at = _iso(T0 + dt.timedelta(minutes=30)).replace("Z", ".000Z")
    for exact in (False, True):
        got = max_active_entities(
            os_client, index_name, ["host", "process"], interval_minutes=10, exact=exact, page_size=97
        )
        assert got.max_active == max(PATTERN), exact
        assert got.intervals == len(PATTERN)
        assert got.at is not None and got.at.replace(".000Z", "Z") == expected_at.replace(".000Z", "Z")
    # One field: "host" alone has at most 40 values per interval, and the 500 solo hosts (interval 5) win.
    single = max_active_entities(os_client, index_name, "host", interval_minutes=10)
    assert single.max_active == 500 + 1
    # Time range: only intervals 5 and 6 -> the max is 60 combinations.
    ranged = max_active_entities(
        os_client,
        index_name,
        ["host", "process"],
        start=_iso(T0 + dt.timedelta(minutes=50)),
        end=_iso(T0 + dt.timedelta(minutes=70)),
        exact=True,
    )
    assert ranged.max_active == 60
    # 20-minute intervals merge 3+4 (the same 240 entities ⊂ pattern) and 0+1 etc.
    wide = max_active_entities(os_client, index_name, ["host", "process"], interval_minutes=20, exact=True)
    assert wide.max_active == 240
    # Distinct combinations overall: entity e is the same in every interval, so max(PATTERN).
    assert distinct_entities(os_client, index_name, ["host", "process"], page_size=50) == max(PATTERN)


def _has_painless(client) -> bool:
    nodes = client.transport.perform_request("GET", "/_nodes/plugins")["nodes"].values()
    return all(any(m["name"] == "lang-painless" for m in n.get("modules", [])) for n in nodes)


def test_two_fields_approximate_with_painless(os_client, index_name: str) -> None:
    """Two category fields: one cardinality request over a painless join of the values (no fallback)."""
    if not _has_painless(os_client):
        pytest.skip("the node has no lang-painless module (scripts/opensearch start assembles it)")
    _create(os_client, index_name)
    _load(os_client, index_name, _pattern_docs())
    got = max_active_entities(os_client, index_name, ["host", "process"], interval_minutes=10)
    assert got.exact is False and got.precision_threshold == 40_000
    assert got.max_active == max(PATTERN) and got.intervals == len(PATTERN)
    assert got.at is not None and got.at.startswith(_iso(T0 + dt.timedelta(minutes=30))[:16])


def test_distinct_entities_20k_exact(os_client, index_name: str) -> None:
    _create(os_client, index_name)
    hosts, procs = 250, 90  # 22,500 combinations from 250 + 90 values
    n = hosts * procs

    def docs() -> Iterator[dict]:
        for i in range(n):
            # Some combinations get 2 documents, in a different interval, to catch double counting.
            reps = 2 if i % 7 == 0 else 1
            for r in range(reps):
                ts = T0 + dt.timedelta(minutes=(i % 144) * 10 + r * 30)
                yield {"@timestamp": _iso(ts), "host": f"host-{i % hosts}", "process": f"proc-{i // hosts}"}

    _load(os_client, index_name, docs())
    progress: list[int] = []
    assert distinct_entities(os_client, index_name, ["host", "process"], progress=progress.append) == n
    assert sum(progress) == n and len(progress) == -(-n // 10_000)
    assert distinct_entities(os_client, index_name, "host") == hosts
    assert distinct_entities(os_client, index_name, ["process"], page_size=7) == procs
    keys = list(iter_entities(os_client, index_name, ["host", "process"], page_size=5000))
    assert len(keys) == len(set(keys)) == n
    # A time range that covers only the first hour: i % 144 in 0..5 (plus repeats shifted by 30 min).
    first_hour = sum(1 for i in range(n) if (i % 144) * 10 <= 59 or (i % 7 == 0 and (i % 144) * 10 + 30 <= 59))
    got = distinct_entities(
        os_client,
        index_name,
        ["host", "process"],
        start=_iso(T0),
        end=_iso(T0 + dt.timedelta(minutes=59, seconds=59)),
    )
    assert got == first_hour


def test_missing_index_is_not_found(os_client) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        distinct_entities(os_client, "hcad-test-no-such-index-x1", "host")


# --- estimator vs the live plugin ---------------------------------------------------------------------

AD = "/_plugins/_anomaly_detection/detectors"


@pytest.mark.needs_ad
@pytest.mark.parametrize("features", [1, 2])
def test_estimator_matches_live_profile(ad_client, index_name: str, features: int) -> None:
    _create(ad_client, index_name)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)

    def docs() -> Iterator[dict]:
        for m in range(0, 60 * 24 * 3, 1):  # 3 days of 1-minute data for 4 hosts
            for h in range(4):
                yield {
                    "@timestamp": _iso(now - dt.timedelta(minutes=m)),
                    "host": f"h{h}",
                    "cpu": 50 + (m % 17),
                    "mem": 30 + (m % 5),
                }

    _load(ad_client, index_name, docs())
    feats = [
        {"feature_name": name, "feature_enabled": True, "aggregation_query": {name: {"avg": {"field": name}}}}
        for name in ("cpu", "mem")[:features]
    ]
    body = {
        "name": index_name[-60:],
        "time_field": "@timestamp",
        "indices": [index_name],
        "category_field": ["host"],
        "feature_attributes": feats,
        "detection_interval": {"period": {"interval": 1, "unit": "Minutes"}},
        "window_delay": {"period": {"interval": 1, "unit": "Minutes"}},
        "shingle_size": 8,
    }
    t = ad_client.transport
    det_id = t.perform_request("POST", AD, body=body)["_id"]
    try:
        t.perform_request("POST", f"{AD}/{det_id}/_start")
        deadline = time.monotonic() + 150
        size = None
        while time.monotonic() < deadline and size is None:
            time.sleep(5)
            try:
                size = measured_model_size(ad_client, det_id)
            except NotFound:
                continue
        assert size is not None, "no entity model appeared in the profile within 150 s"
        major, minor, _ = ad_client.version
        expected = estimate_entity_model_size(features, 8, f"{major}.{minor}").bytes
        assert size == expected, f"live {size} vs estimate {expected} (diff {size - expected})"
    finally:
        try:
            t.perform_request("POST", f"{AD}/{det_id}/_stop")
        finally:
            t.perform_request("DELETE", f"{AD}/{det_id}")


def test_cli_entities_json(os_client, os_url: str, index_name: str, capsys) -> None:
    import json

    from hcad.cli.main import main

    _create(os_client, index_name)
    _load(os_client, index_name, _pattern_docs())
    with pytest.raises(SystemExit) as ex:
        main(["--url", os_url, "entities", index_name, "--field", "host", "--field", "process", "--json"])
    out = capsys.readouterr().out
    assert ex.value.code == 0
    d = json.loads(out)
    assert d["distinct_entities"] == max(PATTERN)
    assert d["max_active_per_interval"] == max(PATTERN)
    assert d["cache_bound"] == max(PATTERN) * 12
    assert d["entities_to_size_for"] == max(PATTERN)
    with pytest.raises(SystemExit) as ex:
        main(["--url", os_url, "entities", index_name + "-missing", "-f", "host"])
    assert ex.value.code == 1
    assert "does not exist" in capsys.readouterr().err


def test_intervals_in_seconds_stay_exact() -> None:
    """No node needed: a 20 s interval is exactly 1/3 minute through the measure path."""
    from fractions import Fraction

    from hcad.sizing import cache_intervals, parse_interval
    from hcad.sizing.entities import facts_from_detector, interval_expr

    assert interval_expr(parse_interval("20s")) == "20s" and interval_expr(20 / 60) == "20s"
    assert interval_expr(parse_interval("10m")) == "10m" and interval_expr(1.5) == "90s"
    facts = facts_from_detector({"detection_interval": {"period": {"interval": 20, "unit": "Seconds"}}})
    assert facts["interval_minutes"] == Fraction(1, 3) and cache_intervals(facts["interval_minutes"]) == 360
    facts = facts_from_detector({"detection_interval": {"period": {"interval": 10, "unit": "Minutes"}}})
    assert facts["interval_minutes"] == 10


class _NoPainlessClient:
    """Answers like a cluster without lang-painless: script aggregations fail, composite ones work."""

    def __init__(self, error: str = "script_lang not supported [painless]") -> None:
        self.error = error
        self.bodies: list[dict] = []

    def search(self, index: str, body: dict, filter_path: str | None = None) -> dict:
        from opensearchpy.exceptions import RequestError

        self.bodies.append(body)
        if "by_interval" in body["aggs"]:
            cause = {"type": "illegal_argument_exception", "reason": self.error}
            info = {"error": {"root_cause": [cause], "type": "search_phase_execution_exception",
                              "reason": "all shards failed"}, "status": 400}  # fmt: skip
            raise RequestError(400, "search_phase_execution_exception", info)
        comp = body["aggs"]["e"]["composite"]
        if "after" in comp:
            return {"aggregations": {"e": {"buckets": []}}}
        keys = [(0, "h1", "p1"), (0, "h2", "p1"), (600_000, "h1", "p1"), (600_000, "h2", "p1"), (600_000, "h3", "p2")]
        buckets = [{"key": {"t": t, "f0": h, "f1": p}} for t, h, p in keys]
        return {"aggregations": {"e": {"buckets": buckets, "after_key": buckets[-1]["key"]}}}


def test_two_fields_fall_back_to_exact_without_painless() -> None:
    """No node needed: the fallback decision when the cluster cannot run the painless join."""
    from hcad.errors import ServerError

    client = _NoPainlessClient()
    got = max_active_entities(client, "idx", ["host", "process"], interval_minutes=10)
    assert got.exact is True and got.precision_threshold is None
    assert got.max_active == 3 and got.intervals == 2 and got.at == "1970-01-01T00:10:00Z"
    approx, exact = client.bodies[0], client.bodies[1]
    assert approx["aggs"]["by_interval"]["aggs"]["entities"]["cardinality"]["script"]["lang"] == "painless"
    assert set(approx["aggs"]) == {"by_interval", "buckets"}  # no unused `intervals` cardinality
    assert "composite" in exact["aggs"]["e"]
    # Another script error is not a missing module: it is raised, not hidden by the fallback.
    with pytest.raises(ServerError, match="compile error"):
        max_active_entities(_NoPainlessClient("compile error"), "idx", ["host", "process"])
    # One field needs no script, so a failure there is never turned into the exact mode.
    with pytest.raises(ServerError, match="script_lang"):
        max_active_entities(_NoPainlessClient(), "idx", "host")
