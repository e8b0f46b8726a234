"""Rate limits per key: a token bucket per (provider, key) on the mock's clock (DESIGN §5).

A bucket holds ``limit`` tokens and refills at ``limit / window`` tokens a second; a request takes one.
This is the arithmetic, whatever holds the buckets: the limiter (``backends.base.RateLimiter``) and
its buckets live in a backend, which decides each request atomically, so concurrent requests never
admit more than the limit. Time comes from the injected clock, so a test moves past a 429 by
advancing the clock, not by sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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


def take_token(tokens: float, at: float, now: float, limit: Limit) -> tuple[float, Decision]:
    """One request against a bucket that held `tokens` at time `at`: the bucket after, and the decision."""
    tokens = min(float(limit.requests), tokens + max(0.0, now - at) * limit.rate)
    allowed = tokens >= 1.0
    if allowed:
        tokens -= 1.0
    return tokens, decision(allowed, tokens, now, limit)


def decision(allowed: bool, tokens: float, now: float, limit: Limit) -> Decision:
    """What a request is told, from the bucket as its token left it (also for buckets kept in Redis)."""
    missing = limit.requests - tokens
    retry_after = 0 if allowed else max(1, math.ceil((1.0 - tokens) / limit.rate))
    return Decision(allowed, limit.requests, int(tokens), now + missing / limit.rate, retry_after)
