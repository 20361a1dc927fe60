"""The JVM that runs the Random Cut Forest: jar cache, lazy start with a capped heap.

The AD plugin 2.18–3.x bundles ``randomcutforest-core`` and ``randomcutforest-parkservices`` 4.2.0
(see its ``build.gradle``); ThresholdedRandomCutForest needs nothing else at run time (the
``-serialization`` module and protostuff only matter for checkpoints, which a backtest never
writes). The jars are not shipped with hcad: :func:`fetch_jars` (or ``scripts/fetch_rcf_jars``)
copies them with ``mvn dependency:copy`` into the cache, so Maven's own settings and mirrors apply.

Environment: ``HCAD_JAR_DIR`` (jar cache, default ``~/.cache/hcad/jars``), ``HCAD_JVM_HEAP``
(maximum heap, default ``512m``), ``JAVA_HOME`` (which Java to load).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hcad.errors import ConfigError, HcadError

RCF_VERSION = "4.2.0"
RCF_GROUP = "software.amazon.randomcutforest"
RCF_ARTIFACTS = ("randomcutforest-core", "randomcutforest-parkservices")
DEFAULT_HEAP = "512m"
FETCH_HINT = "run scripts/fetch_rcf_jars (needs mvn) or put the jars in $HCAD_JAR_DIR"
MVN_TIMEOUT_S = 600  # per artifact

_lock = threading.Lock()
_classes: SimpleNamespace | None = None


def jar_dir() -> Path:
    """Where the RCF jars are cached (``$HCAD_JAR_DIR`` or ``~/.cache/hcad/jars``)."""
    env = os.environ.get("HCAD_JAR_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hcad" / "jars"


def jar_paths(directory: Path | None = None, version: str = RCF_VERSION) -> list[Path]:
    """The jar files the backtest needs, in ``directory`` (they may not exist yet)."""
    d = directory or jar_dir()
    return [d / f"{a}-{version}.jar" for a in RCF_ARTIFACTS]


def find_jars(directory: Path | None = None, version: str = RCF_VERSION) -> list[Path]:
    """The cached jars; raises :class:`ConfigError` naming the missing jar and the fix."""
    paths = jar_paths(directory, version)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"Random Cut Forest jar {missing[0]} not found; {FETCH_HINT}")
    return paths


def fetch_jars(directory: Path | None = None, version: str = RCF_VERSION, *, quiet: bool = True) -> list[Path]:
    """Copy the RCF jars into ``directory`` with ``mvn dependency:copy`` (a no-op when present)."""
    d = directory or jar_dir()
    paths = jar_paths(d, version)
    if all(p.is_file() for p in paths):
        return paths
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError(
            "mvn not found: install Maven (e.g. apt-get install maven) or copy "
            f"{', '.join(p.name for p in paths)} into {d} by hand"
        )
    d.mkdir(parents=True, exist_ok=True)
    for artifact, path in zip(RCF_ARTIFACTS, paths, strict=True):
        if path.is_file():
            continue
        cmd = [mvn, "dependency:copy", f"-Dartifact={RCF_GROUP}:{artifact}:{version}", f"-DoutputDirectory={d}"]
        if quiet:
            cmd.insert(1, "-q")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=MVN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise HcadError(
                f"mvn did not fetch {RCF_GROUP}:{artifact}:{version} within {MVN_TIMEOUT_S} s: check the network "
                f"or Maven proxy settings, or copy {path.name} into {d} by hand"
            ) from None
        except OSError as e:
            raise HcadError(f"mvn could not be run ({mvn}): {e.strerror or e}") from None
        if proc.returncode != 0 or not path.is_file():
            tail = " ".join((proc.stdout + proc.stderr).split()[-40:])
            raise HcadError(f"mvn could not fetch {RCF_GROUP}:{artifact}:{version} (exit {proc.returncode}): {tail}")
    return paths


def heap_size() -> str:
    """The JVM's maximum heap (``$HCAD_JVM_HEAP``, e.g. ``512m`` or ``2g``)."""
    heap = os.environ.get("HCAD_JVM_HEAP", DEFAULT_HEAP).strip().lower()
    if not heap or not heap[:-1].isdigit() or heap[-1] not in "kmg":
        raise ConfigError(f"HCAD_JVM_HEAP={heap!r} is not a heap size; use a number with k, m or g, e.g. 512m")
    return heap


def jvm_path() -> str:
    """The JVM shared library JPype will load; a clear error when there is no Java."""
    try:
        import jpype
    except ImportError:
        raise ConfigError("JPype1 is not installed; pip install 'hcad[backtest]' (or pip install JPype1)") from None
    try:
        return str(jpype.getDefaultJVMPath())
    except Exception:
        raise ConfigError(
            "no Java runtime found; install Java 11+ (e.g. apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME to one"
        ) from None


def rcf() -> SimpleNamespace:
    """Start the JVM on first use (thread-safe) and return the RCF classes the backtest uses.

    The returned namespace has ``TRCF`` (ThresholdedRandomCutForest), ``ForestMode``,
    ``TransformMethod``, ``ImputationMethod``, ``Precision``, ``Function``, ``JDouble`` and ``JInt``
    arrays and the ``jpype`` module itself.
    """
    global _classes
    if _classes is not None:
        return _classes
    with _lock:
        if _classes is not None:
            return _classes
        try:
            jars = find_jars()
        except ConfigError:
            if shutil.which("mvn") is None:
                raise
            # First use on this machine: fetch the jars once, as scripts/fetch_rcf_jars would.
            print(f"hcad: fetching Random Cut Forest {RCF_VERSION} jars with mvn into {jar_dir()}", file=sys.stderr)
            jars = fetch_jars()
        path = jvm_path()
        import jpype

        if not jpype.isJVMStarted():
            try:
                jpype.startJVM(path, f"-Xmx{heap_size()}", "-Xss4m", classpath=[str(j) for j in jars])
            except OSError as e:
                raise ConfigError(f"the JVM at {path} did not start ({e}); check JAVA_HOME") from None
        else:
            # Someone else started the JVM: the jars can still be added before the first class lookup.
            for j in jars:
                jpype.addClassPath(str(j))
        try:
            ns = SimpleNamespace(
                jpype=jpype,
                TRCF=jpype.JClass("com.amazon.randomcutforest.parkservices.ThresholdedRandomCutForest"),
                ForestMode=jpype.JClass("com.amazon.randomcutforest.config.ForestMode"),
                TransformMethod=jpype.JClass("com.amazon.randomcutforest.config.TransformMethod"),
                ImputationMethod=jpype.JClass("com.amazon.randomcutforest.config.ImputationMethod"),
                Precision=jpype.JClass("com.amazon.randomcutforest.config.Precision"),
                Function=jpype.JClass("java.util.function.Function"),
                JDouble=jpype.JArray(jpype.JDouble),
                JDouble2=jpype.JArray(jpype.JDouble, 2),
                JInt=jpype.JArray(jpype.JInt),
            )
        except Exception as e:
            raise ConfigError(
                f"the RCF classes could not be loaded from {jars[0].parent} ({e}); {FETCH_HINT}"
            ) from None
        _classes = ns
        return ns


def java_version() -> str:
    """The running JVM's version string (starts the JVM)."""
    ns = rcf()
    system: Any = ns.jpype.JClass("java.lang.System")
    return str(system.getProperty("java.version"))
