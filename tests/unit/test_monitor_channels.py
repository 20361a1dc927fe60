"""Notification channels as code (hcad.alerting.monitors): channel files, client-side validation, plan/apply
against a fake notifications plugin (request and response shapes of 2.19.4.0, checked against the
real plugin in tests/integration/test_notifications_live.py), and the CLI's exit codes and output.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_monitors import AD_SEARCH, CREATED, NO_MONITORS, M, Server, detector_hits, gc_detector, make_client

from hcad.alerting.monitors import ChannelSpec, MonitorSpec, Notifications, apply, channel_diff, load_specs, plan
from hcad.cli.common import CliContext
from hcad.cli.main import main
from hcad.errors import ValidationError

N = "/_plugins/_notifications"
DEAD = ["--url", "http://127.0.0.1:9"]
HOOK = {"name": "oncall", "type": "webhook", "url": "https://hooks.example.com/hcad"}


def channel(**kw: Any) -> ChannelSpec:
    return ChannelSpec.from_dict({**HOOK, **kw}, "channels[0]", "c.yaml")


def monitor(**kw: Any) -> MonitorSpec:
    return MonitorSpec.from_dict({"name": "gc-time-entities", "detector": "detect_gc_time", **kw}, "m.yaml")


# ------------------------------------------------------------------------------------------------ spec
@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "channels[0].url", "must use http or https, not ftp"),
        ({"url": "https:///nohost"}, "channels[0].url", "not a valid URL"),
        ({"url": "https://h:99999/x"}, "channels[0].url", "not a valid URL"),
        ({"url": None}, "channels[0].url", "is required"),
        ({"method": "GET"}, "channels[0].method", "use POST, PUT, PATCH"),
        ({"headers": {"X-A": {"nested": 1}}}, "channels[0].headers.X-A", "not a header value"),
        ({"headers": ["X-A: 1"]}, "channels[0].headers", "mapping of header name to value"),
        ({"type": "slack", "url": "http://hooks.slack.com/services/x"}, "channels[0].url", "must use https, not http"),
        ({"type": "chime", "url": "http://hooks.chime.aws/x"}, "channels[0].url", "must use https"),
        ({"type": "slack", "method": "POST"}, "channels[0].method", "unknown field for a slack channel"),
        ({"type": "teams"}, "channels[0].type", "use one of webhook, slack, chime, sns"),
        ({"name": None}, "channels[0].name", "is required"),
        ({"enabled": "yes"}, "channels[0].enabled", "not true/false"),
    ],
)
def test_bad_channel_names_the_field(data, path, words):
    with pytest.raises(ValidationError) as e:
        channel(**data)
    assert [i.path for i in e.value.issues] == [path]
    assert words in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith("c.yaml: ") and e.value.exit_code == 2


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"topic_arn": "arn:aws:sns:xx"}, "channels[0].topic_arn", "not an SNS topic ARN"),
        ({"topic_arn": "arn:aws:sns:eu-west-1:1234:pager"}, "channels[0].topic_arn", "12-digit account"),
        ({"topic_arn": "arn:aws:sqs:eu-west-1:123456789012:q"}, "channels[0].topic_arn", "not an SNS topic ARN"),
        (
            {"topic_arn": "arn:aws:sns:eu-west-1:123456789012:pager", "role_arn": "arn:aws:iam:eu:1:role/x"},
            "channels[0].role_arn",
            "not an IAM role ARN",
        ),
        ({}, "channels[0].topic_arn", "is required"),
        ({"topic_arn": "arn:aws:sns:eu-west-1:123456789012:p", "url": "https://x"}, "channels[0].url", "unknown"),
    ],
)
def test_bad_sns_channel(data, path, words):
    with pytest.raises(ValidationError) as e:
        ChannelSpec.from_dict({"name": "pager", "type": "sns", **data}, "channels[0]", "c.yaml")
    assert [i.path for i in e.value.issues] == [path] and words in str(e.value)


def test_good_channels_become_plugin_configs():
    hook = channel(method="put", headers={"Authorization": "Bearer x", "X-N": 3}, description="pager")
    assert hook.to_config() == {
        "name": "oncall",
        "description": "pager",
        "config_type": "webhook",
        "is_enabled": True,
        "webhook": {
            "url": "https://hooks.example.com/hcad",
            "header_params": {"Authorization": "Bearer x", "X-N": "3"},
            "method": "PUT",
        },
    }
    slack = ChannelSpec.from_dict({"name": "s", "type": "slack", "url": "https://hooks.slack.com/services/T/B/X"})
    assert slack.to_config()["slack"] == {"url": "https://hooks.slack.com/services/T/B/X"}
    sns = ChannelSpec.from_dict(
        {
            "name": "p",
            "type": "sns",
            "topic_arn": "arn:aws-cn:sns:cn-north-1:123456789012:pager",
            "role_arn": "arn:aws:iam::123456789012:role/opensearch-sns",
            "enabled": False,
        }
    )
    assert sns.to_config()["sns"] == {
        "topic_arn": "arn:aws-cn:sns:cn-north-1:123456789012:pager",
        "role_arn": "arn:aws:iam::123456789012:role/opensearch-sns",
    }
    assert sns.to_config()["is_enabled"] is False


def test_config_id_is_stable_and_valid_for_the_plugin():
    a = channel(name="On-call pager (EU)")
    assert a.config_id == channel(name="On-call pager (EU)").config_id
    assert a.config_id != channel(name="On-call pager (US)").config_id
    assert re.fullmatch(r"[A-Za-z0-9+/_-]+", a.config_id) and a.config_id.startswith("hcad-on-call-pager--eu")


def test_channel_diff_names_changed_fields_and_knows_plugin_defaults():
    stored = copy.deepcopy(channel().to_config())
    assert channel_diff(channel(), stored) == []
    del stored["description"]  # left out: the plugin's default is ""
    stored["webhook"].pop("method")
    assert channel_diff(channel(), stored) == []
    stored["webhook"]["url"] = "https://elsewhere/x"
    stored["is_enabled"] = False
    assert channel_diff(channel(headers={"A": "b"}), stored) == ["enabled", "url", "headers"]


# ------------------------------------------------------------------------------------------------ files
def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path / name


CHANNELS_YAML = """channels:
  - name: oncall
    type: webhook
    url: https://hooks.example.com/hcad
    headers: {X-Token: abc}
  - name: team-slack
    type: slack
    url: https://hooks.slack.com/services/T/B/X
