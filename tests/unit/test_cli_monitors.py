"""``hcad monitors`` and ``hcad drift`` CLI: exit codes and one-line errors on bad input.

Bad input is rejected before any connection is made (the URL points at a closed port).
"""

from __future__ import annotations

import pytest

from hcad.cli.main import main

DEAD = ["--url", "http://127.0.0.1:9"]


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_help_lists_monitors_and_drift(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "monitors" in out and "drift" in out
    code, out, _ = run(["monitors", "--help"], capsys)
    assert code == 0 and all(c in out for c in ("plan", "apply", "list", "get", "delete", "run"))


@pytest.mark.parametrize(
    ("yaml", "words"),
    [
        ("name: m\ndetector: d\nthresholds: {high: 1.2}\n", "thresholds.high: 1.2 is not a number in [0, 1]"),
        ("name: m\ndetector: d\nthresholds: {low: 0.8, high: 0.6}\n", "low (0.8) must be below high (0.6)"),
        ("name: m\n", "detector: is required"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_bad_monitor_file_exits_2_without_connecting(tmp_path, capsys, command, yaml, words):
    (tmp_path / "m.yaml").write_text(yaml)
    code, _, err = run([*DEAD, "monitors", command, str(tmp_path / "m.yaml")], capsys)
    assert code == 2
    assert err.startswith("hcad: error: ") and words in err and err.count("\n") == 1


def test_missing_path_exits_2(tmp_path, capsys):
    code, _, err = run([*DEAD, "monitors", "plan", str(tmp_path / "nope")], capsys)
    assert code == 2 and "no such file or directory" in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["drift"], "give a detector NAME or --detector-id"),
        (["drift", "a", "--detector-id", "b"], "give a detector NAME or --detector-id"),
        (["drift", "--detector-id", "b", "--retrain"], "--retrain needs the detector NAME"),
        (["drift", "--detector-id", "b", "--window", "1"], "window 1 days is too short"),
        (["drift", "--detector-id", "b", "--end", "yesterday-ish"], "--end 'yesterday-ish' is not a time"),
    ],
)
def test_drift_usage_errors_exit_2(capsys, args, words):
    code, _, err = run([*DEAD, *args], capsys)
    assert code == 2 and words in err and err.count("\n") == 1


def test_unreachable_cluster_exits_1(tmp_path, capsys):
    (tmp_path / "m.yaml").write_text("name: m\ndetector: d\n")
    code, _, err = run([*DEAD, "monitors", "plan", str(tmp_path)], capsys)
    assert code == 1 and err.startswith("hcad: error: ") and "Traceback" not in err


@pytest.mark.parametrize("what", ["monitors", "detectors"])
def test_delete_without_a_terminal_needs_yes_even_with_json(capsys, what):
    """Without --yes and without a terminal to confirm on, nothing is asked of the server."""
    code, out, err = run([*DEAD, what, "delete", "some-name", "--json"], capsys)
    assert code == 2 and out == ""
    noun = what.removesuffix("s")
    assert err.strip() == f"hcad: error: refusing to delete {noun} some-name without confirmation; pass --yes"
