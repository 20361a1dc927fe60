"""Results: query shape, DataFrame conversion, exact paging with ties (against an in-memory search).

Result documents in tests/data/ad/result_docs.json were constructed from the AD plugin's
AnomalyResult.toXContent at 2.19.4.0 and compared with a real 2.19.4.0 plugin's documents
(tests/data/ad/captured/result_docs.json).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hcad.ad.results import (
    iter_hits,
    results_frame,
    results_query,
    top_anomalies_frame,
)
from hcad.errors import ConfigError
from hcad.times import to_epoch_ms

DATA = Path(__file__).resolve().parent.parent / "data" / "ad"
LONG_MIN = -(2**63)


def test_results_frame_columns_and_values():
    docs = json.loads((DATA / "result_docs.json").read_text())
    df = results_frame(docs, ["host", "process"])
    assert list(df.columns[:8]) == [
        "data_start_time",
        "data_end_time",
        "host",
        "process",
        "anomaly_grade",
        "confidence",
        "anomaly_score",
        "cpu_avg",
    ]
    assert str(df["data_start_time"].dt.tz) == "UTC"
    # sorted by time: the normal h002 row (earlier) first, the h007 anomaly second
    assert df["host"].tolist() == ["h002", "h007"]
    anomaly = df.iloc[1]
    assert anomaly["anomaly_grade"] == 0.91 and anomaly["cpu_avg"] == 97.0
    assert anomaly["cpu_avg_expected"] == 41.0 and anomaly["mem_max_expected"] == 1.95
    assert pd.isna(df.iloc[0]["cpu_avg_expected"])
    assert df.iloc[1]["data_start_time"] == pd.Timestamp("2024-05-01T00:10:00Z")


def test_results_frame_empty_has_columns():
    df = results_frame([], ["host"])
    assert len(df) == 0 and "host" in df.columns and "anomaly_grade" in df.columns


def test_top_anomalies_frame_keeps_server_order():
    resp = json.loads((DATA / "top_anomalies.json").read_text())
    df = top_anomalies_frame(resp)
    assert df.columns.tolist() == ["host", "process", "doc_count", "max_anomaly_grade"]
    assert df["host"].tolist() == ["h007", "h002", "h010"]
    assert df["doc_count"].dtype == "int64"


def test_results_query_shape():
    q = results_query(
        "d1",
        datetime(2024, 5, 1, tzinfo=UTC),
        "2024-05-02T00:00:00Z",
        entity={"host": "h1", "process": "java"},
        only_anomalies=True,
    )
    f = q["bool"]["filter"]
    assert f[0] == {"term": {"detector_id": "d1"}}
    assert f[1]["range"]["data_start_time"] == {"gte": 1714521600000, "lt": 1714608000000, "format": "epoch_millis"}
    assert f[2] == {"range": {"anomaly_grade": {"gt": 0}}}
    nested = [c["nested"] for c in f if "nested" in c]
    assert [n["query"]["bool"]["filter"][1]["term"]["entity.value"] for n in nested] == ["h1", "java"]
    rt = results_query("d1", realtime_only=True)
    assert rt["bool"]["must_not"] == [{"exists": {"field": "task_id"}}]
    assert {"term": {"task_id": "t1"}} in results_query("d1", task_id="t1")["bool"]["filter"]


def test_to_epoch_ms():
    assert to_epoch_ms(datetime(1970, 1, 1, 0, 0, 1)) == 1000  # naive = UTC
    assert to_epoch_ms("1970-01-01T00:00:02Z") == 2000
    with pytest.raises(ConfigError, match="not an ISO-8601 time"):
        to_epoch_ms("yesterday")
    assert to_epoch_ms(1_704_067_200_000) == 1_704_067_200_000  # 2024-01-01 in milliseconds
    with pytest.raises(ConfigError, match=r"1704067200 looks like epoch seconds; give milliseconds \(1704067200000\)"):
        to_epoch_ms(1_704_067_200, "start")
    with pytest.raises(ConfigError, match="not a time"):
        to_epoch_ms(float("nan"))


class MemorySearch:
    """A tiny search engine over dicts implementing what iter_hits sends: sort with missing-first,
    search_after, size, and bool filters of match_all / term / must_not exists."""

    def __init__(self, docs: list[dict[str, Any]]):
        self.docs = docs
        self.requests = 0

    def _key(self, d: dict[str, Any], fields) -> list[Any]:
        return [d.get(f) for f in fields]

    @staticmethod
    def _cmp_key(values) -> tuple:
        # missing first: (0, None) sorts before (1, value)
        return tuple((0, 0) if v is None else (1, v) for v in values)

    def _match(self, d: dict[str, Any], q: dict[str, Any]) -> bool:
        if "match_all" in q:
            return True
        if "term" in q:
            ((f, v),) = q["term"].items()
            return d.get(f) == v
        if "bool" in q:
            b = q["bool"]
            return all(self._match(d, c) for c in b.get("filter", [])) and not any(
                self._match(d, c) for c in b.get("must_not", [])
            )
        if "exists" in q:
            return d.get(q["exists"]["field"]) is not None
        raise AssertionError(f"unsupported query {q}")

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        fields = [next(iter(s)) for s in body["sort"]]
        hits = [d for d in self.docs if self._match(d, body["query"])]
        hits.sort(key=lambda d: self._cmp_key(self._key(d, fields)))
        if "search_after" in body:
            after = self._cmp_key([None if v == LONG_MIN else v for v in body["search_after"]])
            hits = [d for d in hits if self._cmp_key(self._key(d, fields)) > after]
        total = len(hits)
        page = hits[: body["size"]]
        out = [
            {"_id": d["_id"], "_source": d, "sort": [LONG_MIN if v is None else v for v in self._key(d, fields)]}
            for d in page
        ]
        return {"hits": {"total": {"value": total, "relation": "eq"}, "hits": out}}


def test_iter_hits_is_exact_with_ties_across_page_boundaries():
    docs = []
    n = 0
    for t in range(5):
        for model in ("m1", "m2", None):
            # many documents share the same full sort key: a naive search_after would skip them
            for _ in range(7):
                docs.append({"_id": f"d{n}", "data_start_time": 1000 * t, "model_id": model,
                             "execution_end_time": 5, "execution_start_time": 4})  # fmt: skip
                n += 1
    search = MemorySearch(docs)
    seen_pages = []
    got = list(iter_hits(search, {"match_all": {}}, page_size=4, on_page=lambda s, t: seen_pages.append((s, t))))
    ids = [h["_id"] for h in got]
    assert sorted(ids) == sorted(d["_id"] for d in docs)
    assert len(ids) == len(set(ids)) == 105
    assert seen_pages[-1] == (105, 105)
    # sort order respected: data_start_time never goes backwards
    times = [h["_source"]["data_start_time"] for h in got]
    assert times == sorted(times)


def test_iter_hits_unique_keys_and_small_result():
    docs = [{"_id": str(i), "data_start_time": i, "model_id": "m", "execution_end_time": i, "execution_start_time": i}
            for i in range(23)]  # fmt: skip
    search = MemorySearch(docs)
    assert [h["_id"] for h in iter_hits(search, {"match_all": {}}, page_size=10)] == [str(i) for i in range(23)]
    assert [h["_id"] for h in iter_hits(search, {"match_all": {}}, page_size=100)] == [str(i) for i in range(23)]


def test_iter_hits_rejects_bad_page_size():
    with pytest.raises(ConfigError, match="page_size"):
        list(iter_hits(MemorySearch([]), {"match_all": {}}, page_size=20_000))


def test_top_from_results_matches_the_plugin_order():
    from hcad.ad.results import top_from_results

    t = pd.Timestamp("2024-05-01T00:00:00Z")
    rows = [("a", 0.5), ("a", 0.7), ("b", 0.9), ("c", 0.0), ("d", 0.2), ("d", 0.2), ("d", 0.1)]
    frame = pd.DataFrame([{"host": h, "data_start_time": t, "anomaly_grade": g} for h, g in rows])
    top = top_from_results(frame, ["host"], 10)
    assert top.to_dict(orient="list") == {
        "host": ["b", "a", "d"], "doc_count": [1, 2, 3], "max_anomaly_grade": [0.9, 0.7, 0.2]
    }  # fmt: skip
    assert top_from_results(frame, ["host"], 2, "occurrence")["host"].tolist() == ["d", "a"]
    assert top_from_results(frame.iloc[:0], ["host"], 2).columns.tolist() == ["host", "doc_count", "max_anomaly_grade"]
