"""Faults in the middle of hcad's operations against the real node, and SigV4 end to end (issue 18).

The node is shared with other runs, so it is never stopped: :class:`doubles.faulty_proxy.FaultyProxy`
stands one hop in front of it and "stops the node" by closing its listening socket and resetting
every open connection (what a client sees when a node's process dies: refused and reset connections),
at a chosen request: ``down`` before the request reaches the node, ``down_after`` once the node has
applied it but before the answer (the client cannot tell whether it was applied). ``up()`` is the
node coming back. The same proxy cuts connections, delays answers and answers 429/503 itself.

What is asserted is what is left on the real node (detectors listed by name, their stored
definitions) and that a re-run converges. SigV4 goes through :class:`doubles.secured.SigV4Proxy`,
which recomputes every signature with botocore's signer, like Amazon OpenSearch Service.

About 50 s on 2 cores (most of it the historical analysis and hcad's backoff, which is real).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from doubles.faulty_proxy import FaultyProxy
from doubles.secured import SigV4Proxy

import hcad
from hcad.cli.main import main
from hcad.errors import AuthError
from hcad.quality.loading import load_fleet
from hcad.quality.synth import FleetSpec
from hcad.transport import translate_errors

SPEC = FleetSpec.blog(hosts=2, processes=2, periods=300, anomalies=2, seed=18)
CREATE = r"^/_plugins/_anomaly_detection/detectors/?(\?|$)"
# A detector id may start with "_" (ids are URL-safe base64), so only the plugin's own names are excluded.
UPDATE = r"^/_plugins/_anomaly_detection/detectors/(?!_(search|count|match|validate)(\?|/|$))[^/?]+(\?|$)"
POLL = r"^/_plugins/_anomaly_detection/detectors/[^/?]+\?.*task=true"

DETECTOR = """\
name: {name}
description: {description}
indices: [{index}]
time_field: "@timestamp"
category_fields: [host]
interval: 10m
window_delay: {delay}
features:
  {feature}: {{agg: avg, field: cpuTime}}
