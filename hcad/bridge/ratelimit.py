"""Client-side rate limiting and retry pacing for AWS calls.

A :class:`TokenBucket` is shared by every call of one invocation so the process never exceeds the
configured rate; :class:`Backoff` spaces retries with exponential backoff and *full jitter*
(sleep uniformly in ``[0, min(cap, base·2^attempt)]``), which spreads concurrent retriers best.
Clock, sleep and random source are injectable so tests can count sleeps without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``capacity``."""

    def __init__(
        self,
        rate: float,
        capacity: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity ≥ 1")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._last = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds spent waiting, for reports

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, sleeping until they are available; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= tokens
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            # The debt stays recorded in _tokens, so concurrent callers queue up behind this one.
            self._sleep(wait)
            self.waited += wait
        return wait


@dataclass
class Backoff:
    """Exponential backoff with full jitter; records every sleep it asks for."""

    base: float = 0.5
    cap: float = 20.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], None] = time.sleep
    sleeps: list[float] = field(default_factory=list)

    def delay(self, attempt: int) -> float:
        """The delay before retry number ``attempt`` (0-based), without sleeping."""
        return self.rng.uniform(0.0, min(self.cap, self.base * (2.0**attempt)))

    def wait(self, attempt: int) -> float:
        """Sleep before retry ``attempt`` and return how long."""
        d = self.delay(attempt)
        self.sleeps.append(d)
        if d > 0:
            self.sleep(d)
        return d
