"""Secured endpoints in front of the real OpenSearch node (test doubles: not shipped).

- :func:`make_pki`: a CA made by the test (``cryptography``) and a server certificate it signs for
  127.0.0.1/localhost; nothing on the machine trusts that CA, so only a client given it connects.
- :class:`Nginx`: Debian's nginx as a TLS-terminating reverse proxy with basic auth, the way such
  clusters are commonly fronted. Users: ``admin`` (everything) and ``reader`` (refused 403 on every
  non-GET anomaly-detection request, with the security plugin's ``security_exception`` body). nginx
  runs in the foreground as one process, all its files in a temporary folder.
- :class:`SigV4Proxy`: an HTTP proxy that checks AWS Signature Version 4 like Amazon OpenSearch
  Service: it recomputes each signature with botocore's own signer from the request exactly as
  received, refuses a mismatch or a request dated more than 5 minutes away (403, AWS's messages),
  refuses keys it never issued or whose lifetime is over, and forwards the rest to the node.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

FORBIDDEN_BODY = {
    "error": {
        "root_cause": [
            {
                "type": "security_exception",
                "reason": "no permissions for [cluster:admin/opendistro/ad/detector/write] and User [name=reader, "
                "backend_roles=[], requestedTenant=null]",
            }
        ],
        "type": "security_exception",
        "reason": "no permissions for [cluster:admin/opendistro/ad/detector/write] and User [name=reader, "
        "backend_roles=[], requestedTenant=null]",
    },
    "status": 403,
}


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path


def make_pki(folder: Path) -> Pki:
    """A CA and a server certificate for 127.0.0.1 and localhost it signs, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hcad test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pki


