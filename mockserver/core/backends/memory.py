"""Everything in this process's memory: the store of tests and ``--store memory``, and the rate
limiter, faults and journal of a single process (on any store: `serve` on SQLite keeps these here,
since the shared ones cost a write per request).

Exact under threads (a lock per part, or a single C call under the GIL); gone when the process ends.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import marshal
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, cast

from mockserver.core.backends.base import SCAN_BUDGET, Account, Faults, JournalQuery, RateLimiter, page_back
from mockserver.core.clock import Clock
from mockserver.core.faults import Rule
from mockserver.core.jobs import Job, MediaRef
from mockserver.core.journal import Entry
from mockserver.core.ratelimit import Decision, Limit, take_token
from mockserver.core.webhooks import Delivery


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._jobs: dict[tuple[str, str], Job] = {}
            # Listing: every job's key in the order first stored (its place is its cursor), and the
            # places of each provider's and each (provider, owner)'s jobs, ascending.
            self._order: list[tuple[str, str]] = []
            self._places: dict[tuple[str, ...], list[int]] = {}
            self._accounts: dict[tuple[str, str], Account] = {}
            self._media: dict[str, tuple[str, MediaRef]] = {}
            self._unpurged: dict[str, float] = {}  # media id -> expires_at, while its file is kept
            self._deliveries: dict[str, Delivery] = {}  # in the order scheduled
            self._pending: set[str] = set()  # ids of deliveries neither delivered nor given up

    def put_job(self, job: Job) -> None:
        with self._lock:
            key = (job.provider, job.id)
            if key not in self._jobs:
                place = len(self._order)
                self._order.append(key)
                self._places.setdefault((job.provider,), []).append(place)
                self._places.setdefault((job.provider, job.owner), []).append(place)
            self._jobs[key] = job.copy()

    def get_job(self, provider: str, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get((provider, job_id))
            return job.copy() if job else None

    def update_job(self, provider: str, job_id: str, change: Callable[[Job], None]) -> Job | None:
        with self._lock:
            job = self.get_job(provider, job_id)
            if job is None:
                return None
            change(job)
            self.put_job(job)
            return job

    def poll_job(self, provider: str, job_id: str, owner: str) -> Job | None:
        """The job, counting one poll when `owner` asks (the hot path of every status endpoint)."""
        with self._lock:
            job = self._jobs.get((provider, job_id))
            if job is None:
                return None
            if job.owner == owner:
                job.polls += 1
            return job.copy()

    def list_jobs(self, provider: str | None = None, owner: str | None = None) -> list[Job]:
        with self._lock:
            jobs = [j.copy() for j in self._jobs.values()]
        return [
            j
            for j in sorted(jobs, key=lambda j: j.created_at)
            if (provider is None or j.provider == provider) and (owner is None or j.owner == owner)
        ]

    def page_jobs(
        self, provider: str | None, owner: str | None, after: int | None, limit: int
    ) -> tuple[list[tuple[int, Job]], int | None]:
        """The cursor is a job's place in the order stored; a filter walks its own index (an owner
        without a provider filters the whole order, a bounded number of jobs per page)."""
        start = 0 if after is None else after + 1
        with self._lock:
            if provider is not None:
                places = self._places.get((provider,) if owner is None else (provider, owner), [])
                chosen = places[bisect.bisect_left(places, start) :][:limit]
                last = chosen[-1] if len(chosen) == limit else None
            else:
                chosen = []
                end = min(len(self._order), start + SCAN_BUDGET)
                for place in range(start, end):
                    if owner is None or self._jobs[self._order[place]].owner == owner:
                        chosen.append(place)
                        if len(chosen) == limit:
                            break
                # a full page ends at its last job; a short one at the order's end, or where its budget ran out
                spent = end - 1 if end < len(self._order) else None
                last = chosen[-1] if len(chosen) == limit else spent
            jobs = [(place, self._jobs[self._order[place]].copy()) for place in chosen]
        return jobs, last

    def unfinished_jobs(self) -> list[Job]:
        """Jobs whose work has not written its outcome (crash recovery)."""
        with self._lock:
            return [j.copy() for j in self._jobs.values() if j.outcome is None]

    def get_account(self, provider: str, key: str) -> Account | None:
        with self._lock:
            found = self._accounts.get((provider, key))
        # Built directly: copy.copy goes through __reduce_ex__ and was a tenth of a status poll.
        return Account(found.provider, found.key, found.balance, found.plan) if found else None

    def put_account(self, account: Account) -> None:
        with self._lock:
            self._accounts[(account.provider, account.key)] = copy.copy(account)

    def charge(self, provider: str, key: str, amount: float) -> float | None:
        """Take `amount` (negative refunds) if the balance covers it; the new balance, else None."""
        with self._lock:
            account = self._accounts.get((provider, key))
            if account is None or account.balance - amount < -1e-9:
                return None
            account.balance = round(account.balance - amount, 6)
            return account.balance

    def list_accounts(self, provider: str | None = None) -> list[Account]:
        with self._lock:
            found = [copy.copy(a) for a in self._accounts.values() if provider is None or a.provider == provider]
        return sorted(found, key=lambda a: (a.provider, a.key))

    def delete_account(self, provider: str, key: str) -> bool:
        with self._lock:
            return self._accounts.pop((provider, key), None) is not None

    def put_media(self, provider: str, ref: MediaRef) -> None:
        with self._lock:
            self._media[ref.id] = (provider, ref)
            self._unpurged[ref.id] = ref.expires_at

    def get_media(self, media_id: str) -> tuple[str, MediaRef] | None:
        with self._lock:
            return self._media.get(media_id)

    def expired_media(self, now: float, limit: int) -> list[str]:
        with self._lock:
            expired = sorted((at, media_id) for media_id, at in self._unpurged.items() if at <= now)
        return [media_id for _, media_id in expired[:limit]]

    def mark_purged(self, media_ids: list[str]) -> None:
        with self._lock:
            for media_id in media_ids:
                self._unpurged.pop(media_id, None)

    # --- webhook deliveries (DeliveryStore) ---------------------------------------------------

    def put_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries[delivery.id] = delivery.copy()
            if delivery.pending:
                self._pending.add(delivery.id)
            else:
                self._pending.discard(delivery.id)

    def update_delivery(self, delivery_id: str, change: Callable[[Delivery], None]) -> Delivery | None:
        with self._lock:
            found = self._deliveries.get(delivery_id)
            if found is None:
                return None
            delivery = found.copy()
            change(delivery)
            self.put_delivery(delivery)
            return delivery

    def list_deliveries(self, provider: str | None = None, job_id: str | None = None) -> list[Delivery]:
        with self._lock:
            return [
                d.copy()
                for d in self._deliveries.values()
                if (provider is None or d.provider == provider) and (job_id is None or d.job_id == job_id)
            ]

    def due_deliveries(self, now: float, real_now: float, limit: int) -> list[str]:
        with self._lock:
            due = sorted(
                (self._deliveries[i].due_at, i) for i in self._pending if self._deliveries[i].due(now, real_now)
            )
        return [delivery_id for _, delivery_id in due[:limit]]

    def close(self) -> None:
        pass


class MemoryRateLimiter(RateLimiter):
    """Buckets in a dict, each decision under one lock."""

    def __init__(self, clock: Clock, enabled: bool = True) -> None:
        super().__init__(clock, enabled)
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # -> (tokens, at)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def take(self, provider: str, key: str, limit: Limit) -> Decision:
        now = self._clock.now()
        with self._lock:
            tokens, at = self._buckets.get((provider, key), (float(limit.requests), now))
            tokens, decision = take_token(tokens, at, now, limit)
            self._buckets[(provider, key)] = (tokens, now)
        return decision


class MemoryFaults(Faults):
    """The rule list in this process; a kept rule counts its own `fired`."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)

    def has_rules(self) -> bool:
        return bool(self._rules)

    def stored(self) -> list[Rule]:
        with self._lock:
            return [Rule(**asdict(rule)) for rule in self._rules]

    def insert(self, rule: Rule) -> str:
        with self._lock:
            rule_id = f"rule_{next(self._ids)}"
            self._rules.append(Rule(**{**asdict(rule), "id": rule_id}))
        return rule_id

    def count(self, rule: Rule) -> bool:
        with self._lock:
            kept = next((r for r in self._rules if r.id == rule.id), None)
            if kept is None or kept.spent:
                return False
            kept.fired += 1
            return True

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) < before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


