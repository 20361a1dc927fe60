"""``hcad size --measure`` against the real node: heap, AD memory share, plugin version, C, A and S.

Every measured value is checked against the cluster read independently here (``_nodes/stats``,
``_cat/plugins``), and ``model_max_size_percent`` is set to a non-default value for the test (transient,
restored afterwards; higher than the default so other users' detectors lose no cache), so a hard-coded
heap or 0.1 would fail.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from opensearchpy import helpers

from hcad.cli.main import main

AD = "/_plugins/_anomaly_detection/detectors"
SETTING = "plugins.anomaly_detection.model_max_size_percent"
TEST_PERCENT = 0.137  # not the default 0.1, and above it: nobody's models are evicted meanwhile
HOSTS = 5


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _load_hosts(client, index: str) -> None:
    """Two days of 1-minute data for HOSTS hosts, up to a few minutes ahead (the real-time job reads 'now')."""
    client.indices.create(
        index=index,
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "properties": {"@timestamp": {"type": "date"}, "host": {"type": "keyword"}, "cpu": {"type": "double"}}
            },
        },
    )
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)

    def docs() -> Iterator[dict]:
        for m in range(-10, 60 * 24 * 2):
            for h in range(HOSTS):
                yield {
                    "_index": index,
                    "@timestamp": _iso(now - dt.timedelta(minutes=m)),
                    "host": f"h{h}",
                    "cpu": 50.0 + (m % 17) + h,
                }

    helpers.bulk(client, docs(), chunk_size=5000, refresh="wait_for")


def _data_node_heaps(client) -> list[int]:
    stats = client.transport.perform_request("GET", "/_nodes/stats/jvm")
    return [
        n["jvm"]["mem"]["heap_max_in_bytes"]
        for n in stats["nodes"].values()
        if any(r == "data" or r.startswith("data_") for r in n["roles"])
    ]


def _ad_version(client) -> str:
    rows = client.cat.plugins(format="json")
    version = next(r["version"] for r in rows if r["component"] == "opensearch-anomaly-detection")
    return ".".join(version.split(".")[:2])


@pytest.fixture
def percent_setting(ad_client) -> Iterator[float]:
    """Set model_max_size_percent transiently to TEST_PERCENT; put back what was there before."""
    t = ad_client.transport
    before = t.perform_request("GET", "/_cluster/settings", params={"flat_settings": "true"})
    previous = (before.get("transient") or {}).get(SETTING)
    t.perform_request("PUT", "/_cluster/settings", body={"transient": {SETTING: TEST_PERCENT}})
    try:
        yield TEST_PERCENT
    finally:
        t.perform_request("PUT", "/_cluster/settings", body={"transient": {SETTING: previous}})


def _size(capsys, os_url: str, *args: str) -> dict:
    with pytest.raises(SystemExit) as ex:
        main(["--url", os_url, "size", *args, "--json"])
    out, err = capsys.readouterr()
    assert ex.value.code == 0, err
    return json.loads(out)


@pytest.mark.needs_ad
def test_measure_reads_heap_setting_counts_and_profile_size(
    ad_client, os_url: str, index_name: str, percent_setting: float, tmp_path: Path, capsys
) -> None:
    _load_hosts(ad_client, index_name)
    body = {
        "name": index_name[-60:],
        "time_field": "@timestamp",
        "indices": [index_name],
        "category_field": ["host"],
        "feature_attributes": [
            {"feature_name": "cpu", "feature_enabled": True, "aggregation_query": {"cpu": {"avg": {"field": "cpu"}}}}
        ],
        "detection_interval": {"period": {"interval": 1, "unit": "Minutes"}},
        "window_delay": {"period": {"interval": 1, "unit": "Minutes"}},
        "shingle_size": 8,
    }
    t = ad_client.transport
    det_id = t.perform_request("POST", AD, body=body)["_id"]
    try:
        t.perform_request("POST", f"{AD}/{det_id}/_start")
        # --measure reads S from the profile, which lists models only once some entity has one.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            models = t.perform_request("GET", f"{AD}/{det_id}/_profile/models").get("models") or []
            if any(m.get("model_size_in_bytes") for m in models):
                break
            time.sleep(5)
        else:
            raise AssertionError("no entity model appeared in the profile within 180 s")

        # The plan names an instance type on purpose: --measure must replace it with the node's heap.
        plan = tmp_path / "live.yaml"
        plan.write_text(
            yaml.safe_dump(
                {
                    "name": "live",
                    "node": {"instance_type": "r6g.2xlarge"},
                    "detectors": [{"name": "cpu", "detector_id": det_id}],
                }
            )
        )
        # --from now-1h: counting 1-minute intervals over two days trips a 1 GiB node's request breaker.
        d = _size(capsys, os_url, str(plan), "--measure", "--from", "now-1h")
    finally:
        try:
            t.perform_request("POST", f"{AD}/{det_id}/_stop")
        finally:
            t.perform_request("DELETE", f"{AD}/{det_id}")

    heaps = _data_node_heaps(ad_client)
    assert d["heap_bytes"] == min(heaps)
    assert d["heap_source"].startswith("measured: jvm.mem.heap_max_in_bytes")
    assert d["model_max_size_percent"] == percent_setting
    assert d["model_max_size_percent_source"] == f"measured: cluster setting {SETTING} = {percent_setting} (transient)"
    assert d["ad_budget_bytes_per_node"] == int(min(heaps) * percent_setting)
    assert d["plugin_version"] == _ad_version(ad_client)
    assert d["fit"]["data_nodes"] == len(heaps)
    (det,) = d["detectors"]
    # 1 feature x shingle 8 on plugin 2.15+: 400,768 B (shared/reference/sizing.md), read from the profile.
    assert (det["model_size_bytes"], det["model_size_source"]) == (400_768, "measured")
    assert det["entities"] == HOSTS and det["active_entities"] == HOSTS
    assert det["interval"] == "1m"


@pytest.mark.needs_ad
def test_measure_counts_an_index_and_flags_win_over_the_cluster(
    ad_client, os_url: str, index_name: str, percent_setting: float, tmp_path: Path, capsys
) -> None:
    _load_hosts(ad_client, index_name)
    plan = tmp_path / "idx.yaml"
    plan.write_text(
        yaml.safe_dump(
            {
                "name": "idx",
                "node": {"heap": "4GiB"},
                "detectors": [
                    {"name": "cpu", "index": index_name, "category_fields": ["host"], "interval": "1m"},
                ],
            }
        )
    )
    d = _size(capsys, os_url, str(plan), "--measure", "--from", "now-1h")
    assert d["heap_bytes"] == min(_data_node_heaps(ad_client))  # the plan's 4 GiB is replaced
    assert d["model_max_size_percent"] == percent_setting
    (det,) = d["detectors"]
    assert (det["entities"], det["active_entities"]) == (HOSTS, HOSTS)
    assert det["model_size_source"] == "estimated"

    # Explicit flags are what the user fixed: they win over the measured node.
    d = _size(
        capsys, os_url, str(plan), "--measure", "--from", "now-1h", "--heap", "8GiB", "--percent", "0.2", "--nodes", "7"
    )
    assert (d["heap_bytes"], d["heap_source"]) == (8 * 2**30, "given")
    assert (d["model_max_size_percent"], d["model_max_size_percent_source"]) == (0.2, "given")
    assert d["fit"]["data_nodes"] == 7
