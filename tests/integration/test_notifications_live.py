"""Monitors that page through a notification channel declared as code, on the real alerting,
anomaly-detection and notifications plugins (skipped with the reason where one is absent).

A webhook channel pointing at an HTTP receiver started by the test (127.0.0.1, a thread) and an
entities monitor naming it are applied from YAML (a second apply changes nothing); the monitor is
executed for real (``_execute`` with ``dryrun=false``) over the periods of the injected anomalies:
the receiver gets one message per period that fires, naming the injected entity with its actual cpu
(the value in the index) and the expected value, and the severity tier. Over quiet periods the
receiver gets nothing.

Webhooks to 127.0.0.1: the notifications plugin refuses a webhook whose host is in
``opensearch.notifications.core.http.host_deny_list`` (dynamic; it falls back to the alerting node
settings ``plugins.destination.host.deny_list`` / ``opendistro.destination.host.deny_list``) and
config types missing from ``opensearch.notifications.core.allowed_config_types``. Both are open by
default at 2.19.4.0 (empty deny list, webhook allowed). When the cluster denies 127.0.0.1 or
webhooks, the ``webhooks_to_localhost`` fixture lifts exactly that as a transient cluster setting for
the test and puts the previous value back afterwards.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from live_fleet import delete_monitors, historical_fleet, ms

from hcad.alerting.monitors import Alerting, ChannelSpec, Notifications, load_specs, plan
from hcad.alerting.monitors import apply as apply_plan
from hcad.errors import NotFound

MIN_PAGED = 9  # of 12 injected spikes (see test_monitors_live.MIN_NAMED_P1: the forest is random)
QUIET_WINDOWS = 3
DENY_LIST = "opensearch.notifications.core.http.host_deny_list"
ALLOWED_TYPES = "opensearch.notifications.core.allowed_config_types"
_LINE = re.compile(
    r"- host=(?P<host>\S+) process=(?P<process>\S+) grade (?P<grade>\S+) confidence (?P<confidence>\S+) "
    r"data_end_time (?P<end>\d+)\n    cpu: (?P<actual>\S+) \(expected (?P<expected>\S+)\)"
)


class Receiver:
    """An HTTP server on 127.0.0.1 (a free port) that records every request and answers 200."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                with receiver._lock:
                    receiver.requests.append(
                        {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                    )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_PUT = do_PATCH = do_GET = _record

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def taken(self) -> list[dict[str, Any]]:
        """The requests received since the last call."""
        with self._lock:
            out, self.requests = self.requests, []
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _setting(client: Any, key: str) -> tuple[Any, Any]:
    """(the effective value of a cluster setting, its transient value or None)."""
    s = client.cluster.get_settings(include_defaults=True, flat_settings=True)
    for scope in ("transient", "persistent", "defaults"):
        if key in s.get(scope, {}):
            return s[scope][key], s.get("transient", {}).get(key)
    return None, None


def _denies_localhost(entry: str) -> bool:
    if entry.strip().lower() in ("localhost", "127.0.0.1"):
        return True
    try:
        return ipaddress.ip_address("127.0.0.1") in ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return False


@pytest.fixture
def webhooks_to_localhost(notifications_client) -> Iterator[None]:
    """Make sure the notifications plugin may send webhooks to 127.0.0.1 (see the module docstring)."""
    client = notifications_client
    restore: dict[str, Any] = {}
    deny, deny_transient = _setting(client, DENY_LIST)
    deny = list(deny or [])
    if any(_denies_localhost(e) for e in deny):
        restore[DENY_LIST] = deny_transient
        client.cluster.put_settings(body={"transient": {DENY_LIST: [e for e in deny if not _denies_localhost(e)]}})
    allowed, allowed_transient = _setting(client, ALLOWED_TYPES)
    if allowed is not None and "webhook" not in list(allowed):
        restore[ALLOWED_TYPES] = allowed_transient
        client.cluster.put_settings(body={"transient": {ALLOWED_TYPES: [*allowed, "webhook"]}})
    try:
        yield
    finally:
        if restore:
            client.cluster.put_settings(body={"transient": restore})


def _cpu_at(client: Any, index: str, host: str, process: str, start_ms: int) -> float:
    """The cpu value of the one document of an entity in the interval starting at ``start_ms``."""
    resp = client.search(
        index=index,
        body={
            "size": 2,
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"host": host}},
                        {"term": {"process": process}},
                        {"range": {"@timestamp": {"gte": start_ms, "lt": start_ms + 60_000, "format": "epoch_millis"}}},
                    ]
                }
            },
        },
    )
    [hit] = resp["hits"]["hits"]
    return float(hit["_source"]["cpu"])


