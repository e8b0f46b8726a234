"""Time for the whole mock comes from one injected clock: real for `serve`, virtual in tests.

A virtual clock starts frozen and moves only when told (``advance``), so job states, rate-limit
windows and URL expiry are deterministic and no test sleeps.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class RealClock:
    """Wall-clock time, scaled by `speed` from the moment the mock starts (``--speed 10``: 10x faster)."""

    kind = "real"

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._start_wall = time.time()
        self._start_mono = time.monotonic()

    def now(self) -> float:
        return self._start_wall + (time.monotonic() - self._start_mono) * self.speed


class VirtualClock:
    """A clock that moves only by `advance` or `set` (thread-safe)."""

    kind = "virtual"

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> float:
        with self._lock:
            if when < self._now:
                raise ValueError("a clock cannot go back")
            self._now = when
            return self._now


def iso(seconds: float) -> str:
    """RFC 3339 UTC with milliseconds, as the providers print timestamps."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{round(seconds % 1 * 1000) % 1000:03d}Z"
