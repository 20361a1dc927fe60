"""Bad input at scale (issue 18): property-based fuzzing of every file a user hands hcad.

Detector YAML (``hcad detectors validate --offline``), monitor YAML (``load_specs``), sizing plans
(``hcad size --plan``) and bridge configs (``load_config``) are fed two kinds of input:

- the shipped examples, mutated: a value anywhere replaced with junk (nulls, huge or non-finite
  numbers, odd strings, nested lists and maps), a key deleted, an unknown key added, a map wrapped in
  a list;
- raw text: arbitrary characters and YAML-ish fragments (anchors, tags, flow brackets, tabs).

Asserted for every example: no traceback, ever. The result is either valid or an :class:`HcadError`
whose CLI output is one line (or ``N problems:`` and one line per problem). Derandomized and capped
(``max_examples``) so it stays a few seconds in CI.
"""

from __future__ import annotations

import copy
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_output import error_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hcad.cli.main import error_lines, main
from hcad.errors import HcadError, ValidationError

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

EXAMPLES = {
    "detector": ROOT / "detectors" / "fleet.yaml",
    "monitor": ROOT / "monitors" / "fleet-cpu-entities.yaml",
    "sizing": ROOT / "sizing" / "fleet-500-servers.yaml",
    "bridge": ROOT / "hcad" / "bridge" / "example-config.yaml",
}

odd_strings = st.sampled_from(
    ["", " ", "10m", "-1", "0", "1e400", "nan", "inf", "-inf", "0x10", "1_000", "10 m", "5zz", "∞", "ünïcode",
     "${HOME}", "null", "~", "yes", "no", "[", "{", "*a", "!!python/object:os.system", "a" * 300, "\t", "1.5.2",
     "99999999999999999999999", "2024-13-45T25:61:00Z", "now-", "P1D", "@timestamp", "host", "avg"]
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_strings,
    st.text(max_size=12),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(odd_strings, st.text(max_size=6)), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths_of(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths_of(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths_of(v, (*prefix, i))
    return out


def get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_of(doc)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap"]))
        if not path:
            doc = draw(junk) if op == "replace" else [doc] if op == "wrap" else doc
            continue
        parent, key = get(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = draw(junk)
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "nmae", "interval", "0", "", "features"]))] = draw(junk)
        elif op == "wrap":
            parent[key] = [parent[key]]
    return doc


yamlish = st.lists(
    st.one_of(
        st.sampled_from(
            ["name: x", "- a", "  b: 1", "features:", "  f: {agg: avg, field: cpu}", "&a {x: 1}", "<<: *a", "*a",
             "!!binary aGk=", "!!python/object/apply:os.system ['true']", "{", "]", "---", "...", "\t- x", "? k",
             "interval: 10m", "metrics: [", "index: 'unterminated", "key: value: other", "%YAML 1.2", "'", '"\\x"']
        ),
        st.text(max_size=20),
    ),
    max_size=6,
).map("\n".join)  # fmt: skip


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def check_one_line(run: Callable[[], Any]) -> None:
    """Valid (returns) or an HcadError shown as one line, or one line per problem; nothing else."""
    try:
        run()
    except HcadError as e:
        text = error_lines(e)
        if isinstance(e, ValidationError) and len(e.issues) > 1:
            assert all("\n" not in str(i) for i in e.issues), text
        else:
            assert "\n" not in text, text


def cli_one_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    _out, err = capsys.readouterr()
    code = int(exit_info.value.code or 0)
    assert "Traceback" not in err
    if code != 0:
        assert code in (1, 2), err
        error_text(err)


# One directory for the module, made on first use (not at import: a run that deselects these tests would
# leave it) and removed after the module; each example overwrites its file (examples run one at a time).
_DIRS: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _remove_fuzz_files() -> Iterator[None]:
    yield
    while _DIRS:
        shutil.rmtree(_DIRS.pop(), ignore_errors=True)


def as_file(text: str, name: str) -> Path:
    if not _DIRS:
        _DIRS.append(Path(tempfile.mkdtemp(prefix="hcad-fuzz-")))
    f = _DIRS[0] / name
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    return f


def base(kind: str) -> Any:
    doc = yaml.safe_load(EXAMPLES[kind].read_text())
    return doc[0] if kind == "detector" else doc


# --------------------------------------------------------------------------- detectors
@FUZZ
@given(doc=mutated(base("detector")))
def test_detector_yaml_mutations(capsys: pytest.CaptureFixture[str], doc: Any) -> None:
    cli_one_line(capsys, ["detectors", "validate", "--offline", str(as_file(dump(doc), "d.yaml"))])


@FUZZ
@given(text=yamlish)
def test_detector_yaml_text(capsys: pytest.CaptureFixture[str], text: str) -> None:
    cli_one_line(capsys, ["detectors", "validate", "--offline", str(as_file(text, "d.yaml"))])


# --------------------------------------------------------------------------- monitors
@FUZZ
@given(doc=st.one_of(mutated(base("monitor")), yamlish))
def test_monitor_yaml(doc: Any) -> None:
    from hcad.alerting.monitors import load_specs

    text = doc if isinstance(doc, str) else dump(doc)
    check_one_line(lambda: load_specs([as_file(text, "m.yaml")]))


# --------------------------------------------------------------------------- sizing plans
@FUZZ
@given(doc=st.one_of(mutated(base("sizing")), yamlish))
def test_sizing_plan(capsys: pytest.CaptureFixture[str], doc: Any) -> None:
    text = doc if isinstance(doc, str) else dump(doc)
    cli_one_line(capsys, ["size", str(as_file(text, "plan.yaml")), "--json"])


# --------------------------------------------------------------------------- bridge configs
@FUZZ
@given(doc=st.one_of(mutated(base("bridge")), yamlish))
def test_bridge_config(doc: Any) -> None:
    from hcad.bridge.mapping import load_config

    text = doc if isinstance(doc, str) else dump(doc)
    check_one_line(lambda: load_config(as_file(text, "bridge.yaml")))


def test_the_examples_themselves_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    from hcad.alerting.monitors import load_specs
    from hcad.bridge.mapping import load_config

    assert math.isfinite(len(load_specs([EXAMPLES["monitor"]])))
    load_config(EXAMPLES["bridge"])
    with pytest.raises(SystemExit) as e:
        main(["size", str(EXAMPLES["sizing"]), "--json"])
    assert e.value.code in (0, None), capsys.readouterr().err
