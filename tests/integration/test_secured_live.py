"""hcad against a real TLS endpoint with basic auth: the test node behind nginx (issue 18).

The node runs with security off and is shared, so the security is put in front of it: Debian's nginx
terminates TLS with a certificate signed by a CA this test makes (``cryptography``), checks basic auth
(users ``admin`` and ``reader``) and refuses ``reader``'s anomaly-detection writes with 403 and the
security plugin's ``security_exception`` body. nginx (rather than a Python TLS server) because it is
what fronts real clusters: its TLS stack, its HTML 401 page and its logs are the real thing.

Each case runs the ``hcad`` command in its own process, as a user would, and checks stdout, stderr
and nginx's logs:
- TLS is verified by default: the test CA is trusted nowhere, so the command fails with one line
  naming HCAD_CA_CERTS and no request reaches nginx's access log;
- the CA bundle (HCAD_CA_CERTS or --ca-certs) works: the cluster command reads version and plugins;
- a wrong password is one AuthError line (401); a forbidden path is one permission line (403) that
  says what permission is missing, and nothing is created;
- no secret (passwords as given, as base64 in the header) appears in any output or log, --debug
  (tracebacks and one line per HTTP request) included.

nginx must be installed (scripts/bootstrap installs it with apt-get where it can); without it these
tests are skipped with the reason, or fail under CI (HCAD_REQUIRE_PLUGINS / HCAD_REQUIRE_TOOLS).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles.secured import Nginx, find_nginx, make_pki
from env_flags import tools_required

ADMIN_PASSWORD = "adm1n-Secret-7c1e!"
READER_PASSWORD = "r3ader-Secret-92ab?"
WRONG_PASSWORD = "wr0ng-Secret-55d0#"
SECRETS = (ADMIN_PASSWORD, READER_PASSWORD, WRONG_PASSWORD)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def nginx(os_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    binary = find_nginx()
    if binary is None:
        msg = "nginx is not installed (apt-get install nginx, or run scripts/bootstrap as root)"
        if tools_required():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    d = tmp_path_factory.mktemp("nginx")
    pki = make_pki(d / "pki")
    server = Nginx(binary, d / "run", pki, os_url, {"admin": ADMIN_PASSWORD, "reader": READER_PASSWORD}).start()
    yield server
    server.stop()


def hcad(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the hcad command in a fresh process with only the given HCAD_* settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HCAD_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "hcad", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(p: subprocess.CompletedProcess[str]) -> str:
    lines = [x for x in p.stderr.splitlines() if x.strip() and not x.startswith(("hcad: warning:", "hcad: debug:"))]
    assert p.returncode != 0, p.stdout
    assert len(lines) == 1 and lines[0].startswith("hcad: error: "), p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


def assert_no_secret(*texts: str) -> None:
    forms = [*SECRETS]
    for user, pw in (("admin", ADMIN_PASSWORD), ("reader", READER_PASSWORD), ("admin", WRONG_PASSWORD)):
        forms.append(base64.b64encode(f"{user}:{pw}".encode()).decode())
    for text in texts:
        for secret in forms:
            assert secret not in text, f"a secret leaked: ...{text[max(0, text.find(secret) - 200) :][:400]}"


def test_tls_is_verified_by_default_and_the_error_names_hcad_ca_certs(nginx: Nginx) -> None:
    before = nginx.logs().count('"GET ')
    p = hcad("cluster", env={"HCAD_URL": nginx.url, "HCAD_USER": "admin", "HCAD_PASSWORD": ADMIN_PASSWORD})
    line = one_error_line(p)
    assert "TLS verification failed" in line and "HCAD_CA_CERTS" in line, line
    assert "certificate" in line  # the gist of the failure ("unable to get local issuer certificate")
    assert nginx.logs().count('"GET ') == before  # the handshake failed: no request was made
    assert p.returncode == 1


def test_a_ca_bundle_verifies_and_commands_work(nginx: Nginx) -> None:
    env = {
        "HCAD_URL": nginx.url,
        "HCAD_USER": "admin",
        "HCAD_PASSWORD": ADMIN_PASSWORD,
        "HCAD_CA_CERTS": str(nginx.pki.ca),
    }
    p = hcad("cluster", "--json", env=env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["url"] == nginx.url and out["version"].count(".") == 2
    assert "opensearch-anomaly-detection" in out["plugins"]
    # --ca-certs on the command line does the same, and --insecure is the explicit opt-out.
    env.pop("HCAD_CA_CERTS")
    assert hcad("--ca-certs", str(nginx.pki.ca), "cluster", env=env).returncode == 0
    assert hcad("--insecure", "cluster", env=env).returncode == 0
    assert_no_secret(p.stdout, p.stderr, nginx.logs())


def test_a_wrong_password_is_one_auth_error_line(nginx: Nginx) -> None:
    import hcad as lib
    from hcad.errors import AuthError
    from hcad.transport import translate_errors

    p = hcad(
        "cluster",
        env={
            "HCAD_URL": nginx.url,
            "HCAD_USER": "admin",
            "HCAD_PASSWORD": WRONG_PASSWORD,
            "HCAD_CA_CERTS": str(nginx.pki.ca),
        },
    )
    line = one_error_line(p)
    assert "authentication failed (HTTP 401" in line and "password" in line, line
    assert p.returncode == 1
    client = lib.connect(nginx.url, user="admin", password=WRONG_PASSWORD, ca_certs=str(nginx.pki.ca))
    with pytest.raises(AuthError), translate_errors("reading the version"):
        client.info()
    assert_no_secret(p.stdout, p.stderr, nginx.logs())


def test_a_forbidden_path_is_a_clear_permission_error_and_nothing_is_created(
    nginx: Nginx, ad_client, index_name: str, tmp_path: Path
) -> None:
    ad_client.indices.create(
        index=index_name,
        body={
            "mappings": {
                "properties": {"@timestamp": {"type": "date"}, "host": {"type": "keyword"}, "cpu": {"type": "double"}}
            }
        },
    )
    ad_client.index(
        index=index_name, body={"@timestamp": "2024-01-01T00:00:00Z", "host": "h1", "cpu": 1.0}, refresh=True
    )
    name = f"it-secured-{index_name[-6:]}"
    (tmp_path / "d.yaml").write_text(
        f"name: {name}\nindices: [{index_name}]\ntime_field: '@timestamp'\ncategory_fields: [host]\n"
        "interval: 10m\nfeatures:\n  cpu_avg: {agg: avg, field: cpu}\n"
    )
    env = {"HCAD_URL": nginx.url, "HCAD_USER": "reader", "HCAD_CA_CERTS": str(nginx.pki.ca)}
    p = hcad("--password", READER_PASSWORD, "detectors", "apply", str(tmp_path), env=env)
    line = one_error_line(p)
    assert (
        "permission denied (HTTP 403" in line
        and "no permissions for [cluster:admin/opendistro/ad/detector/write]" in line
    )
    assert "User [name=reader" in line and p.returncode == 1
    assert ad_client.ad.find(name) is None
    assert_no_secret(p.stdout, p.stderr, nginx.logs())


def test_no_secret_in_any_output_or_log_with_debug(nginx: Nginx) -> None:
    ca = str(nginx.pki.ca)
    runs = [
        # password as an option, as an environment variable, wrong, and in the URL; TLS failing, then passing
        hcad("--debug", "--password", ADMIN_PASSWORD, "cluster", env={"HCAD_URL": nginx.url, "HCAD_USER": "admin"}),
        hcad(
            "--debug",
            "cluster",
            env={"HCAD_URL": nginx.url, "HCAD_USER": "admin", "HCAD_PASSWORD": ADMIN_PASSWORD, "HCAD_CA_CERTS": ca},
        ),
        hcad(
            "--debug",
            "cluster",
            env={"HCAD_URL": nginx.url, "HCAD_USER": "admin", "HCAD_PASSWORD": WRONG_PASSWORD, "HCAD_CA_CERTS": ca},
        ),
        hcad(
            "--debug",
            "--url",
            nginx.url.replace("https://", f"https://reader:{READER_PASSWORD.replace('?', '%3F')}@"),
            "--ca-certs",
            ca,
            "detectors",
            "delete",
            "no-such-detector-hcad-secured",
            "--yes",
        ),
    ]
    assert [r.returncode for r in runs] == [1, 0, 1, 1], [r.stderr[-500:] for r in runs]
    assert "Traceback" in runs[0].stderr and "Traceback" in runs[2].stderr  # --debug shows them
    assert "hcad: debug: opensearch: GET https://127.0.0.1" in runs[1].stderr  # and one line per request
    assert_no_secret(*(r.stdout + r.stderr for r in runs), nginx.logs())
