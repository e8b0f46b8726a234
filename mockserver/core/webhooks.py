"""Webhook deliveries: scheduled on the mock's clock, retried with backoff, logged, replayable.

A delivery is due when its job's visible state turns terminal; after a failed attempt (no answer,
or not 2xx) the next one is due after the provider's next retry delay, until the delays run out.
`deliver_due()` sends what is due now: `serve` calls it from a background loop, tests call it through
``POST /__mock/webhooks/flush`` right after moving the virtual clock, so nothing waits on real time.

Deliveries live in the mock's store (``DeliveryStore``: a dict in memory, a table in SQLite, keys on
Redis), so a delivery scheduled before a restart is resumed after it with the attempts it has left
and its due time, and every process on a shared store sees and sends all of them. The headers are
computed per attempt by the provider of the delivery's job (`headers_for`: fal signs with the time
of the attempt), so a process that did not schedule a delivery sends it as its scheduler would.

Each attempt is claimed once, in the store (one atomic change), before it is sent (a delivery in
flight is not due again), so the background loop, a flush and another worker never send the same
attempt twice. A claim lapses on the real clock (the attempt's timeout and a margin): a process
killed mid-attempt leaves the delivery due again for the others, never lost. Attempts run as tasks
of their own with a per-attempt timeout: the background loop starts them and goes on (a dead
receiver delays nobody else's delivery), and a flush waits for every attempt in flight, its own and
the loop's, so the caller sees their answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import httpx

from mockserver.core.clock import Clock
from mockserver.core.ids import IdSource

ANSWER_KEPT = 500  # characters of a receiver's answer kept with its attempt
Headers = Callable[[bytes, float], dict[str, str]]  # (body, now) -> extra headers, e.g. a signature
CLAIM_MARGIN = 5.0  # seconds (real) a claim outlives its attempt's timeout before another process may take it
DUE_BATCH = 100  # deliveries started per look at the store


@dataclass
class Attempt:
    at: float  # the mock's clock
    status: int | None
    error: str | None
    duration_ms: float
    replay: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # what was sent (content type, signature...)
    answer: str = ""  # the receiver's body, its first ANSWER_KEPT characters


@dataclass
class Delivery:
    id: str
    provider: str
    job_id: str
    url: str
    body: str  # JSON
    due_at: float  # the mock's clock
    retry_delays: tuple[float, ...]
    attempts: list[Attempt] = field(default_factory=list)
    delivered: bool = False
    gave_up: bool = False
    in_flight: bool = False  # an attempt has been claimed and not answered yet
    claimed_until: float = 0.0  # real clock (time.time()): when an in-flight claim lapses

    @property
    def pending(self) -> bool:
        """Neither delivered nor given up: an attempt is still to come."""
        return not (self.delivered or self.gave_up)

    def due(self, now: float, real_now: float) -> bool:
        """Due at mock time `now` and not claimed, or claimed by an attempt whose claim lapsed by
        `real_now` (its process died mid-attempt)."""
        if not self.pending or self.due_at > now:
            return False
        return not self.in_flight or self.claimed_until <= real_now

    def copy(self) -> Delivery:
        return replace(self, attempts=list(self.attempts))  # an Attempt is never changed once made

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        attempts = [Attempt(**attempt) for attempt in data["attempts"]]
        return cls(**{**data, "attempts": attempts, "retry_delays": tuple(data["retry_delays"])})

    def summary(self) -> dict[str, Any]:
        data = self.to_dict()
        data["payload"] = json.loads(data.pop("body"))
        del data["claimed_until"]
        return data


class DeliveryStore(Protocol):
    """Where deliveries are kept: the mock's store (``backends.base.Store`` includes this)."""

    def put_delivery(self, delivery: Delivery) -> None:
        """Keep a new delivery."""
        ...

    def update_delivery(self, delivery_id: str, change: Callable[[Delivery], None]) -> Delivery | None:
        """Apply `change` to the delivery as stored, atomically for every process; it as changed (None:
        no such delivery)."""
        ...

    def list_deliveries(self, provider: str | None = None, job_id: str | None = None) -> list[Delivery]:
        """Deliveries in the order they were scheduled, of `provider` and `job_id` when given."""
        ...

    def due_deliveries(self, now: float, real_now: float, limit: int) -> list[str]:
        """Ids of at most `limit` pending deliveries that are due by mock time `now` and not in flight,
        or in flight with a claim that lapsed by `real_now` (``Delivery.due``), earliest first."""
        ...


def _no_headers(delivery: Delivery) -> Headers | None:
    return None


