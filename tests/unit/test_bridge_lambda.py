"""The deployable pieces: the CloudFormation template (cfn-lint, least privilege) and the zip builder."""

from __future__ import annotations

import importlib
import platform
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "scripts" / "lambda" / "template.yaml"


def load_template() -> dict[str, Any]:
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE))
    assert not matches and template is not None
    return dict(template)


def test_template_passes_cfn_lint():
    from cfnlint.api import lint, lint_file

    assert [str(m) for m in lint_file(TEMPLATE)] == []
    # The linter does catch problems: the same template with a broken reference fails.
    broken = TEMPLATE.read_text().replace("!GetAtt ShardQueue.Arn", "!GetAtt NoSuchQueue.Arn", 1)
    assert any("NoSuchQueue" in str(m) for m in lint(broken))


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def actions(stmt: dict[str, Any]) -> set[str]:
    a = stmt["Action"]
    return {a} if isinstance(a, str) else set(a)


def test_roles_are_least_privilege():
    t = load_template()
    granted: dict[str, dict[str, Any]] = {}
    for role in ("ManagerRole", "WorkerRole", "RedriveRole"):
        for s in statements(t, role):
            assert s["Effect"] == "Allow"
            for a in actions(s):
                granted[f"{role}:{a}"] = s["Resource"]
    wildcard = {k for k, r in granted.items() if r == "*"}
    # Only the CloudWatch read calls (no resource-level permissions exist for them) are on "*".
    assert wildcard == {"ManagerRole:cloudwatch:ListMetrics", "WorkerRole:cloudwatch:GetMetricData"}
    es = {k: r for k, r in granted.items() if ":es:" in k}
    assert set(es) == {
        "WorkerRole:es:ESHttpPost",
        "WorkerRole:es:ESHttpPut",
        "RedriveRole:es:ESHttpPost",
        "RedriveRole:es:ESHttpPut",
        "RedriveRole:es:ESHttpGet",
    }
    assert es["WorkerRole:es:ESHttpPost"] == {"Fn::Sub": "${DomainArn}/*"}
    assert es["RedriveRole:es:ESHttpGet"] == {"Fn::Sub": "${DomainArn}/_cluster/health"}
    assert not any(a.endswith(":*") or a == "*" for k in granted for a in [k.split(":", 1)[1]])


def test_functions_triggers_and_alarms_are_wired():
    t = load_template()
    res = t["Resources"]
    for name, handler in (("ManagerFunction", "manager"), ("WorkerFunction", "worker"), ("RedriveFunction", "redrive")):
        props = res[name]["Properties"]
        module, attr = props["Handler"].rsplit(".", 1)
        assert attr == handler and callable(getattr(importlib.import_module(module), attr))
        assert props["Environment"]["Variables"]["HCAD_AUTH"] == "sigv4"
    trigger = res["WorkerTrigger"]["Properties"]
    assert trigger["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert trigger["EventSourceArn"] == {"Fn::GetAtt": ["ShardQueue", "Arn"]}
    queue = res["ShardQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ShardDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * 900  # above the largest possible worker timeout x 6
    assert res["ManagerSchedule"]["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ManagerFunction", "Arn"]}
    alarms = {k for k, v in res.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"DocumentDeadLettersAlarm", "ShardDeadLettersAlarm", "WorkerErrorsAlarm"} <= alarms


@pytest.mark.slow
def test_zip_builds_small_and_runs_without_opensearch_py(tmp_path):
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "lambda" / "build.py"),
            "--arch",
            arch,
            "--python",
            py,
            "--out",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    zip_path = tmp_path / f"hcad-bridge-{arch}.zip"
    assert zip_path.stat().st_size < 50 * 1024 * 1024
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "pkg")
    assert "hcad/bridge/handlers.py" in names and not any("doubles" in n or "fake" in n for n in names)
    assert not any(n.startswith(("opensearchpy/", "grpc/")) for n in names)
    # Only the zip's contents and the standard library (-S: no site-packages): import the handlers,
    # read a config, build the HTTP sink.
    code = (
        "import sys, json\n"
        "import hcad.bridge.handlers as h\n"
        "from hcad.bridge.sink import OpenSearchSink\n"
        "c = h.config_from_env({'HCAD_BRIDGE_CONFIG': json.dumps({'index': 'x', 'metrics': "
        "{'cpu': {'namespace': 'AWS/EC2', 'metric': 'CPUUtilization', 'stat': 'Average'}}})})\n"
        "OpenSearchSink(c.opensearch, env={'HCAD_URL': 'https://example.com'})\n"
        "import yaml, requests_aws4auth\n"
        "try:\n    import opensearchpy\nexcept ImportError:\n    print('ok')\n"
    )
    run = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "pkg"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
