"""Rate limits per key: a token bucket per (provider, key) on the mock's clock (DESIGN §5).

A bucket holds ``limit`` tokens and refills at ``limit / window`` tokens a second; a request takes one.
Decisions are made under one lock, so concurrent requests never admit more than the limit, and time
comes from the injected clock, so a test moves past a 429 by advancing the clock, not by sleeping.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from mockserver.core.clock import Clock


@dataclass(frozen=True)
class Limit:
    requests: int
    window: float  # seconds

    @property
    def rate(self) -> float:
        return self.requests / self.window


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # when the bucket is full again (epoch seconds, the mock's clock)
    retry_after: int  # whole seconds until one token is back (0 when allowed)


class RateLimiter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # -> (tokens, at)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def take(self, provider: str, key: str, limit: Limit) -> Decision:
        now = self._clock.now()
        with self._lock:
            tokens, at = self._buckets.get((provider, key), (float(limit.requests), now))
            tokens = min(float(limit.requests), tokens + (now - at) * limit.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[(provider, key)] = (tokens, now)
        missing = limit.requests - tokens
        retry_after = 0 if allowed else max(1, math.ceil((1.0 - tokens) / limit.rate))
        return Decision(allowed, limit.requests, int(tokens), now + missing / limit.rate, retry_after)
