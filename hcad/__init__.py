"""hcad: OpenSearch high-cardinality anomaly detection, operable.

The public API is small and loads lazily (``import hcad`` stays cheap):

- :func:`connect` → an opensearch-py client (:class:`HcadClient`) with ``.ad``
- :class:`AnomalyDetection`, :class:`Detector`, :class:`Feature` → the AD plugin client and model
- :mod:`hcad.sizing` → pure capacity formulas; :mod:`hcad.sizing.entities` → live cardinality
- errors: :class:`HcadError` and its subclasses
"""

from __future__ import annotations

from typing import Any

from hcad.errors import (
    AuthError,
    ConfigError,
    Conflict,
    HcadConnectionError,
    HcadError,
    Issue,
    NotFound,
    PluginMissing,
    ServerError,
    UnsupportedFeature,
    ValidationError,
)

__version__ = "0.1.0"

# Names resolved on first access, so importing hcad (and starting the CLI) imports neither
# opensearch-py nor pandas.
_LAZY = {
    "connect": "hcad.connection",
    "ConnectionSettings": "hcad.connection",
    "HcadClient": "hcad.connection",
    "AnomalyDetection": "hcad.ad.client",
    "Detector": "hcad.ad.model",
    "Feature": "hcad.ad.model",
    "Interval": "hcad.ad.model",
}

__all__ = [
    "AnomalyDetection",
    "AuthError",
    "ConfigError",
    "Conflict",
    "ConnectionSettings",
    "Detector",
    "Feature",
    "HcadClient",
    "HcadConnectionError",
    "HcadError",
    "Interval",
    "Issue",
    "NotFound",
    "PluginMissing",
    "ServerError",
    "UnsupportedFeature",
    "ValidationError",
    "connect",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hcad' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    # The lazy names too, so dir() and tab completion show the whole public API before first use.
    return sorted({*globals(), *__all__})
