"""Writing a synthetic fleet (:mod:`hcad.quality.synth`) to OpenSearch: its index mapping, and bulk
loading with bounded retries, a progress bar and a report of what was written; any fleet-shaped frame
(:func:`load_frame`), and an index's metrics as deviations from their seasonal baseline
(:func:`write_baseline`).

Document ids come from the generator (:func:`hcad.quality.synth.doc_id`): loading a spec twice overwrites
instead of duplicating.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hcad.errors import Conflict, HcadError, ServerError
from hcad.quality.synth import HOST_FIELD, PROCESS_FIELD, TIME_FIELD, FleetSpec, bulk_lines

if TYPE_CHECKING:
    import pandas as pd

    from hcad.connection import HcadClient
    from hcad.quality.baseline import BaselineSpec


def index_mapping(spec: FleetSpec) -> dict[str, Any]:
    """The index mapping of the fleet (the blog's ``host-cloudwatch`` mapping, with spec's metrics)."""
    return frame_mapping(TIME_FIELD, (HOST_FIELD, PROCESS_FIELD), spec.metrics)


def frame_mapping(time_field: str, entity_fields: Sequence[str], numeric: Sequence[str]) -> dict[str, Any]:
    """A strict mapping of one row per entity and interval: a date, keyword entity fields, double values."""
    props: dict[str, Any] = {time_field: {"type": "date"}}
    props.update({f: {"type": "keyword"} for f in entity_fields})
    props.update({c: {"type": "double"} for c in numeric})
    return {"dynamic": "strict", "properties": props}


def create_fleet_index(client: HcadClient, index: str, spec: FleetSpec, *, shards: int = 1, replicas: int = 0) -> None:
    """Create ``index`` with the fleet mapping; :class:`hcad.errors.Conflict` if it exists."""
    _create_index(client, index, index_mapping(spec), shards=shards, replicas=replicas)


def _create_index(
    client: HcadClient,
    index: str,
    mappings: dict[str, Any],
    *,
    shards: int = 1,
    replicas: int = 0,
    exist_ok: bool = False,
) -> None:
    """Create ``index``; :class:`hcad.errors.Conflict` if it exists, unless ``exist_ok``."""
    from opensearchpy.exceptions import RequestError

    from hcad.transport import translate_errors

    body = {"settings": {"index": {"number_of_shards": shards, "number_of_replicas": replicas}}, "mappings": mappings}
    with translate_errors(f"creating index {index}"):
        try:
            client.indices.create(index=index, body=body)
        except RequestError as e:
            if e.error != "resource_already_exists_exception":
                raise
            if not exist_ok:
                raise Conflict(f"index {index} already exists; pass another name or delete it first") from e


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_fleet` did."""

    index: str
    docs: int
    seconds: float
    bytes: int
    chunks: int

    @property
    def docs_per_second(self) -> float:
        """Indexing rate of the load."""
        return self.docs / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), docs_per_second=round(self.docs_per_second, 1))


