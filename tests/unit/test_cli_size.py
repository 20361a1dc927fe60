"""``hcad size`` end to end through the real entry point (no cluster needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hcad.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
BLOG = str(ROOT / "sizing" / "blog-million-entities.yaml")
FLEET = str(ROOT / "sizing" / "fleet-500-servers.yaml")


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_blog_plan_text(capsys) -> None:
    code, out, _ = run(capsys, "size", BLOG)
    assert code == 0
    assert "data nodes needed        36" in out
    assert "units: decimal" in out
    assert "N = floor(H x P / max(S)) = floor(32,000,000,000 x 0.5 / 471,000)" in out
    assert "144.0 GB" in out and "4,320.0 GB" in out and "8,640.0 GB" in out


def test_blog_plan_json_binary_override(capsys) -> None:
    code, out, _ = run(capsys, "size", BLOG, "--units", "binary", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["units"] == "binary" and d["heap_bytes"] == 2**35
    assert d["data_nodes"] == 33
    assert d["unit_convention"].startswith("units: binary")


def test_flags_only_one_detector(capsys) -> None:
    code, out, _ = run(capsys, "size", "-c", "1000000", "--features", "2", "-t", "r6g.2xlarge", "-p", "0.5", "--json")
    assert code == 0
    d = json.loads(out)
    det = d["detectors"][0]
    assert det["model_size_bytes"] == 475_160 and det["model_size_source"] == "estimated"
    # decimal: 64 GiB RAM read as 64 GB -> 32e9 heap; x 0.5 = 16e9; 16e9 / 475,160 = 33,672.8 -> 33,672;
    # ceil(1.2 x 1e6 / 33,672) = ceil(35.64) = 36
    assert d["heap_bytes"] == 32_000_000_000
    assert d["models_per_node"] == 33_672
    assert d["data_nodes"] == 36


def test_active_only_uses_cache_bound(capsys) -> None:
    code, out, _ = run(capsys, "size", "-a", "1000", "--interval", "5m", "--heap", "8GiB", "--json")
    assert code == 0
    det = json.loads(out)["detectors"][0]
    assert det["cache_bound"] == 24_000 and det["entities_used"] == 24_000


@pytest.mark.parametrize(("interval", "intervals"), [("20s", 360), ("40s", 180), ("10s", 720)])
def test_interval_in_seconds_is_exact(capsys, interval: str, intervals: int) -> None:
    code, out, _ = run(capsys, "size", "-a", "1000", "--interval", interval, "--heap", "8GiB", "--json")
    assert code == 0
    det = json.loads(out)["detectors"][0]
    assert det["cache_intervals"] == intervals and det["cache_bound"] == 1000 * intervals
    assert det["result_docs_per_day"] == 1000 * 86400 // int(interval[:-1])
    assert det["interval"] == interval


def test_fleet_reverse_questions_and_plot(capsys, tmp_path: Path) -> None:
    png = tmp_path / "nodes.png"
    code, out, _ = run(capsys, "size", FLEET, "--plot", str(png))
    assert code == 0
    assert "On 3 data nodes:" in out and "smallest model_max_size_percent" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-c", "0", "-t", "r5.large"], "entities 0 must be a whole number > 0"),
        (["-c", "-4", "-t", "r5.large"], "entities -4"),
        (["-c", "10", "-t", "r5.larg"], "did you mean r5.large"),
        (["-c", "10", "-t", "r5.large", "-p", "0.95"], "model_max_size_percent 0.95 is out of range"),
        (["-c", "10", "-t", "r5.large", "-p", "0.8", "--plugin-version", "2.14"], "0 to 0.7"),
        (["-c", "10", "-t", "r5.large", "--interval", "0"], "interval '0' must be greater than zero"),
        (["-c", "10", "-t", "r5.large", "--shingle", "129"], "shingle_size"),
        (["-c", "10"], "needs instance_type or heap"),
        ([], "give a plan file"),
        (["/nonexistent/plan.yaml"], "plan '/nonexistent/plan.yaml' does not exist"),
        ([BLOG, "-c", "5"], "describes a detector"),
        (["-c", "100", "-a", "1000", "-t", "r5.large"], "active_entities: 1,000 is more than the 100 entities"),
        (["-c", "10", "--heap", "0"], "node.heap: heap '0' must be greater than zero"),
        (["-c", "10", "-t", "r5.large", "--from", "now-7d"], "--from and --to set the range --measure counts in"),
        (["-c", "10", "-t", "r5.large", "--measure", "--from", "garbage"], "--from 'garbage' is not a time"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, args: list[str], needle: str) -> None:
    code, out, err = run(capsys, "size", *args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hcad: error: ")
    assert needle in lines[0]


def test_bad_yaml_names_file(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("detectors: [\n  - name: x\n")
    code, _, err = run(capsys, "size", str(bad))
    assert code == 2 and str(bad) in err and "not valid YAML" in err


def test_size_help_imports_no_heavy_modules() -> None:
    code = (
        "import sys; from hcad.cli.main import main\n"
        "try:\n    main(['size', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pandas', 'boto3', 'matplotlib', 'opensearchpy') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="


def test_plan_leaving_counts_to_measure_says_so_without_it(capsys, tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text("node: {heap: 8GiB}\ndetectors: [{name: x, detector_id: abc}]\n")
    code, out, err = run(capsys, "size", str(plan))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "x has no entities or active_entities" in err and "--measure" in err
