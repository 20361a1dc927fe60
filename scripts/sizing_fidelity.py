#!/usr/bin/env python3
"""Does N = floor(H x P / S) hold on a live multi-node cluster? The fidelity experiment of issue 15.

    HCAD_OS_HOME=.cache/opensearch-3node HCAD_OS_PLUGIN_ZIPS=... HCAD_REQUIRE_PLUGINS=1 \\
        python3 scripts/opensearch start --nodes 3 --port 9400 --heap 640m
    .venv/bin/python scripts/sizing_fidelity.py --url http://127.0.0.1:9400 --percent 0.02 --json out/fidelity.json

On the cluster it sets ``model_max_size_percent`` (transient; put back afterwards) so that each node can
hold a few dozen models, loads history for more entities than fit (``--factor`` x the predicted cluster
capacity, 1.6 by default) into a 1-feature index, creates and starts a real-time HC detector (1-minute
interval, shingle 8), and then every ``--every`` seconds reads each node's models in memory
(``_plugins/_anomaly_detection/stats`` ``model_count`` and the profile's ``models`` with ``node_id``).
At the end it reports, per node, the published prediction N = floor(H x P / S) (H = the node's
``heap_max_in_bytes``, S = the profile's ``model_size_in_bytes``), hcad's corrected prediction
(:func:`hcad.sizing.capacity.models_held_per_node`), what the plugin held, and the entities that had
no model in memory and how many results they got in the last minutes (served from disk, or not at all),
plus the bytes per result document measured on the result index. The detector and index are deleted
afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hcad.connection import connect  # noqa: E402
from hcad.sizing import estimate_entity_model_size  # noqa: E402
from hcad.sizing.capacity import models_held_per_node  # noqa: E402
from hcad.sizing.live import PERCENT_SETTING, measure_nodes, result_doc_size  # noqa: E402

AD = "/_plugins/_anomaly_detection/detectors"


def log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def load_history(client: Any, index: str, entities: int, hours: float, ahead_min: int, bursty: int) -> None:
    """1-minute points per entity from ``hours`` ago to ``ahead_min`` minutes ahead (the job reads 'now')."""
    from opensearchpy import helpers

    t = client.transport
    t.perform_request("PUT", f"/{index}", body={
        "settings": {"number_of_shards": 3, "number_of_replicas": 0, "refresh_interval": "30s"},
        "mappings": {"properties": {"@timestamp": {"type": "date"}, "entity": {"type": "keyword"},
                                    "value": {"type": "double"}}},
    })  # fmt: skip
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    rng = random.Random(7)
    steady = entities - bursty

    def docs():
        for m in range(-ahead_min, int(hours * 60)):
            ts = iso(now - dt.timedelta(minutes=m))
            for e in range(entities):
                # Bursty entities report in the history, then one minute in 10 ahead of now, staggered (a tenth
                # of them each minute): active per interval A = steady + bursty / 10, total C = entities.
                if e >= steady and m < 0 and (m + e) % 10:
                    continue
                yield {"_index": index, "@timestamp": ts, "entity": f"e{e:04d}",
                       "value": 50.0 + 10 * math.sin((m + e) / 30) + rng.gauss(0, 1)}  # fmt: skip

    helpers.bulk(client, docs(), chunk_size=5000, request_timeout=120)
    t.perform_request("POST", f"/{index}/_refresh")


def node_models(client: Any, detector_id: str) -> tuple[dict[str, int], dict[str, str]]:
    """({node id: models of this detector in the profile}, {entity value: node id})."""
    body = client.transport.perform_request("GET", f"{AD}/{detector_id}/_profile/models")
    per: Counter[str] = Counter()
    where: dict[str, str] = {}
    for m in body.get("models") or []:
        node = str(m.get("node_id"))
        per[node] += 1
        for e in m.get("entity") or []:
            where[str(e.get("value"))] = node
    return dict(per), where


def results_per_entity(client: Any, detector_id: str, minutes: int) -> dict[str, int]:
    body = client.transport.perform_request("POST", "/.opendistro-anomaly-results*/_search", body={
        "size": 0,
        "query": {"bool": {"filter": [{"term": {"detector_id": detector_id}},
                                      {"range": {"execution_end_time": {"gte": f"now-{minutes}m"}}}]}},
        "aggs": {"e": {"nested": {"path": "entity"},
                       "aggs": {"v": {"terms": {"field": "entity.value", "size": 10000}}}}},
    }, params={"ignore_unavailable": "true"})  # fmt: skip
    return {b["key"]: b["doc_count"] for b in body["aggregations"]["e"]["v"]["buckets"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:9400")
    ap.add_argument("--percent", type=float, default=0.02, help="model_max_size_percent for the run [0.02]")
    ap.add_argument("--factor", type=float, default=1.6, help="entities = factor x predicted capacity [1.6]")
    ap.add_argument("--entities", type=int, help="entity count (instead of --factor)")
    ap.add_argument("--bursty", type=int, default=0, help="of which report once per 10 minutes only [0]")
    ap.add_argument(
        "--small-detector", type=int, default=0, metavar="K",
        help="also run a second detector over only K of the entities (its dedicated cache is mostly unused) [0]",
    )  # fmt: skip
    ap.add_argument("--history-hours", type=float, default=24)
    ap.add_argument("--minutes", type=int, default=12, help="observe this long after start [12]")
    ap.add_argument("--every", type=int, default=30, help="seconds between readings [30]")
    ap.add_argument("--json", type=Path, help="write the measurements here")
    ap.add_argument("--keep", action="store_true", help="leave the detector, index and setting in place")
    args = ap.parse_args()

    client = connect(args.url, timeout=120)
    t = client.transport
    version = next(r["version"] for r in client.cat.plugins(format="json")
                   if r["component"] == "opensearch-anomaly-detection")  # fmt: skip
    major_minor = ".".join(version.split(".")[:2])
    s_est = estimate_entity_model_size(1, 8, major_minor).bytes
    nodes0 = measure_nodes(client, s_est, args.percent)
    capacity = sum(n.predicted for n in nodes0)
    entities = args.entities or math.ceil(args.factor * capacity)
    log(f"{len(nodes0)} data nodes, heaps {[n.heap_bytes for n in nodes0]}, P = {args.percent}, S = {s_est:,} "
        f"(estimate, plugin {major_minor}): predicted N per node {[n.predicted for n in nodes0]}, "
        f"cluster {capacity}; {entities} entities ({entities / capacity:.2f} x), {args.bursty} bursty")  # fmt: skip

    before = t.perform_request("GET", "/_cluster/settings", params={"flat_settings": "true"})
    previous = (before.get("transient") or {}).get(PERCENT_SETTING)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    index = f"hcad-fidelity-{stamp}"
    detector_id = None
    out: dict[str, Any] = {"percent": args.percent, "entities": entities, "bursty": args.bursty,
                           "plugin_version": version, "estimated_model_size": s_est, "readings": []}  # fmt: skip
    try:
        t.perform_request("PUT", "/_cluster/settings", body={"transient": {PERCENT_SETTING: args.percent}})
        log(f"loading {args.history_hours:g} h of 1-minute history into {index}")
        load_history(client, index, entities, args.history_hours, args.minutes + 10, args.bursty)
        body = {
            "name": f"hcad-fidelity-{stamp}",
            "time_field": "@timestamp",
            "indices": [index],
            "category_field": ["entity"],
            "feature_attributes": [{"feature_name": "v", "feature_enabled": True,
                                    "aggregation_query": {"v": {"avg": {"field": "value"}}}}],
            "detection_interval": {"period": {"interval": 1, "unit": "Minutes"}},
            "window_delay": {"period": {"interval": 1, "unit": "Minutes"}},
            "shingle_size": 8,
        }  # fmt: skip
        detector_id = t.perform_request("POST", AD, body=body)["_id"]
        out["detector_id"] = detector_id
        if args.small_detector:
            small_body = dict(
                body,
                name=f"hcad-fidelity-small-{stamp}",
                filter_query={
                    "bool": {"filter": [{"terms": {"entity": [f"e{e:04d}" for e in range(args.small_detector)]}}]}
                },
            )
            small_id = t.perform_request("POST", AD, body=small_body)["_id"]
            out["small_detector_id"] = small_id
            t.perform_request("POST", f"{AD}/{small_id}/_start")
        t.perform_request("POST", f"{AD}/{detector_id}/_start")
        started = time.time()
        log(f"detector {detector_id} started; observing {args.minutes} min")
        model_size = s_est
        while time.time() - started < args.minutes * 60:
            time.sleep(args.every)
            try:
                per_profile, _ = node_models(client, detector_id)
                prof = t.perform_request("GET", f"{AD}/{detector_id}/_profile/models")
                sizes = {m.get("model_size_in_bytes") for m in prof.get("models") or [] if m.get("model_size_in_bytes")}
                if sizes:
                    model_size = int(max(sizes))
                nodes = measure_nodes(client, model_size, args.percent)
                small_per = node_models(client, out["small_detector_id"])[0] if args.small_detector else {}
            except Exception as e:
                log(f"reading failed: {e}")
                continue
            rows = []
            for n in nodes:
                # hcad's correction: each detector with entities on the node reserves the dedicated cache;
                # the small one uses only the entities it has there, the big one has more than fit (None).
                on_node = ([small_per.get(n.node_id, 0)] if args.small_detector else []) + [None]
                corrected = models_held_per_node(n.budget_bytes, model_size, entities_on_node=on_node)
                row = dict(n.to_dict(), profile_models=per_profile.get(n.node_id, 0), corrected_models=corrected)
                rows.append(dict(row, small_detector_models=small_per.get(n.node_id, 0)))
            out["readings"].append({"t": round(time.time() - started), "model_size": model_size, "nodes": rows})
            log("  ".join(f"{r['name']}: held {r['held_models']} / N {r['predicted_models']} corrected "
                          f"{r['corrected_models']} (profile {r['profile_models']}+{r['small_detector_models']})"
                          for r in rows))  # fmt: skip
        # Entities with no model in memory, and what they got.
        _, where = node_models(client, detector_id)
        got = results_per_entity(client, detector_id, 5)
        names = [f"e{e:04d}" for e in range(entities)]
        cold = [e for e in names if e not in where]
        out["final"] = out["readings"][-1] if out["readings"] else None
        out["entities_in_memory"] = len(where)
        out["entities_not_in_memory"] = len(cold)
        out["results_last_5_min"] = {
            "in_memory": Counter(got.get(e, 0) for e in names if e in where),
            "not_in_memory": Counter(got.get(e, 0) for e in cold),
        }
        rd = result_doc_size(client)
        out["result_doc"] = None if rd is None else {"bytes_per_doc": rd.bytes_per_doc, "note": rd.note()}
    finally:
        if not args.keep:
            for did in (detector_id, out.get("small_detector_id")):
                if not did:
                    continue
                for path in (f"{AD}/{did}/_stop", f"{AD}/{did}"):
                    try:
                        t.perform_request("DELETE" if path.endswith(did) else "POST", path)
                    except Exception as e:
                        log(f"cleanup {path}: {e}")
            try:
                t.perform_request("DELETE", f"/{index}", params={"ignore_unavailable": "true"})
            except Exception as e:
                log(f"cleanup {index}: {e}")
            t.perform_request("PUT", "/_cluster/settings", body={"transient": {PERCENT_SETTING: previous}})
    final = out.get("final") or {"nodes": []}
    print(f"\nmodel_max_size_percent {args.percent}, S = {final.get('model_size', s_est):,} B, {entities} entities")
    print(f"{'node':<14}{'heap':>12}{'budget H*P':>12}{'published N':>12}{'corrected':>10}{'held':>6}"
          f"{'held-N':>7}{'held-corr':>10}")  # fmt: skip
    for n in final["nodes"]:
        held, corr = n["held_models"], n["corrected_models"]
        print(f"{n['name']:<14}{n['heap_bytes']:>12,}{n['budget_bytes']:>12,}{n['predicted_models']:>12}"
              f"{corr:>10}{held!s:>6}{n['difference']!s:>7}{'-' if held is None else held - corr:>10}")  # fmt: skip
    if "entities_not_in_memory" in out:
        print(f"entities in memory {out['entities_in_memory']}, not in memory {out['entities_not_in_memory']}")
        print(f"results in the last 5 min, by count -> entities: {json.dumps(out['results_last_5_min'])}")
        print(f"result document: {(out.get('result_doc') or {}).get('note')}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
