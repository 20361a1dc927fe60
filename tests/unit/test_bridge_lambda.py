"""The deployable pieces: the SAM template (cfn-lint, the SAM translator, least privilege) and the zip builder."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "scripts" / "lambda" / "template.yaml"
BUILD = ROOT / "scripts" / "lambda" / "build.py"
FUNCTIONS = {"ManagerFunction": "manager", "WorkerFunction": "worker", "RedriveFunction": "redrive"}


def decode(text: str) -> dict[str, Any]:
    """A template as plain dicts (cfn-lint's decoder reads the short-form intrinsics)."""
    from cfnlint.decode import decode_str

    template, matches = decode_str(text)
    assert not matches and template is not None
    return json.loads(json.dumps(template))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return decode(path.read_text())


def translate(sam: dict[str, Any]) -> dict[str, Any]:
    """The plain CloudFormation the SAM transform makes of ``sam`` (raises on an invalid SAM template).

    A local CodeUri becomes an S3 location first, as ``sam deploy`` does after uploading the zip.
    No managed policy map is needed: every function has an explicit role.
    """
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(sam)
    for name in FUNCTIONS:
        props = sam["Resources"][name]["Properties"]
        props["CodeUri"] = f"s3://deploy-bucket/{Path(props['CodeUri']).name}"
    # The translator asks boto3 for a region (for AWS::Region); without one it refuses to run.
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "eu-west-1"
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": region}):
        return dict(Translator(managed_policy_map={}, sam_parser=Parser()).translate(sam, parameter_values={}))


@cache
def translated() -> dict[str, Any]:
    return translate(load_template())


def lint(template: dict[str, Any] | str) -> list[str]:
    from cfnlint.api import lint as cfn_lint

    text = template if isinstance(template, str) else json.dumps(template)
    return [str(m) for m in cfn_lint(text)]


def test_template_is_sam_and_passes_cfn_lint():
    from cfnlint.api import lint_file

    sam = load_template()
    assert sam["Transform"] == "AWS::Serverless-2016-10-31"
    assert {sam["Resources"][f]["Type"] for f in FUNCTIONS} == {"AWS::Serverless::Function"}
    assert [str(m) for m in lint_file(TEMPLATE)] == []
    # The linter does catch problems: the same template with a broken reference fails.
    broken = TEMPLATE.read_text().replace("!GetAtt ShardQueue.Arn", "!GetAtt NoSuchQueue.Arn", 1)
    assert any("NoSuchQueue" in m for m in lint(broken))


def test_sam_transform_runs_and_its_output_passes_cfn_lint():
    from samtranslator.model.exceptions import InvalidDocumentException

    # cfn-lint 1.x checks SAM resources against a schema instead of running the translator, and
    # (1.58) lets a wrong event type through. The translator, what CloudFormation runs on deploy,
    # rejects it: run it here, then lint what it makes.
    source = TEMPLATE.read_text()
    wrong_event = source.replace("          Type: SQS\n", "          Type: SQSQueue\n")
    assert wrong_event != source
    with pytest.raises(InvalidDocumentException, match="SQSQueue"):
        translate(decode(wrong_event))
    wrong_property = source.replace("            BatchSize: 1", "            BatchSizes: 1")
    assert wrong_property != source
    with pytest.raises(InvalidDocumentException, match="BatchSizes"):
        translate(decode(wrong_property))
    out = translated()
    assert "Transform" not in out and "Globals" not in out
    assert lint(out) == []


def test_translated_template_has_the_functions_triggers_and_queues():
    res = translated()["Resources"]
    for name, handler in FUNCTIONS.items():
        fn = res[name]
        assert fn["Type"] == "AWS::Lambda::Function"
        props = fn["Properties"]
        module, attr = props["Handler"].rsplit(".", 1)
        assert attr == handler and callable(getattr(importlib.import_module(module), attr))
        assert props["Runtime"] == "python3.12" and props["Architectures"] == [{"Ref": "Architecture"}]
        assert props["Code"] == {"S3Bucket": "deploy-bucket", "S3Key": "hcad-bridge-arm64.zip"}
        assert props["Role"] == {"Fn::GetAtt": [name.replace("Function", "Role"), "Arn"]}
        assert props["LoggingConfig"] == {"LogGroup": {"Ref": name.replace("Function", "LogGroup")}}
        env = props["Environment"]["Variables"]
        assert env["HCAD_AUTH"] == "sigv4" and env["HCAD_BRIDGE_DLQ"] == {"Ref": "DocumentDeadLetterQueue"}
    assert res["ManagerFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1
    assert res["RedriveFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1
    assert res["WorkerFunction"]["Properties"]["Timeout"] == {"Ref": "WorkerTimeout"}
    assert sorted(k for k, v in res.items() if v["Type"] == "AWS::Lambda::Function") == sorted(FUNCTIONS)

    mappings = [v["Properties"] for v in res.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(mappings) == 1
    (esm,) = mappings
    assert esm["FunctionName"] == {"Ref": "WorkerFunction"}
    assert esm["EventSourceArn"] == {"Fn::GetAtt": ["ShardQueue", "Arn"]}
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}}
    assert esm["BatchSize"] == 1

    rules = {
        v["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0]: v["Properties"]
        for v in res.values()
        if v["Type"] == "AWS::Events::Rule"
    }
    assert rules["ManagerFunction"]["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert rules["RedriveFunction"]["ScheduleExpression"] == "rate(5 minutes)"
    assert all(r["State"] == "ENABLED" for r in rules.values()) and len(rules) == 2
    invokers = {
        v["Properties"]["FunctionName"]["Ref"]
        for v in res.values()
        if v["Type"] == "AWS::Lambda::Permission" and v["Properties"]["Principal"] == "events.amazonaws.com"
    }
    assert invokers == {"ManagerFunction", "RedriveFunction"}

    queues = {k for k, v in res.items() if v["Type"] == "AWS::SQS::Queue"}
    assert queues == {"ShardQueue", "ShardDeadLetterQueue", "DocumentDeadLetterQueue"}
    queue = res["ShardQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ShardDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["VisibilityTimeout"] >= 6 * 900  # above the largest possible worker timeout x 6
    assert all(res[q]["Properties"]["SqsManagedSseEnabled"] for q in queues)
    alarms = {k: v["Properties"] for k, v in res.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {
        "DocumentDeadLettersAlarm",
        "ShardDeadLettersAlarm",
        "FallingBehindAlarm",
        "WorkerErrorsAlarm",
        "ManagerErrorsAlarm",
    }
    assert alarms["WorkerErrorsAlarm"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "WorkerFunction"}}]
    assert set(translated()["Outputs"]) == {
        "ShardQueueUrl",
        "DocumentDeadLetterQueueUrl",
        "ShardDeadLetterQueueUrl",
        "WorkerFunctionName",
    }


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def actions(stmt: dict[str, Any]) -> set[str]:
    a = stmt["Action"]
    return {a} if isinstance(a, str) else set(a)


def test_roles_are_least_privilege():
    t = translated()
    roles = {k for k, v in t["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    assert roles == {"ManagerRole", "WorkerRole", "RedriveRole"}
    # No AWS managed policy: SAM's generated roles would add AWSLambdaBasicExecutionRole (logs on "*")
    # and AWSLambdaSQSQueueExecutionRole (receive/delete on every queue).
    assert not any("ManagedPolicyArns" in t["Resources"][r]["Properties"] for r in roles)
    granted: dict[str, Any] = {}
    for role in sorted(roles):
        for s in statements(t, role):
            assert s["Effect"] == "Allow"
            for a in actions(s):
                granted[f"{role}:{a}"] = s["Resource"]
    wildcard = {k for k, r in granted.items() if r == "*" or (isinstance(r, list) and "*" in r)}
    # Only the CloudWatch read calls (no resource-level permissions exist for them) are on "*".
    assert wildcard == {"ManagerRole:cloudwatch:ListMetrics", "WorkerRole:cloudwatch:GetMetricData"}
    assert not any(k.split(":", 1)[1].startswith(("es:", "sqs:")) for k in wildcard)
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
    sqs = {k: r for k, r in granted.items() if ":sqs:" in k}
    assert sqs["ManagerRole:sqs:SendMessage"] == {"Fn::GetAtt": ["ShardQueue", "Arn"]}
    assert sqs["WorkerRole:sqs:ReceiveMessage"] == {"Fn::GetAtt": ["ShardQueue", "Arn"]}
    assert sqs["WorkerRole:sqs:SendMessage"] == {"Fn::GetAtt": ["DocumentDeadLetterQueue", "Arn"]}
    assert sqs["RedriveRole:sqs:ReceiveMessage"] == {"Fn::GetAtt": ["DocumentDeadLetterQueue", "Arn"]}
    assert not any(a.endswith("*") for k in granted for a in [k.split(":", 1)[1]])


def load_build() -> Any:
    spec = importlib.util.spec_from_file_location("hcad_lambda_build", BUILD)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_uris(sam: dict[str, Any]) -> set[str]:
    # Not in Globals: aws cloudformation package ignores a CodeUri there and zips the current directory.
    assert "CodeUri" not in sam["Globals"]["Function"]
    return {sam["Resources"][name]["Properties"]["CodeUri"] for name in FUNCTIONS}


def test_template_code_uri_is_what_build_writes_by_default():
    sam = load_template()
    build = load_build()
    (code_uri,) = code_uris(sam)
    assert (TEMPLATE.parent / code_uri).resolve() == build.DEFAULT_OUT / build.zip_name("arm64")
    # The zip's architecture is the only one the template accepts (a local CodeUri is fixed).
    assert sam["Parameters"]["Architecture"]["AllowedValues"] == ["arm64"]


def test_build_template_out_points_at_the_zip_and_pins_the_architecture(tmp_path):
    build = load_build()
    zip_path = tmp_path / "zips" / "hcad-bridge-x86_64.zip"
    out = build.write_template("x86_64", zip_path, tmp_path / "deploy" / "template.yaml")
    text = out.read_text()
    assert "!GetAtt ShardQueue.Arn" in text and "# CodeUri is relative" in text  # comments, short forms kept
    sam = load_template(out)
    assert code_uris(sam) == {"../zips/hcad-bridge-x86_64.zip"}
    assert (out.parent / "../zips/hcad-bridge-x86_64.zip").resolve() == zip_path.resolve()
    arch = sam["Parameters"]["Architecture"]
    assert arch["Default"] == "x86_64" and arch["AllowedValues"] == ["x86_64"]
    assert lint(text) == []
    fn = translate(sam)["Resources"]["WorkerFunction"]["Properties"]
    assert fn["Code"]["S3Key"] == "hcad-bridge-x86_64.zip"
    # A template whose lines build.py edits were changed is refused in one line, not rewritten wrongly.
    edited = tmp_path / "edited.yaml"
    edited.write_text(TEMPLATE.read_text().replace("    Default: arm64\n", "    Default: x86_64\n"))
    with pytest.raises(build.UserError, match=r"expected 1 line.*Default: arm64"):
        build.write_template("x86_64", zip_path, tmp_path / "t.yaml", source=edited)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--template-out", "t.yaml"], "--template-out needs --arch arm64 or --arch x86_64"),
        (["--python", "3"], "--python '3': give the runtime's version as MAJOR.MINOR"),
        (["--out", "{file}"], "is a file; give a directory for the zips"),
        (["--arch", "arm64", "--template-out", "{dir}"], "is a directory; give the template's file name"),
    ],
)
def test_build_bad_input_is_one_line_exit_2(tmp_path, args, message):
    (tmp_path / "f").write_text("")
    argv = [a.format(file=tmp_path / "f", dir=tmp_path) for a in args]
    proc = subprocess.run([sys.executable, str(BUILD), *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("build.py: ") and message in proc.stderr
    assert not list(tmp_path.glob("*.zip"))


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
            "--template-out",
            str(tmp_path / "deploy" / "template.yaml"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    zip_path = tmp_path / f"hcad-bridge-{arch}.zip"
    assert zip_path.stat().st_size < 50 * 1024 * 1024
    (summary,) = json.loads(proc.stdout)
    (code_uri,) = code_uris(load_template(Path(summary["template"])))
    assert (tmp_path / "deploy" / code_uri).resolve() == zip_path.resolve()
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
