"""Shared by the live monitor tests: a synthetic fleet with injected spikes, an HCAD detector with a
finished historical analysis over it, the windows to run monitors on, and clean-up.

The fleet: 4 hosts x 3 processes, 3 days at 1-minute intervals, ``ANOMALIES`` cpu spikes at 3x the
default magnitude after the 40 % warm-up. Several injected events (not one or two) so that the
plugin's randomised forest cannot decide a test by chance: tests assert on most events, not all.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hcad.ad.model import Detector, Rule
from hcad.alerting.monitors import Alerting
from hcad.errors import HcadError
from hcad.quality.loading import load_fleet
from hcad.quality.synth import FleetSpec, fleet_labels

INTERVAL_MIN = 1
PERIODS = 3 * 24 * 60
ANOMALIES = 12
WARMUP = timedelta(hours=30)  # after the 40 % warm-up of the series (29 h) and the models' own
QUIET_GAP = timedelta(hours=1)  # a quiet window ends at least this far from any injected anomaly
# A single-node cluster has 10 historical-analysis task slots (max_batch_task_per_node) and one HC
# analysis takes up to 11 (its own + 10 entities): on a node shared with other test runs the plugin
# answers "No available task slot" until theirs finish.
SLOT_WAIT_S = 900


@dataclass
class HistoricalFleet:
    """A loaded fleet, its labels and a detector whose historical analysis over it has finished."""

    spec: FleetSpec
    labels: Any  # pandas DataFrame: host, process, start, end, ...
    start: datetime
    end: datetime
    detector: Detector
    task_id: str

    @property
    def name(self) -> str:
        return self.detector.name

    @property
    def injected(self) -> set[tuple[str, str]]:
        return {(lab.host, lab.process) for lab in self.labels.itertuples()}

    def quiet_ends(self, count: int, window: timedelta = timedelta(minutes=10)) -> list[datetime]:
        """Up to ``count`` ends of windows after warm-up that lie ``QUIET_GAP`` away from every anomaly."""
        out: list[datetime] = []
        t = self.start + WARMUP + window
        while t < self.end and len(out) < count:
            if all(lab.start - QUIET_GAP > t or lab.end + QUIET_GAP < t - window for lab in self.labels.itertuples()):
                out.append(t)
                t += 3 * QUIET_GAP
            else:
                t += timedelta(minutes=30)
        assert out, "no quiet window in the series"
        return out


def ms(t: datetime) -> int:
    """Epoch milliseconds of a datetime."""
    return int(t.timestamp() * 1000)


@contextlib.contextmanager
def historical_fleet(
    client: Any, index: str, *, seed: int = 11, anomalies: int = ANOMALIES
) -> Iterator[HistoricalFleet]:
    """Load the fleet into ``index``, create a detector and run its historical analysis; yields the
    result and deletes the detector afterwards (the index is the ``index_name`` fixture's)."""
    ad = client.ad
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=INTERVAL_MIN * PERIODS)
    spec = FleetSpec(
        hosts=4,
        processes=3,
        periods=PERIODS,
        interval_minutes=INTERVAL_MIN,
        start=start,
        anomalies=anomalies,
        kinds=("spike",),
        magnitude_scale=3.0,
        seed=seed,
    )
    load_fleet(client, index, spec, progress=False)
    name = f"hcad-mon-{uuid.uuid4().hex[:8]}"
    # Shingle 4 and a 5% rule, tuned for these clean spikes on cosine waves (as test_ad_acceptance's detector);
    # hcad's general defaults, chosen for seasonal fleets, keep fewer of them.
    spec_det = Detector.hcad(
        name, index, "@timestamp", ["host", "process"], {"cpu": ("avg", "cpu")}, "1m", window_delay="0m",
        shingle_size=4, rules=[Rule.ignore_within("cpu", 0.05)],
    )  # fmt: skip
    det = ad.create(spec_det)
    try:
        task_id = ad.start_historical(det.id, start, now, slot_wait=SLOT_WAIT_S)
        ad.wait_historical(det.id, task_id, timeout=1800, poll=5)
        yield HistoricalFleet(spec, fleet_labels(spec), start, now, det, task_id)
    finally:
        for historical in (False, True):
            with contextlib.suppress(HcadError):
                ad.stop(det.id, historical=historical)
        ad.delete(det.id)


def delete_monitors(client: Any, names: list[str]) -> None:
    """Delete the monitors with these names (those that exist)."""
    alerting = Alerting(client)
    for m in names:
        found = alerting.find(m)
        if found:
            alerting.delete(found["id"])