"""


def test_load_specs_reads_channel_files(tmp_path):
    write(tmp_path, "channels.yaml", CHANNELS_YAML)
    write(tmp_path, "m.yaml", "name: m\ndetector: d\nchannel: oncall\n")
    specs = load_specs([tmp_path])
    assert [s.name for s in specs] == ["m"] and specs[0].channel == "oncall"
    assert [(c.name, c.type) for c in specs.channels] == [("oncall", "webhook"), ("team-slack", "slack")]
    assert specs.channels[0].headers == (("X-Token", "abc"),)


def test_channel_file_errors_name_file_and_field(tmp_path):
    write(tmp_path, "a.yaml", CHANNELS_YAML)
    write(tmp_path, "b.yaml", "channels:\n  - {name: oncall, type: slack, url: 'http://x'}\n")
    write(tmp_path, "c.yaml", "name: m\ndetector: d\nchannels: [oncall]\n")
    write(tmp_path, "d.yaml", "channels: []\n")
    write(tmp_path, "e.yaml", "channels: [{name: x, type: webhook, url: 'https://h/x'}]\nowner: me\n")
    with pytest.raises(ValidationError) as e:
        load_specs([tmp_path])
    paths = [i.path for i in e.value.issues]
    assert paths == [
        f"{tmp_path / 'b.yaml'}: channels[0].url",
        f"{tmp_path / 'c.yaml'}: channels",
        f"{tmp_path / 'd.yaml'}: channels",
        f"{tmp_path / 'e.yaml'}: owner",
    ]
    write(tmp_path, "b.yaml", "channels:\n  - {name: oncall, type: slack, url: 'https://x'}\n")
    for f in ("c.yaml", "d.yaml", "e.yaml"):
        (tmp_path / f).unlink()
    with pytest.raises(ValidationError, match=r"channel 'oncall' is also declared in .*a\.yaml"):
        load_specs([tmp_path])


def test_shipped_channel_example_is_valid():
    """monitors/examples/ (not applied with monitors/: folders are read one level deep) declares one
    channel of each type and a monitor paging through one of them."""
    root = Path(__file__).resolve().parent.parent.parent / "monitors"
    specs = load_specs([root / "examples"])
    assert {c.type for c in specs.channels} == {"webhook", "slack", "chime", "sns"}
    declared = {c.name for c in specs.channels}
    assert specs and all(s.channel in declared for s in specs)
    assert load_specs([root]).channels == []  # applying monitors/ creates no example channel


# ------------------------------------------------------------------------------------------------ fake plugin
class FakeNotifications:
    """The notifications plugin's config store: list (a search: ``lag`` hides new configs from it),
    get, create (with or without config_id), update (type fixed: 409), features."""

    def __init__(self, server: Server, allowed: tuple[str, ...] = ("slack", "chime", "webhook", "email", "sns")):
        self.configs: dict[str, dict[str, Any]] = {}
        self.hidden: set[str] = set()
        self.lag = False
        self.allowed = allowed
        server.route("GET", f"{N}/configs", self.list)
        server.route("GET", f"{N}/configs/[^/]+", self.get)
        server.route("POST", f"{N}/configs", self.create)
        server.route("PUT", f"{N}/configs/[^/]+", self.update)
        server.route("GET", f"{N}/features", lambda *_: {"allowed_config_type_list": list(self.allowed)})

    def add(self, config_id: str, config: dict[str, Any]) -> None:
        self.configs[config_id] = copy.deepcopy(config)

    def _item(self, config_id: str) -> dict[str, Any]:
        return {
            "config_id": config_id,
            "last_updated_time_ms": 1,
            "created_time_ms": 1,
            "config": self.configs[config_id],
        }

    def list(self, url: str, params: dict[str, Any], body: Any) -> Any:
        ids = [i for i in self.configs if i not in self.hidden]
        start, size = int(params.get("from_index", 0)), int(params.get("max_items", 100))
        page = ids[start : start + size]
        return {"start_index": start, "total_hits": len(ids), "config_list": [self._item(i) for i in page]}

    def get(self, url: str, params: dict[str, Any], body: Any) -> Any:
        config_id = url.rsplit("/", 1)[1]
        if config_id not in self.configs:
            return _status(404, f"NotificationConfig {config_id} not found")
        return {"start_index": 0, "total_hits": 1, "config_list": [self._item(config_id)]}

    def create(self, url: str, params: dict[str, Any], body: Any) -> Any:
        config_id = body.get("config_id") or f"gen{len(self.configs)}"
        self.add(config_id, body["config"])
        if self.lag:
            self.hidden.add(config_id)
        return {"config_id": config_id}

    def update(self, url: str, params: dict[str, Any], body: Any) -> Any:
        config_id = url.rsplit("/", 1)[1]
        if self.configs[config_id]["config_type"] != body["config"]["config_type"]:
            return _status(409, "Config type cannot be changed after creation")
        self.add(config_id, body["config"])
        return {"config_id": config_id}


class _Status(Exception):
    pass


def _status(status: int, reason: str) -> Any:
    raise _Status(status, {"error": {"root_cause": [{"type": "status_exception", "reason": reason}]}, "status": status})


class ChannelServer(Server):
    """:class:`test_monitors.Server` whose route handlers may answer an error status."""

    def handle(self, method: str, url: str, params: dict[str, Any], body: Any) -> tuple[int, Any]:
        try:
            return super().handle(method, url, params, body)
        except _Status as e:
            status, resp = e.args
            return int(status), resp


@pytest.fixture
def server() -> ChannelServer:
    s = ChannelServer()
    s.route("POST", AD_SEARCH, detector_hits(gc_detector()))
    s.route("POST", f"{M}/_search", NO_MONITORS)
    s.route("POST", M, CREATED, 201)
    return s


@pytest.fixture
def fake(server: ChannelServer) -> FakeNotifications:
    return FakeNotifications(server)


def destinations(body: dict[str, Any]) -> set[str]:
    return {a["destination_id"] for t in body["triggers"] for a in t["query_level_trigger"]["actions"]}


def writes(server: Server) -> list[tuple[str, str]]:
    return [(m, u) for m, u in server.plugin_calls() if m in ("POST", "PUT", "DELETE") and not u.endswith("_search")]


# ------------------------------------------------------------------------------------------------ plan/apply
def test_declared_channel_is_created_first_and_the_monitor_points_at_it(server, fake):
    client = make_client(server)
    ch = channel()
    the_plan = plan(client, [monitor(channel="oncall")], channels=[ch])
    [c] = the_plan.channels
    [m] = the_plan.items
    assert (c.action, c.channel_id, m.channel, m.channel_id) == ("create", ch.config_id, "oncall", ch.config_id)
    assert destinations(m.body) == {ch.config_id}
    assert m.body["ui_metadata"]["hcad"]["spec"]["channel"] == "oncall"  # the spec keeps the name
    assert writes(server) == [] and the_plan.changes == 2
    apply(client, the_plan)
    assert writes(server) == [("POST", f"{N}/configs"), ("POST", M)]  # channel, then monitor
    sent = next(c[3] for c in server.calls if c[:2] == ("POST", f"{N}/configs"))
    assert sent == {"config_id": ch.config_id, "config": ch.to_config()}
    assert fake.configs[ch.config_id]["webhook"]["url"] == "https://hooks.example.com/hcad"


def test_reapplying_changes_nothing(server, fake):
    ch = channel()
    fake.add("existing-id", ch.to_config())  # adopted by name, whatever its id
    stored = plan(make_client(server), [monitor(channel="oncall")], channels=[ch]).items[0].body
    server.route(
        "POST",
        f"{M}/_search",
        {"hits": {"hits": [{"_id": "m1", "_seq_no": 3, "_primary_term": 1, "_source": {"monitor": stored}}]}},
    )
    the_plan = plan(make_client(server), [monitor(channel="oncall")], channels=[ch])
    assert [(c.action, c.channel_id) for c in the_plan.channels] == [("unchanged", "existing-id")]
    assert [i.action for i in the_plan.items] == ["unchanged"] and the_plan.changes == 0
    server.calls.clear()
    apply(make_client(server), the_plan)
    assert writes(server) == []


def test_a_channel_created_a_moment_ago_is_found_by_its_id(server, fake):
    """The plugin's listing is a search that lags behind a create (seen on 2.19.4.0): plan also asks
    for the id hcad gives the channel, so an apply right after an apply creates nothing twice."""
    fake.lag = True
    client = make_client(server)
    apply(client, plan(client, [], channels=[channel()]))
    assert fake.list("", {}, None)["config_list"] == []  # the listing does not show it yet
    again = plan(client, [], channels=[channel()])
    assert [c.action for c in again.channels] == ["unchanged"]


def test_changed_channel_is_updated_in_place(server, fake):
    fake.add("abc", channel(url="https://old.example.com/x").to_config())
    client = make_client(server)
    the_plan = plan(client, [monitor(channel="oncall")], channels=[channel(headers={"X-T": "1"})])
    [c] = the_plan.channels
    assert (c.action, c.channel_id, c.changes) == ("update", "abc", ["url", "headers"])
    apply(client, the_plan)
    assert ("PUT", f"{N}/configs/abc") in writes(server)
    assert fake.configs["abc"]["webhook"]["header_params"] == {"X-T": "1"}
    assert destinations(the_plan.items[0].body) == {"abc"}


def test_channel_by_raw_id_or_server_name_still_works(server, fake):
    fake.add("Xy12_id", {"name": "made in Dashboards", "config_type": "slack", "slack": {"url": "https://h/x"}})
    client = make_client(server)
    by_id, by_name = plan(
        client,
        [
            monitor(channel="Xy12_id"),
            MonitorSpec.from_dict({"name": "b", "detector": "detect_gc_time", "channel": "made in Dashboards"}),
        ],
    ).items
    assert destinations(by_id.body) == destinations(by_name.body) == {"Xy12_id"}
    assert by_id.body["triggers"][0]["query_level_trigger"]["actions"][0]["name"] == "gc-time-entities-P1-notify"


def test_unknown_channel_is_one_error_and_nothing_is_written(server, fake):
    with pytest.raises(ValidationError) as e:
        plan(make_client(server), [monitor(channel="pager")], channels=[channel()])
    assert [i.path for i in e.value.issues] == ["m.yaml: channel"]
    msg = str(e.value)
    assert msg.startswith("m.yaml: channel: notification channel 'pager' does not exist") and "\n" not in msg
    assert "declare it under 'channels:'" in msg
    assert writes(server) == []


@pytest.mark.parametrize(
    ("stored", "words"),
    [
        ({"name": "oncall", "config_type": "slack", "slack": {"url": "https://h/x"}}, "cannot change a channel's type"),
        (
            {"name": "somebody else", "config_type": "webhook", "webhook": {"url": "https://h/x"}},
            "belongs to the channel",
        ),
    ],
)
def test_server_conflicts_are_reported_before_writing(server, fake, stored, words):
    fake.add(channel().config_id, stored)
    with pytest.raises(ValidationError, match=re.escape(words)):
        plan(make_client(server), [monitor(channel="oncall")], channels=[channel()])
    assert writes(server) == []


def test_duplicate_names_on_the_server_are_ambiguous(server, fake):
    for i in ("a1", "a2"):
        fake.add(i, {"name": "oncall", "config_type": "webhook", "webhook": {"url": "https://h/x"}})
    with pytest.raises(ValidationError, match=r"2 notification channels are named 'oncall' \(ids a1, a2\)"):
        plan(make_client(server), [monitor(channel="oncall")])
    with pytest.raises(ValidationError, match="2 channels on the server have this name"):
        plan(make_client(server), [], channels=[channel()])


def test_type_not_allowed_by_the_cluster(server):
    FakeNotifications(server, allowed=("slack",))
    with pytest.raises(ValidationError, match=r"does not allow webhook channels.*allowed_config_types"):
        plan(make_client(server), [], channels=[channel()])
    assert writes(server) == []


def test_declared_channels_need_the_notifications_plugin():
    s = ChannelServer(plugins=("opensearch-anomaly-detection", "opensearch-alerting"))
    with pytest.raises(ValidationError) as e:
        plan(make_client(s), [], channels=[channel()])
    assert "c.yaml: channel 'oncall': cannot be created: the notifications plugin" in str(e.value)
    assert not any("_notifications" in u for _, u in s.plugin_calls())


def test_listing_reads_every_page(server, fake):
    for i in range(7):
        fake.add(f"id{i}", {"name": f"c{i}", "config_type": "slack", "slack": {"url": "https://h/x"}})
    got = Notifications(make_client(server)).list_configs(page_size=3)
    assert [c["config_id"] for c in got] == [f"id{i}" for i in range(7)]
    pages = [c[2] for c in server.calls if c[:2] == ("GET", f"{N}/configs")]
    assert [int(p["from_index"]) for p in pages] == [0, 3, 6]
    assert {p["sort_field"] for p in pages} == {"created_time_ms"}  # config_id is not sortable (406)


# ------------------------------------------------------------------------------------------------ CLI
def cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("{name: w, type: webhook, url: 'ftp://x/y'}", "channels[0].url: 'ftp://x/…' must use http or https"),
        ("{name: s, type: slack, url: 'http://hooks.slack.com/x'}", "must use https, not http"),
        ("{name: p, type: sns, topic_arn: 'arn:aws:sns:xx'}", "channels[0].topic_arn: 'arn:aws:sns:xx' is not an SNS"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_cli_bad_channel_exits_2_without_connecting(tmp_path, capsys, command, entry, words):
    write(tmp_path, "channels.yaml", f"channels:\n  - {entry}\n")
    code, out, err = cli(capsys, *DEAD, "monitors", command, str(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith(f"hcad: error: {tmp_path / 'channels.yaml'}: ") and words in err and err.count("\n") == 1


@pytest.fixture
def cli_server(monkeypatch, server, fake) -> ChannelServer:
    client = make_client(server)
    monkeypatch.setattr(CliContext, "client", property(lambda self: client))
    return server


def test_cli_unknown_channel_exits_2_in_one_line(tmp_path, capsys, cli_server):
    write(tmp_path, "channels.yaml", CHANNELS_YAML)
    write(tmp_path, "m.yaml", "name: gc-time-entities\ndetector: detect_gc_time\nchannel: pagr\n")
    code, out, err = cli(capsys, "monitors", "apply", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"hcad: error: {tmp_path / 'm.yaml'}: channel: notification channel 'pagr' does not exist")
    assert writes(cli_server) == []


def test_cli_plan_and_apply_show_channels(tmp_path, capsys, cli_server, fake):
    write(tmp_path, "channels.yaml", CHANNELS_YAML)
    write(tmp_path, "m.yaml", "name: gc-time-entities\ndetector: detect_gc_time\nchannel: oncall\n")
    code, out, _ = cli(capsys, "monitors", "plan", str(tmp_path))
    assert code == 0
    assert re.search(r"create\s+oncall\s+webhook\s+hcad-oncall-\w+", out)
    assert re.search(r"create\s+gc-time-entities\s+detect_gc_time\s+entities\s+yes\s+oncall", out)
    assert out.rstrip().endswith("3 change(s)")
    code, out, _ = cli(capsys, "monitors", "plan", str(tmp_path), "--json")
    data = json.loads(out)
    assert code == 0 and data["changes"] == 3
    assert [(c["name"], c["action"]) for c in data["channels"]] == [("oncall", "create"), ("team-slack", "create")]
    [m] = data["monitors"]
    assert (m["channel"], m["channel_id"]) == ("oncall", data["channels"][0]["channel_id"])
    code, out, _ = cli(capsys, "monitors", "apply", str(tmp_path), "--json")
    done = json.loads(out)
    assert code == 0 and [c["action"] for c in done["channels"]] == ["create", "create"]
    assert done["monitors"] == [{"name": "gc-time-entities", "action": "create", "monitor_id": CREATED["_id"]}]
    assert set(fake.configs) == {c["channel_id"] for c in done["channels"]}


def test_channel_urls_never_show_their_secret_part():
    # A Slack hook's path is its credential: errors and reprs show scheme and host only.
    secret = "T000/B000/XXXXSECRETXXXX"
    with pytest.raises(ValidationError) as e:
        ChannelSpec.from_dict(
            {"name": "s", "type": "slack", "url": f"http://hooks.slack.com/services/{secret}"}, "channels[0]"
        )
    assert secret not in str(e.value) and "'http://hooks.slack.com/…' must use https" in str(e.value)
    ok = ChannelSpec.from_dict(
        {"name": "w", "type": "webhook", "url": f"https://h.example/{secret}", "headers": {"X-Token": secret}},
        "channels[0]",
    )
    assert secret not in repr(ok)


def test_client_arguments_of_the_wrong_kind_are_one_line_errors_before_any_request():
    import hcad
    from hcad.alerting.client import Alerting, Notifications
    from hcad.errors import ConfigError

    client = hcad.connect("http://127.0.0.1:9", max_retries=0)  # a closed port: nothing may be sent
    ad = hcad.AnomalyDetection(client, check_plugin=False)
    alerting, notifications = Alerting(client, check_plugin=False), Notifications(client, check_plugin=False)
    for call, said in (
        (lambda: ad.get(42), "detector id is int 42, not a string"),
        (lambda: ad.search("name:x"), "is not a query mapping"),
        (lambda: ad.preflight("fleet-cpu"), "preflight checks a Detector, not str"),
        (lambda: ad.top_anomalies("d", size="5"), "size '5' must be a whole number from 1 to 1000"),
        (lambda: alerting.create(None), "a monitor body is a mapping"),
        (lambda: alerting.get(None), "monitor id is empty"),
        (lambda: notifications.get_config(None), "channel id is empty"),
    ):
        with pytest.raises(ConfigError, match=said):
            call()
