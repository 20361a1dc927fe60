#!/usr/bin/env python3
"""Build the bridge's AWS Lambda zip for x86_64 and/or arm64.

    scripts/lambda/build.py                         # both architectures → dist/lambda/
    scripts/lambda/build.py --arch arm64 --json     # one, with a JSON summary
    scripts/lambda/build.py --python 3.13 --with-boto3

The zip holds ``hcad/__init__.py``, ``hcad/errors.py``, ``hcad/times.py`` and ``hcad/bridge/`` (without the test
double) plus requests, requests-aws4auth and PyYAML installed by pip for the target platform
(``--platform manylinux2014_<arch> --only-binary=:all:``). No opensearch-py: with grpcio and
protobuf it would weigh tens of MB. boto3 comes with the Lambda Python runtime; ``--with-boto3``
bundles a pinned one instead. Fails (exit 1) if the zip is 50 MB or more, or unzips to 250 MB or more.

The SAM template ``scripts/lambda/template.yaml`` names ``dist/lambda/hcad-bridge-arm64.zip`` as its
CodeUri, the default output here: ``sam deploy --guided -t scripts/lambda/template.yaml`` uploads it.
For x86_64 or another ``--out``, ``--template-out PATH`` writes a copy of the template whose CodeUri
is the zip just built and whose Architecture parameter is pinned to its architecture.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "scripts" / "lambda" / "template.yaml"
DEFAULT_OUT = ROOT / "dist" / "lambda"  # where template.yaml's CodeUri looks
ARCHES = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
REQUIREMENTS = ["requests>=2.31", "requests-aws4auth>=1.2", "PyYAML>=6.0"]
MAX_ZIP = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024
# Fixed timestamp so the same inputs give the same zip (and the same CodeSha256).
EPOCH = (2020, 1, 1, 0, 0, 0)


class UserError(Exception):
    """Bad input: reported as one line, exit 2."""


def project_files() -> list[tuple[Path, str]]:
    """(source, name in zip) for the hcad code the Lambda needs."""
    out = [(ROOT / "hcad" / n, f"hcad/{n}") for n in ("__init__.py", "errors.py", "times.py", "py.typed")]
    for p in sorted((ROOT / "hcad" / "bridge").glob("*.py")):
        out.append((p, f"hcad/bridge/{p.name}"))
    return out


def zip_name(arch: str) -> str:
    return f"hcad-bridge-{arch}.zip"


def pip_install(target: Path, arch: str, python: str, with_boto3: bool) -> None:
    reqs = REQUIREMENTS + (["boto3>=1.34"] if with_boto3 else [])
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    cmd += ["--platform", ARCHES[arch], "--implementation", "cp", "--python-version", python]
    cmd += ["--only-binary=:all:", "--target", str(target), *reqs]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"build.py: pip install for {arch} failed:\n{proc.stderr[-3000:]}")


def build(arch: str, out_dir: Path, python: str, with_boto3: bool) -> dict[str, object]:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"hcad-lambda-{arch}-") as tmp:
        target = Path(tmp) / "pkg"
        pip_install(target, arch, python, with_boto3)
        shutil.rmtree(target / "bin", ignore_errors=True)
        for cache in list(target.rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)
        for src, name in project_files():
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        zip_path = out_dir / zip_name(arch)
        unzipped = 0
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path in sorted(p for p in target.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(path.relative_to(target).as_posix(), EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                data = path.read_bytes()
                unzipped += len(data)
                zf.writestr(info, data)
    size = zip_path.stat().st_size
    return {
        "arch": arch,
        "python": python,
        "zip": str(zip_path),
        "zip_bytes": size,
        "unzipped_bytes": unzipped,
        "ok": size < MAX_ZIP and unzipped < MAX_UNZIPPED,
    }


# The lines of the template that name the zip (one per function) and its architecture.
_TEMPLATE_EDITS = (
    (re.compile(r"^(      CodeUri: ).*$", re.M), 3, "CodeUri: of each function"),
    (re.compile(r"^(    Default: )arm64$", re.M), 1, "Default: arm64 of the Architecture parameter"),
    (re.compile(r"^(    AllowedValues: )\[arm64\]$", re.M), 1, "AllowedValues: [arm64] of the Architecture parameter"),
)


def write_template(arch: str, zip_path: Path, out: Path, source: Path = TEMPLATE) -> Path:
    """Write ``source`` to ``out`` with CodeUri = ``zip_path`` and Architecture pinned to ``arch``.

    Text edits rather than a YAML round trip keep the comments and the short-form intrinsics.
    CodeUri is relative to ``out``'s folder, as SAM resolves it, so the pair can move together.
    """
    text = source.read_text()
    code_uri = os.path.relpath(zip_path.resolve(), out.resolve().parent)
    values = (code_uri, arch, f"[{arch}]")
    for (pattern, want, what), value in zip(_TEMPLATE_EDITS, values, strict=True):
        text, n = pattern.subn(lambda m, v=value: m.group(1) + v, text)
        if n != want:
            raise UserError(f"{source}: expected {want} line(s) '{what}', found {n}; was the template edited?")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


def check_args(args: argparse.Namespace) -> None:
    if not re.fullmatch(r"3\.\d{1,2}", args.python):
        raise UserError(f"--python {args.python!r}: give the runtime's version as MAJOR.MINOR, e.g. 3.12")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a directory for the zips")
    if args.template_out:
        if args.arch == "all":
            raise UserError("--template-out needs --arch arm64 or --arch x86_64: a template deploys one zip")
        if Path(args.template_out).is_dir():
            raise UserError(f"--template-out {args.template_out}: is a directory; give the template's file name")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=[*ARCHES, "all"], default="all")
    ap.add_argument("--python", default="3.12", help="Lambda runtime's Python version [3.12]")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output directory [dist/lambda]")
    ap.add_argument("--with-boto3", action="store_true", help="bundle boto3 instead of using the runtime's")
    ap.add_argument("--json", action="store_true", help="print a JSON summary")
    ap.add_argument(
        "--template-out",
        metavar="PATH",
        help="also write the SAM template with CodeUri set to this zip (needs one --arch)",
    )
    args = ap.parse_args(argv)
    try:
        check_args(args)
        arches = list(ARCHES) if args.arch == "all" else [args.arch]
        results = [build(a, Path(args.out), args.python, args.with_boto3) for a in arches]
        if args.template_out:
            written = write_template(arches[0], Path(str(results[0]["zip"])), Path(args.template_out))
            results[0]["template"] = str(written)
    except UserError as e:
        print(f"build.py: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # unwritable --out or --template-out, disk full: one line, not a traceback
        print(f"build.py: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            mb = int(r["zip_bytes"]) / 1e6  # type: ignore[call-overload]
            raw = int(r["unzipped_bytes"]) / 1e6  # type: ignore[call-overload]
            verdict = "ok" if r["ok"] else "TOO LARGE"
            print(f"{r['zip']}: {mb:.1f} MB zipped, {raw:.1f} MB unzipped ({verdict}, limits 50 / 250 MB)")
            if "template" in r:
                print(f"{r['template']}: deploy with sam deploy --guided -t {r['template']}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
