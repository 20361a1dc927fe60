"""The JVM that runs the Random Cut Forest: jar cache, lazy start with a capped heap.

The AD plugin 2.18–3.x bundles ``randomcutforest-core`` and ``randomcutforest-parkservices`` 4.2.0
(see its ``build.gradle``); ThresholdedRandomCutForest needs nothing else at run time (the
``-serialization`` module and protostuff only matter for checkpoints, which a backtest never
writes). The jars are not shipped with hcad: :func:`fetch_jars` (or ``scripts/fetch_rcf_jars``)
copies them with ``mvn dependency:copy`` into the cache, so Maven's own settings and mirrors apply.

The engine runs each entity in one Java call through a small helper (``HcadBatch.java``, shipped
with this package), compiled on first use with the ``javac`` of the JDK the JVM comes from (else
``$JAVA_HOME/bin/javac`` or the one on ``PATH``) against the RCF jars into the jar cache, keyed by a
hash of its source and the RCF version. Without a ``javac`` (a JRE only) the backtest says so once
and calls the model point by point from Python: same results, a few times slower.

The JVM uses the parallel (throughput) collector: the forests allocate a lot of short-lived
bounding boxes and G1's write barriers cost about a third more CPU per point here.

Environment: ``HCAD_JAR_DIR`` (jar cache, default ``~/.cache/hcad/jars``), ``HCAD_JVM_HEAP``
(maximum heap, default ``512m``), ``HCAD_JVM_OPTS`` (more JVM options, e.g. another ``-XX:+Use…GC``,
which then replaces the default collector), ``JAVA_HOME`` (which Java to load).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
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
HELPER_SOURCE = Path(__file__).with_name("HcadBatch.java")
HELPER_CLASS = "hcadbatch.HcadBatch"
HELPER_RELEASE = "11"  # class files any Java 11+ JVM loads, whichever javac compiled them
JAVAC_TIMEOUT_S = 300
DEFAULT_GC = "-XX:+UseParallelGC"

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


def jvm_options() -> list[str]:
    """The JVM's start options: capped heap, thread stack, the throughput collector, ``$HCAD_JVM_OPTS``."""
    extra = shlex.split(os.environ.get("HCAD_JVM_OPTS", ""))
    own_gc = any(o.startswith("-XX:+Use") and o.endswith("GC") for o in extra)
    return [f"-Xmx{heap_size()}", "-Xss4m", *([] if own_gc else [DEFAULT_GC]), *extra]


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


def find_javac(libjvm: str | None = None) -> str | None:
    """The ``javac`` of the JDK that ``libjvm`` belongs to, else ``$JAVA_HOME``'s, else ``PATH``'s."""
    candidates: list[Path] = []
    if libjvm:
        # <home>/lib/server/libjvm.so (Java 9+) or <home>/jre/lib/<arch>/server/libjvm.so (Java 8)
        candidates += [parent / "bin" / "javac" for parent in list(Path(libjvm).resolve().parents)[:4]]
    home = os.environ.get("JAVA_HOME")
    if home:
        candidates.append(Path(home) / "bin" / "javac")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which("javac")


