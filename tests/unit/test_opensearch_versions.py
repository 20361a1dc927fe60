"""scripts/opensearch picks paths, module classes and a JDK by OpenSearch version (2.19.4 default, 3.3.2)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "opensearch"


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for var in ("HCAD_OS_HOME", "OPENSEARCH_JAVA_HOME", "JAVA_HOME"):
        monkeypatch.delenv(var, raising=False)
    loader = importlib.machinery.SourceFileLoader("hcad_os_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader("hcad_os_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_each_version_has_its_own_home_artifacts_and_module_classes(script: ModuleType) -> None:
    script.use_version("2.19.4")
    assert script.HOME == script.ROOT / ".cache" / "opensearch" and script.NODE.name == "opensearch-2.19.4"
    assert script.JAVA_MIN == 11 and script.PLUGIN_VERSION == "2.19.4.0"
    assert script.MODULES["lang-painless"]["classname"] == "org.opensearch.painless.PainlessPlugin"
    script.use_version("3.3.2")
    assert script.HOME == script.ROOT / ".cache" / "opensearch-3.3.2"
    assert script.PIDFILE.parent.name == "opensearch-3.3.2"
    assert script.JAVA_MIN == 21
    assert script.DIST_ARTIFACT == "org.opensearch.distribution.integ-test-zip:opensearch:3.3.2:zip"
    assert {m["classname"].rsplit(".", 1)[1] for m in script.MODULES.values()} == {
        "PainlessModulePlugin", "MustacheModulePlugin", "ReindexModulePlugin"
    }  # fmt: skip
    assert {m["artifact"] for m in script.MODULES.values()} == {
        "org.opensearch.plugin:reindex-client:3.3.2",
        "org.opensearch.plugin:lang-mustache-client:3.3.2",
        "org.opensearch.plugin:lang-painless:3.3.2",
    }
    for bad in ("3.3", "latest", "1.3.20"):
        with pytest.raises(script.Fail):
            script.use_version(bad)


def test_a_home_holds_one_version(script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCAD_OS_HOME", str(tmp_path))
    (tmp_path / "opensearch-2.19.4").mkdir()
    script.use_version("2.19.4")
    script.check_home()  # its own version is fine
    script.use_version("3.3.2")
    with pytest.raises(script.Fail, match=r"holds opensearch-2\.19\.4; OpenSearch 3\.3\.2 needs a home of its own"):
        script.check_home()


def _jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\nexit 0\n")
    (home / "bin" / "java").chmod(0o755)
    (home / "release").write_text(f'JAVA_VERSION="{version}"\n')
    return home


def test_3_x_finds_a_new_enough_jdk_or_says_which_is_needed(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _jdk(tmp_path, "jdk-17", "17.0.15")
    monkeypatch.setenv("JAVA_HOME", str(old))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(script, "JVM_DIRS", (tmp_path,))
    script.use_version("2.19.4")
    assert script.find_java_home() == old  # JAVA_HOME is new enough for 2.x
    script.use_version("3.3.2")
    with pytest.raises(script.Fail, match=r"OpenSearch 3\.3\.2 needs Java 21\+; found only Java 17 at .*jdk-17"):
        script.find_java_home()
    _jdk(tmp_path, "jdk-25", "25.0.1")
    want = _jdk(tmp_path, "jdk-21", "21.0.5")
    assert script.find_java_home() == want  # the oldest that is new enough
    monkeypatch.setenv("OPENSEARCH_JAVA_HOME", str(old))  # taken as given: refused, not replaced
    with pytest.raises(script.Fail, match=r"OPENSEARCH_JAVA_HOME=.* is Java 17"):
        script.find_java_home()
