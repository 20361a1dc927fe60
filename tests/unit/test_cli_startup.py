"""Start-up cost: help screens must not import pandas, boto3 or matplotlib (each costs 0.2-1 s)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "boto3", "botocore", "matplotlib", "numpy")
PROBE = """
import json, sys
from hcad.cli.main import main
try:
    main({args!r})
except SystemExit as e:
    code = e.code
print(json.dumps({{"code": code, "loaded": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


def loaded_after(*args: str) -> dict:
    code = PROBE.format(args=list(args), heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["size", "--help"],
        ["detectors", "--help"],
        ["detectors", "apply", "--help"],
        ["results", "--help"],
        ["top", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    got = loaded_after(*args)
    assert got["code"] in (0, None)
    assert got["loaded"] == [], f"hcad {' '.join(args)} imported {got['loaded']}"


def test_detectors_validate_offline_imports_nothing_heavy(tmp_path) -> None:
    (tmp_path / "d.yaml").write_text(
        "name: x\nindices: [i]\ntime_field: t\ninterval: 10m\nfeatures: {a: {agg: avg, field: f}}\n"
    )
    got = loaded_after("detectors", "validate", str(tmp_path), "--offline")
    assert got["code"] in (0, None)
    assert not {"pandas", "matplotlib", "boto3"} & set(got["loaded"])


def test_request_timeout_reaches_the_client_and_the_environment_is_the_default(monkeypatch) -> None:
    from hcad.cli.common import CliContext

    monkeypatch.setenv("HCAD_TIMEOUT", "12")
    assert CliContext(conn={"url": "http://127.0.0.1:9"}).client.settings.timeout == 12.0
    assert CliContext(conn={"url": "http://127.0.0.1:9", "timeout": 5.0}).client.settings.timeout == 5.0


def test_request_timeout_is_parsed_by_the_cli_and_reaches_the_bridge_too(tmp_path, capsys) -> None:
    from hcad.cli.bridge import _load
    from hcad.cli.common import CliContext
    from hcad.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["--request-timeout", "0", "size", "-c", "1", "-t", "r5.large"])
    assert e.value.code == 2 and "Invalid value for '--request-timeout'" in capsys.readouterr().err
    cfg = tmp_path / "b.json"
    cpu = {"namespace": "AWS/EC2", "metric": "CPUUtilization", "stat": "Average"}
    cfg.write_text(json.dumps({"index": "x", "region": "us-east-1", "metrics": {"cpu": cpu}}))
    assert _load(CliContext(conn={"timeout": 7.0}), str(cfg)).opensearch.timeout == 7.0