def load_fleet(
    client: HcadClient,
    index: str,
    spec: FleetSpec,
    progress: bool = True,
    *,
    create: bool = True,
    chunk_docs: int = 5000,
    chunk_bytes: int = 8 * 1024 * 1024,
    max_retries: int = 5,
) -> LoadReport:
    """Index the fleet into ``index`` (created with :func:`create_fleet_index` unless ``create`` is
    false), refresh it, and report docs and seconds.

    Memory stays bounded: documents are generated entity by entity into chunks of at most
    ``chunk_docs`` documents / ``chunk_bytes`` bytes; a producer thread builds the next chunk while
    the cluster indexes the current one, with at most two chunks waiting. A chunk the cluster
    rejects with 429 is sent again with backoff (ids are deterministic, so re-sending is harmless);
    any other item error stops the load with :class:`hcad.errors.ServerError`.
    """

    from hcad.transport import translate_errors

    if create:
        create_fleet_index(client, index, spec)
    bar = _progress_bar(progress, spec.entity_count * spec.periods, f"loading {index}")
    t0 = time.perf_counter()
    docs = sent_bytes = chunks = 0
    chunks_q: queue.Queue[tuple[bytes, int] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            buf: list[bytes] = []
            size = 0
            for line in bulk_lines(spec):
                buf.append(line)
                size += len(line)
                if len(buf) >= chunk_docs or size >= chunk_bytes:
                    if not _put(chunks_q, (b"".join(buf), len(buf)), stop):
                        return
                    buf, size = [], 0
            if buf:
                _put(chunks_q, (b"".join(buf), len(buf)), stop)
            _put(chunks_q, None, stop)
        except BaseException as e:  # handed to the sending thread, which re-raises it
            _put(chunks_q, e, stop)

    producer = threading.Thread(target=produce, name="hcad-fleet-producer", daemon=True)
    producer.start()
    try:
        while True:
            item = chunks_q.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            body, n = item
            _send_chunk(client, index, body, n, max_retries)
            docs += n
            sent_bytes += len(body)
            chunks += 1
            if bar is not None:
                bar.update(n)
        with translate_errors(f"refreshing {index}"):
            client.indices.refresh(index=index)
    finally:
        stop.set()
        producer.join(timeout=10)
        if bar is not None:
            bar.close()
    return LoadReport(index, docs, time.perf_counter() - t0, sent_bytes, chunks)


def load_frame(
    client: HcadClient,
    index: str,
    frame: pd.DataFrame,
    *,
    time_field: str = TIME_FIELD,
    entity_fields: Sequence[str] = (HOST_FIELD, PROCESS_FIELD),
    exist_ok: bool = False,
    chunk_docs: int = 5000,
    max_retries: int = 5,
) -> int:
    """Index a frame of one row per entity and interval (``time_field``, the ``entity_fields`` and numeric
    columns, such as :func:`hcad.quality.baseline.residuals` returns) into ``index``, created with a
    matching mapping (an existing one is an error unless ``exist_ok``), refresh it and return the number of
    documents. Ids are entity + time, so writing a row again replaces it instead of duplicating it."""
    import json

    import pandas as pd

    from hcad.transport import translate_errors

    keys = (time_field, *entity_fields)
    numeric = [c for c in frame.columns if c not in keys]
    _create_index(client, index, frame_mapping(time_field, entity_fields, numeric), exist_ok=exist_ok)
    stamps = pd.to_datetime(frame[time_field], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    entities = [frame[f].astype(str).tolist() for f in entity_fields]
    cols = [frame[c].astype(float).tolist() for c in numeric]
    lines: list[bytes] = []
    for i, ts in enumerate(stamps):
        values = [e[i] for e in entities]
        src: dict[str, Any] = {time_field: ts, **dict(zip(entity_fields, values, strict=True))}
        # A missing value is left out, as a missing metric would be (NaN is not JSON).
        src.update({c: v[i] for c, v in zip(numeric, cols, strict=True) if v[i] == v[i]})
        action = {"index": {"_id": "|".join([*values, ts])}}
        lines.append(f"{json.dumps(action)}\n{json.dumps(src)}\n".encode())
        if len(lines) == chunk_docs or i == len(stamps) - 1:
            _send_chunk(client, index, b"".join(lines), len(lines), max_retries)
            lines = []
    with translate_errors(f"refreshing {index}"):
        client.indices.refresh(index=index)
    return len(stamps)


def write_baseline(
    client: HcadClient,
    index: str,
    dest: str,
    *,
    fields: Sequence[str],
    metrics: Sequence[str],
    start_s: int,
    end_s: int,
    spec: BaselineSpec,
    time_field: str = TIME_FIELD,
    history_days: int = 14,
    alone: Sequence[str] = (),
) -> pd.DataFrame:
    """:func:`hcad.quality.baseline.residuals` from ``index`` into ``dest``: each metric averaged per entity
    (``fields``) and ``spec.interval_minutes``, from ``history_days`` before ``start_s`` (epoch seconds) so
    the first intervals have baselines; the rows in [``start_s``, ``end_s``) are written (raw averages and
    deviations, with the fields a detector over each of ``alone`` reads; ``dest`` is created when missing and
    rows are replaced by id) and returned."""
    import pandas as pd

    from hcad.quality.backtest.buckets import TIME, query_buckets
    from hcad.quality.backtest.model import BacktestConfig, feature
    from hcad.quality.baseline import residuals

    config = BacktestConfig(
        features=tuple(feature(m, "avg", m) for m in metrics),
        interval_minutes=spec.interval_minutes,
        category_fields=tuple(fields),
        indices=(index,),
        time_field=time_field,
    ).validate()
    frame = query_buckets(client, config, (start_s - history_days * 86400) * 1000, end_s * 1000)
    if frame.empty:
        return frame
    frame = frame.rename(columns={TIME: time_field})[[time_field, *fields, *metrics]]
    dev = residuals(frame, metrics, spec=spec, entity_fields=fields, time_field=time_field, alone=alone)
    t = pd.to_datetime(dev[time_field], utc=True)
    dev = dev[(t >= pd.Timestamp(start_s, unit="s", tz="UTC")) & (t < pd.Timestamp(end_s, unit="s", tz="UTC"))]
    if not dev.empty:
        load_frame(client, dest, dev, time_field=time_field, entity_fields=fields, exist_ok=True)
    return dev.reset_index(drop=True)


def _put(q: Any, item: Any, stop: Any) -> bool:
    """Put ``item`` unless the consumer stopped (then give up, so the producer thread ends)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return True
        except queue.Full:  # the sender is busy; check stop again
            continue
    return False


def _send_chunk(client: HcadClient, index: str, body: bytes, n: int, max_retries: int) -> None:
    from hcad.transport import translate_errors

    for attempt in range(max_retries + 1):
        with translate_errors(f"bulk indexing into {index}"):
            resp = client.bulk(body=body, index=index)
        if not resp.get("errors"):
            return
        items = [next(iter(it.values())) for it in resp.get("items", [])]
        failed = [it for it in items if it.get("status", 200) >= 300]
        if failed and all(it.get("status") == 429 for it in failed) and attempt < max_retries:
            time.sleep(min(30.0, 0.5 * 2**attempt))
            continue
        first = failed[0] if failed else {}
        err = first.get("error", {})
        reason = err.get("reason", err) if isinstance(err, dict) else err
        raise ServerError(
            f"bulk indexing into {index}: {len(failed)} of {n} documents failed, first: {reason}",
            status=first.get("status"),
        )
    raise HcadError(f"bulk indexing into {index}: still rejected (429) after {max_retries} retries")


def _progress_bar(enabled: bool, total: int, desc: str) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="doc", file=sys.stderr, leave=False)
