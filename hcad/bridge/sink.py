"""Writing to OpenSearch with plain ``requests`` (+ ``requests-aws4auth`` for SigV4).

No opensearch-py here: the Lambda package stays a few MB (opensearch-py 3.x pulls grpcio and
protobuf). The CLI uses the same code, so both paths are the one that is tested.

- :class:`OpenSearchSink`: the HTTP session, index template, checkpoints, cluster health.
- :class:`BulkWriter`: bounded bulk batches (documents and bytes); items answered 429 are retried
  with exponential backoff and full jitter; items that still fail, and whole batches when the cluster
  cannot be reached, go to the dead-letter queue *with the documents and the reason*.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from json.encoder import encode_basestring_ascii
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from hcad.bridge.mapping import OpenSearchSettings, iso
from hcad.bridge.ratelimit import Backoff
from hcad.errors import AuthError, ConfigError, HcadConnectionError, ServerError, server_reason

log = logging.getLogger(__name__)

_quote = encode_basestring_ascii
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

RETRY_STATUS = frozenset({429, 502, 503, 504})

# Only what the writer reads back: keeps bulk responses small.
BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"


@dataclass(frozen=True)
class DeadDoc:
    """A document that could not be indexed, and why."""

    id: str
    source: dict[str, Any]
    reason: str
    retryable: bool = True


class DeadLetters(Protocol):
    """Where documents that could not be indexed go (an SQS queue or a directory)."""

    def send(self, index: str, docs: list[DeadDoc], attempts: int = 0) -> None: ...


class Unreachable(Exception):
    """The cluster did not answer (refused, DNS, timeout) or kept answering 5xx/429."""


class OpenSearchSink:
    """A thin HTTP client for the few calls the bridge makes."""

    def __init__(
        self,
        settings: OpenSearchSettings,
        *,
        session: Any = None,
        env: dict[str, str] | None = None,
        boto3_session: Any = None,
    ) -> None:
        import requests

        env = dict(os.environ) if env is None else env
        url = settings.url or env.get("HCAD_URL") or "http://127.0.0.1:9200"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("opensearch.url is not an http(s) URL; give it as https://host:port")
        if parts.username is not None:
            # Credentials in the URL become basic auth and never appear in messages or logs.
            settings = replace(
                settings,
                user=settings.user or unquote(parts.username),
                password=settings.password if settings.password is not None else unquote(parts.password or ""),
            )
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        self.settings = settings
        self.url = url.rstrip("/")
        self.http = session or requests.Session()
        auth = (settings.auth or env.get("HCAD_AUTH") or ("basic" if settings.user else "none")).lower()
        if auth == "sigv4":
            self.http.auth = _sigv4(settings, env, boto3_session)
        elif auth == "basic":
            user = settings.user or env.get("HCAD_USER")
            password = settings.password if settings.password is not None else env.get("HCAD_PASSWORD")
            if not user or password is None:
                raise ConfigError("opensearch auth 'basic' needs user and password (HCAD_USER/HCAD_PASSWORD)")
            self.http.auth = (user, password)
        elif auth != "none":
            raise ConfigError(f"opensearch.auth {auth!r} is not none, basic or sigv4")
        self.http.verify = settings.ca_certs or settings.verify
        self.http.headers["Content-Type"] = "application/json"

    def request(self, method: str, path: str, body: bytes | None = None, **params: Any) -> Any:
        """One HTTP call; returns the response. Raises :class:`Unreachable` if nothing answered."""
        import requests

        try:
            return self.http.request(
                method, self.url + path, data=body, params=params or None, timeout=self.settings.timeout
            )
        except requests.exceptions.SSLError as e:
            raise ConfigError(f"TLS verification failed for {self.url} ({e.__class__.__name__}); set ca_certs") from e
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            raise Unreachable(f"{method} {path}: {e.__class__.__name__}") from e

    def _json(self, method: str, path: str, body: Any = None, action: str = "", **params: Any) -> Any:
        try:
            r = self.request(method, path, None if body is None else json.dumps(body).encode(), **params)
        except Unreachable as e:
            raise HcadConnectionError(f"{action or path}: cannot reach {self.url} ({e})") from e
        if r.status_code in (401, 403):
            raise AuthError(f"{action}: HTTP {r.status_code} from {self.url}; check credentials/IAM role")
        try:
            data = r.json() if r.content else {}
        except ValueError:
            data = {"error": r.text[:300]}
        if r.status_code >= 400 and r.status_code != 404:
            raise ServerError(f"{action}: {server_reason(data)}", status=r.status_code, body=data)
        return r.status_code, data

    # -- template ----------------------------------------------------------------------------
    def ensure_template(self, name: str, body: dict[str, Any]) -> bool:
        """Create the index template unless one of that name exists; True if created.

        ``create=true`` makes the check and the creation one PUT (no GET/HEAD permission needed).
        """
        return self._put_template(name, body)[0] == 200

    def _put_template(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        try:
            r = self.request("PUT", f"/_index_template/{name}", json.dumps(body).encode(), create="true")
        except Unreachable as e:
            raise HcadConnectionError(f"creating index template {name}: cannot reach {self.url} ({e})") from e
        if r.status_code == 400 and "already exists" in r.text:
            return 409, None
        if r.status_code in (401, 403):
            raise AuthError(f"creating index template {name}: HTTP {r.status_code}; check the IAM role/credentials")
        if r.status_code >= 400:
            raise ServerError(f"creating index template {name}: {server_reason(_safe_json(r))}", status=r.status_code)
        return 200, None

    # -- checkpoints -------------------------------------------------------------------------
    def read_checkpoints(self, keys: list[str]) -> dict[str, int]:
        """The stored ``end`` (exclusive, epoch seconds) of each checkpoint key that exists."""
        if not keys:
            return {}
        idx = self.settings.checkpoint_index
        status, data = self._json("POST", f"/{idx}/_mget", {"ids": keys}, action="reading checkpoints")
        if status == 404:
            return {}
        out: dict[str, int] = {}
        for d in data.get("docs", []):
            if d.get("found"):
                out[str(d["_id"])] = int(d["_source"]["end"])
        return out

    def advance_checkpoint(self, key: str, end: int, extra: dict[str, Any] | None = None) -> bool:
        """Set checkpoint ``key`` to ``end`` unless it is already later (never moves back).

        Compare-and-set with ``if_seq_no``/``if_primary_term`` (no scripting needed, works where
        painless is absent); two workers racing on one shard retry on the version conflict.
        Returns whether the checkpoint moved.
        """
        doc = {"end": end, "end_time": iso(end), "updated": iso(int(time.time())), **(extra or {})}
        idx = self.settings.checkpoint_index
        for _ in range(10):
            status, data = self._json("POST", f"/{idx}/_mget", {"ids": [key]}, action=f"reading checkpoint {key}")
            found = status != 404 and (data.get("docs") or [{}])[0]
            params: dict[str, Any] = {}
            if found and found.get("found"):
                if int(found["_source"].get("end", 0)) >= end:
                    return False
                params = {"if_seq_no": found["_seq_no"], "if_primary_term": found["_primary_term"]}
            else:
                params = {"op_type": "create"}
            try:
                r = self.request("PUT", f"/{idx}/_doc/{key}", json.dumps(doc).encode(), **params)
            except Unreachable as e:
                raise HcadConnectionError(f"writing checkpoint {key}: cannot reach {self.url} ({e})") from e
            if r.status_code == 409:
                continue  # someone else moved it: read again and compare
            if r.status_code in (401, 403):
                raise AuthError(f"writing checkpoint {key}: HTTP {r.status_code}; check the IAM role/credentials")
            if r.status_code >= 400:
                raise ServerError(f"writing checkpoint {key}: {server_reason(_safe_json(r))}", status=r.status_code)
            return True
        raise ServerError(f"writing checkpoint {key}: kept conflicting with concurrent writers")

    # -- health ------------------------------------------------------------------------------
    def health(self) -> str | None:
        """Cluster status (``green``/``yellow``/``red``), or None when it cannot be reached."""
        try:
            r = self.request("GET", "/_cluster/health", timeout="5s")
        except Unreachable:
            return None
        if r.status_code != 200:
            return None
        return str(_safe_json(r).get("status") or "") or None

    def healthy(self) -> bool:
        """Whether writes can be expected to succeed (green or yellow)."""
        return self.health() in ("green", "yellow")


def _safe_json(r: Any) -> dict[str, Any]:
    try:
        data = r.json()
        return data if isinstance(data, dict) else {}
    except ValueError:
        return {"error": r.text[:300]}


def _sigv4(settings: OpenSearchSettings, env: dict[str, str], boto3_session: Any) -> Any:
    import boto3
    from requests_aws4auth import AWS4Auth

    session = boto3_session or boto3.Session()
    region = settings.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or session.region_name
    if not region:
        raise ConfigError("opensearch auth 'sigv4' needs a region: set region in the config or AWS_REGION")
    creds = session.get_credentials()
    if creds is None:
        raise ConfigError("opensearch auth 'sigv4' found no AWS credentials (role, profile or AWS_* variables)")
    # Refreshable: Lambda and role credentials rotate while a warm function lives on.
    return AWS4Auth(region=region, service=settings.service, refreshable_credentials=creds)


@dataclass
class WriteReport:
    """What a writer did."""

    indexed: int = 0
    retried_items: int = 0
    dead_lettered: int = 0
    bulk_requests: int = 0
    unreachable_batches: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class BulkWriter:
    """Streams ``(_id, _source)`` pairs into bounded ``_bulk`` requests with the ``index`` op.

    ``index`` (not ``create``) so a re-read overwrites a partial document with the fuller one and
    re-sending is harmless: ids are (entity, period), so runs converge to one document each.

    With ``pipeline`` (the default) one background thread sends batches while the caller builds the
    next one, so transforming overlaps the cluster's indexing time. At most three batches exist at
    once (building, queued, sending): memory stays bounded. :meth:`flush` waits until everything
    is sent and re-raises any error of the sender.
    """

    def __init__(
        self,
        sink: OpenSearchSink,
        index: str,
        dead_letters: DeadLetters,
        *,
        backoff: Backoff | None = None,
        on_request: Callable[[], None] | None = None,
        pipeline: bool = True,
    ) -> None:
        s = sink.settings
        self.sink = sink
        self.index = index
        self.dead_letters = dead_letters
        self.max_docs = s.bulk_docs
        self.max_bytes = s.bulk_bytes
        self.max_retries = s.max_retries
        self.connect_retries = s.connect_retries
        self.backoff = backoff or Backoff(0.2, 10.0, random.Random())
        self.report = WriteReport()
        self.on_request = on_request
        self._ids: list[str] = []
        self._lines: list[bytes] = []
        self._bytes = 0
        self._down = False  # after one unreachable batch, later ones are not retried as long
        # The action line is a fixed prefix + the quoted id.
        self._prefix = b'{"index":{"_index":' + json.dumps(index).encode() + b',"_id":'
        self.pipeline = pipeline
        self._queue: queue.Queue[tuple[list[str], list[bytes]] | None] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, docs: Iterable[tuple[str, dict[str, Any]]]) -> WriteReport:
        """Add every document, then flush; returns the running report.

        If ``docs`` raises (a CloudWatch error mid-chunk), the sender thread is stopped before the error
        propagates and the documents not yet submitted are dropped: the chunk's checkpoint does not move,
        so the next run reads them again.
        """
        try:
            for doc_id, source in docs:
                self.add(doc_id, source)
        except BaseException:
            self.close()
            raise
        self.flush()
        return self.report

    def add(self, doc_id: str, source: dict[str, Any]) -> None:
        """Buffer one document; sends a bulk request when the batch is full."""
        line = self._prefix + _quote(doc_id).encode() + b"}}\n" + _encode(source).encode() + b"\n"
        if self._ids and (len(self._ids) >= self.max_docs or self._bytes + len(line) > self.max_bytes):
            self._submit()
        self._ids.append(doc_id)
        self._lines.append(line)
        self._bytes += len(line)

    def flush(self) -> None:
        """Send everything buffered and wait for it; dead-letters what cannot be indexed."""
        try:
            if self._ids:
                self._submit()
        finally:
            self._stop_sender()
        self._raise_sender_error()

    def close(self) -> None:
        """Drop what is buffered and stop the sender thread (after a failure; :meth:`flush` otherwise).

        Batches already handed to the sender are still sent. An error of the sender is logged, not
        raised: the caller is already handling another one.
        """
        self._ids, self._lines, self._bytes = [], [], 0
        self._stop_sender()
        if self._error is not None:
            log.warning("bulk sender failed while the writer was closed: %s", self._error)
            self._error = None

    def _stop_sender(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _submit(self) -> None:
        batch = (self._ids, self._lines)
        self._ids, self._lines, self._bytes = [], [], 0
        if not self.pipeline:
            self._send_batch(*batch)
            return
        self._raise_sender_error()
        if self._thread is None:
            self._thread = threading.Thread(target=self._sender, name="hcad-bulk-sender", daemon=True)
            self._thread.start()
        self._queue.put(batch)  # blocks while a batch is already waiting

    def _sender(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is None:  # after an error, drain without sending: flush() raises it
                try:
                    self._send_batch(*batch)
                except BaseException as e:
                    self._error = e

    def _raise_sender_error(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _send_batch(self, ids: list[str], lines: list[bytes]) -> None:
        """One batch: retry 429 items, dead-letter what still fails."""
        dead: list[DeadDoc] = []
        pending = list(range(len(ids)))
        attempt = 0
        while pending:
            try:
                statuses = self._send([lines[i] for i in pending])
            except Unreachable as e:
                self.report.unreachable_batches += 1
                dead += [_dead(ids[i], lines[i], f"cluster unreachable: {e}") for i in pending]
                break
            self._down = False
            retry: list[int] = []
            for i, (status, reason) in zip(pending, statuses, strict=True):
                if status < 300:
                    self.report.indexed += 1
                elif status == 429 and attempt < self.max_retries:
                    retry.append(i)
                else:
                    why = f"HTTP {status}: {reason}" if status != 429 else f"HTTP 429 after {attempt} retries: {reason}"
                    dead.append(_dead(ids[i], lines[i], why, retryable=status == 429 or status >= 500))
            if retry:
                self.report.retried_items += len(retry)
                self.backoff.wait(attempt)
                attempt += 1
            pending = retry
        if dead:
            for d in dead:
                key = d.reason.split(":")[0]
                self.report.reasons[key] = self.report.reasons.get(key, 0) + 1
            self.report.dead_lettered += len(dead)
            log.warning("sending %d documents to the dead-letter queue (%s)", len(dead), dead[0].reason)
            self.dead_letters.send(self.index, dead)

    def _send(self, lines: list[bytes]) -> list[tuple[int, str]]:
        """POST one bulk body; per-item ``(status, reason)``. Whole-request failures are retried."""
        body = b"".join(lines)
        tries = 1 if self._down else 1 + self.connect_retries
        last = ""
        for t in range(tries):
            if self.on_request is not None:
                self.on_request()
            self.report.bulk_requests += 1
            try:
                r = self.sink.request("POST", "/_bulk", body, filter_path=BULK_FILTER)
            except Unreachable as e:
                last = str(e)
            else:
                if r.status_code in (401, 403):
                    raise AuthError(f"bulk indexing into {self.index}: HTTP {r.status_code}; check the IAM role")
                if r.status_code in RETRY_STATUS:
                    last = f"HTTP {r.status_code}"
                elif r.status_code >= 400:
                    reason = server_reason(_safe_json(r))
                    return [(r.status_code, reason)] * len(lines)
                else:
                    data = r.json()
                    if not data.get("errors"):
                        return [(200, "")] * len(lines)
                    items = data.get("items", [])
                    if len(items) != len(lines):
                        raise ServerError(f"bulk answered {len(items)} items for {len(lines)} documents")
                    out = []
                    for item in items:
                        res = next(iter(item.values()))
                        err = res.get("error") or {}
                        out.append((int(res.get("status", 500)), f"{err.get('type', '')}: {err.get('reason', '')}"))
                    return out
            if t + 1 < tries:
                self.backoff.wait(t)
        self._down = True
        raise Unreachable(last)


def _dead(doc_id: str, line: bytes, reason: str, retryable: bool = True) -> DeadDoc:
    source = json.loads(line[line.index(b"\n") + 1 :])
    return DeadDoc(doc_id, source, reason, retryable)
