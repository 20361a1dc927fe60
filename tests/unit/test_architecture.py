"""The package's shape: no import cycles, and the pure modules never reach the network.

Every import counts, also those inside functions (a lazy import is still a dependency); only imports
under ``if TYPE_CHECKING:`` do not. A pure module (capacity math, model-size estimates, scoring, the
detector model) must not reach, directly or through other hcad modules, anything that talks to a
cluster or a cloud API.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "hcad"
PURE = (
    "hcad.sizing.capacity",
    "hcad.sizing.model_size",
    "hcad.quality.scoring",
    "hcad.quality.tuning",
    "hcad.quality.realistic",
    "hcad.quality.synth",
    "hcad.ad.model",
    "hcad.ad.parts",
    "hcad.ad.friendly",
    "hcad.ad.validation",
    "hcad.ad.limits",
    "hcad.ad.query",
    "hcad.times",
)
IO = ("opensearchpy", "requests", "requests_aws4auth", "boto3", "botocore", "urllib3", "socket", "http",
      "urllib.request", "jpype", "hcad.connection", "hcad.transport")  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """hcad module -> hcad modules it imports; hcad module -> every module name it imports."""
    mods = _modules()
    internal: dict[str, set[str]] = {}
    raw: dict[str, set[str]] = {}
    for m, p in mods.items():
        names = _imports(m, p)
        raw[m] = names
        deps = set()
        for n in names:
            while n and n not in mods:
                n = n.rpartition(".")[0]
            # A package's own submodules are not a cycle with the package (hcad.ad -> hcad.ad.model).
            if n and n != m and not n.startswith(m + ".") and not m.startswith(n + "."):
                deps.add(n)
        internal[m] = deps
    return internal, raw


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(edges[v]):
            if state.get(w) == 1:
                return [*path[path.index(w) :], w]
            if w not in state and (found := visit(w)):
                return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(edges):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_no_import_cycles() -> None:
    edges, _ = _graph()
    assert len(edges) > 40, "the walker found too few modules"
    cycle = _cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_reach_no_io(module: str) -> None:
    edges, raw = _graph()
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += sorted(edges[m])
        # Importing a module runs its parent packages' __init__ too.
        parent = m.rpartition(".")[0]
        while parent:
            todo.append(parent)
            parent = parent.rpartition(".")[0]
    reached = {n for m in seen for n in raw[m]} | seen
    bad = sorted(n for n in reached if any(n == io or n.startswith(io + ".") for io in IO))
    assert not bad, f"{module} reaches I/O through its imports: {bad} (via {sorted(seen)})"


def test_a_client_module_does_reach_io() -> None:
    # The check above is not vacuous: the AD client does talk to the cluster.
    edges, raw = _graph()
    assert "hcad.transport" in edges["hcad.ad.client"] and "opensearchpy" in {
        n.split(".")[0] for n in raw["hcad.transport"]
    }
