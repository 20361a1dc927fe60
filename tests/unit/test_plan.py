"""hcad.ad.plan without a cluster: loading (documents, lists, lines), duplicate keys, the pure plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from hcad.ad.definitions import load_definitions
from hcad.ad.model import Detector
from hcad.ad.plan import CREATE, ONLY_ON_SERVER, UNCHANGED, UPDATE, blocking_problems, make_plan
from hcad.errors import ValidationError

ONE = """\
name: {name}
indices: [metrics]
time_field: "@timestamp"
category_fields: [host]
interval: 10m
features:
  cpu_avg: {{agg: avg, field: cpu}}
"""


def server_copy(det: Detector, det_id: str) -> Detector:
    """What the plugin stores for ``det``: its request plus the defaults it fills in."""
    doc = det.to_request()
    doc.update(
        shingle_size=8, recency_emphasis=2560, history=40, schema_version=0, detector_type="MULTI_ENTITY",
        filter_query={"match_all": {"boost": 1.0}}, window_delay={"period": {"interval": 0, "unit": "Seconds"}},
        description="", last_update_time=1,
    )  # fmt: skip
    for i, f in enumerate(doc["feature_attributes"]):
        f["feature_id"] = f"f{i}"
    return Detector.from_api(doc, id=det_id, seq_no=3, primary_term=1)


def test_documents_and_lists_with_lines(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("# comment\n" + ONE.format(name="a") + "---\n- " + ONE.format(name="b").replace("\n", "\n  "))
    defs = load_definitions([f])
    assert [(d.name, d.line) for d in defs] == [("a", 2), ("b", 10)]


def test_duplicate_key_in_a_mapping_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(ONE.format(name="a") + "interval: 20m\n")
    with pytest.raises(ValidationError) as e:
        load_definitions([f])
    assert str(e.value) == f"{f}:8: interval: appears twice in this mapping (keep one)"


def test_errors_of_several_files_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(ONE.format(name="a").replace("interval", "intervall"))
    (tmp_path / "b.yaml").write_text(ONE.format(name="b").replace("10m", "ten minutes"))
    with pytest.raises(ValidationError) as e:
        load_definitions([tmp_path])
    assert [i.path for i in e.value.issues] == [
        f"{tmp_path / 'a.yaml'}:5: intervall",
        f"{tmp_path / 'b.yaml'}:5: interval",
    ]


def test_plan_ignores_server_defaults_and_matches_by_id(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(ONE.format(name="a") + "---\n" + ONE.format(name="b") + "---\n" + ONE.format(name="c"))
    a, b, c = load_definitions([f])
    server = [server_copy(a.detector, "id-a"), server_copy(b.detector, "id-b"), server_copy(c.detector, "id-x")]
    server[1].interval = server[1].interval.__class__(20)
    server[2].name = "old-name"  # c is matched by id below, so this is a rename
    c.detector.id = "id-x"
    extra = server_copy(a.detector.copy(name="z"), "id-z")
    plan = make_plan([a, b, c], [*server, extra], running={"id-b": (True, False)})
    assert [(ch.action, ch.name) for ch in plan.changes] == [
        (UNCHANGED, "a"), (UPDATE, "b"), (UPDATE, "c"), (ONLY_ON_SERVER, "z"),
    ]  # fmt: skip
    assert plan.changes[1].diff == ["interval: '1200s' -> '600s'"]
    assert plan.changes[2].diff == ["name: 'old-name' -> 'c'"]
    assert plan.changes[1].realtime_running
    assert [str(p) for p in blocking_problems(plan, restart=True)] == []
    assert "b is running" in str(blocking_problems(plan, restart=False)[0])
    text = plan.render()
    assert "~ update          b" in text and "? only on server  z  (id id-z)" in text
    assert plan.summary() == "Plan: 0 to create, 2 to update, 1 unchanged, 1 only on the server (left alone)."


def test_unknown_id_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(ONE.format(name="a") + "id: gone\n")
    (a,) = load_definitions([f])
    with pytest.raises(ValidationError, match="no detector has the id 'gone'"):
        make_plan([a], [])
    assert [ch.action for ch in make_plan([a.__class__(a.detector.copy(), a.source)], []).changes] == [CREATE]


def test_shipped_definitions_load_and_read_what_the_bridge_writes() -> None:
    """detectors/*.yaml validate offline, read the bridge's index and fields, and ship the tuned settings."""
    import yaml

    from hcad.ad.definitions import check_definitions
    from hcad.ad.model import RECOMMENDED_RULE_RATIO, RECOMMENDED_SHINGLE_SIZE, Rule

    root = Path(__file__).resolve().parents[2]
    defs = load_definitions([root / "detectors"])
    check_definitions(defs)  # the plugin's rules, offline
    by_name = {d.name: d.detector for d in defs}
    assert set(by_name) == {"detect_gc_time", "fleet-cpu", "fleet-memory", "fleet-network", "fleet-process"}

    bridge = yaml.safe_load((root / "hcad" / "bridge" / "example-config.yaml").read_text())
    host_metrics = {k for k, v in bridge["metrics"].items() if not v.get("per_process")}
    process_metrics = {k for k, v in bridge["metrics"].items() if v.get("per_process")}
    for name, det in by_name.items():
        fields = {fld for f in det.features for _agg, fld in f.fields_used()}
        if name == "detect_gc_time":  # the blog's own index and metrics
            assert det.indices == ["host-cloudwatch"] and fields == {"jvmGcTime", "cpuTime"}
            continue
        assert det.indices == [bridge["index"]] == ["fleet-metrics"], name
        assert det.time_field == "@timestamp"
        if det.category_fields == ["host", "process"]:
            assert fields <= process_metrics, name
        else:
            assert det.category_fields == ["host"] and fields <= host_metrics, name
    # The fleet detectors ship hcad's defaults (issue 17: shingle 2, no rule of hcad's) except the slow
    # memory model's shingle; the blog's own detector keeps what won on the blog's data (issue 8: shingle
    # 4, a 5% rule per feature).
    assert RECOMMENDED_RULE_RATIO is None
    for name, det in by_name.items():
        if name == "detect_gc_time":
            assert det.shingle_size == 4, name
            assert det.rules == [Rule.ignore_within(f.name, 0.05) for f in det.features], name
            continue
        assert det.rules is None, name
        assert det.shingle_size == (16 if name == "fleet-memory" else RECOMMENDED_SHINGLE_SIZE), name
