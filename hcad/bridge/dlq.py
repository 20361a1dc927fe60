"""Dead letters: documents that could not be indexed, kept with the reason, and their re-drive.

A dead-letter message is JSON (under SQS's 256 KiB limit)::

    {"v": 1, "kind": "hcad-bridge-docs", "index": "fleet-metrics", "attempts": 0,
     "docs": [{"_id": "...", "_source": {...}, "reason": "HTTP 400: mapper_parsing_exception: ...",
               "retryable": false}, ...]}

:func:`redrive` checks the cluster's health before *each* retry (a re-drive into a cluster that is
still down is how events were lost in seed 000's deployment), indexes the documents, sends what still
fails back as a new message (attempts + 1) and only then deletes the old one: nothing is lost, and
the deterministic ids make a repeated re-drive harmless.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcad.bridge.mapping import MAX_MESSAGE_BYTES
from hcad.bridge.sink import BulkWriter, DeadDoc, OpenSearchSink
from hcad.errors import ConfigError, HcadConnectionError

log = logging.getLogger(__name__)

KIND = "hcad-bridge-docs"


@dataclass
class Letter:
    """One received dead-letter message."""

    handle: str
    index: str
    attempts: int
    docs: list[DeadDoc]


def encode(index: str, docs: list[DeadDoc], attempts: int = 0) -> list[str]:
    """Pack ``docs`` into as few message bodies as fit under the size limit."""
    head = f'{{"v":1,"kind":"{KIND}","index":{json.dumps(index)},"attempts":{attempts},"docs":['
    bodies: list[str] = []
    parts: list[str] = []
    size = len(head) + 2
    for d in docs:
        item = json.dumps(
            {"_id": d.id, "_source": d.source, "reason": d.reason[:1000], "retryable": d.retryable},
            separators=(",", ":"),
        )
        if len(item) + len(head) + 2 > MAX_MESSAGE_BYTES:
            raise ConfigError(f"document {d.id} is {len(item)} bytes, over the dead-letter message limit")
        if parts and size + len(item) + 1 > MAX_MESSAGE_BYTES:
            bodies.append(head + ",".join(parts) + "]}")
            parts, size = [], len(head) + 2
        parts.append(item)
        size += len(item) + 1
    if parts:
        bodies.append(head + ",".join(parts) + "]}")
    return bodies


def decode(handle: str, body: str) -> Letter:
    """Parse a message body written by :func:`encode`."""
    data = json.loads(body)
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError("not an hcad bridge dead-letter message")
    docs = [
        DeadDoc(str(d["_id"]), d["_source"], str(d.get("reason", "")), bool(d.get("retryable", True)))
        for d in data["docs"]
    ]
    return Letter(handle, str(data["index"]), int(data.get("attempts", 0)), docs)


class SqsDeadLetters:
    """Dead letters in an SQS queue."""

    def __init__(self, queue_url: str, client: Any) -> None:
        self.queue_url = queue_url
        self.client = client
        self.sent_messages = 0

    def send(self, index: str, docs: list[DeadDoc], attempts: int = 0, delay: int = 0) -> None:
        """Send each letter as one SQS message (split to stay under the size limit), delayed ``delay`` s."""
        for body in encode(index, docs, attempts):
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay)
            self.sent_messages += 1

    def receive(self, max_messages: int = 10, wait: int = 0) -> list[Letter]:
        """Up to ``max_messages`` (at most 10, SQS's limit) letters; foreign messages are logged and left."""
        resp = self.client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=max(1, min(10, max_messages)), WaitTimeSeconds=wait
        )
        out = []
        for m in resp.get("Messages", []):
            try:
                out.append(decode(m["ReceiptHandle"], m["Body"]))
            except (ValueError, KeyError, TypeError) as e:
                # Leave foreign messages alone: SQS's own redrive policy moves them on.
                log.error("skipping a message that is not a bridge dead letter: %s", e)
        return out

    def delete(self, letter: Letter) -> None:
        """Remove a letter that was re-indexed."""
        self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=letter.handle)

    def release(self, letter: Letter) -> None:
        """Make a received message visible again at once (for the next re-drive)."""
        self.client.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=letter.handle, VisibilityTimeout=0)


