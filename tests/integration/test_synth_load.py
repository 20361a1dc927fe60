"""load_fleet against the real local OpenSearch: every document arrives, reloads converge."""

from __future__ import annotations

import pytest

from hcad.errors import Conflict
from hcad.quality import loading, synth
from hcad.quality.synth import FleetSpec


def test_load_fleet_indexes_every_document_and_reload_overwrites(os_client, index_name) -> None:
    spec = FleetSpec.fleet(hosts=4, processes=2, periods=288, anomalies=6)
    expected = sum(1 for _ in synth.fleet_documents(spec))
    assert expected < 4 * 2 * 288  # the fleet preset drops some intervals

    report = loading.load_fleet(os_client, index_name, spec, progress=False, chunk_docs=700)
    assert report.docs == expected
    assert report.chunks == -(-expected // 700)
    assert report.seconds > 0 and report.bytes > 0
    assert os_client.count(index=index_name)["count"] == expected

    mapping = os_client.indices.get_mapping(index=index_name)[index_name]["mappings"]["properties"]
    assert mapping["host"] == {"type": "keyword"} and mapping["jvmGcTime"] == {"type": "double"}

    # What a detector would read: per-entity averages over 10-minute buckets.
    resp = os_client.search(
        index=index_name,
        body={
            "size": 0,
            "aggs": {
                "entities": {"multi_terms": {"terms": [{"field": "host"}, {"field": "process"}], "size": 100}},
                "first": {"min": {"field": "@timestamp"}},
                "last": {"max": {"field": "@timestamp"}},
            },
        },
    )
    aggs = resp["aggregations"]
    assert len(aggs["entities"]["buckets"]) == spec.entity_count
    assert aggs["first"]["value_as_string"].startswith("2024-01-01T00:00:00")
    assert aggs["last"]["value_as_string"].startswith("2024-01-02T23:50:00")

    # A labelled spike is visible in the indexed data.
    labels = synth.fleet_labels(spec)
    lab = labels[labels.kind == "spike"].iloc[0]
    hits = os_client.search(
        index=index_name,
        body={
            "size": 1,
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"host": lab.host}},
                        {"term": {"process": lab.process}},
                        {"term": {"@timestamp": lab.start.isoformat()}},
                    ]
                }
            },
        },
    )["hits"]["hits"]
    frame = synth.fleet_frame(spec)
    row = frame[(frame.host == lab.host) & (frame.process == lab.process) & (frame["@timestamp"] == lab.start)]
    assert hits[0]["_source"]["cpu"] == pytest.approx(float(row["cpu"].iloc[0]))

    # Deterministic ids: loading again into the existing index converges (no duplicates).
    again = loading.load_fleet(os_client, index_name, spec, progress=False, create=False)
    assert again.docs == expected
    assert os_client.count(index=index_name)["count"] == expected

    with pytest.raises(Conflict, match=f"index {index_name} already exists"):
        loading.create_fleet_index(os_client, index_name, spec)


def test_item_errors_stop_the_load_with_a_clear_error(os_client, index_name) -> None:
    from hcad.errors import ServerError

    loading.create_fleet_index(os_client, index_name, FleetSpec(metrics=("cpu",)))
    other = FleetSpec(hosts=3, processes=2, periods=2000, metrics=("cpu", "diskIo"), anomalies=0)
    # The index mapping is strict and has no diskIo: every document is refused.
    with pytest.raises(ServerError, match=rf"bulk indexing into {index_name}: 2000 of 2000 documents failed"):
        loading.load_fleet(os_client, index_name, other, progress=False, create=False, chunk_docs=2000)
    assert os_client.count(index=index_name)["count"] == 0