def find_nginx() -> str | None:
    """nginx on PATH, or where Debian puts it (/usr/sbin is not on a normal user's PATH)."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


NGINX_CONF = """\
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  client_max_body_size 100m;
  map "$remote_user $request_method $uri" $forbidden {{
    default 0;
    "~^reader (POST|PUT|DELETE) /_plugins/_anomaly_detection/" 1;
  }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    auth_basic "hcad test cluster";
    auth_basic_user_file {d}/htpasswd;
    location / {{
      if ($forbidden) {{
        add_header Content-Type application/json always;
        return 403 '{forbidden}';
      }}
      proxy_pass {upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
      proxy_read_timeout 300s;
    }}
  }}
}}
"""


class Nginx:
    """nginx terminating TLS with basic auth in front of ``upstream``; ``start()`` waits until it serves."""

    def __init__(self, binary: str, folder: Path, pki: Pki, upstream: str, users: dict[str, str]) -> None:
        self.binary = binary
        self.dir = folder
        self.pki = pki
        self.upstream = upstream.rstrip("/")
        self.users = users
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        self.dir.mkdir(parents=True, exist_ok=True)
        # {SHA}: base64 of the password's SHA-1, one of the schemes nginx reads.
        lines = [
            f"{u}:{{SHA}}{base64.b64encode(hashlib.sha1(p.encode()).digest()).decode()}" for u, p in self.users.items()
        ]
        (self.dir / "htpasswd").write_text("\n".join(lines) + "\n")
        conf = NGINX_CONF.format(
            d=self.dir,
            port=self.port,
            cert=self.pki.cert,
            key=self.pki.key,
            upstream=self.upstream,
            forbidden=json.dumps(FORBIDDEN_BODY).replace("'", ""),
        )
        (self.dir / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen(
            [self.binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e", str(self.dir / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        ctx = ssl.create_default_context(cafile=str(self.pki.ca))
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                err = (self.proc.stderr.read() if self.proc.stderr else b"").decode(errors="replace")
                raise RuntimeError(f"nginx exited ({self.proc.returncode}): {err[-2000:]}")
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.port), timeout=1) as s,
                    ctx.wrap_socket(s, server_hostname="127.0.0.1"),
                ):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not listen on {self.port} within 15 s") from None
                time.sleep(0.05)

    def logs(self) -> str:
        return "".join(
            (self.dir / f).read_text(errors="replace") for f in ("access.log", "error.log") if (self.dir / f).exists()
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


# --------------------------------------------------------------------------- SigV4
class SigV4Proxy:
    """Checks SigV4 signatures like Amazon OpenSearch Service, then forwards to ``target``.

    ``issue(lifetime)`` hands out a new access key (id, secret) the proxy accepts for ``lifetime``
    seconds (also over HTTP: ``GET /__issue``, unsigned, for a ``credential_process``); ``accepted``
    and ``refused`` count requests, ``reasons`` keeps each refusal's message; ``tamper = n`` changes
    the next n requests after they were signed (a query parameter is added).
    """

    MAX_SKEW = 300  # seconds: AWS refuses requests signed more than 5 minutes away from now

    def __init__(self, target: str, region: str = "eu-west-1", service: str = "es") -> None:
        self.target = target.rstrip("/")
        self.region = region
        self.service = service
        self.keys: dict[str, tuple[str, float]] = {}  # access key id -> (secret, expires at, epoch s)
        self.accepted = 0
        self.refused = 0
        self.reasons: list[str] = []
        self.key_ids_seen: list[str] = []
        self.key_lifetime = 3600.0  # of the keys /__issue hands out
        self.tamper = 0  # change this many coming requests after they were signed
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self._n = 0

    def issue(self, lifetime: float = 3600.0) -> tuple[str, str]:
        with self._lock:
            self._n += 1
            key_id = f"AKIDHCADTEST{self._n:08d}"
            secret = base64.b64encode(hashlib.sha256(f"{key_id}-{time.time()}".encode()).digest()).decode()[:40]
            self.keys[key_id] = (secret, time.time() + lifetime)
        return key_id, secret

    def check(self, method: str, path: str, headers: dict[str, str], body: bytes) -> str | None:
        """None when the request is correctly signed by a live key, else AWS's refusal message."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        lower = {k.lower(): v for k, v in headers.items()}
        auth = lower.get("authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "Authorization header requires 'Credential' parameter. (no SigV4 signature)"
        fields = dict(p.strip().split("=", 1) for p in auth.removeprefix("AWS4-HMAC-SHA256 ").split(","))
        key_id, date, region, service, _term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        amz_date = lower.get("x-amz-date", "")
        if key_id not in self.keys:
            return "The security token included in the request is invalid."
        secret, expires = self.keys[key_id]
        if time.time() > expires:
            return "The security token included in the request is expired"
        try:
            when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            return f"Invalid X-Amz-Date {amz_date!r}"
        skew = abs((dt.datetime.now(dt.UTC) - when).total_seconds())
        if skew > self.MAX_SKEW:
            return f"Signature expired: {amz_date} is now earlier than the allowed window (5 minutes)"
        if (region, service) != (self.region, self.service) or date != amz_date[:8]:
            return f"Credential should be scoped to a valid region and service ({self.region}/{self.service})"
        claimed = lower.get("x-amz-content-sha256")
        if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
            return "The provided 'x-amz-content-sha256' header does not match what was computed."
        # Recompute with botocore's signer, from the request as received: only the headers it signed.
        request = AWSRequest(
            method=method,
            url=f"http://{lower.get('host', '')}{path}",
            data=body,
            headers={h: lower[h] for h in signed if h in lower},
        )
        signer = SigV4Auth(Credentials(key_id, secret, lower.get("x-amz-security-token")), service, region)
        request.context["timestamp"] = amz_date
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        expected = signer.signature(string_to_sign, request)
        if expected != fields["Signature"]:
            return (
                "The request signature we calculated does not match the signature you provided. Check your "
                "AWS Secret Access Key and signing method. Consult the service documentation for details."
            )
        return None

    def start(self) -> SigV4Proxy:
        proxy = self
        session = requests.Session()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                if self.path.startswith("/__issue"):  # the test's STS: a new key for credential_process
                    key_id, secret = proxy.issue(proxy.key_lifetime)
                    self._send(200, "application/json", json.dumps({"id": key_id, "secret": secret}).encode())
                    return
                if proxy.tamper > 0:  # a man in the middle changes the request after it was signed
                    proxy.tamper -= 1
                    self.path += ("&" if "?" in self.path else "?") + "pretty=true"
                try:
                    refusal = proxy.check(self.command, self.path, headers, body)
                except Exception as e:  # a malformed header is a refusal, as on AWS
                    refusal = f"Malformed authorization: {e}"
                key = headers.get("Authorization", "").split("Credential=")[-1].split("/")[0]
                with proxy._lock:
                    proxy.key_ids_seen.append(key)
                    if refusal:
                        proxy.refused += 1
                        proxy.reasons.append(refusal)
                    else:
                        proxy.accepted += 1
                if refusal:
                    status, ctype, content = 403, "application/json", json.dumps({"message": refusal}).encode()
                else:
                    fwd = {
                        k: v for k, v in headers.items() if k.lower() in ("content-type", "content-encoding", "accept")
                    }
                    r = session.request(
                        self.command, proxy.target + self.path, data=body or None, headers=fwd, timeout=120
                    )
                    status, ctype, content = r.status_code, r.headers.get("Content-Type", "application/json"), r.content
                self._send(status, ctype, content)

            def _send(self, status: int, ctype: str, content: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
