"""Times as hcad reads them: epoch milliseconds from a datetime, a number or ISO-8601 text (the Python
API), and OpenSearch-style date math (``now-7d``, ``now-1d/d``) from the command line, plan files and the
bridge's events. Standard library only: the Lambda bridge imports it."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import overload

from hcad.errors import ConfigError


def from_iso(text: str) -> datetime | None:
    """ISO-8601 text (``Z`` for UTC; no zone means UTC) as an aware datetime; None if it is not one."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def to_epoch_ms(t: datetime | int | float | str, name: str = "time") -> int:
    """Epoch milliseconds for a datetime (naive means UTC), epoch ms number, or ISO-8601 text."""
    if isinstance(t, bool):
        raise ConfigError(f"{name} {t!r} is not a time; give a datetime or ISO-8601 text")
    if isinstance(t, (int, float)):
        if not math.isfinite(t):
            raise ConfigError(f"{name} {t!r} is not a time; give epoch milliseconds, a datetime or ISO-8601 text")
        if 1e9 <= abs(t) < 1e11:  # 2001-5138 in seconds, but Jan-Mar 1970 in milliseconds
            ms = int(t) * 1000
            raise ConfigError(f"{name} {t!r} looks like epoch seconds; give milliseconds ({ms}) or an ISO-8601 time")
        return int(t)
    if isinstance(t, str):
        parsed = from_iso(t)
        if parsed is None:
            raise ConfigError(f"{name} {t!r} is not an ISO-8601 time; write e.g. 2024-05-01T00:00:00Z")
        t = parsed
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return int(t.timestamp() * 1000)
    # pandas.Timestamp is a datetime subclass; anything else is a usage error.
    raise ConfigError(f"{name} {t!r} is not a time; give a datetime or ISO-8601 text")


# OpenSearch date math's fixed-length units, case as OpenSearch reads them (M is months there, m minutes),
# and an optional rounding down (now-7d/d).
_RELATIVE = re.compile(r"^\s*(?:now)?\s*(?:([-+])\s*(\d+)\s*([a-zA-Z]))?\s*(?:/\s*([a-zA-Z]))?\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "H": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@overload
def parse_time(value: str, option: str, *, now_ms: int | None = None) -> int: ...
@overload
def parse_time(value: None, option: str, *, now_ms: int | None = None) -> None: ...
def parse_time(value: str | None, option: str, *, now_ms: int | None = None) -> int | None:
    """``now``, ``now-7d``, ``now-7d/d`` (rounded down, UTC), ``-24h``, ISO-8601 (``2024-05-01``,
    ``2024-05-01T10:00Z``) or epoch ms → epoch ms. Units as in OpenSearch date math: s, m (minutes), h, d, w;
    months and years (M, y) are refused, being of varying length."""
    if value is None:
        return None
    now = int(time.time() * 1000) if now_ms is None else now_ms
    text = value.strip()
    m = _RELATIVE.match(text) if text.lower().startswith(("now", "-", "+")) else None
    if m:
        for unit in (m.group(3), m.group(4)):
            if unit is not None and unit not in _UNIT_MS:
                raise ConfigError(
                    f"{option} {value!r}: unit {unit!r} is not one of s, m (minutes), h, d, w; months and years "
                    "vary in length, write e.g. now-30d"
                )
        ms = now + (-1 if m.group(1) == "-" else 1) * int(m.group(2)) * _UNIT_MS[m.group(3)] if m.group(2) else now
        if m.group(4):  # round down in UTC; weeks start on Monday (1970-01-01 was a Thursday), as in OpenSearch
            size = _UNIT_MS[m.group(4)]
            ms -= (ms + 3 * 86_400_000) % size if m.group(4) == "w" else ms % size
        return ms
    if text.isdigit():
        return to_epoch_ms(int(text), option)
    t = from_iso(text)
    if t is None:
        raise ConfigError(
            f"{option} {value!r} is not a time; write e.g. now-7d, -24h, 2024-05-01 or 2024-05-01T10:00:00Z"
        )
    return int(t.timestamp() * 1000)
