"""Definition files: missing, unreadable and malformed files give one line naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hcad.alerting.monitors import MonitorSpec
from hcad.errors import ConfigError, ValidationError
from hcad.sizing import SizingPlan
from hcad.yamlfile import load_yaml_file


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"plan '.*nope\.yaml' does not exist"):
        load_yaml_file(tmp_path / "nope.yaml", "plan")


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nindices: [a\nkey: 1\n")
    with pytest.raises(ValidationError) as e:
        load_yaml_file(bad)
    msg = str(e.value)
    assert str(bad) in msg and "not valid YAML at line 3" in msg and "\n" not in msg


@pytest.mark.parametrize("reader", [MonitorSpec.from_file, SizingPlan.from_yaml])
def test_every_definition_reader_shares_the_errors(tmp_path: Path, reader) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1\n")
    with pytest.raises(ValidationError, match="not valid YAML at line"):
        reader(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        reader(tmp_path / "missing.yaml")