@pytest.mark.slow
def test_webhook_channel_receives_the_injected_entities(
    ad_client, notifications_client, webhooks_to_localhost, receiver, index_name, tmp_path
):
    client = notifications_client
    notifications = Notifications(client)
    alerting = Alerting(client)
    token = uuid.uuid4().hex
    with historical_fleet(ad_client, index_name) as fleet:
        channel, monitor = f"{fleet.name}-hook", f"{fleet.name}-paging"
        try:
            (tmp_path / "channels.yaml").write_text(
                "channels:\n"
                f"  - name: {channel}\n"
                "    type: webhook\n"
                f"    url: {receiver.url}/hcad\n"
                "    method: POST\n"
                f"    headers: {{X-Hcad-Test: '{token}', Content-Type: 'text/plain; charset=utf-8'}}\n"
            )
            (tmp_path / "monitor.yaml").write_text(
                f"name: {monitor}\ndetector: {fleet.name}\nresults: historical\ninterval: 10m\nenabled: false\n"
                f"channel: {channel}\nthresholds: {{high: 0.5, low: 0.2, confidence: 0.5}}\n"
            )
            specs = load_specs([tmp_path])
            first = plan(client, specs)
            [ch_item] = first.channels
            [mon_item] = first.items
            assert (ch_item.action, mon_item.action) == ("create", "create")
            assert mon_item.channel == channel and mon_item.channel_id == ch_item.channel_id
            apply_plan(client, first)
            again = plan(client, load_specs([tmp_path]))
            assert again.changes == 0, again.to_dict()  # channel and monitor unchanged
            assert [c.action for c in again.channels] == ["unchanged"]

            stored_channel = notifications.get_config(config_id=ch_item.channel_id)["config"]
            assert stored_channel["name"] == channel and stored_channel["webhook"]["url"] == f"{receiver.url}/hcad"
            hit = alerting.find(monitor)
            assert hit is not None
            destinations = {
                a["destination_id"] for t in hit["monitor"]["triggers"] for a in t["query_level_trigger"]["actions"]
            }
            assert destinations == {ch_item.channel_id}
            assert receiver.taken() == []  # applying sends nothing

            paged = []
            for lab in fleet.labels.itertuples():
                resp = alerting.execute(
                    monitor_id=hit["id"], period_end_ms=ms(lab.start + timedelta(minutes=5)), dryrun=False
                )
                assert not resp.get("error"), resp
                fired = [t for t in resp["trigger_results"].values() if t["triggered"]]
                got = receiver.taken()
                assert len(got) == len(fired) <= 1, (fired, got)  # one message per fired tier, one tier per run
                for action in (a for t in fired for a in t["action_results"].values()):
                    assert action.get("error") is None, action
                if not got:
                    continue
                [req] = got
                assert (req["method"], req["path"]) == ("POST", "/hcad")
                assert req["headers"].get("X-Hcad-Test") == token
                body = req["body"]
                severity = "1" if fired[0]["name"].endswith("-P1") else "2"
                assert body.startswith(f"{monitor}: {fired[0]['name']} (severity {severity})\n"), body
                lines = {(m["host"], m["process"]): m for m in _LINE.finditer(body)}
                if (lab.host, lab.process) not in lines:
                    continue
                m = lines[(lab.host, lab.process)]
                actual = _cpu_at(client, index_name, lab.host, lab.process, int(m["end"]) - 60_000)
                assert float(m["actual"]) == pytest.approx(actual, rel=1e-6), (body, actual)
                assert float(m["expected"]) != pytest.approx(actual, rel=1e-3), body
                paged.append((lab.host, lab.process, severity))
            print(f"\npaged {len(paged)} of {len(fleet.labels)} injected spikes: {paged}")
            assert len(paged) >= MIN_PAGED, paged
            assert sum(1 for p in paged if p[2] == "1") >= MIN_PAGED, paged  # spikes page P1

            for end in fleet.quiet_ends(QUIET_WINDOWS):
                resp = alerting.execute(monitor_id=hit["id"], period_end_ms=ms(end), dryrun=False)
                assert not resp.get("error"), resp
                assert not any(t["triggered"] for t in resp["trigger_results"].values()), resp
                assert receiver.taken() == [], end
        finally:
            delete_monitors(client, [monitor])
            with contextlib.suppress(NotFound):  # the id hcad gave it (a listing may lag behind a create)
                notifications.delete_config(config_id=ChannelSpec(channel, "webhook").config_id)