"""


def run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str, float]:
    began = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        main(["--url", url, *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err, time.monotonic() - began


def one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip() and x.startswith("hcad: ")]
    assert len(lines) == 1 and lines[0].startswith("hcad: error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def fleet(ad_client) -> Iterator[str]:
    index = f"hcad-test-faults-{uuid.uuid4().hex[:6]}"
    load_fleet(ad_client, index, SPEC, progress=False)
    yield index
    ad_client.indices.delete(index=index, ignore_unavailable=True)


@pytest.fixture
def names(ad_client) -> Iterator[list[str]]:
    """Three unique detector names; whatever carries them is stopped and deleted afterwards."""
    suffix = uuid.uuid4().hex[:6]
    out = [f"it-fault-{suffix}-{i}" for i in range(3)]
    yield out
    for det in ad_client.ad.search():
        if det.name in out and det.id is not None:
            for historical in (False, True):
                ad_client.ad.stop(det.id, historical=historical)
            ad_client.ad.delete(det.id)


@pytest.fixture
def proxy(os_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyProxy]:
    for var in ("HCAD_URL", "HCAD_AUTH", "HCAD_USER", "HCAD_PASSWORD", "HCAD_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    p = FaultyProxy(os_url).up()
    yield p
    p.down()


def write_defs(folder: Path, index: str, names: list[str], *, version: int) -> Path:
    folder.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        (folder / f"d{i}.yaml").write_text(
            DETECTOR.format(
                name=name, index=index, description=f"v{version}", delay=f"{version}m", feature=f"cpu_v{version}"
            )
        )
    return folder


def on_server(ad_client, names: list[str]) -> dict[str, list[dict]]:
    """name -> the stored documents of every detector with that name (so duplicates would show)."""
    out: dict[str, list[dict]] = {n: [] for n in names}
    for det in ad_client.ad.search():
        if det.name in out:
            doc = ad_client.transport.perform_request("GET", f"/_plugins/_anomaly_detection/detectors/{det.id}")
            out[det.name].append(doc["anomaly_detector"])
    return out


def version_of(doc: dict) -> int:
    """Which version of the YAML a stored detector is, checking every changed field agrees (no half update)."""
    v = int(doc["description"].removeprefix("v"))
    assert doc["window_delay"]["period"] == {"interval": v, "unit": "Minutes"}, doc
    assert [f["feature_name"] for f in doc["feature_attributes"]] == [f"cpu_v{v}"], doc
    return v


# --------------------------------------------------------------------------- the node stops during apply
def test_node_stopped_during_apply_then_a_rerun_converges(capsys, ad_client, fleet, names, proxy, tmp_path):
    """Creates: the node dies right after applying the 2nd create; updates: it dies before the 2nd update."""
    defs = write_defs(tmp_path / "d", fleet, names, version=1)
    proxy.add("down_after", method="POST", path=CREATE, nth=2)
    code, _out, err, took = run(capsys, proxy.url, "detectors", "apply", str(defs))
    line = one_line(err)
    assert code == 1 and "cannot reach the cluster (Connection refused) after 4 attempts with backoff" in line
    assert f"whether 'create {names[1]}' was applied is unknown" in line and "Run the same apply again" in line
    assert took < 20  # bounded: 3 retries, 0.5 + 1 + 2 s of backoff
    left = on_server(ad_client, names)
    assert [len(left[n]) for n in names] == [1, 1, 0]  # the 2nd was applied, the 3rd never sent

    proxy.up()
    proxy.clear()
    code, out, err, _ = run(capsys, proxy.url, "detectors", "apply", str(defs))
    assert code == 0, err
    assert "Applied: 1 created, 0 updated, 2 unchanged." in out
    left = on_server(ad_client, names)
    assert [len(left[n]) for n in names] == [1, 1, 1]  # no duplicates
    assert {version_of(d[0]) for d in left.values()} == {1}

    # Update all three; the node dies before the 2nd update reaches it.
    write_defs(tmp_path / "d", fleet, names, version=2)
    proxy.add("down", method="PUT", path=UPDATE, nth=2)
    code, _out, err, _ = run(capsys, proxy.url, "detectors", "apply", str(defs))
    line = one_line(err)
    assert code == 1 and "Run the same apply again" in line
    left = on_server(ad_client, names)
    versions = sorted(version_of(docs[0]) for docs in left.values())  # each wholly v1 or wholly v2
    assert versions == [1, 1, 2] and all(len(d) == 1 for d in left.values())

    proxy.up()
    proxy.clear()
    code, out, err, _ = run(capsys, proxy.url, "detectors", "apply", str(defs))
    assert code == 0 and "Applied: 0 created, 2 updated, 1 unchanged." in out, err
    left = on_server(ad_client, names)
    assert all(len(d) == 1 and version_of(d[0]) == 2 for d in left.values())
    code, out, _err, _ = run(capsys, proxy.url, "detectors", "apply", str(defs))
    assert code == 0 and "No changes: 3 detector(s) match the server" in out


# --------------------------------------------------------------------------- ... during history --wait
def test_node_stopped_during_history_wait_says_how_to_resume(capsys, ad_client, fleet, names, proxy, tmp_path):
    defs = write_defs(tmp_path / "d", fleet, names[:1], version=1)
    assert run(capsys, proxy.url, "detectors", "apply", str(defs))[0] == 0
    proxy.add("down", method="GET", path=POLL, nth=2)  # after one progress poll
    start, end = SPEC.start.isoformat(), SPEC.end.isoformat()
    args = ("detectors", "history", names[0], "--from", start, "--to", end, "--poll", "0.5", "--slot-wait", "120")
    code, out, err, _ = run(capsys, proxy.url, *args)
    line = one_line(err)
    assert code == 1 and "cannot reach the cluster" in line
    assert f"Resume waiting with 'hcad detectors history {names[0]} --attach'" in line
    assert "may still be running on the server" in line
    task_id = out.split("(task ")[1].split(")")[0]
    state = ad_client.ad.get_state(ad_client.ad.find(names[0]).id).historical_task
    assert state["task_id"] == task_id and state["state"] not in ("STOPPED", "FAILED")  # left running

    proxy.up()
    proxy.clear()
    code, out, err, _ = run(capsys, proxy.url, "detectors", "history", names[0], "--attach", "--poll", "0.5")
    assert code == 0, err
    assert f"historical analysis of {names[0]} finished (task {task_id})" in out
    assert ad_client.ad.get_state(ad_client.ad.find(names[0]).id).historical_task["state"] == "FINISHED"


# --------------------------------------------------------------------------- cut, slow, 429, 503
def test_cut_connections_are_retried_a_bounded_number_of_times(capsys, proxy):
    proxy.add("reset", times=1)
    code, out, err, _ = run(capsys, proxy.url, "cluster", "--json")
    assert code == 0 and json.loads(out)["version"], err  # one cut connection: the retry goes through
    assert proxy.count("reset") == 1

    proxy.clear()
    proxy.add("reset", times=None)
    code, _out, err, took = run(capsys, proxy.url, "cluster")
    line = one_line(err)
    assert code == 1 and "the connection was closed without an answer" in line and "after 4 attempts" in line
    assert proxy.count("reset") == 1 + 4 and took < 10


def test_a_slow_node_times_out_boundedly(capsys, proxy, monkeypatch):
    monkeypatch.setenv("HCAD_TIMEOUT", "1")
    proxy.add("delay", delay=2.5, times=None)
    code, _out, err, took = run(capsys, proxy.url, "cluster")
    line = one_line(err)
    assert code == 1 and "did not answer in time after 4 attempts with backoff" in line and "HCAD_TIMEOUT" in line
    assert proxy.count("delay") == 4
    assert 4 * 1 + 2.5 < took < 4 * 1 + 3.5 + 4  # four 1 s timeouts and the backoff between them


def test_429_and_503_are_retried_with_backoff_then_a_clear_error(capsys, proxy):
    proxy.add("status", status=503, times=2)
    code, out, err, _ = run(capsys, proxy.url, "cluster", "--json")
    assert code == 0 and json.loads(out)["version"], err  # a node back after two 503s: no error
    assert proxy.count("status") == 2

    proxy.clear()
    proxy.add("status", status=429, times=None)
    log_start = len(proxy.log)
    code, _out, err, _ = run(capsys, proxy.url, "cluster")
    line = one_line(err)
    assert code == 1 and "the cluster is overloaded (HTTP 429: Too Many Requests) after 4 attempts" in line
    assert "try again later" in line
    t = proxy.times[log_start:]
    gaps = [b - a for a, b in itertools.pairwise(t)]
    assert len(t) == 4 and gaps[0] > 0.3 and gaps[1] > 0.7 and gaps[2] > 1.4, gaps  # exponential backoff

    proxy.clear()
    proxy.add("status", status=503, times=None)
    code, _out, err, _ = run(capsys, proxy.url, "cluster")
    assert code == 1 and "the cluster is unavailable (HTTP 503: Service Unavailable) after 4 attempts" in one_line(err)


# --------------------------------------------------------------------------- SigV4 end to end
@pytest.fixture
def sigv4(os_url: str) -> Iterator[SigV4Proxy]:
    p = SigV4Proxy(os_url, region="eu-west-1", service="es").start()
    yield p
    p.stop()


def session_for(key_id: str, secret: str):
    import boto3

    return boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="eu-west-1")


def test_sigv4_signed_requests_pass_and_tampered_or_expired_ones_are_refused(sigv4, ad_client, fleet):
    key_id, secret = sigv4.issue()
    client = hcad.connect(sigv4.url, auth="sigv4", boto3_session=session_for(key_id, secret), max_retries=0)
    assert client.version >= (2, 0, 0)
    n = client.count(index=fleet, body={"query": {"term": {"host": SPEC.entities()[0][0]}}})["count"]
    assert n > 0  # a POST with a body, signed, checked and forwarded
    client.ad.search()  # the anomaly-detection plugin's search, signed too
    assert sigv4.refused == 0 and sigv4.accepted >= 3

    sigv4.tamper = 1
    with pytest.raises(AuthError) as e, translate_errors("counting"):
        client.count(index=fleet, body={"query": {"match_all": {}}})
    assert "AWS refused the request's signature (HTTP 403: The request signature we calculated does not match" in str(
        e.value
    )
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ")
    with pytest.raises(AuthError) as e, translate_errors("reading the version"):
        client.transport.perform_request("GET", "/", headers={"x-amz-date": old})
    assert "Signature expired" in str(e.value) and "clock" in str(e.value)
    with pytest.raises(AuthError), translate_errors("reading the version"):
        hcad.connect(sigv4.url, auth="sigv4", boto3_session=session_for(key_id, secret + "x")).info()
    assert sigv4.refused == 3 and secret not in " ".join(sigv4.reasons)


def test_sigv4_cli_with_refreshable_credentials_renews_during_a_long_operation(
    capsys, sigv4, ad_client, fleet, names, tmp_path, monkeypatch
):
    """credential_process hands out keys the proxy accepts for 6 s, stated to expire in 15 min 2 s:
    botocore refreshes them 2 s after each issue (its 15-minute advisory window), so a history run of
    several seconds is signed with several keys in turn and every request is accepted."""
    defs = write_defs(tmp_path / "d", fleet, names[:1], version=1)
    sigv4.key_lifetime = 6.0
    script = tmp_path / "creds.py"
    script.write_text(
        "import datetime as dt, json, urllib.request\n"
        f"k = json.load(urllib.request.urlopen({sigv4.url + '/__issue'!r}))\n"
        "exp = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=15, seconds=2)\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': k['id'], 'SecretAccessKey': k['secret'],"
        " 'Expiration': exp.strftime('%Y-%m-%dT%H:%M:%SZ')}))\n"
    )
    config = tmp_path / "aws-config"
    config.write_text(f"[profile hcad-test]\ncredential_process = {sys.executable} {script}\nregion = eu-west-1\n")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "hcad-test")
    code, _out, err, _ = run(capsys, sigv4.url, "--auth", "sigv4", "detectors", "apply", str(defs))
    assert code == 0, err
    start, end = SPEC.start.isoformat(), SPEC.end.isoformat()
    seen_before = len(sigv4.key_ids_seen)
    code, out, err, took = run(
        capsys, sigv4.url, "--auth", "sigv4", "detectors", "history", names[0], "--from", start, "--to", end,
        "--poll", "0.5", "--slot-wait", "120",
    )  # fmt: skip
    assert code == 0, err
    assert "finished" in out
    keys = set(sigv4.key_ids_seen[seen_before:])
    assert sigv4.refused == 0, sigv4.reasons
    assert len(keys) >= 2, (took, keys)  # renewed while it ran
    assert yaml.safe_load(defs.joinpath("d0.yaml").read_text())["name"] == names[0]
