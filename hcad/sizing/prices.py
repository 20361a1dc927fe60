"""On-demand prices of data-node instance types, for ranking ``hcad size --compare`` by monthly cost.

The table is ``prices.json`` next to this module: one region's On-Demand $/instance-hour per type, with
its source and date in the file (``source``, ``date``, ``region``). A monthly cost is
``data nodes x $/hour x hours_per_month`` (730, the usual 8,760 / 12); storage, dedicated cluster-manager
nodes and data transfer are not in it. A type the table lacks has no cost and ranks after those that have one.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class PriceTable:
    """Hourly prices by short type name (``r6g.2xlarge``) and where they come from."""

    prices: dict[str, float]
    currency: str
    region: str
    source: str
    date: str
    hours_per_month: float

    def hourly(self, instance_type: str) -> float | None:
        """$/hour of one node of the type (``.search`` suffix optional); None when the table lacks it."""
        return self.prices.get(instance_type.strip().lower().removesuffix(".search"))

    def monthly(self, instance_type: str, nodes: int) -> float | None:
        """``nodes x hourly x hours_per_month``; None when the type has no price."""
        h = self.hourly(instance_type)
        return None if h is None else round(nodes * h * self.hours_per_month, 2)

    def note(self) -> str:
        """One line for a report: what the costs are and where the prices come from."""
        return (
            f"monthly cost = data nodes x On-Demand {self.currency}/hour x {self.hours_per_month:g} h, "
            f"{self.region}; source: {self.source}; {self.date}"
        )


def price_table_from_dict(d: dict[str, Any]) -> PriceTable:
    """A :class:`PriceTable` from a plan's ``prices`` mapping (instance type → price per hour)."""
    return PriceTable(
        prices={str(k).lower(): float(v) for k, v in (d.get("prices") or {}).items()},
        currency=str(d.get("currency", "USD")),
        region=str(d.get("region", "?")),
        source=str(d.get("source", "?")),
        date=str(d.get("date", "?")),
        hours_per_month=float(d.get("hours_per_month", 730)),
    )


@functools.lru_cache(maxsize=1)
def price_table() -> PriceTable:
    """The packaged table (``hcad/sizing/prices.json``)."""
    text = resources.files("hcad.sizing").joinpath("prices.json").read_text()
    return price_table_from_dict(json.loads(text))
