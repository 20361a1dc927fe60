"""Integration fixtures for the bridge (moto in server mode, a fault proxy), and the ``compat`` subset.

``COMPAT`` names the plugin-facing tests that .ci/run also runs against the second release line
(OpenSearch 3.3.2), marked ``compat`` here in one place: together they touch every endpoint hcad calls
(detectors create/validate/preview/get/update/delete, real-time start/stop, historical analysis and its
results, profile, stats, _suggest, monitors create/run/delete, notification channels, sizing --measure,
entities, the node's plugins and modules). ``pytest -m compat`` runs them on any node; the slow ones
that only repeat these endpoints (the live pipeline, the acceptance run) stay out.

After the last test of each module, ``pytest_runtest_teardown`` looks for real-time detectors the module
left running and detectors it left behind (compared with before its first test): each is stopped and
deleted and the module's last test errors naming them. A leaked job runs every interval and slows every
later test; a leftover detector counts against the plugin's 10 high-cardinality detectors per cluster.

The proxy sits between the bridge and the real OpenSearch node so faults can be injected without
touching the shared node: ``stop()`` makes the cluster unreachable (connection refused) and
``start()`` brings it back on the same port; ``reject_bulk_items`` answers 429 for some bulk items
(those items are removed from the request, so they really are not indexed until retried).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from env_flags import CLUSTER_URL

# file -> tests (a name matches its parametrized cases too); test_compat_live.py is marked in itself.
COMPAT: dict[str, tuple[str, ...]] = {
    "test_local_opensearch.py": (
        "test_server_is_a_pinned_release",
        "test_cat_plugins_lists_the_five_and_status_the_modules",
        "test_assembled_modules_work",
        "test_cli_cluster_reports_version_plugins_and_ad_counts",
    ),
    "test_cli_detectors_live.py": (
        "test_plan_then_apply_creates_and_a_second_apply_changes_nothing",
        "test_changed_field_is_planned_and_applied_then_a_dropped_value_is_the_plugin_default",
        "test_running_detector_needs_restart_and_is_left_unchanged",
        "test_export_round_trips_and_copy_leaves_the_running_original_alone",
        "test_history_with_progress_then_delete",
    ),
    "test_detector_model_live.py": (
        "test_what_the_plugin_accepts_hcad_accepts_and_keeps",
        "test_no_detection_interval_is_stored_as_the_plugins_default",
        "test_what_the_plugin_refuses_hcad_refuses",
        "test_what_the_plugin_stores_but_cannot_read_back_hcad_refuses",
    ),
    "test_ad_acceptance.py": ("test_limit_client_side_then_raw", "test_historical_shingle_limit_client_side_then_raw"),
    "test_cli_recommend.py": ("test_recommend_prints_density_period_interval_shingle_and_why",),
    "test_size_measure.py": (
        "test_measure_reads_heap_setting_counts_and_profile_size",
        "test_measure_counts_an_index_and_flags_win_over_the_cluster",
    ),
    "test_entities.py": (
        "test_estimator_matches_live_profile",
        "test_two_fields_approximate_with_painless",
        "test_cli_entities_json",
    ),
    "test_monitors_live.py": ("test_channel_is_checked_before_anything",),
    # Margin rules and a historical analysis over the fields hcad baseline writes.
    "test_evaluate_plugin.py": ("test_baseline_fields_find_what_the_raw_metrics_miss",),
    # A webhook channel and an entities monitor applied from YAML, executed for real, then deleted.
    "test_notifications_live.py": ("test_webhook_channel_receives_the_injected_entities",),
}


_before: dict[str, tuple[set[str], set[str]]] = {}


def _ids(url: str, index: str, query: str | None = None) -> set[str]:
    params = {"size": 1000, "_source": "false", **({"q": query} if query else {})}
    r = requests.get(f"{url}/{index}/_search", params=params, timeout=30)
    if r.status_code == 404:  # the plugin has not made the index yet
        return set()
    r.raise_for_status()
    return {h["_id"] for h in r.json()["hits"]["hits"]}


def _ad_state(url: str) -> tuple[set[str], set[str]]:
    """Ids of the enabled real-time AD jobs and of every detector on the test cluster."""
    return _ids(url, ".opendistro-anomaly-detector-jobs", "enabled:true"), _ids(url, ".opendistro-anomaly-detectors")


# The most high-cardinality detectors one test holds at once (test_cli_ad.py: the five files of detectors/
# and a copy), against the plugin's default of 10 per cluster (max_multi_entity_anomaly_detectors).
SUITE_HC_DETECTORS = 7
_checked: list[str] = []


def _check_room(url: str) -> None:
    """Stop the run at once, with the reason, when the cluster's other detectors leave too little room."""
    held = len(_ids(url, ".opendistro-anomaly-detectors", "_exists_:category_field"))
    settings = requests.get(
        f"{url}/_cluster/settings", params={"include_defaults": "true", "flat_settings": "true"}, timeout=30
    ).json()
    key = "plugins.anomaly_detection.max_multi_entity_anomaly_detectors"
    found = [settings[part][key] for part in ("transient", "persistent", "defaults") if key in settings.get(part, {})]
    limit = int(found[0]) if found else 10
    if held + SUITE_HC_DETECTORS > limit:
        pytest.exit(
            f"the test cluster {url} already holds {held} high-cardinality detectors and the plugin allows {limit}; "
            f"the suite needs room for {SUITE_HC_DETECTORS}: delete some, or raise "
            "plugins.anomaly_detection.max_multi_entity_anomaly_detectors",
            returncode=1,
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    yield  # after the fixtures: the cluster's url is known once any test has asked for it
    url = item.config.stash.get(CLUSTER_URL, None)
    if url and not _checked:
        _checked.append(url)
        _check_room(url)
    if url and item.nodeid.split("::")[0] not in _before:
        _before[item.nodeid.split("::")[0]] = _ad_state(url)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # the module's own fixtures clean up first
    module = item.nodeid.split("::")[0]
    if nextitem is not None and nextitem.nodeid.split("::")[0] == module:
        return
    url = item.config.stash.get(CLUSTER_URL, None)
    if not url or module not in _before:
        return
    jobs_before, detectors_before = _before.pop(module)
    jobs, detectors = _ad_state(url)
    running, left = sorted(jobs - jobs_before), sorted(detectors - detectors_before)
    base = f"{url}/_plugins/_anomaly_detection/detectors"
    for det in running:
        requests.post(f"{base}/{det}/_stop", timeout=60)
    for det in left:
        requests.delete(f"{base}/{det}", timeout=60)
    problems = [f"real-time detectors running: {running}"] * bool(running) + [f"detectors: {left}"] * bool(left)
    if problems:
        pytest.fail(f"{module} left {'; '.join(problems)} (now stopped and deleted)", pytrace=False)


def pytest_collection_modifyitems(config, items) -> None:
    defined: dict[str, set[str]] = {}
    for item in items:
        file = item.path.name
        if file not in defined:
            defined[file] = {n for n in dir(getattr(item, "module", None)) if n.startswith("test_")}
        name = getattr(item, "originalname", None) or item.name.split("[")[0]
        if name in COMPAT.get(file, ()):
            item.add_marker(pytest.mark.compat)
    # A renamed or removed test must not leave the subset silently (checked for the files collected here).
    gone = [f"{f}::{n}" for f, names in COMPAT.items() if f in defined for n in names if n not in defined[f]]
    if gone:
        raise pytest.UsageError(f"tests/integration/conftest.py COMPAT names tests that do not exist: {gone}")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """URL of a moto server (CloudWatch, SQS, ...) running in this process."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url: str) -> Any:
    """A boto3 session with dummy credentials; moto's state is reset before each test."""
    import boto3

    requests.post(f"{moto_url}/moto-api/reset", timeout=30).raise_for_status()
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FaultProxy:
    """An HTTP reverse proxy to ``target`` that can go down and reject bulk items with 429."""

    def __init__(self, target: str, port: int | None = None) -> None:
        self.target = target.rstrip("/")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.bulk_requests = 0
        self.rejected_items = 0
        self.reject_every = 0  # reject every n-th item of a bulk request with 429
        self.reject_requests = 0  # ... in this many bulk requests
        self._server: ThreadingHTTPServer | None = None
        self._session = requests.Session()
        self._lock = threading.Lock()

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, content = proxy._handle(self.command, self.path, body, dict(self.headers))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listening socket: every new connection is refused from now on."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        fwd = {k: v for k, v in headers.items() if k.lower() in ("content-type", "authorization")}
        reject: list[int] = []
        if method == "POST" and path.split("?")[0].endswith("/_bulk"):
            with self._lock:
                self.bulk_requests += 1
                rejecting = self.reject_every and self.reject_requests > 0
                if rejecting:
                    self.reject_requests -= 1
            if rejecting:
                lines = body.split(b"\n")
                pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
                reject = [i for i in range(len(pairs)) if i % self.reject_every == 0]
                keep = [p for i, p in enumerate(pairs) if i not in set(reject)]
                body = b"".join(a + b"\n" + b + b"\n" for a, b in keep)
        if reject:
            items: list[dict] = []
            if body:
                r = self._session.request(method, self.target + path, data=body, headers=fwd, timeout=60)
                items = r.json().get("items") or []
            it = iter(items)
            out: list[dict] = []
            for i in range(len(pairs)):
                if i in set(reject):
                    err = {"type": "es_rejected_execution_exception", "reason": "injected by the test proxy"}
                    out.append({"index": {"status": 429, "error": err}})
                else:
                    out.append(next(it))
            self.rejected_items += len(reject)
            return 200, {"Content-Type": "application/json"}, json.dumps({"errors": True, "items": out}).encode()
        r = self._session.request(method, self.target + path, data=body or None, headers=fwd, timeout=60)
        return r.status_code, {"Content-Type": r.headers.get("Content-Type", "application/json")}, r.content


@pytest.fixture
def fault_proxy(os_url: str) -> Iterator[FaultProxy]:
    """A started :class:`FaultProxy` in front of the test cluster."""
    proxy = FaultProxy(os_url).start()
    yield proxy
    proxy.stop()
