"""The project's own OpenSearch (scripts/opensearch) and hcad.connect against it."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import hcad

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "opensearch"


# Facts about the node scripts/opensearch sets up; a cluster given by HCAD_TEST_URL is someone else's.
OWN_NODE = not os.environ.get("HCAD_TEST_URL")
own_node_only = pytest.mark.skipif(not OWN_NODE, reason="checks the node scripts/opensearch starts, not HCAD_TEST_URL")


def _script_version() -> str:
    m = re.search(r'^OPENSEARCH_VERSION = "([\d.]+)"', SCRIPT.read_text(), re.M)
    assert m, "scripts/opensearch must define OPENSEARCH_VERSION"
    return m.group(1)


def test_server_is_the_pinned_2_19_release(os_client) -> None:
    number = os_client.info()["version"]["number"]
    assert number.startswith("2.19.")
    if OWN_NODE:
        assert number == _script_version()
    assert os_client.version[:2] == (2, 19)


def test_job_scheduler_plugin_is_installed(os_client) -> None:
    components = {row["component"] for row in os_client.cat.plugins(format="json")}
    assert "opensearch-job-scheduler" in components


def test_anomaly_detection_plugin_is_installed(ad_client) -> None:
    components = {row["component"] for row in ad_client.cat.plugins(format="json")}
    assert {"opensearch-anomaly-detection", "opensearch-job-scheduler"} <= components


def test_alerting_plugin_is_installed(alerting_client) -> None:
    components = {row["component"] for row in alerting_client.cat.plugins(format="json")}
    assert "opensearch-alerting" in components


def test_create_and_delete_an_index_through_connect(os_url: str, index_name: str) -> None:
    client = hcad.connect(os_url)
    client.indices.create(index=index_name, body={"mappings": {"properties": {"host": {"type": "keyword"}}}})
    try:
        assert client.indices.exists(index=index_name)
        client.index(index=index_name, id="1", body={"host": "h1"}, refresh=True)
        assert client.count(index=index_name)["count"] == 1
        if OWN_NODE:
            # One node: the script sets replicas to 0 so the index is green, not yellow.
            assert client.cluster.health(index=index_name)["status"] == "green"
    finally:
        client.indices.delete(index=index_name)
    assert not client.indices.exists(index=index_name)


def test_missing_plugin_is_reported_by_name(os_client) -> None:
    from hcad.errors import PluginMissing

    if "opensearch-anomaly-detection" in os_client.installed_plugins:
        pytest.skip("the AD plugin is installed here; this checks the message when it is not")
    with pytest.raises(PluginMissing) as e:
        os_client.require_plugin("opensearch-anomaly-detection")
    msg = str(e.value)
    assert "opensearch-anomaly-detection" in msg and os_client.settings.url in msg and "\n" not in msg


@own_node_only
def test_start_reuses_a_running_node(os_url: str) -> None:
    port = os_url.rsplit(":", 1)[1]
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "start", "--port", port, "--json"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["started_now"] is False and info["running"] is True


def test_start_refuses_a_port_taken_by_something_else() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        out = subprocess.run(
            [sys.executable, str(SCRIPT), "start", "--port", str(port)], capture_output=True, text=True, timeout=60
        )
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 1
    assert f"port {port} is in use" in out.stderr and "Traceback" not in out.stderr


@own_node_only
def test_assembled_modules_work(os_client, index_name: str) -> None:
    """reindex (delete-by-query, which the AD plugin uses to delete a detector's state) and painless."""
    modules = {
        m["name"] for node in os_client.nodes.info(metric="plugins")["nodes"].values() for m in node.get("modules", [])
    }
    assert {"reindex", "lang-painless", "lang-mustache", "transport-netty4"} <= modules
    os_client.index(index=index_name, body={"host": "h1", "v": 2}, refresh=True)
    os_client.index(index=index_name, body={"host": "h2", "v": 3}, refresh=True)
    body = {"size": 0, "aggs": {"twice": {"sum": {"script": {"lang": "painless", "source": "doc['v'].value * 2"}}}}}
    assert os_client.search(index=index_name, body=body)["aggregations"]["twice"]["value"] == 10.0
    out = os_client.delete_by_query(index=index_name, body={"query": {"term": {"host.keyword": "h1"}}}, refresh=True)
    assert out["deleted"] == 1
    assert os_client.count(index=index_name)["count"] == 1
    rendered = os_client.transport.perform_request(
        "POST", "/_render/template", body={"source": {"query": {"term": {"host": "{{h}}"}}}, "params": {"h": "h2"}}
    )
    assert rendered["template_output"]["query"]["term"]["host"] == "h2"


@own_node_only
def test_start_refuses_the_node_of_another_checkout(os_url: str, tmp_path: Path) -> None:
    port = os_url.rsplit(":", 1)[1]
    env = {**os.environ, "HCAD_OS_HOME": str(tmp_path / "elsewhere")}
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "start", "--port", port], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 1
    assert "another checkout" in out.stderr and "Traceback" not in out.stderr
