"""Time for the whole mock comes from one injected clock (DESIGN §4).

One clock with two modes, switchable at run time from the control plane: *running* (wall-clock time,
scaled by ``speed``; the default of ``serve``) and *frozen* (moves only when told; the default in
tests, so job states, rate-limit windows and URL expiry are deterministic and no test sleeps).
``advance`` works in both modes: it jumps the clock forward, so a running mock can also skip a long
queue. Time never goes back.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

# The last second a timestamp can be printed (RFC 3339 and Python's datetime end at year 9999): the
# control plane never moves the clock past it, so no provider's date arithmetic fails on a far clock.
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z
# The fastest a running clock may go (x real time): a year of mock time in about 30 real seconds.
MAX_SPEED = 1e6


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


EPOCH_2026 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, where a frozen clock starts


class MockClock:
    """The mock's clock: ``kind`` is "virtual" while frozen, "real" while running (thread-safe)."""

    def __init__(self, *, frozen: bool, speed: float = 1.0, start: float | None = None) -> None:
        self.speed = speed
        self._lock = threading.Lock()
        self._frozen_at: float | None = None
        self._base, self._mono = time.time() if start is None else start, time.monotonic()
        if frozen:
            self._frozen_at = EPOCH_2026 if start is None else start

    @property
    def kind(self) -> str:
        return "virtual" if self._frozen_at is not None else "real"

    def now(self) -> float:
        frozen = self._frozen_at
        if frozen is not None:
            return frozen
        return self._base + (time.monotonic() - self._mono) * self.speed

    def freeze(self) -> float:
        """Stop the clock where it is."""
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = self.now()
            return self._frozen_at

    def run(self, speed: float | None = None) -> float:
        """Let the clock run again from where it stands (at `speed`, if given)."""
        with self._lock:
            here = self.now()
            if speed is not None:
                if speed <= 0:
                    raise ValueError("speed must be positive")
                self.speed = speed
            self._base, self._mono, self._frozen_at = here, time.monotonic(), None
            return here

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._base += seconds
            return self.now()

    def export(self) -> dict[str, float | None]:
        """The clock's state as plain data, for other processes to `load` (workers share one clock)."""
        with self._lock:
            return {"frozen_at": self._frozen_at, "now": self.now(), "wall": time.time(), "speed": self.speed}

    def load(self, state: dict[str, float | None]) -> None:
        """Take another process's clock: frozen where it is frozen, else running from its reading."""
        with self._lock:
            self.speed = float(state["speed"] or 1.0)
            self._frozen_at = state["frozen_at"]
            if self._frozen_at is None:
                reading, wall = float(state["now"] or 0.0), float(state["wall"] or time.time())
                self._base = reading + (time.time() - wall) * self.speed
                self._mono = time.monotonic()

    def set(self, when: float) -> float:
        """Move to an absolute time (never back)."""
        here = self.now()
        if when < here:
            raise ValueError("a clock cannot go back")
        return self.advance(when - here)


def iso(seconds: float) -> str:
    """RFC 3339 UTC with milliseconds, as the providers print timestamps."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{round(seconds % 1 * 1000) % 1000:03d}Z"
