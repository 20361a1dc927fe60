"""AD client pieces that need only plain OpenSearch; these run on the local node without the plugin.

- the pre-flight checks of a detector against a live index (mappings and aggregations),
- the results reader paging past 10,000 hits over AD-result-shaped documents in a custom-result-like
  index (the reader's query is a plain search),
- the PluginMissing error from ``client.ad`` on a cluster without the anomaly-detection plugin.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from opensearchpy import helpers

import hcad
from hcad.ad.model import Detector, Feature
from hcad.ad.preflight import preflight
from hcad.ad.results import read_results
from hcad.errors import PluginMissing
from hcad.quality.loading import load_fleet
from hcad.quality.synth import FleetSpec

START = datetime(2024, 5, 1, tzinfo=UTC)


def test_client_ad_without_plugin_names_plugin_and_cluster(os_url):
    client = hcad.connect(os_url)
    if "opensearch-anomaly-detection" in client.installed_plugins:
        pytest.skip("this cluster has the anomaly-detection plugin; the error cannot be shown here")
    with pytest.raises(PluginMissing) as e:
        _ = client.ad
    msg = str(e.value)
    assert "opensearch-anomaly-detection" in msg and os_url in msg and "\n" not in msg
    assert e.value.exit_code == 1


def test_preflight_against_live_index(os_client, index_name):
    spec = FleetSpec(hosts=3, processes=2, periods=60, interval_minutes=10, start=START, anomalies=0)
    load_fleet(os_client, index_name, spec, progress=False)
    # One sparse entity: data in only 5 of the last 32 + shingle intervals (the history the plugin needs),
    # 8 intervals apart, so all five fall inside it for any shingle size.
    last = START + timedelta(minutes=10 * (spec.periods - 1))
    sparse = [
        {
            "_index": index_name,
            "_source": {
                "@timestamp": (last - timedelta(minutes=80 * i)).isoformat(),
                "host": "rare",
                "process": "cron",
                "cpu": 1.0,
                "memory": 1.0,
                "jvmGcTime": 0.0,
            },
        }
        for i in range(5)
    ]
    helpers.bulk(os_client, sparse, refresh=True)

    good = Detector.hcad(
        "pf", index_name, "@timestamp", ["host", "process"], {"cpu": ("avg", "cpu"), "n": ("count", "host")}, "10m"
    )
    report = preflight(os_client, good)
    assert report.ok, report.issues
    history = 32 + good.effective_shingle_size  # 34 with the builder's shingle 2
    assert report.entities_checked == 7 and report.intervals_checked == history
    assert report.density["host0|process0"] == 1.0
    assert report.density["rare|cron"] == pytest.approx(5 / history)
    assert report.sparse_entities == ["rare|cron"]
    assert len(report.warnings) == 1 and "1 of 7 entities" in report.warnings[0].message

    bad = Detector.hcad(
        "pf",
        index_name,
        "host",  # keyword, not a date
        ["cpu"],  # double, not keyword/ip
        [Feature.avg("h", "host"), Feature.avg("x", "nope")],
        "10m",
    )
    issues = {i.path: i for i in preflight(os_client, bad).issues}
    assert set(issues) == {"time_field", "category_fields", "features.h", "features.x"}
    assert "must be a date, it is keyword" in issues["time_field"].message
    assert "keyword or ip" in issues["category_fields"].message
    assert "not in the mappings" in issues["features.x"].message

    missing = Detector.hcad("pf", f"{index_name}-absent", "@timestamp", ["host"], {"cpu": ("avg", "cpu")})
    assert [i.path for i in preflight(os_client, missing).issues] == ["indices"]


# A custom-result-index-like mapping: the fields the plugin's anomaly-results mapping gives them.
RESULT_MAPPING = {
    "dynamic": False,
    "properties": {
        "detector_id": {"type": "keyword"},
        "anomaly_grade": {"type": "double"},
        "anomaly_score": {"type": "double"},
        "confidence": {"type": "double"},
        "data_start_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "data_end_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "execution_start_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "execution_end_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "model_id": {"type": "keyword"},
        "task_id": {"type": "keyword"},
        "entity": {"type": "nested", "properties": {"name": {"type": "keyword"}, "value": {"type": "keyword"}}},
        "feature_data": {
            "type": "nested",
            "properties": {
                "feature_id": {"type": "keyword"},
                "feature_name": {"type": "keyword"},
                "data": {"type": "double"},
            },
        },
    },
}


def _result_docs(index: str, detector_id: str, hosts: int, intervals: int, dup_every: int):
    t0 = int(START.timestamp() * 1000)
    for i in range(intervals):
        ds = t0 + i * 600_000
        for h in range(hosts):
            grade = 0.9 if (i * hosts + h) % 97 == 0 else 0.0
            doc = {
                "detector_id": detector_id,
                "data_start_time": ds,
                "data_end_time": ds + 600_000,
                "execution_start_time": ds + 660_000,
                "execution_end_time": ds + 661_000,
                "anomaly_grade": grade,
                "anomaly_score": 2.0 if grade else 0.3,
                "confidence": 0.9,
                "entity": [{"name": "host", "value": f"h{h:03d}"}, {"name": "process", "value": "java"}],
                "feature_data": [{"feature_id": "f1", "feature_name": "cpu", "data": float(h)}],
            }
            if h != 0:  # entity h000 has no model_id, as single-stream results; sorts as missing
                doc["model_id"] = f"{detector_id}_entity_h{h:03d}"
            yield {"_index": index, "_source": doc}
            if dup_every and (i * hosts + h) % dup_every == 0:
                # identical sort keys (a re-run of the same interval): must not be skipped by paging
                yield {"_index": index, "_source": dict(doc)}


def test_results_reader_pages_past_10000_without_loss(os_client):
    index = f"opensearch-ad-plugin-result-hcad-test-{uuid.uuid4().hex[:8]}"
    os_client.indices.create(
        index=index, body={"settings": {"number_of_shards": 2, "number_of_replicas": 0}, "mappings": RESULT_MAPPING}
    )
    try:
        hosts, intervals, dup_every = 30, 400, 7
        helpers.bulk(os_client, _result_docs(index, "det-1", hosts, intervals, dup_every), chunk_size=5000)
        helpers.bulk(os_client, _result_docs(index, "det-2", 3, 50, 0), chunk_size=5000)
        os_client.indices.refresh(index=index)
        expected = hosts * intervals + len(range(0, hosts * intervals, dup_every))
        assert expected > 10_000

        def search(body):
            return os_client.search(index=index, body=body)

        pages = []
        df = read_results(
            search,
            "det-1",
            category_fields=["host", "process"],
            page_size=1000,
            on_page=lambda seen, total: pages.append((seen, total)),
        )
        assert len(df) == expected
        assert pages[-1] == (expected, expected) and len(pages) > 10
        assert df["data_start_time"].is_monotonic_increasing
        per_entity = df.groupby("host").size()
        assert per_entity.min() >= intervals and per_entity.sum() == expected

        anomalies = read_results(search, "det-1", only_anomalies=True, page_size=1000)
        assert len(anomalies) == int((df["anomaly_grade"] > 0).sum()) > 0

        end = START + timedelta(minutes=10 * 100)
        one = read_results(search, "det-1", START, end, entity={"host": "h005", "process": "java"})
        assert len(one) >= 100 and set(one["host"]) == {"h005"}
        assert one["data_start_time"].max() < end
    finally:
        os_client.indices.delete(index=index, ignore_unavailable=True)


def test_preflight_says_the_filter_matches_nothing_not_that_the_index_is_empty(os_client, index_name):
    spec = FleetSpec(hosts=2, processes=2, periods=40, interval_minutes=10, start=START, anomalies=0)
    load_fleet(os_client, index_name, spec, progress=False)
    features = {"cpu": ("avg", "cpu")}
    nothing = Detector.hcad(
        "pf", index_name, "@timestamp", ["host"], features, "10m", filter_query={"term": {"host": "no-such-host"}}
    )
    report = preflight(os_client, nothing)
    assert report.ok, report.issues  # a warning, not a blocking issue
    (warning,) = report.warnings
    assert warning.path == "filter"
    assert "filter matches no documents" in warning.message and "160 in" in warning.message
    assert "no documents with the time field" not in warning.message

    # A filter that matches some documents measures density over them only.
    some = nothing.copy(filter_query={"term": {"host": "host0"}})
    report = preflight(os_client, some)
    assert report.warnings == [] and set(report.density) == {"host0"}

    # A genuinely empty index (same mappings) keeps the old message, with or without a filter.
    empty = f"{index_name}-empty"
    mappings = os_client.indices.get_mapping(index=index_name)[index_name]["mappings"]
    os_client.indices.create(index=empty, body={"mappings": mappings})
    try:
        for det in (nothing.copy(indices=[empty]), nothing.copy(indices=[empty], filter_query=None)):
            (warning,) = preflight(os_client, det).warnings
            assert (warning.path, warning.message) == ("indices", "the source has no documents with the time field")
    finally:
        os_client.indices.delete(index=empty, ignore_unavailable=True)
