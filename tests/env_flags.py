"""Environment switches the tests read, parsed the way scripts/opensearch parses them."""

from __future__ import annotations

import os


def plugins_required() -> bool:
    """HCAD_REQUIRE_PLUGINS is set unless empty, 0, false or no (as in scripts/opensearch)."""
    return os.environ.get("HCAD_REQUIRE_PLUGINS", "").strip().lower() not in ("", "0", "false", "no")