class Webhooks:
    def __init__(
        self,
        clock: Clock,
        ids: IdSource,
        store: DeliveryStore,
        client: Callable[[], httpx.AsyncClient],
        headers_for: Callable[[Delivery], Headers | None] = _no_headers,
        timeout: float = 15.0,
    ) -> None:
        self._clock, self._ids, self._store, self._client = clock, ids, store, client
        self._headers_for, self._timeout = headers_for, timeout
        self._in_flight: set[asyncio.Task[Delivery | None]] = set()

    def schedule(
        self,
        provider: str,
        job_id: str,
        url: str,
        payload: dict[str, Any],
        due_at: float,
        retry_delays: tuple[float, ...],
    ) -> Delivery:
        # A seed repeats its ids after a restart; the random tail keeps a new delivery from taking the id
        # (and the stored record) of one scheduled before it.
        delivery_id = self._ids.hex(16) + self._ids.secret_hex(8)
        delivery = Delivery(delivery_id, provider, job_id, url, json.dumps(payload), due_at, retry_delays)
        self._store.put_delivery(delivery)
        return delivery

    def restate(self, provider: str, job_id: str, payload: dict[str, Any], due_at: float) -> int:
        """A job's ending changed (cancelled, forced): deliveries not yet attempted carry the new
        payload and fall due with the new ending. Returns how many were restated."""
        body, restated = json.dumps(payload), []

        def change(delivery: Delivery) -> None:
            if not delivery.attempts and not delivery.delivered:
                delivery.body, delivery.due_at = body, due_at
                restated.append(delivery.id)

        for delivery in self._store.list_deliveries(provider, job_id):
            if not delivery.attempts and not delivery.delivered:
                self._store.update_delivery(delivery.id, change)
        return len(restated)

    def listed(self, provider: str | None = None, job_id: str | None = None) -> list[dict[str, Any]]:
        return [d.summary() for d in self._store.list_deliveries(provider, job_id)]

    def clear(self) -> None:
        """After the store's reset (which forgets the deliveries): stop the attempts under way."""
        for task in list(self._in_flight):
            task.cancel()

    def _claim(self, delivery_id: str, now: float, real_now: float) -> Delivery | None:
        """Claim the delivery's next attempt if it is still due (another process or a flush may have
        claimed it since it was listed); the delivery as claimed, else None."""
        claimed: list[Delivery] = []

        def claim(delivery: Delivery) -> None:
            if delivery.due(now, real_now):
                delivery.in_flight, delivery.claimed_until = True, real_now + self._timeout + CLAIM_MARGIN
                claimed.append(delivery)

        self._store.update_delivery(delivery_id, claim)
        return claimed[0] if claimed else None

    def start_due(self) -> int:
        """Claim every delivery due now and start its attempt as a task; the number started."""
        now, real_now, started = self._clock.now(), time.time(), 0
        for delivery_id in self._store.due_deliveries(now, real_now, DUE_BATCH):
            delivery = self._claim(delivery_id, now, real_now)
            if delivery is None:
                continue
            task = asyncio.get_running_loop().create_task(self._attempt(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            started += 1
        return started

    async def deliver_due(self) -> int:
        """Attempt every delivery due now and wait for every attempt in flight (those started by the
        background loop too); the number this call started."""
        started = self.start_due()
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        return started

    async def replay(self, delivery_id: str) -> Delivery | None:
        """Send a delivery once more now, whatever its state (its schedule is not changed)."""
        found = [d for d in self._store.list_deliveries() if d.id == delivery_id]
        if not found:
            return None
        return await self._attempt(found[0], replay=True)

    async def run(self, interval: float = 0.1) -> None:
        """The background loop of `serve`: starts what falls due, never waits for an answer."""
        try:
            while True:
                self.start_due()
                await asyncio.sleep(interval)
        finally:  # shutting down: the attempts under way give their claims back (see _attempt)
            for task in list(self._in_flight):
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _attempt(self, delivery: Delivery, replay: bool = False) -> Delivery | None:
        body = delivery.body.encode()
        at = self._clock.now()
        headers = {"Content-Type": "application/json", "User-Agent": f"cutout-mock-webhooks ({delivery.provider})"}
        extra = self._headers_for(delivery)
        if extra is not None:
            headers.update(extra(body, at))
        started = time.perf_counter()
        status, error, answer = None, None, ""
        try:
            async with self._client() as client:
                response = await client.post(delivery.url, content=body, headers=headers, timeout=self._timeout)
            status = response.status_code
            answer = response.content[:ANSWER_KEPT].decode("utf-8", "replace")
        except asyncio.CancelledError:  # stopped (shutdown, reset): the attempt is due again, at once
            if not replay:
                self._store.update_delivery(delivery.id, _unclaim)
            raise
        except Exception as exc:  # any failure to deliver is an attempt that failed, never a crash
            error = f"{exc.__class__.__name__}: {exc}"[:300]
        took = round((time.perf_counter() - started) * 1000, 2)
        attempt = Attempt(at, status, error, took, replay, dict(headers), answer)

        def record(stored: Delivery) -> None:
            if not replay:  # a replay is outside the schedule: the schedule's claim is not its own
                _unclaim(stored)
            stored.attempts.append(attempt)
            if status is not None and 200 <= status < 300:
                stored.delivered = True
            elif not replay:
                tries = sum(1 for a in stored.attempts if not a.replay)
                if tries > len(stored.retry_delays):
                    stored.gave_up = True
                else:
                    stored.due_at = at + stored.retry_delays[tries - 1]

        return self._store.update_delivery(delivery.id, record)


def _unclaim(delivery: Delivery) -> None:
    delivery.in_flight, delivery.claimed_until = False, 0.0
