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


class RateLimiter:
    """Buckets in memory (one process), plus the policy: limits on or off, and per-provider overrides."""

    def __init__(self, clock: Clock, enabled: bool = True) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # -> (tokens, at)
        self.default_enabled = enabled
        self.enabled = enabled
        self.overrides: dict[str, Limit] = {}  # provider -> limit set from the control plane

    def reset(self) -> None:
        """Empty the buckets (a new plan or override takes effect at once)."""
        with self._lock:
            self._buckets.clear()

    def reset_policy(self) -> None:
        self.enabled, self.overrides = self.default_enabled, {}
        self.reset()

    def configure(self, enabled: bool | None = None, provider: str | None = None, limit: Limit | None = None) -> None:
        if enabled is not None:
            self.enabled = enabled
        if provider is not None and limit is not None:
            self.overrides = {**self.overrides, provider: limit}
            self.reset()

    def take(self, provider: str, key: str, limit: Limit) -> Decision:
        now = self._clock.now()
        with self._lock:
            tokens, at = self._buckets.get((provider, key), (float(limit.requests), now))
            tokens, decision = take_token(tokens, at, now, limit)
            self._buckets[(provider, key)] = (tokens, now)
        return decision
