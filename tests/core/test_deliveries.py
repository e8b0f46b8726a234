"""Webhook deliveries kept in each store: two senders on one store send each attempt once, an attempt
whose sender died is made again once its claim lapses, and a reopened SQLite file resumes them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from mockserver.core.backends.base import Store
from mockserver.core.backends.sqlite import SqliteStore
from mockserver.core.clock import MockClock
from mockserver.core.ids import IdSource
from mockserver.core.webhooks import Delivery, Webhooks


class Receiver:
    """Answers each POST with the next scripted status (200 when the script runs out), after `delay` s."""

    def __init__(self, *statuses: int, delay: float = 0.0) -> None:
        self.statuses, self.delay, self.posts = list(statuses), delay, 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.posts += 1
        await asyncio.sleep(self.delay)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def _sender(store: Store, clock: MockClock, receiver: Receiver, seed: int) -> Webhooks:
    return Webhooks(clock, IdSource(clock, seed), store, receiver.client)


def test_two_senders_on_one_store_send_each_attempt_once(store: Store) -> None:
    clock, receiver = MockClock(frozen=True), Receiver(500, delay=0.05)
    one, two = _sender(store, clock, receiver, 1), _sender(store, clock, receiver, 2)
    delivery = one.schedule("fal", "job-1", "http://hooks.test/a", {"ok": True}, clock.now() + 10, (30.0,))

    async def both() -> list[int]:
        return list(await asyncio.gather(one.deliver_due(), two.deliver_due()))

    assert asyncio.run(both()) == [0, 0] and receiver.posts == 0  # not due yet
    clock.advance(10)
    assert sorted(asyncio.run(both())) == [0, 1] and receiver.posts == 1  # the 500
    (stored,) = store.list_deliveries("fal", "job-1")
    assert stored.id == delivery.id and [a.status for a in stored.attempts] == [500]
    assert stored.due_at == clock.now() + 30 and not stored.in_flight  # the retry, on the mock clock
    clock.advance(30)
    assert sorted(asyncio.run(both())) == [0, 1] and receiver.posts == 2
    assert asyncio.run(both()) == [0, 0] and receiver.posts == 2  # delivered: nothing left to send
    (done,) = two.listed(job_id="job-1")
    assert done["delivered"] and [a["status"] for a in done["attempts"]] == [500, 200]


def test_an_attempt_whose_sender_died_is_made_again_once_its_claim_lapses(store: Store) -> None:
    clock, receiver = MockClock(frozen=True), Receiver()
    sender = _sender(store, clock, receiver, 1)
    delivery = sender.schedule("pixazo", "job-2", "http://hooks.test/b", {}, clock.now(), ())

    def claimed_until(moment: float) -> None:
        def claim(stored: Delivery) -> None:
            stored.in_flight, stored.claimed_until = True, moment  # as a sender does before its POST

        store.update_delivery(delivery.id, claim)

    claimed_until(time.time() + 60)  # a live sender's attempt: nobody else sends it
    assert asyncio.run(sender.deliver_due()) == 0 and receiver.posts == 0
    claimed_until(time.time() - 1)  # its sender died mid-attempt: the claim lapsed
    assert asyncio.run(sender.deliver_due()) == 1 and receiver.posts == 1
    (stored,) = store.list_deliveries("pixazo", "job-2")
    assert stored.delivered and len(stored.attempts) == 1 and not stored.in_flight


def test_a_reopened_sqlite_store_resumes_a_pending_retry(tmp_path: Path) -> None:
    clock, receiver = MockClock(frozen=True), Receiver(503)
    first = SqliteStore(tmp_path / "db.sqlite")
    sender = _sender(first, clock, receiver, 1)
    sender.schedule("fal", "job-3", "http://hooks.test/c", {"n": 1}, clock.now(), (15.0, 30.0))
    assert asyncio.run(sender.deliver_due()) == 1
    first.close()

    again = SqliteStore(tmp_path / "db.sqlite")
    (pending,) = again.list_deliveries()
    assert [a.status for a in pending.attempts] == [503] and pending.due_at == clock.now() + 15
    resumed = _sender(again, clock, receiver, 2)
    assert asyncio.run(resumed.deliver_due()) == 0  # its retry is not due yet
    clock.advance(15)
    assert asyncio.run(resumed.deliver_due()) == 1 and receiver.posts == 2
    (done,) = again.list_deliveries()
    assert done.delivered and [a.status for a in done.attempts] == [503, 200]


def test_a_seeded_sender_after_a_restart_keeps_the_deliveries_before_it(store: Store) -> None:
    """The same seed repeats the ids' seeded part: a delivery scheduled after the restart is a new one."""
    clock, receiver = MockClock(frozen=True), Receiver()
    before = _sender(store, clock, receiver, 7).schedule("fal", "job-4", "http://hooks.test/d", {}, clock.now(), ())
    after = _sender(store, clock, receiver, 7).schedule("fal", "job-5", "http://hooks.test/e", {}, clock.now(), ())
    assert before.id[:16] == after.id[:16] and before.id != after.id
    assert {d.job_id for d in store.list_deliveries()} == {"job-4", "job-5"}
