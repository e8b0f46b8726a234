"""Webhook deliveries: scheduled on the mock's clock, retried with backoff, logged, replayable.

A delivery is due when its job's visible state turns terminal; after a failed attempt (no answer,
or not 2xx) the next one is due after the provider's next retry delay, until the delays run out.
`deliver_due()` sends what is due now: `serve` calls it from a background loop, tests call it through
``POST /__mock/webhooks/flush`` right after moving the virtual clock, so nothing waits on real time.

Each attempt is claimed once, under the lock, before it is sent (a delivery in flight is not due
again), so the background loop and a flush never send the same attempt twice. Attempts run as tasks
of their own with a per-attempt timeout: the background loop starts them and goes on (a dead
receiver delays nobody else's delivery), and a flush waits for every attempt in flight, its own and
the loop's, so the caller sees their answers.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from mockserver.core.clock import Clock
from mockserver.core.ids import IdSource

Headers = Callable[[bytes, float], dict[str, str]]  # (body, now) -> extra headers, e.g. a signature


@dataclass
class Attempt:
    at: float  # the mock's clock
    status: int | None
    error: str | None
    duration_ms: float
    replay: bool = False


@dataclass
class Delivery:
    id: str
    provider: str
    job_id: str
    url: str
    body: str  # JSON
    due_at: float
    retry_delays: tuple[float, ...]
    attempts: list[Attempt] = field(default_factory=list)
    delivered: bool = False
    gave_up: bool = False
    in_flight: bool = False  # an attempt has been claimed and not answered yet

    def due(self, now: float) -> bool:
        return not (self.delivered or self.gave_up or self.in_flight) and self.due_at <= now

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data["payload"] = json.loads(data.pop("body"))
        return data


class Webhooks:
    def __init__(
        self, clock: Clock, ids: IdSource, client: Callable[[], httpx.AsyncClient], timeout: float = 15.0
    ) -> None:
        self._clock, self._ids, self._client, self._timeout = clock, ids, client, timeout
        self._deliveries: dict[str, Delivery] = {}
        self._headers: dict[str, Headers] = {}
        self._lock = threading.Lock()
        self._in_flight: set[asyncio.Task[None]] = set()

    def schedule(
        self,
        provider: str,
        job_id: str,
        url: str,
        payload: dict[str, Any],
        due_at: float,
        retry_delays: tuple[float, ...],
        headers: Headers | None = None,
    ) -> Delivery:
        delivery = Delivery(self._ids.hex(16), provider, job_id, url, json.dumps(payload), due_at, retry_delays)
        with self._lock:
            self._deliveries[delivery.id] = delivery
            if headers is not None:
                self._headers[delivery.id] = headers
        return delivery

    def restate(self, provider: str, job_id: str, payload: dict[str, Any], due_at: float) -> int:
        """A job's ending changed (cancelled, forced): deliveries not yet attempted carry the new
        payload and fall due with the new ending. Returns how many were restated."""
        body = json.dumps(payload)
        with self._lock:
            pending = [
                d
                for d in self._deliveries.values()
                if d.provider == provider and d.job_id == job_id and not d.attempts and not d.delivered
            ]
            for delivery in pending:
                delivery.body, delivery.due_at = body, due_at
        return len(pending)

    def listed(self, provider: str | None = None, job_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                d
                for d in self._deliveries.values()
                if (provider is None or d.provider == provider) and (job_id is None or d.job_id == job_id)
            ]
        return [d.summary() for d in found]

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()
            self._headers.clear()

    def start_due(self) -> int:
        """Claim every delivery due now and start its attempt as a task; the number started."""
        now = self._clock.now()
        with self._lock:
            due = [d for d in self._deliveries.values() if d.due(now)]
            for delivery in due:
                delivery.in_flight = True
        for delivery in due:
            task = asyncio.get_running_loop().create_task(self._attempt(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(due)

    async def deliver_due(self) -> int:
        """Attempt every delivery due now and wait for every attempt in flight (those started by the
        background loop too); the number this call started."""
        started = self.start_due()
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        return started

    async def replay(self, delivery_id: str) -> Delivery | None:
        """Send a delivery once more now, whatever its state (its schedule is not changed)."""
        with self._lock:
            delivery = self._deliveries.get(delivery_id)
        if delivery is None:
            return None
        await self._attempt(delivery, replay=True)
        return delivery

    async def run(self, interval: float = 0.1) -> None:
        """The background loop of `serve`: starts what falls due, never waits for an answer."""
        try:
            while True:
                self.start_due()
                await asyncio.sleep(interval)
        finally:
            for task in list(self._in_flight):
                task.cancel()

    async def _attempt(self, delivery: Delivery, replay: bool = False) -> None:
        body = delivery.body.encode()
        at = self._clock.now()
        headers = {"Content-Type": "application/json", "User-Agent": f"cutout-mock-webhooks ({delivery.provider})"}
        extra = self._headers.get(delivery.id)
        if extra is not None:
            headers.update(extra(body, at))
        started = time.perf_counter()
        status, error = None, None
        try:
            async with self._client() as client:
                response = await client.post(delivery.url, content=body, headers=headers, timeout=self._timeout)
            status = response.status_code
        except Exception as exc:  # any failure to deliver is an attempt that failed, never a crash
            error = f"{exc.__class__.__name__}: {exc}"[:300]
        attempt = Attempt(at, status, error, round((time.perf_counter() - started) * 1000, 2), replay)
        with self._lock:
            if not replay:  # a replay is outside the schedule: the schedule's claim is not its own
                delivery.in_flight = False
            delivery.attempts.append(attempt)
            if status is not None and 200 <= status < 300:
                delivery.delivered = True
            elif not replay:
                tries = sum(1 for a in delivery.attempts if not a.replay)
                if tries > len(delivery.retry_delays):
                    delivery.gave_up = True
                else:
                    delivery.due_at = at + delivery.retry_delays[tries - 1]
