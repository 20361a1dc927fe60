"""Capture the alerting fixtures in this folder from a real node with the alerting plugin.

    .venv/bin/python tests/data/alerting/capture.py http://127.0.0.1:9200

What it does (see README.md): creates the unit tests' ``gc-time-entities`` monitor (detector
``detect_gc_time``, id ``fkzfBX0BHok1ZbMqLMdu``), reads it back with GET and ``_search`` (as hcad
does: with the User-Agent that makes alerting include ``ui_metadata``), then runs it with
``_execute?dryrun=true`` (as ``hcad monitors run`` does) over a scratch index holding
``result_docs.json`` plus a non-anomalous result, once over a period containing the anomalies and
once over a quiet one. The scratch index takes the place of ``.opendistro-anomaly-results*`` (a
system index); hits' ``_index`` is written back as the AD history index name. The monitor and the
scratch index are deleted afterwards.
"""

from __future__ import annotations

import copy
import json
import sys
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit"))

PERIOD_END = 1733620875919  # 2024-12-08T01:21:15.919Z; results executed at 01:10, inside the 20-minute window
QUIET_END = PERIOD_END - 86_400_000
RESULTS_INDEX_NAME = ".opendistro-anomaly-results-history-2024.12.08-1"
MAPPING = {
    "dynamic": False,
    "properties": {
        "detector_id": {"type": "keyword"},
        "model_id": {"type": "keyword"},
        "task_id": {"type": "keyword"},
        "anomaly_grade": {"type": "double"},
        "confidence": {"type": "double"},
        "data_start_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "data_end_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "execution_end_time": {"type": "date", "format": "strict_date_time||epoch_millis"},
        "entity": {"type": "nested", "properties": {"name": {"type": "keyword"}, "value": {"type": "keyword"}}},
    },
}


def main(url: str) -> None:
    from test_monitors import gc_detector, spec  # the unit tests' detector and spec

    import hcad
    from hcad.alerting.monitors import Alerting, build_monitor, preview_body

    client = hcad.connect(url)
    alerting = Alerting(client)
    docs: list[dict[str, Any]] = json.loads((HERE / "result_docs.json").read_text())
    quiet = dict(docs[1], anomaly_grade=0.0, entity=[{"name": "host", "value": "host9"}, docs[1]["entity"][1]])
    quiet["model_id"] = "fkzfBX0BHok1ZbMqLMdu_entity_qU1etQu1etQu1etQu1etQA"
    index = f"hcad-fixture-results-{uuid.uuid4().hex[:6]}"
    body = build_monitor(gc_detector(), spec())
    monitor_id = None
    try:
        client.indices.create(index=index, body={"mappings": MAPPING})
        for i, d in enumerate([*docs, quiet]):
            client.index(index=index, id=f"r{i}", body=d)
        client.indices.refresh(index=index)
        created = alerting.create(body)
        monitor_id = created["_id"]
        got = alerting.get(monitor_id)
        searched = alerting._call(
            "POST",
            "/_plugins/_alerting/monitors/_search",
            "searching monitors",
            body={"query": {"term": {"monitor.name.keyword": body["name"]}}, "seq_no_primary_term": True},
            ui_metadata=True,
        )
        run_body = preview_body(copy.deepcopy(got["monitor"]))
        run_body["inputs"][0]["search"]["indices"] = [index]
        fired = alerting.execute(body=run_body, period_end_ms=PERIOD_END)
        still = alerting.execute(body=run_body, period_end_ms=QUIET_END)
    finally:
        if monitor_id:
            alerting.delete(monitor_id)
        client.indices.delete(index=index, ignore_unavailable=True)
    for resp in (fired, still):
        for result in resp["input_results"]["results"]:
            for hit in result["hits"]["hits"]:
                hit["_index"] = RESULTS_INDEX_NAME
            result["took"] = 5
    for name, data in (
        ("monitor_get_entities.json", got),
        ("monitor_search_entities.json", searched),
        ("execute_fired.json", fired),
        ("execute_quiet.json", still),
    ):
        (HERE / name).write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9200")
