"""A fault-injecting HTTP proxy in front of a real OpenSearch node (a test double: not shipped).

The tests share one OpenSearch node with other runs, so they never stop it. What a client sees when the
node goes down is reproduced here instead, one hop before the node: the proxy closes its listening
socket (new connections are refused) and resets every open connection, exactly what a client sees
when a node's process dies. ``up()`` listens again on the same port, like a restarted node.

Faults are scripted by :class:`Rule` s, matched against each request in order (method, path regex,
the n-th match, how many times it fires):

- ``down``: the node dies before the request reaches it (nothing is applied);
- ``down_after``: the request is forwarded and applied, then the node dies before answering (the
  client cannot know whether it was applied: the worst case for retries and re-runs);
- ``reset``: this connection is reset without an answer (a cut network), later ones go through;
- ``delay``: the answer comes ``delay`` seconds late (a slow network or an overloaded node);
- ``status``: the proxy answers ``status`` itself (429 Too Many Requests, 503 Unavailable, ...), with
  an OpenSearch-shaped JSON error body.

Every request is recorded in ``log`` as ``(method, path, outcome)``.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length", "proxy-connection", "te"}


@dataclass
class Rule:
    """One scripted fault: what to match and what to do (see the module docstring for actions)."""

    action: str
    method: str | None = None  # None: any
    path: str = ".*"  # regex searched in the path (query string included)
    nth: int = 1  # fire from the n-th matching request on
    times: int | None = 1  # how many times it fires (None: for ever)
    delay: float = 0.0
    status: int = 503
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        if self.method and method != self.method:
            return False
        if not re.search(self.path, path):
            return False
        self.seen += 1
        if self.seen < self.nth or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a dead peer's kernel does, not with an orderly FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


class FaultyProxy:
    """HTTP/1.1 reverse proxy to ``target`` with scripted faults; ``up()``/``down()`` by hand too."""

    def __init__(self, target: str, port: int | None = None) -> None:
        self.target = target.rstrip("/")
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, str]] = []
        self.times: list[float] = []  # time.monotonic() of each log entry
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._dead = False  # set the moment the node 'dies', before the listening socket is closed

    # ------------------------------------------------------------------ control
    def add(self, action: str, **kw: Any) -> Rule:
        rule = Rule(action, **kw)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def up(self) -> FaultyProxy:
        if self._server is not None:
            return self
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._open.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._open.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._dead = False
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def down(self) -> None:
        """The node dies: stop listening (new connections are refused) and reset the open ones."""
        self._dead = True
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            conns, self._open = list(self._open), set()
        for c in conns:
            _reset(c)

    def count(self, outcome: str | None = None, path: str = ".*") -> int:
        return sum(1 for _m, p, o in self.log if (outcome is None or o == outcome) and re.search(path, p))

    # ------------------------------------------------------------------ serving
    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    return rule
        return None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if self._dead:  # accepted in the instant before the listening socket closed
            self._record(h.command, h.path, "refused")
            _reset(h.connection)
            h.close_connection = True
            return
        rule = self._rule_for(h.command, h.path)
        action = rule.action if rule else "forward"
        self._record(h.command, h.path, action)
        if action == "down":
            self._die(h)
            return
        if action == "reset":
            _reset(h.connection)
            h.close_connection = True
            return
        if action == "status":
            assert rule is not None
            reason = {429: "Too Many Requests", 503: "Service Unavailable"}.get(rule.status, "injected")
            err = {"type": "es_rejected_execution_exception" if rule.status == 429 else "unavailable", "reason": reason}
            payload = {"error": {"root_cause": [err], **err}, "status": rule.status}
            self._answer(h, rule.status, {"Content-Type": "application/json"}, json.dumps(payload).encode())
            return
        if action == "delay":
            assert rule is not None
            time.sleep(rule.delay)
        status, headers, content = self._forward(h, body)
        if action == "down_after":
            self._die(h)
            return
        try:
            self._answer(h, status, headers, content)
        except OSError:  # the client gave up (its timeout) while we slept
            h.close_connection = True

    def _record(self, method: str, path: str, outcome: str) -> None:
        with self._lock:
            self.log.append((method, path, outcome))
            self.times.append(time.monotonic())

    def _die(self, h: BaseHTTPRequestHandler) -> None:
        self._dead = True
        # Not from this handler's thread: shutdown() waits for serve_forever, which this thread is not.
        threading.Thread(target=self.down, daemon=True).start()
        _reset(h.connection)
        h.close_connection = True

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP | {"accept-encoding"}}
        r = session.request(h.command, self.target + h.path, data=body or None, headers=headers, timeout=120)
        out = {"Content-Type": r.headers.get("Content-Type", "application/json")}
        return r.status_code, out, r.content

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], content: bytes) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(content)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(content)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
