"""scripts/opensearch --nodes N: each node's config (ports, discovery, its own data/logs/pid) and the
single node's behaviour when --nodes is not given."""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "opensearch"


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    for var in ("OPENSEARCH_JAVA_HOME", "JAVA_HOME", "HCAD_OS_NODES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HCAD_OS_HOME", str(tmp_path / "home"))
    loader = importlib.machinery.SourceFileLoader("hcad_os_script_cluster", str(SCRIPT))
    spec = importlib.util.spec_from_loader("hcad_os_script_cluster", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    module.use_version("2.19.4")
    (module.NODE / "config").mkdir(parents=True)
    (module.NODE / "config" / "jvm.options").write_text("-Xss1m\n")
    return module


def test_each_node_has_its_ports_discovery_and_own_paths(script: ModuleType) -> None:
    confs = [script.write_cluster_config(i, 3, 9400) for i in (1, 2, 3)]
    texts = [(c / "opensearch.yml").read_text() for c in confs]
    for i, text in enumerate(texts, 1):
        assert f"node.name: hcad-local-{i}" in text
        assert f"http.port: {9399 + i}" in text and f"transport.port: {9499 + i}" in text
        assert 'discovery.seed_hosts: ["127.0.0.1:9500", "127.0.0.1:9501", "127.0.0.1:9502"]' in text
        assert 'cluster.initial_cluster_manager_nodes: ["hcad-local-1", "hcad-local-2", "hcad-local-3"]' in text
        assert f"path.data: {script.cluster_node_dir(i) / 'data'}" in text
        assert "discovery.type" not in text and "network.host: 127.0.0.1" in text
        # the installation's other config files come along (same JVM options, log config, plugins' config)
        assert (confs[i - 1] / "jvm.options").read_text() == "-Xss1m\n"
    assert len({c.parent for c in confs}) == 3


def test_without_nodes_a_command_is_the_single_node_unless_a_cluster_runs_here(script: ModuleType) -> None:
    args = argparse.Namespace(nodes=None)
    assert script.multi(args) is False and args.nodes == 1
    # a cluster recorded in this home but not running: still the single node
    script.cluster_root().mkdir(parents=True)
    (script.cluster_root() / "cluster.json").write_text(json.dumps({"nodes": 3, "port": 9400}))
    args = argparse.Namespace(nodes=None)
    assert script.multi(args) is False
    assert script.multi(argparse.Namespace(nodes=3)) is True
    assert script.cluster_pids() == {1: None, 2: None, 3: None}