class DirDeadLetters:
    """Dead letters as JSON files in a directory (for ``hcad bridge`` runs outside AWS)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # Checked now, created with the first letter: a run that dead-letters nothing leaves no directory.
        existing = next(p for p in (self.path, *self.path.absolute().parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            if existing != self.path:
                what = f"cannot be created in {str(existing)!r}"
            else:
                what = "is not writable" if existing.is_dir() else "is not a directory"
            raise ConfigError(f"dead-letter directory {str(self.path)!r} {what}; pass another --dead-letters")
        self.sent_messages = 0
        self._foreign: set[str] = set()

    def send(self, index: str, docs: list[DeadDoc], attempts: int = 0, delay: int = 0) -> None:
        """Write each letter as one JSON file, visible ``delay`` seconds from now."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"dead-letter directory {str(self.path)!r} cannot be created: {e.strerror}") from None
        for body in encode(index, docs, attempts):
            # The name starts with the time it becomes visible, like SQS's DelaySeconds.
            name = f"{time.time_ns() + delay * 10**9:020d}-{uuid.uuid4().hex[:8]}.json"
            tmp = self.path / (name + ".tmp")
            tmp.write_text(body, encoding="utf-8")
            tmp.rename(self.path / name)  # atomic: a reader never sees half a file
            self.sent_messages += 1

    def receive(self, max_messages: int = 10, wait: int = 0) -> list[Letter]:
        """Up to ``max_messages`` letters that are visible now, oldest first; other files are skipped."""
        out = []
        now = time.time_ns()
        visible = []
        for p in sorted(self.path.glob("*.json")):
            due = self._visible_at(p)
            if due is not None and due <= now:
                visible.append(p)
        for p in visible[:max_messages]:
            try:
                out.append(decode(str(p), p.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as e:
                log.error("skipping %s: %s", p, e)
        return out

    def _visible_at(self, p: Path) -> int | None:
        """When a letter becomes visible (its name's prefix, ns); None for a file the bridge did not write."""
        try:
            return int(p.name.split("-", 1)[0])
        except ValueError:
            if p.name not in self._foreign:  # once per file, not on every poll
                self._foreign.add(p.name)
                log.warning("skipping %s: not a bridge dead letter (names start with <time ns>-)", p)
            return None

    def delete(self, letter: Letter) -> None:
        """Remove a letter that was re-indexed."""
        Path(letter.handle).unlink(missing_ok=True)

    def release(self, letter: Letter) -> None:
        """Nothing to do: a file stays visible until it is deleted."""
        pass


@dataclass
class MemoryDeadLetters:
    """Collects dead letters in memory (what a re-drive must send back)."""

    docs: list[DeadDoc] = field(default_factory=list)

    def send(self, index: str, docs: list[DeadDoc], attempts: int = 0, delay: int = 0) -> None:
        """Keep the documents (the attempt count and delay do not matter here)."""
        self.docs.extend(docs)


@dataclass
class RedriveReport:
    """What a re-drive did."""

    messages: int = 0
    indexed: int = 0
    failed_again: int = 0
    health_checks: int = 0
    stopped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def redrive(
    sink: OpenSearchSink,
    queue: SqsDeadLetters | DirDeadLetters,
    *,
    max_messages: int = 1000,
    time_left: Callable[[], float] | None = None,
    retry_delay: int = 900,
) -> RedriveReport:
    """Re-index dead letters while the cluster is healthy; see the module docstring."""
    report = RedriveReport()
    while report.messages < max_messages:
        letters = queue.receive(min(10, max_messages - report.messages))
        if not letters:
            break
        for n, letter in enumerate(letters):
            report.health_checks += 1
            status = sink.health()
            out_of_time = time_left is not None and time_left() < 30
            if status not in ("green", "yellow") or out_of_time:
                report.stopped = "out of time" if out_of_time else f"cluster health is {status or 'unreachable'}"
                for rest in letters[n:]:
                    queue.release(rest)
                return report
            again = MemoryDeadLetters()
            writer = BulkWriter(sink, letter.index, again)
            writer.write((d.id, d.source) for d in letter.docs)
            if writer.report.unreachable_batches:
                # It went down between the health check and the write: keep the letter as it was.
                queue.release(letter)
                for rest in letters[n + 1 :]:
                    queue.release(rest)
                report.stopped = "cluster became unreachable"
                return report
            report.messages += 1
            report.indexed += writer.report.indexed
            if again.docs:
                report.failed_again += len(again.docs)
                # Send back before deleting: if the send fails the letter is still in the queue.
                queue.send(letter.index, again.docs, attempts=letter.attempts + 1, delay=retry_delay)
            try:
                queue.delete(letter)
            except Exception as e:  # the documents are indexed; a second re-drive is harmless
                raise HcadConnectionError(f"deleting a re-driven dead letter failed: {e}") from e
    return report
