"""How the CLI's error output must look: one line, or 'N problems:' and one line per problem."""

from __future__ import annotations

import re


def error_text(err: str) -> str:
    """The error part of stderr (warnings and notes left out), checked for shape; lines joined by newlines."""
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith(("hcad: warning:", "note:"))]
    assert lines and lines[0].startswith("hcad: error: ") and "Traceback" not in err, err
    many = re.search(r"(\d+) problems:$", lines[0])
    if many:
        assert len(lines) == 1 + int(many.group(1)) and all(x.startswith("  - ") for x in lines[1:]), err
    else:
        assert len(lines) == 1, err
    return "\n".join(lines)
