"""Shards, windows, shard messages, Lambda handler plumbing and CLI usage errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hcad.bridge.handlers import config_from_env, process_records
from hcad.bridge.mapping import Entity, parse_config
from hcad.bridge.runner import Bridge, Shard, decode_shard, encode_shard, plan_shards
from hcad.errors import ConfigError

BASE: dict[str, Any] = {
    "index": "host-cloudwatch",
    "metrics": {"cpu": {"namespace": "AWS/EC2", "metric": "CPUUtilization", "stat": "Average"}},
}
T = 1_700_000_040


def test_shards_keep_a_hosts_processes_together():
    c = parse_config({**BASE, "shards": {"hosts_per_shard": 2}})
    ents = [(Entity("c"), None), (Entity("a", "java"), None), (Entity("b"), None), (Entity("a"), None)]
    shards = plan_shards(c, ents)
    assert [s.id for s in shards] == ["0000", "0001"]
    assert [e for e, _ in shards[0].entities] == [Entity("a"), Entity("a", "java"), Entity("b")]
    assert [e for e, _ in shards[1].entities] == [Entity("c")]
    assert shards[0].hosts == 2


def test_shard_message_round_trip_and_size_limit():
    c = parse_config(BASE)
    shard = Shard("0003", ((Entity("h1"), None), (Entity("h1", "java"), ("cpu",))))
    body = encode_shard(c, shard, T + 600, T)
    assert decode_shard(body) == (shard, T + 600, T)
    assert decode_shard(encode_shard(c, shard, T))[2] is None
    with pytest.raises(ValueError, match="not an hcad"):
        decode_shard(json.dumps({"kind": "x"}))
    huge = Shard("0000", tuple((Entity("h" * 100 + str(i)), None) for i in range(3000)))
    with pytest.raises(ConfigError, match=r"lower shards\.hosts_per_shard"):
        encode_shard(c, huge, T)


class CheckpointSink:
    def __init__(self, checkpoints: dict[str, int]) -> None:
        self.checkpoints = checkpoints

    def read_checkpoints(self, keys: list[str]) -> dict[str, int]:
        return {k: v for k, v in self.checkpoints.items() if k in keys}


def bridge(checkpoints: dict[str, int], now: float, **cfg: Any) -> Bridge:
    c = parse_config({**BASE, **cfg})
    return Bridge(c, None, CheckpointSink(checkpoints), None, clock=lambda: now)  # type: ignore[arg-type]


def test_window_from_checkpoint_minus_overlap():
    b = bridge({"host-cloudwatch.default.0000": T}, T + 600, overlap="5m")
    assert b.window("0000", T + 600) == (T - 300, T + 600)


def test_window_without_checkpoint_uses_initial_lookback():
    b = bridge({}, T + 3600, overlap="2m", initial_lookback="10m")
    assert b.window("0000", T + 3600) == (T + 3600 - 600 - 120, T + 3600)


def test_window_catch_up_is_capped_per_invocation_and_by_retention():
    b = bridge({"host-cloudwatch.default.0000": T}, T + 86400, overlap="0s", max_window="1h")
    assert b.window("0000", T + 86400) == (T, T + 3600)
    # A checkpoint older than CloudWatch keeps 60 s data: start at the oldest period still there.
    old = bridge({"host-cloudwatch.default.0000": T - 30 * 86400}, T, overlap="0s", max_window="100d")
    start, end = old.window("0000", T)
    assert end == T and start == T - 15 * 86400 + 60


def test_explicit_window_is_only_aligned():
    b = bridge({"host-cloudwatch.default.0000": T + 10_000}, T)
    assert b.window("0000", T + 119, T + 59) == (T, T + 60)


def test_backfill_refuses_reversed_and_expired_windows():
    b = bridge({}, T)
    with pytest.raises(ConfigError, match="must be after"):
        b.backfill(T, T - 60)
    with pytest.raises(ConfigError, match="15 days"):
        b.backfill(T - 20 * 86400, T)


def test_config_from_env_inline_json_and_queue_overrides(tmp_path):
    env = {
        "HCAD_BRIDGE_CONFIG": json.dumps(BASE),
        "HCAD_BRIDGE_SHARD_QUEUE": "https://sqs/q",
        "HCAD_BRIDGE_DLQ": "https://sqs/dlq",
    }
    c = config_from_env(env)
    assert (c.index, c.shard_queue_url, c.dlq_url) == ("host-cloudwatch", "https://sqs/q", "https://sqs/dlq")
    (tmp_path / "bridge.json").write_text(json.dumps(BASE))
    c = config_from_env({"HCAD_BRIDGE_CONFIG": "bridge.json", "LAMBDA_TASK_ROOT": str(tmp_path)})
    assert c.index == "host-cloudwatch" and c.dlq_url is None
    with pytest.raises(ConfigError, match="HCAD_BRIDGE_CONFIG is not set"):
        config_from_env({})


class RecordingBridge:
    def __init__(self, fail_on: str) -> None:
        self.fail_on = fail_on
        self.ran: list[tuple[str, int, int | None]] = []

    def run_shard(self, shard: Shard, end: int, start: int | None = None, **_: Any) -> Any:
        if shard.id == self.fail_on:
            raise RuntimeError("boom")
        self.ran.append((shard.id, end, start))

        class R:
            def as_dict(self) -> dict[str, Any]:
                return {}

        return R()


def test_worker_reports_partial_batch_failures():
    c = parse_config(BASE)
    ok = encode_shard(c, Shard("0000", ((Entity("a"), None),)), T)
    bad = encode_shard(c, Shard("0001", ((Entity("b"), None),)), T)
    b = RecordingBridge(fail_on="0001")
    out = process_records(
        b,  # type: ignore[arg-type]
        [
            {"messageId": "1", "body": ok},
            {"messageId": "2", "body": bad},
            {"messageId": "3", "body": "not json"},
        ],
    )
    assert out == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}
    assert b.ran == [("0000", T, None)]


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    from hcad.cli.main import main

    cfg = tmp_path / "b.json"
    cfg.write_text(json.dumps({**BASE, "region": "us-east-1"}))
    with pytest.raises(SystemExit) as ei:
        main(["bridge", "run", "-c", str(cfg)])
    assert ei.value.code == 2
    assert "hcad: error: give exactly one of --once or --every DURATION" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ei:
        main(["bridge", "run", "--once", "-c", str(tmp_path / "nope.yaml")])
    assert ei.value.code == 2 and "does not exist" in capsys.readouterr().err
    cfg.write_text(json.dumps({"index": "x", "metrics": {}}))
    with pytest.raises(SystemExit) as ei:
        main(["bridge", "backfill", "-c", str(cfg), "--from", "now-1h", "--json"])
    assert ei.value.code == 2 and "metrics: must map field names" in capsys.readouterr().err


def test_cli_without_aws_credentials_or_with_a_reversed_range_is_one_line_and_writes_nothing(
    tmp_path, capsys, monkeypatch
):
    from hcad.cli.main import main

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to find here
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "b.json"
    cfg.write_text(json.dumps({**BASE, "region": "us-east-1"}))
    for args in (["run", "--once"], ["backfill", "--from", "now-1h"]):
        with pytest.raises(SystemExit) as ei:
            main(["bridge", *args, "-c", str(cfg)])
        err = capsys.readouterr().err
        assert ei.value.code != 0 and err.startswith("hcad: error: no AWS credentials found; set AWS_PROFILE"), err
        assert len(err.strip().splitlines()) == 1, err
    # The range is checked before anything is asked of CloudWatch (no credentials are needed to see it).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(SystemExit) as ei:
        main(["bridge", "backfill", "-c", str(cfg), "--from", "now", "--to", "now-1h"])
    assert ei.value.code == 2 and "must be after --from" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]  # no dead-letter directory left behind


def test_cli_module_does_not_import_heavy_libraries():
    import subprocess
    import sys

    code = "import sys, hcad.cli.bridge; print(sorted(m for m in ('boto3','pandas','matplotlib','opensearchpy') if m in sys.modules))"  # noqa: E501
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
