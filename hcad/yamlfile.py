"""Reading definition files (detectors, monitors, sizing plans): one-line errors naming file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hcad.errors import ConfigError, Issue, ValidationError


def read_text(path: str | Path, what: str = "file") -> str:
    """The file's text; a missing or unreadable file is a :class:`ConfigError` naming it."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(p)!r} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read {what} {str(p)!r} ({reason}); check the file") from None


def parse_yaml(text: str, source: str | None = None) -> Any:
    """``yaml.safe_load`` with a :class:`ValidationError` that says where the syntax breaks.

    JSON text (a ``.json`` source, or text starting with ``{`` or ``[``) is read as JSON first: YAML 1.1
    reads JSON's ``1e5`` as text and refuses a tab that indents a line.
    """
    import json

    import yaml

    if (source or "").lower().endswith(".json") or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            if (source or "").lower().endswith(".json"):
                raise ValidationError(
                    [Issue("", f"not valid JSON at line {e.lineno}: {e.msg}", "fix the syntax")], source
                ) from None

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None)
        detail = f": {problem}" if problem else ""
        raise ValidationError([Issue("", f"not valid YAML{where}{detail}", "fix the syntax")], source) from None


def load_yaml_file(path: str | Path, what: str = "file") -> Any:
    """Read and parse one YAML (or JSON) file."""
    return parse_yaml(read_text(path, what), str(path))
