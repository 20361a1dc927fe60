"""Shared fixtures: a real local OpenSearch (scripts/opensearch) and a connected hcad client.

The node is started once per session by ``scripts/opensearch start`` (which reuses a running node),
unless ``HCAD_TEST_URL`` points at a cluster to use instead. If the node cannot be started the
integration tests fail (they are never silently skipped). Tests marked ``needs_ad`` / ``needs_alerting``
are skipped, with the reason shown in the summary, only when that plugin could not be installed
(see ``scripts/opensearch status``); set ``HCAD_REQUIRE_PLUGINS=1`` to make that a failure instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from env_flags import CLUSTER_URL, plugins_required

ROOT = Path(__file__).resolve().parent.parent
OS_SCRIPT = ROOT / "scripts" / "opensearch"


def _start_local() -> dict:
    proc = subprocess.run(
        [sys.executable, str(OS_SCRIPT), "start", "--json"], capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/opensearch start failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}", pytrace=False)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def opensearch_info() -> dict:
    """Facts about the test cluster: url, version, installed plugins, missing plugins and why."""
    url = os.environ.get("HCAD_TEST_URL")
    if url:
        return {"url": url, "missing": {}}
    return _start_local()


@pytest.fixture(scope="session")
def os_url(opensearch_info: dict, pytestconfig: pytest.Config) -> str:
    url = str(opensearch_info["url"])
    pytestconfig.stash[CLUSTER_URL] = url
    return url


@pytest.fixture(scope="session")
def os_client(os_url: str):
    """A connected :class:`hcad.HcadClient` for the test cluster."""
    import hcad

    client = hcad.connect(os_url, timeout=120)
    # The query string carries the server-side timeout: opensearch-py reads a 'timeout' param as its own.
    client.transport.perform_request("GET", "/_cluster/health?wait_for_status=yellow&timeout=60s")
    return client


def require_plugin(client, info: dict, plugin: str) -> None:
    """Skip (with the reason) when ``plugin`` is not installed; fail instead under HCAD_REQUIRE_PLUGINS."""
    if plugin in client.installed_plugins:
        return
    why = info.get("missing", {}).get(plugin, "not installed on the test cluster")
    msg = f"{plugin} plugin unavailable: {why}"
    if plugins_required():
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def ad_client(os_client, opensearch_info: dict):
    """The test cluster's client, after checking the anomaly-detection plugin is installed."""
    require_plugin(os_client, opensearch_info, "opensearch-anomaly-detection")
    return os_client


@pytest.fixture(scope="session")
def alerting_client(os_client, opensearch_info: dict):
    """The test cluster's client, after checking the alerting plugin is installed."""
    require_plugin(os_client, opensearch_info, "opensearch-alerting")
    return os_client


@pytest.fixture(scope="session")
def notifications_client(alerting_client, opensearch_info: dict):
    """The test cluster's client, after checking the notifications plugin is installed."""
    require_plugin(alerting_client, opensearch_info, "opensearch-notifications")
    return alerting_client


@pytest.fixture
def index_name(request) -> Iterator[str]:
    """A unique index name for one test; the index is deleted afterwards if it was created."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"hcad-test-{base}-{uuid.uuid4().hex[:6]}"
    yield name
    if "os_client" in request.fixturenames or "ad_client" in request.fixturenames:
        client = request.getfixturevalue("os_client")
        client.indices.delete(index=name, ignore_unavailable=True)


def pytest_collection_modifyitems(config, items) -> None:
    # Tests using the cluster fixtures are integration tests, whatever their folder.
    for item in items:
        if {"os_client", "ad_client", "alerting_client", "os_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