_MARSHAL_VERSION = 2  # binary floats, no back-references: half the time of the default (4)


class MemoryJournal:
    """The in-process journal: a bounded deque of entries, each kept as one marshalled bytes object.

    One object per request instead of the ~25 an entry holds (path, header tuples, bodies...): on a
    real server, keeping 10,000 requests' scattered objects and freeing the oldest on each request
    cost a status poll ~8 % of its throughput; marshalling one costs ~0.4 us. Bytes are not tracked by
    the cyclic GC either, so a full journal adds nothing to a collection. No lock: ``deque.append``
    and ``list(deque)`` each run in C under the GIL, so a reader never sees half an entry.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._entries: deque[bytes] = deque(maxlen=capacity)
        self._ids = itertools.count(1)

    def record(self, entry: Entry) -> None:
        """Numbered here (itertools.count's next is atomic under the GIL)."""
        self._entries.append(marshal.dumps((next(self._ids), *entry[1:]), _MARSHAL_VERSION))

    def clear(self) -> None:
        self._entries.clear()

    def flush(self) -> None:
        pass

    async def settle(self) -> None:
        pass

    def query(self, query: JournalQuery) -> list[dict[str, Any]]:
        return self.page(query)[0]

    def page(self, query: JournalQuery) -> tuple[list[dict[str, Any]], int | None]:
        """Ids run on without gaps, so the entry numbered `n` sits at ``n - first``: a page decodes
        only the entries it looks at (to dicts only once chosen)."""
        kept = list(self._entries)  # one C call: a snapshot the recorder cannot change under us
        first = marshal.loads(kept[0])[0] if kept else 0

        def older(before: int | None, count: int) -> list[dict[str, Any]]:
            end = len(kept) if before is None else max(0, min(len(kept), before - first))
            chunk = (Entry._make(marshal.loads(raw)) for raw in reversed(kept[max(0, end - count) : end]))
            return [_Lazy(entry) for entry in chunk]

        entries, cursor = page_back(query, older)
        return [cast(_Lazy, entry).full() for entry in entries], cursor


class _Lazy(dict[str, Any]):
    """An entry's filter fields as a mapping; its whole dict (header decoding and all) made only
    for the entries a page returns."""

    def __init__(self, entry: Entry) -> None:
        super().__init__(id=entry.id, provider=entry.provider, key=entry.key, path=entry.path, method=entry.method)
        self._entry = entry

    def full(self) -> dict[str, Any]:
        return self._entry.to_dict()