def helper_classes(jars: list[Path], libjvm: str | None = None) -> tuple[Path | None, str]:
    """Compile ``HcadBatch.java`` into the jar cache once; returns (class dir, "") or (None, why not)."""
    try:
        source = HELPER_SOURCE.read_bytes()
    except OSError as e:
        return None, f"the batch helper source {HELPER_SOURCE} is unreadable ({e.strerror or e})"
    key = hashlib.sha256(source + f"|rcf {RCF_VERSION}|release {HELPER_RELEASE}".encode()).hexdigest()[:16]
    cache = jars[0].parent
    target = cache / f"hcad-batch-{key}"
    if (target / HELPER_CLASS.replace(".", "/")).with_suffix(".class").is_file():
        return target, ""
    javac = find_javac(libjvm)
    if javac is None:
        return None, "no javac next to the JVM, in $JAVA_HOME or on PATH (a JRE only?)"
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".hcad-batch-", dir=cache))
    except OSError as e:
        return None, f"cannot write the compiled helper into {cache} ({e.strerror or e})"
    cmd = [javac, "--release", HELPER_RELEASE, "-nowarn", "-cp", os.pathsep.join(map(str, jars))]
    cmd += ["-d", str(tmp), str(HELPER_SOURCE)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=JAVAC_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return None, f"{javac} could not compile the batch helper ({e})"
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = " ".join((proc.stdout + proc.stderr).split()[-30:])
        return None, f"{javac} could not compile the batch helper (exit {proc.returncode}): {tail}"
    try:
        tmp.rename(target)  # atomic; another process may have won the race, which is as good
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():
            return None, f"cannot move the compiled helper into {target}"
    return target, ""


def rcf() -> SimpleNamespace:
    """Start the JVM on first use (thread-safe) and return the RCF classes the backtest uses.

    The returned namespace has ``TRCF`` (ThresholdedRandomCutForest), ``ForestMode``,
    ``TransformMethod``, ``ImputationMethod``, ``Precision``, ``CorrectionMode``, ``Function``,
    ``JDouble`` and ``JInt`` arrays, the ``jpype`` module itself, and ``Batch``: the compiled
    ``HcadBatch`` helper, or None (then ``batch_note`` says why and the engine goes point by point).
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

        helper, note = helper_classes(jars, path)
        classpath = [str(j) for j in jars] + ([str(helper)] if helper is not None else [])
        if not jpype.isJVMStarted():
            options = jvm_options()
            try:
                jpype.startJVM(path, *options, classpath=classpath)
            except (OSError, RuntimeError) as e:
                raise ConfigError(
                    f"the JVM at {path} did not start with {' '.join(options)} ({e}); check JAVA_HOME and HCAD_JVM_OPTS"
                ) from None
        else:
            # Someone else started the JVM: the jars can still be added before the first class lookup.
            for j in classpath:
                jpype.addClassPath(j)
        try:
            ns = SimpleNamespace(
                jpype=jpype,
                TRCF=jpype.JClass("com.amazon.randomcutforest.parkservices.ThresholdedRandomCutForest"),
                ForestMode=jpype.JClass("com.amazon.randomcutforest.config.ForestMode"),
                TransformMethod=jpype.JClass("com.amazon.randomcutforest.config.TransformMethod"),
                ImputationMethod=jpype.JClass("com.amazon.randomcutforest.config.ImputationMethod"),
                Precision=jpype.JClass("com.amazon.randomcutforest.config.Precision"),
                CorrectionMode=jpype.JClass("com.amazon.randomcutforest.parkservices.config.CorrectionMode"),
                Function=jpype.JClass("java.util.function.Function"),
                JDouble=jpype.JArray(jpype.JDouble),
                JDouble2=jpype.JArray(jpype.JDouble, 2),
                JInt=jpype.JArray(jpype.JInt),
            )
        except Exception as e:
            raise ConfigError(
                f"the RCF classes could not be loaded from {jars[0].parent} ({e}); {FETCH_HINT}"
            ) from None
        ns.Batch = None
        if helper is not None:
            try:
                ns.Batch = jpype.JClass(HELPER_CLASS)
            except Exception as e:  # e.g. a JVM started elsewhere without a dynamic class path
                note = f"the batch helper did not load from {helper} ({e})"
        ns.batch_note = note
        if ns.Batch is None:
            print(f"hcad: warning: {note}; the backtest runs point by point (same results, slower)", file=sys.stderr)
        _classes = ns
        return ns


def java_version() -> str:
    """The running JVM's version string (starts the JVM)."""
    ns = rcf()
    system: Any = ns.jpype.JClass("java.lang.System")
    return str(system.getProperty("java.version"))
