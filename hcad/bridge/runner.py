"""Orchestration shared by the Lambda handlers and ``hcad bridge``: shards, windows, checkpoints.

A *shard* is a slice of the fleet (``shards.hosts_per_shard`` hosts, with their processes) that
one worker reads and indexes. Its window is ``[checkpoint − overlap, end)``, where ``end`` is the
newest period older than ``lag`` and the checkpoint is the exclusive end of the last period the
shard completed (kept in OpenSearch, only ever moved forward). The window is cut into chunks that
fit one GetMetricData page; the checkpoint moves after each chunk is indexed (or dead-lettered),
so an invocation that runs out of time resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hcad.bridge.fetch import CloudWatchFetcher, FetchStats
from hcad.bridge.mapping import (
    MAX_MESSAGE_BYTES,
    RETENTION,
    BridgeConfig,
    Entity,
    align_down,
    index_template,
    iso,
    live_end,
)
from hcad.bridge.sink import BulkWriter, DeadLetters, OpenSearchSink, WriteReport
from hcad.errors import ConfigError

log = logging.getLogger(__name__)

SHARD_KIND = "hcad-bridge-shard"
EntityFields = tuple[Entity, tuple[str, ...] | None]


@dataclass(frozen=True)
class Shard:
    """A slice of the fleet that one worker handles."""

    id: str
    entities: tuple[EntityFields, ...]

    @property
    def hosts(self) -> int:
        """Distinct hosts in the shard."""
        return len({e.host for e, _ in self.entities})


def plan_shards(config: BridgeConfig, entities: Sequence[EntityFields]) -> list[Shard]:
    """Split entities (sorted by host) into shards of ``hosts_per_shard`` hosts.

    A host's processes stay in its shard. Ids are positions, so they stay stable while the fleet
    does; when hosts come and go, the overlap window covers the few that change shard.
    """
    shards: list[Shard] = []
    current: list[EntityFields] = []
    hosts: set[str] = set()
    for ef in sorted(entities, key=lambda x: (x[0].host, x[0].process or "")):
        if ef[0].host not in hosts and len(hosts) == config.hosts_per_shard:
            shards.append(Shard(f"{len(shards):04d}", tuple(current)))
            current, hosts = [], set()
        hosts.add(ef[0].host)
        current.append(ef)
    if current:
        shards.append(Shard(f"{len(shards):04d}", tuple(current)))
    return shards


def encode_shard(config: BridgeConfig, shard: Shard, end: int, start: int | None = None) -> str:
    """The SQS message for one shard's work (fails if it would not fit in a message)."""
    body = json.dumps(
        {
            "v": 1,
            "kind": SHARD_KIND,
            "bridge": config.name,
            "shard": shard.id,
            "end": end,
            "start": start,
            "e": [[e.host, e.process, list(f) if f is not None else None] for e, f in shard.entities],
        },
        separators=(",", ":"),
    )
    if len(body) > MAX_MESSAGE_BYTES:
        raise ConfigError(
            f"shard {shard.id} is {len(body)} bytes as a message (limit {MAX_MESSAGE_BYTES}); "
            f"lower shards.hosts_per_shard (now {config.hosts_per_shard})"
        )
    return body


def decode_shard(body: str) -> tuple[Shard, int, int | None]:
    """Parse a shard message → (shard, end, start or None)."""
    data = json.loads(body)
    if not isinstance(data, dict) or data.get("kind") != SHARD_KIND:
        raise ValueError("not an hcad bridge shard message")
    ents = tuple(
        (Entity(str(h), None if p is None else str(p)), None if f is None else tuple(str(x) for x in f))
        for h, p, f in data["e"]
    )
    start = data.get("start")
    return Shard(str(data["shard"]), ents), int(data["end"]), None if start is None else int(start)


@dataclass
class ShardResult:
    """What one shard run did."""

    shard: str
    start: int
    end: int
    completed_to: int | None = None
    chunks: int = 0
    fetch: dict[str, int] = field(default_factory=dict)
    write: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["start_time"], d["end_time"] = iso(self.start), iso(self.end)
        return d


