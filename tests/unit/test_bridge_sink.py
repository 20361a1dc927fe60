"""Bulk writing, dead letters and re-drive against a scripted HTTP session (no cluster needed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests

from hcad.bridge.dlq import DirDeadLetters, MemoryDeadLetters, decode, encode, redrive
from hcad.bridge.mapping import MAX_MESSAGE_BYTES, OpenSearchSettings
from hcad.bridge.ratelimit import Backoff
from hcad.bridge.sink import BulkWriter, DeadDoc, OpenSearchSink
from hcad.errors import AuthError, ConfigError


class Resp:
    def __init__(self, status: int, body: Any = None) -> None:
        self.status_code = status
        self._body = body if body is not None else {}
        self.content = json.dumps(self._body).encode()
        self.text = self.content.decode()

    def json(self) -> Any:
        return self._body


class Session:
    """Answers each request with ``handler(method, path, body)``; records what was sent."""

    def __init__(self, handler: Callable[[str, str, bytes | None], Resp]) -> None:
        self.handler = handler
        self.requests: list[tuple[str, str, bytes | None]] = []
        self.headers: dict[str, str] = {}
        self.auth: Any = None
        self.verify: Any = True

    def request(self, method: str, url: str, data: bytes | None = None, **_: Any) -> Resp:
        path = url.split("9200", 1)[1]
        self.requests.append((method, path, data))
        return self.handler(method, path, data)


def bulk_docs(body: bytes) -> list[dict[str, Any]]:
    lines = body.decode().splitlines()
    return [json.loads(lines[i + 1]) for i in range(0, len(lines), 2)]


def ok_bulk(method: str, path: str, body: bytes | None) -> Resp:
    return Resp(200, {"errors": False, "items": [{"index": {"status": 201}} for _ in bulk_docs(body or b"")]})


def make(handler: Callable[..., Resp], **settings: Any) -> tuple[BulkWriter, Session, MemoryDeadLetters, list]:
    session = Session(handler)
    sink = OpenSearchSink(OpenSearchSettings(url="http://os:9200", auth="none", **settings), session=session)
    dead = MemoryDeadLetters()
    sleeps: list[float] = []
    writer = BulkWriter(sink, "idx", dead, backoff=Backoff(0.2, 10.0, sleep=sleeps.append))
    return writer, session, dead, sleeps


def docs(n: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"id{i}", {"host": f"h{i}", "cpu": float(i)}) for i in range(n)]


def test_batches_are_bounded_by_count_and_bytes():
    writer, session, dead, _ = make(ok_bulk, bulk_docs=100)
    report = writer.write(docs(250))
    assert [len(bulk_docs(b or b"")) for _, _, b in session.requests] == [100, 100, 50]
    assert report.indexed == 250 and report.bulk_requests == 3 and dead.docs == []
    method, path, body = session.requests[0]
    assert (method, path) == ("POST", "/_bulk")
    assert body is not None and body.splitlines()[0] == b'{"index":{"_index":"idx","_id":"id0"}}'
    writer, session, _, _ = make(ok_bulk, bulk_docs=1000, bulk_bytes=2000)
    writer.write(docs(100))
    assert all(len(b or b"") <= 2000 for _, _, b in session.requests) and len(session.requests) > 1


def test_items_answered_429_are_retried_until_indexed():
    calls = {"n": 0}

    def handler(method: str, path: str, body: bytes | None) -> Resp:
        calls["n"] += 1
        items = bulk_docs(body or b"")
        # The first two requests reject every other item.
        st = [429 if calls["n"] <= 2 and i % 2 == 0 else 201 for i in range(len(items))]
        return Resp(200, {"errors": 429 in st, "items": [{"index": {"status": s}} for s in st]})

    writer, session, dead, sleeps = make(handler)
    report = writer.write(docs(8))
    assert [len(bulk_docs(b or b"")) for _, _, b in session.requests] == [8, 4, 2]
    assert report.indexed == 8 and report.retried_items == 6 and dead.docs == []
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.2 and 0 <= sleeps[1] <= 0.4


def test_persistent_429_and_bad_documents_are_dead_lettered_with_reasons():
    def handler(method: str, path: str, body: bytes | None) -> Resp:
        items = []
        for d in bulk_docs(body or b""):
            if d["host"] == "h1":
                err = {"type": "mapper_parsing_exception", "reason": "failed to parse field [cpu]"}
                items.append({"index": {"status": 400, "error": err}})
            elif d["host"] == "h2":
                items.append({"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}})
            else:
                items.append({"index": {"status": 200}})
        return Resp(200, {"errors": True, "items": items})

    writer, _, dead, sleeps = make(handler, max_retries=2)
    report = writer.write(docs(4))
    assert report.indexed == 2 and report.dead_lettered == 2 and len(sleeps) == 2
    by_id = {d.id: d for d in dead.docs}
    assert by_id["id1"].reason == "HTTP 400: mapper_parsing_exception: failed to parse field [cpu]"
    assert by_id["id1"].retryable is False and by_id["id1"].source == {"host": "h1", "cpu": 1.0}
    assert by_id["id2"].reason.startswith("HTTP 429 after 2 retries") and by_id["id2"].retryable


def test_unreachable_cluster_sends_whole_batches_to_dead_letters():
    def handler(method: str, path: str, body: bytes | None) -> Resp:
        raise requests.exceptions.ConnectionError("refused")

    writer, session, dead, _ = make(handler, bulk_docs=10, connect_retries=2)
    report = writer.write(docs(30))
    # The first batch tries 3 times; once known down, later batches try once each.
    assert len(session.requests) == 3 + 1 + 1
    assert report.unreachable_batches == 3 and report.dead_lettered == 30 and len(dead.docs) == 30
    assert {d.id for d in dead.docs} == {f"id{i}" for i in range(30)}
    assert dead.docs[0].reason.startswith("cluster unreachable: POST /_bulk: ConnectionError")


def test_gateway_errors_retried_then_dead_lettered_and_auth_errors_raise():
    answers = iter([Resp(503), Resp(200, {"errors": False, "items": []})])
    writer, session, dead, _ = make(lambda *a: next(answers))
    assert writer.write(docs(3)).indexed == 3 and len(session.requests) == 2 and dead.docs == []
    writer, _, _, _ = make(lambda *a: Resp(403, {"message": "denied"}))
    with pytest.raises(AuthError, match="HTTP 403"):
        writer.write(docs(1))


def test_sink_settings_errors():
    with pytest.raises(ConfigError, match="not an http"):
        OpenSearchSink(OpenSearchSettings(url="os:9200"), session=Session(ok_bulk))
    with pytest.raises(ConfigError, match=r"basic.*needs user"):
        OpenSearchSink(OpenSearchSettings(url="http://os:9200", auth="basic"), session=Session(ok_bulk), env={})
    s = OpenSearchSink(
        OpenSearchSettings(url="http://os:9200", auth="basic", user="u", password="p"), session=Session(ok_bulk)
    )
    assert s.http.auth == ("u", "p")
    s = OpenSearchSink(OpenSearchSettings(url="https://bob:s%40cret@os:9200/"), session=Session(ok_bulk), env={})
    assert s.url == "https://os:9200" and s.http.auth == ("bob", "s@cret")


def test_sigv4_auth_uses_refreshable_credentials():
    import boto3

    session = boto3.Session(aws_access_key_id="AKID", aws_secret_access_key="secret", region_name="eu-west-1")
    sink = OpenSearchSink(
        OpenSearchSettings(url="https://search-x.eu-west-1.es.amazonaws.com", auth="sigv4"),
        session=Session(ok_bulk),
        boto3_session=session,
    )
    auth: Any = sink.http.auth
    assert type(auth).__name__ == "AWS4Auth" and auth.region == "eu-west-1" and auth.service == "es"
    assert auth.refreshable_credentials is not None


def test_checkpoint_only_moves_forward():
    store: dict[str, Any] = {}

    def handler(method: str, path: str, body: bytes | None) -> Resp:
        if path.endswith("/_mget"):
            if "k" not in store:
                return Resp(200, {"docs": [{"_id": "k", "found": False}]})
            return Resp(200, {"docs": [{"_id": "k", "found": True, "_seq_no": 1, "_primary_term": 1, **store["k"]}]})
        store["k"] = {"_source": json.loads(body or b"{}")}
        return Resp(201, {"result": "created"})

    sink = OpenSearchSink(OpenSearchSettings(url="http://os:9200", auth="none"), session=Session(handler))
    assert sink.advance_checkpoint("k", 600) is True
    assert sink.advance_checkpoint("k", 300) is False
    assert sink.advance_checkpoint("k", 900) is True
    assert sink.read_checkpoints(["k"]) == {"k": 900}


def test_dead_letter_messages_stay_under_the_sqs_limit_and_round_trip():
    big = [DeadDoc(f"id{i}", {"host": "h" * 200, "cpu": float(i)}, "HTTP 429", True) for i in range(3000)]
    bodies = encode("idx", big, attempts=2)
    assert len(bodies) > 1 and all(len(b) <= MAX_MESSAGE_BYTES for b in bodies)
    back = [d for b in bodies for d in decode("h", b).docs]
    assert back == big
    assert decode("h", bodies[0]).attempts == 2 and decode("h", bodies[0]).index == "idx"
    with pytest.raises(ValueError, match="not an hcad"):
        decode("h", json.dumps({"kind": "other"}))


def test_the_dead_letter_directory_is_checked_at_once_and_made_with_the_first_letter(tmp_path):
    queue = DirDeadLetters(tmp_path / "a" / "dl")
    assert not (tmp_path / "a").exists() and queue.receive() == []
    queue.send("idx", [DeadDoc("a", {"cpu": 1.0}, "cluster unreachable")])
    assert [letter.docs[0].id for letter in queue.receive()] == ["a"]
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"'.*file' is not a directory; pass another --dead-letters"):
        DirDeadLetters(tmp_path / "file")
    with pytest.raises(ConfigError, match=r"cannot be created in '.*file'"):
        DirDeadLetters(tmp_path / "file" / "dl")


def test_redrive_checks_health_before_each_retry_and_loses_nothing(tmp_path):
    queue = DirDeadLetters(tmp_path / "dl")
    queue.send("idx", [DeadDoc("a", {"cpu": 1.0}, "cluster unreachable")])
    queue.send("idx", [DeadDoc("b", {"cpu": "x"}, "HTTP 400", False), DeadDoc("c", {"cpu": 3.0}, "HTTP 429")])
    state = {"health": "red"}
    indexed: list[str] = []

    def handler(method: str, path: str, body: bytes | None) -> Resp:
        if path.startswith("/_cluster/health"):
            return Resp(200, {"status": state["health"]})
        items = []
        for line in (body or b"").decode().splitlines()[::2]:
            _id = json.loads(line)["index"]["_id"]
            if _id == "b":
                items.append({"index": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "x"}}})
            else:
                indexed.append(_id)
                items.append({"index": {"status": 201}})
        return Resp(200, {"errors": True, "items": items})

    session = Session(handler)
    sink = OpenSearchSink(OpenSearchSettings(url="http://os:9200", auth="none"), session=session)
    report = redrive(sink, queue)
    assert report.stopped == "cluster health is red" and report.indexed == 0 and indexed == []
    assert len(list((tmp_path / "dl").glob("*.json"))) == 2  # kept
    state["health"] = "yellow"
    report = redrive(sink, queue)
    assert report.stopped is None and report.messages == 2 and report.indexed == 2 and report.failed_again == 1
    assert sorted(indexed) == ["a", "c"]
    health_calls = [p for _, p, _ in session.requests if p.startswith("/_cluster/health")]
    assert len(health_calls) == 1 + 2  # one before each message
    # What failed again is kept, delayed so the same re-drive does not spin on it.
    assert queue.receive() == []
    (path,) = (tmp_path / "dl").glob("*.json")
    left = decode(str(path), path.read_text())
    assert [d.id for d in left.docs] == ["b"] and left.attempts == 1
    assert "mapper_parsing_exception" in left.docs[0].reason


def _sender_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hcad-bulk-sender" and t.is_alive()]


def test_a_failing_source_leaves_no_sender_thread_behind():
    class SourceError(RuntimeError):
        pass

    def failing(n: int):
        yield from docs(n)
        raise SourceError("CloudWatch went away")

    before = len(_sender_threads())
    for _ in range(3):
        writer, session, dead, _ = make(ok_bulk, bulk_docs=10)
        with pytest.raises(SourceError):
            writer.write(failing(25))
        # The two full batches were handed to the sender and sent; the partial one is dropped.
        assert writer.report.indexed == 20 and len(session.requests) == 2 and dead.docs == []
    assert len(_sender_threads()) == before
    # The writer stays usable after the failure.
    writer.write(docs(5))
    assert writer.report.indexed == 25 and len(_sender_threads()) == before


def test_a_foreign_json_file_in_the_dead_letter_directory_is_skipped_with_a_warning(tmp_path, caplog):
    queue = DirDeadLetters(tmp_path / "dl")
    queue.send("idx", [DeadDoc("a", {"cpu": 1.0}, "cluster unreachable")])
    (tmp_path / "dl" / "notes.json").write_text("{}")
    (tmp_path / "dl" / "x-y.json").write_text("{}")
    with caplog.at_level("WARNING", logger="hcad.bridge.dlq"):
        letters = queue.receive()
        assert queue.receive() == letters  # a later poll does not warn again
    assert [d.id for letter in letters for d in letter.docs] == ["a"]
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 2 and any("notes.json" in w for w in warned) and any("x-y.json" in w for w in warned)
    assert (tmp_path / "dl" / "notes.json").exists()  # left alone
