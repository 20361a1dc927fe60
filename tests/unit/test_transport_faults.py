"""hcad's retry policy, error lines and --debug redaction (issue 18), on a local HTTP server.

The live counterparts (real node behind a faulty proxy, nginx, a SigV4-checking proxy) are in
tests/integration/test_faults_live.py and test_secured_live.py.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from opensearchpy import exceptions as osx

import hcad
from hcad.cli.main import Redact, main, secrets_of
from hcad.errors import AuthError, ServerError, ValidationError, server_reason
from hcad.transport import translate_errors


class Answer(http.server.BaseHTTPRequestHandler):
    status = 429
    body = b'{"error":{"type":"es_rejected_execution_exception","reason":"queue full"},"status":429}'
    ctype = "application/json"
    hits: list[str] = []  # noqa: RUF012

    def _answer(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(type(self).status)
        self.send_header("content-type", type(self).ctype)
        self.send_header("content-length", str(len(type(self).body)))
        self.end_headers()
        self.wfile.write(type(self).body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    Answer.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr("hcad.transport.time.sleep", waited.append)
    return waited


@pytest.mark.parametrize(
    ("status", "words"),
    [(429, "the cluster is overloaded (HTTP 429: queue full)"), (503, "the cluster is unavailable (HTTP 503")],
)
def test_429_and_503_are_retried_with_exponential_backoff_then_one_line(url, sleeps, status, words) -> None:
    Answer.status = status
    client = hcad.connect(url)
    with pytest.raises(ServerError) as e, translate_errors("reading the version"):
        client.info()
    assert len(Answer.hits) == 4  # 1 + max_retries (3)
    assert len(sleeps) == 3 and 0.37 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1 and 1.5 <= sleeps[2] <= 2
    assert words in str(e.value) and "after 4 attempts with backoff" in str(e.value) and "\n" not in str(e.value)
    assert e.value.status == status


def test_other_errors_are_not_retried(url, sleeps) -> None:
    Answer.status, Answer.body = 400, b'{"error":{"type":"x","reason":"bad request"},"status":400}'
    try:
        with pytest.raises(ServerError, match="bad request"), translate_errors("x"):
            hcad.connect(url).info()
    finally:
        Answer.body = b'{"error":{"type":"es_rejected_execution_exception","reason":"queue full"},"status":429}'
    assert len(Answer.hits) == 1 and sleeps == []


def test_a_proxys_html_401_page_is_read_by_its_title(url) -> None:
    Answer.status, Answer.ctype = 401, "text/html"
    Answer.body = b"<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body></body></html>"
    try:
        with pytest.raises(AuthError) as e, translate_errors("reading the version"):
            hcad.connect(url, user="u", password="p4ssw0rd-xyz").info()
    finally:
        Answer.ctype = "application/json"
    text = str(e.value)
    assert "authentication failed (HTTP 401: 401 Authorization Required)" in text and "p4ssw0rd" not in text


def test_403_says_what_permission_is_missing_or_that_the_signature_was_refused() -> None:
    body = {"error": {"root_cause": [{"type": "security_exception", "reason": "no permissions for [a/b]"}]}}
    with (
        pytest.raises(AuthError, match=r"permission denied \(HTTP 403: no permissions for \[a/b\]\)"),
        translate_errors("x"),
    ):
        raise osx.AuthorizationException(403, "security_exception", body)
    aws = {"message": "The request signature we calculated does not match\nthe signature you provided.\n\nCanonical"}
    with pytest.raises(AuthError) as e, translate_errors("x"):
        raise osx.AuthorizationException(403, "", aws)
    assert "AWS refused the request's signature" in str(e.value) and "\n" not in str(e.value)


def test_server_reason_is_always_one_line() -> None:
    assert server_reason({"message": "a\nb\n\n c"}) == "a b c"
    assert server_reason("<html><body><h1>502 Bad Gateway</h1></body></html>") == "502 Bad Gateway"
    assert server_reason({"error": {"reason": "x\ny"}}) == "x y"


def test_redaction_masks_known_secrets_and_authorization_headers() -> None:
    secrets = secrets_of(["--user", "admin", "--password", "hunter2!x"], {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI"})
    r = Redact(secrets)
    basic = base64.b64encode(b"admin:hunter2!x").decode()
    text = (
        f"pw hunter2!x key wJalrXUtnFEMI hdr {basic} {{'Authorization': 'Basic {basic}'}} "
        "authorization: AWS4-HMAC-SHA256 Credential=AK/x"
    )
    out = r.redact(text)
    assert "hunter2" not in out and "wJalrXUtnFEMI" not in out and basic not in out and "Credential=AK" not in out


def test_debug_logging_is_scoped_to_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    before = [len(logging.getLogger(n).handlers) for n in ("opensearch", "hcad")]
    for _ in range(2):
        with pytest.raises(SystemExit):
            main(["--debug", "--url", "http://127.0.0.1:9", "size", "--entities", "10"])
    assert [len(logging.getLogger(n).handlers) for n in ("opensearch", "hcad")] == before
    capsys.readouterr()


@pytest.mark.parametrize("section", ["queues", "endpoints", "shards", "fetch", "opensearch"])
def test_bridge_config_sections_that_are_not_mappings_are_one_validation_error(section: str) -> None:
    from hcad.bridge.mapping import parse_config

    raw = {"index": "i", "metrics": {"cpu": {"namespace": "AWS/EC2", "metric": "CPUUtilization"}}, section: 7}
    with pytest.raises(ValidationError, match=f"{section}: must be a mapping"):
        parse_config(raw, "c.yaml")
    with pytest.raises(ValidationError, match=r"fetch.tps: nan is not a number"):
        parse_config({**raw, section: {}, "fetch": {"tps": json.loads("NaN")}}, "c.yaml")
