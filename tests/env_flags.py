"""Environment switches the tests read, parsed the way scripts/opensearch parses them."""

from __future__ import annotations

import os

import pytest

# The test cluster's url, stashed on the config by the os_url fixture once a test has asked for it.
CLUSTER_URL = pytest.StashKey[str]()


def plugins_required() -> bool:
    """HCAD_REQUIRE_PLUGINS is set unless empty, 0, false or no (as in scripts/opensearch)."""
    return os.environ.get("HCAD_REQUIRE_PLUGINS", "").strip().lower() not in ("", "0", "false", "no")


def tools_required() -> bool:
    """Whether a missing test tool (nginx) fails the tests instead of skipping them: HCAD_REQUIRE_TOOLS,
    else HCAD_REQUIRE_PLUGINS (which .ci/run sets: CI needs everything), parsed the same way."""
    raw = os.environ.get("HCAD_REQUIRE_TOOLS")
    if raw is not None:
        return raw.strip().lower() not in ("", "0", "false", "no")
    return plugins_required()
