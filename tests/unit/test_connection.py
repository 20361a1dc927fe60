"""hcad.connect: auth modes, TLS defaults, environment handling, and no secrets in output.

A tiny local HTTP(S) server records what the client really sends, so these tests check the bytes on
the wire (headers, SigV4 signature), not the client's internal state.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import logging
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote, urlsplit

import boto3
import pytest

import hcad
from hcad.connection import ConnectionSettings, redact_url
from hcad.errors import AuthError, ConfigError, HcadConnectionError

SECRET = "s3cr3t-Pa55word!"


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers like an OpenSearch root endpoint and remembers each request."""

    requests: ClassVar[list[dict]] = []
    status = 200

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).requests.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        if type(self).status == 401:
            payload = {"error": {"type": "security_exception", "reason": "missing authentication"}, "status": 401}
        else:
            payload = {"cluster_name": "fake", "version": {"number": "2.19.4", "distribution": "opensearch"}}
        data = json.dumps(payload).encode()
        self.send_response(type(self).status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[str]:
    Recorder.requests = []
    Recorder.status = 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "HCAD_URL",
        "HCAD_AUTH",
        "HCAD_USER",
        "HCAD_PASSWORD",
        "HCAD_INSECURE",
        "HCAD_CA_CERTS",
        "HCAD_TIMEOUT",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def http_url() -> Iterator[str]:
    yield from _serve()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "server.crt", d / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


@pytest.fixture
def https_url(cert: tuple[Path, Path]) -> Iterator[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    yield from _serve(ctx)


# ------------------------------------------------------------------ basic auth and none


def test_basic_auth_header_is_sent(http_url: str) -> None:
    client = hcad.connect(http_url, user="admin", password=SECRET)
    assert client.info()["version"]["number"] == "2.19.4"
    auth = Recorder.requests[-1]["headers"]["authorization"]
    import base64

    assert auth == "Basic " + base64.b64encode(f"admin:{SECRET}".encode()).decode()


def test_no_auth_sends_no_authorization(http_url: str) -> None:
    hcad.connect(http_url, auth="none").info()
    assert "authorization" not in Recorder.requests[-1]["headers"]


def test_credentials_in_url_are_moved_out_of_it(http_url: str) -> None:
    host = http_url.removeprefix("http://")
    client = hcad.connect(f"http://admin:{SECRET}@{host}")
    client.info()
    assert Recorder.requests[-1]["headers"]["authorization"].startswith("Basic ")
    assert SECRET not in repr(client) and SECRET not in repr(client.settings) and SECRET not in client.settings.url


def test_401_maps_to_auth_error_without_the_password(http_url: str) -> None:
    Recorder.status = 401
    client = hcad.connect(http_url, user="admin", password=SECRET)
    from hcad.connection import translate_errors

    with pytest.raises(AuthError) as e, translate_errors("reading cluster info"):
        client.info()
    assert "401" in str(e.value) and SECRET not in str(e.value)


# ------------------------------------------------------------------ SigV4


def _sigv4_expected(req: dict, secret: str, region: str, service: str) -> str:
    """Recompute a SigV4 signature from the request as received (AWS's documented algorithm)."""
    auth = req["headers"]["authorization"]
    fields = dict(part.strip().split("=", 1) for part in auth.removeprefix("AWS4-HMAC-SHA256 ").split(","))
    signed_headers = fields["SignedHeaders"].split(";")
    amz_date = req["headers"]["x-amz-date"]
    lower = req["headers"]
    path, _, query = req["path"].partition("?")
    canonical_query = "&".join(
        sorted(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
            for k, _, v in (p.partition("=") for p in query.split("&") if p)
        )
    )
    canonical = "\n".join(
        [
            req["method"],
            quote(path, safe="/-_.~"),
            canonical_query,
            "".join(f"{h}:{' '.join(lower[h].split())}\n" for h in signed_headers),
            ";".join(signed_headers),
            hashlib.sha256(req["body"]).hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("service", ["es", "aoss"])
def test_sigv4_signs_requests_with_fixed_credentials(http_url: str, service: str) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=secret, region_name="eu-west-1")
    client = hcad.connect(http_url, auth="sigv4", service=service, boto3_session=session)
    client.search(index="fleet", body={"size": 0, "query": {"match_all": {}}})
    req = Recorder.requests[-1]
    auth = req["headers"]["authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{req['headers']['x-amz-date'][:8]}/eu-west-1/")
    assert f"/{service}/aws4_request" in auth
    signature = auth.rsplit("Signature=", 1)[1]
    assert signature == _sigv4_expected(req, secret, "eu-west-1", service)
    # A signature made with another key must not match: the check above is not vacuous.
    assert signature != _sigv4_expected(req, secret + "x", "eu-west-1", service)
    assert secret not in repr(client)


def test_sigv4_without_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    session = boto3.Session(aws_access_key_id="AKID", aws_secret_access_key="x")
    with pytest.raises(ConfigError, match="region"):
        hcad.connect("https://search.example.invalid", auth="sigv4", boto3_session=session)


def test_sigv4_without_credentials_is_a_config_error() -> None:
    class NoCreds:
        region_name = "us-east-1"

        def get_credentials(self) -> None:
            return None

    with pytest.raises(ConfigError, match="no AWS credentials"):
        hcad.connect("https://x.invalid", auth="sigv4", boto3_session=NoCreds())


# ------------------------------------------------------------------ TLS


def test_tls_is_verified_by_default(https_url: str) -> None:
    client = hcad.connect(https_url, max_retries=0)
    from hcad.connection import translate_errors

    with pytest.raises(HcadConnectionError, match=r"TLS|cannot reach"), translate_errors("connecting"):
        client.info()
    assert Recorder.requests == []  # the handshake failed: no request got through


def test_custom_ca_bundle_verifies(https_url: str, cert: tuple[Path, Path]) -> None:
    client = hcad.connect(https_url, ca_certs=str(cert[0]))
    assert client.info()["cluster_name"] == "fake"


def test_explicit_opt_out_skips_verification(https_url: str) -> None:
    client = hcad.connect(https_url, verify=False)
    assert client.info()["cluster_name"] == "fake"


def test_insecure_env_opts_out(https_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCAD_INSECURE", "1")
    assert hcad.connect(https_url).info()["cluster_name"] == "fake"


# ------------------------------------------------------------------ environment and validation


def test_env_settings_are_used_and_arguments_win() -> None:
    env = {"HCAD_URL": "https://os.internal:9200", "HCAD_USER": "u", "HCAD_PASSWORD": SECRET, "HCAD_TIMEOUT": "7"}
    s = ConnectionSettings.resolve(env=env)
    assert (s.url, s.auth, s.user, s.password, s.timeout, s.verify) == (
        "https://os.internal:9200", "basic", "u", SECRET, 7.0, True,
    )  # fmt: skip
    s2 = ConnectionSettings.resolve("http://other:9200", auth="none", env=env)
    assert (s2.url, s2.auth) == ("http://other:9200", "none")
    s3 = ConnectionSettings.resolve(env={"AWS_DEFAULT_REGION": "ap-south-1", "HCAD_AUTH": "sigv4"})
    assert (s3.auth, s3.region, s3.service) == ("sigv4", "ap-south-1", "es")


@pytest.mark.parametrize(
    ("kwargs", "env", "needle"),
    [
        ({"url": "ftp://x"}, {}, "not an http"),
        ({"auth": "kerberos"}, {}, "HCAD_AUTH"),
        ({"auth": "basic"}, {}, "needs a user"),
        ({"auth": "basic", "user": "u"}, {}, "needs a password"),
        ({"service": "s3"}, {}, "aoss"),
        ({"ca_certs": "/nope/ca.pem"}, {}, "does not exist"),
        ({}, {"HCAD_TIMEOUT": "soon"}, "HCAD_TIMEOUT"),
        ({"timeout": 0}, {}, "positive"),
        ({"timeout": "5"}, {}, "must be a number of seconds"),
        ({}, {"HCAD_TIMEOUT": "nan"}, "positive"),
        ({"max_retries": -1}, {}, "max_retries -1 must be a whole number"),
        ({"url": 123}, {}, "url must be a string"),
        ({"url": "http://h:abc"}, {}, "is not a valid URL: a bad port"),
        ({"url": "http://[::1"}, {}, "is not a valid URL: a bad port or IPv6 address"),
    ],
)
def test_bad_settings_give_one_line_config_errors(kwargs: dict, env: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        ConnectionSettings.resolve(env=env, **kwargs)
    assert needle in str(e.value) and "\n" not in str(e.value)
    assert e.value.exit_code == 2


def test_a_token_in_the_url_is_never_echoed() -> None:
    for url in (f"https://{SECRET}@h:9200", f"http://h:9200/?token={SECRET}", f"http://h:9200/#{SECRET}",
                f"http://u:{SECRET}@h:99999", f"http://u:{SECRET}@[::1", f"https://admin:{SECRET}#x@h:9",
                f"https://admin:{SECRET}/x@h:9", f"https://admin:{SECRET}?x@h:9"):  # fmt: skip
        with pytest.raises(ConfigError) as e:
            ConnectionSettings.resolve(url, env={})
        assert SECRET not in str(e.value), str(e.value)


def test_no_secret_in_repr_str_or_logs(http_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = hcad.connect(http_url, user="admin", password=SECRET)
    client.info()
    client.search(index="x", body={"query": {"match_all": {}}})
    texts = [repr(client), str(client.settings), repr(client.settings), caplog.text]
    assert all(SECRET not in t for t in texts)
    assert "***" in repr(client.settings)
    assert redact_url(f"https://u:{SECRET}@h:9200/p") == "https://h:9200/p"


def test_connect_sends_nothing_until_used(http_url: str) -> None:
    hcad.connect(http_url)
    assert Recorder.requests == []
    assert urlsplit(http_url).hostname == "127.0.0.1"


@pytest.mark.parametrize(
    "url",
    [
        f"admin:{SECRET}@search.example.com:9200",
        f"https//admin:{SECRET}@host",
        f"ftp://admin:{SECRET}@host",
    ],
)
def test_malformed_url_errors_never_echo_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as e:
        ConnectionSettings.resolve(url, env={})
    assert SECRET not in str(e.value) and "host" in str(e.value)


def test_percent_encoded_credentials_are_decoded(http_url: str) -> None:
    import base64

    host = http_url.removeprefix("http://")
    hcad.connect(f"http://alice:p%40ss%3Aword@{host}").info()
    sent = Recorder.requests[-1]["headers"]["authorization"]
    assert sent == "Basic " + base64.b64encode(b"alice:p@ss:word").decode()


def test_upper_case_scheme_keeps_tls_options(https_url: str, cert: tuple[Path, Path]) -> None:
    upper = "HTTPS" + https_url[len("https") :]
    assert hcad.connect(upper, ca_certs=str(cert[0])).info()["cluster_name"] == "fake"
    assert hcad.connect(upper, verify=False).info()["cluster_name"] == "fake"


def test_ipv6_literal_keeps_brackets() -> None:
    assert redact_url(f"http://u:{SECRET}@[::1]:9200/x") == "http://[::1]:9200/x"


def test_one_namespaced_client_per_plugin():
    from fake_transport import recording_client

    from hcad.ad.client import AnomalyDetection
    from hcad.alerting.client import Alerting, Notifications
    from hcad.errors import PluginMissing

    plugins = ["opensearch-anomaly-detection", "opensearch-alerting"]

    def handle(method, url, params, body):
        if url == "/_cat/plugins":
            return 200, [{"component": p} for p in plugins]
        return 200, {"version": {"number": "2.19.4"}}

    client = recording_client(handle)
    assert isinstance(client.ad, AnomalyDetection) and client.ad is client.ad
    assert isinstance(client.monitors, Alerting) and client.monitors.client is client
    with pytest.raises(PluginMissing, match="opensearch-notifications"):
        client.channels  # noqa: B018 - the property checks the plugin
    plugins.append("opensearch-notifications")
    del client.installed_plugins
    assert isinstance(client.channels, Notifications)


def test_the_public_api_is_listed_before_it_is_loaded() -> None:
    import subprocess
    import sys

    code = "import sys, hcad; print(sorted(set(hcad.__all__) - set(dir(hcad))), 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "False"]  # every public name in dir(), and listing it loads nothing heavy