class Bridge:
    """One configured bridge with its CloudWatch fetcher, OpenSearch sink and dead letters."""

    def __init__(
        self,
        config: BridgeConfig,
        fetcher: CloudWatchFetcher,
        sink: OpenSearchSink,
        dead_letters: DeadLetters,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.fetcher = fetcher
        self.sink = sink
        self.dead_letters = dead_letters
        self.clock = clock
        self.writes = WriteReport()
        self._template_checked = False

    @property
    def fetch_stats(self) -> FetchStats:
        """CloudWatch call counts of this bridge's fetcher."""
        return self.fetcher.stats

    def checkpoint_key(self, shard_id: str) -> str:
        """The checkpoint document id of ``shard_id``: one per index, bridge name and shard."""
        return f"{self.config.index}.{self.config.name}.{shard_id}"

    def ensure_template(self) -> None:
        """Create the index template once per process (if configured and missing)."""
        if self._template_checked or not self.config.opensearch.create_template:
            return
        created = self.sink.ensure_template(f"hcad-bridge-{self.config.index}", index_template(self.config))
        if created:
            log.info("created index template for %s", self.config.index)
        self._template_checked = True

    def window(self, shard_id: str, end: int, start: int | None = None) -> tuple[int, int]:
        """The ``[start, end)`` a shard run covers (see the module docstring)."""
        c = self.config
        if start is None:
            ckpt = self.sink.read_checkpoints([self.checkpoint_key(shard_id)]).get(self.checkpoint_key(shard_id))
            base = ckpt if ckpt is not None else end - c.initial_lookback
            start = base - c.overlap
            # Never ask for data CloudWatch no longer keeps at this period.
            keep = next((k for p, k in reversed(RETENTION) if c.period >= p), 3 * 3600)
            start = max(start, align_down(self.clock() - keep + c.period, c.period))
            end = min(end, start + c.max_window) if end - start > c.max_window else end
        start = align_down(start, c.period)
        end = align_down(end, c.period)
        return start, end

    def run_shard(
        self,
        shard: Shard,
        end: int,
        start: int | None = None,
        *,
        time_left: Callable[[], float] | None = None,
        on_chunk: Callable[[int, int], None] | None = None,
    ) -> ShardResult:
        """Read and index one shard's window, moving its checkpoint after each chunk."""
        self.ensure_template()
        start, end = self.window(shard.id, end, start)
        result = ShardResult(shard.id, start, end)
        if start >= end:
            return result
        n_series = sum(len(self.config.metrics_for(e)) if f is None else len(f) for e, f in shard.entities)
        writer = BulkWriter(self.sink, self.config.index, self.dead_letters)
        before = self.fetcher.stats.as_dict()
        key = self.checkpoint_key(shard.id)
        try:
            for cs, ce in self.fetcher.chunks(start, end, n_series):
                if time_left is not None and result.chunks and time_left() < 60:
                    log.warning("shard %s: stopping at %s, the invocation is running out of time", shard.id, iso(cs))
                    break
                writer.write(self.fetcher.fetch_chunk(shard.entities, cs, ce))
                # Everything before ce is indexed or safe in the dead-letter queue.
                self.sink.advance_checkpoint(key, ce, {"shard": shard.id, "bridge": self.config.name})
                result.completed_to = ce
                result.chunks += 1
                if on_chunk is not None:
                    on_chunk(cs, ce)
        finally:
            after = self.fetcher.stats.as_dict()
            result.fetch = {k: after[k] - before.get(k, 0) for k in after}
            result.write = writer.report.as_dict()
            _merge(self.writes, writer.report)
        return result

    def discover(self) -> list[EntityFields]:
        """The fleet (inventory or ListMetrics)."""
        return self.fetcher.discover()

    def shards(self) -> list[Shard]:
        """The fleet split into the shards one worker reads each (:func:`plan_shards`)."""
        return plan_shards(self.config, self.discover())

    def run_once(
        self, now: float | None = None, shards: Iterable[Shard] | None = None, **kwargs: Any
    ) -> list[ShardResult]:
        """One live poll of the whole fleet, in this process (what manager + workers do on AWS)."""
        end = live_end(self.clock() if now is None else now, self.config)
        return [self.run_shard(s, end, **kwargs) for s in (self.shards() if shards is None else shards)]

    def backfill(self, start: int, end: int, shards: Iterable[Shard] | None = None, **kwargs: Any) -> list[ShardResult]:
        """Read ``[start, end)`` for the whole fleet; checkpoints move forward to ``end`` at most."""
        self.check_backfill(start, end)
        return [self.run_shard(s, end, start, **kwargs) for s in (self.shards() if shards is None else shards)]

    def check_backfill(self, start: int, end: int) -> None:
        """Raise :class:`ConfigError` unless ``[start, end)`` is a range CloudWatch still holds (before any call)."""
        from hcad.bridge.mapping import check_retention

        if end <= start:
            raise ConfigError(f"backfill: --to {iso(end)} must be after --from {iso(start)}")
        check_retention(align_down(start, self.config.period), self.clock(), self.config.period)


def _merge(total: WriteReport, part: WriteReport) -> None:
    total.indexed += part.indexed
    total.retried_items += part.retried_items
    total.dead_lettered += part.dead_lettered
    total.bulk_requests += part.bulk_requests
    total.unreachable_batches += part.unreachable_batches
    for k, v in part.reasons.items():
        total.reasons[k] = total.reasons.get(k, 0) + v
