"""What every storage backend provides, and what is written once above them.

A backend (``memory.py``, ``sqlite.py``, ``redis.py``) holds jobs, accounts and media records (the
`Store`). One process keeps its rate-limit buckets, fault rules and journal in memory (the fast
path); several (``serve --workers N``, or replicas on one Redis) must share them through the store,
or "5 requests a second" would become 5 per process, and share the controls and (Redis) job leases
too. A backend gives the storage operations; what does not depend on the storage is written here
once, over them:

- ``RateLimiter``: the policy (limits on or off, per-provider overrides); a backend keeps the
  buckets, and the bucket arithmetic is ``ratelimit.take_token``.
- ``Faults``: the rule list lives in storage; a rule's `times` is spent by one atomic conditional
  count, and a request that loses that race picks again (``faults.pick``), so `times=3` fires 3 times.
- ``SharedControls``: the clock and the rate-limit policy are one versioned document; a process
  compares the version before each request and loads the document when another changed it.

Every journal, in memory, SQLite or Redis, lists what one ``JournalQuery`` asks for.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from mockserver.core.clock import Clock, MockClock
from mockserver.core.faults import Rule, pick
from mockserver.core.jobs import Job, MediaRef
from mockserver.core.journal import Entry
from mockserver.core.ratelimit import Decision, Limit
from mockserver.core.webhooks import DeliveryStore


class StoreUnavailable(RuntimeError):
    """The store ``--store`` names cannot be used (a Redis not installed or not reachable, a bad URL)."""


@dataclass
class Account:
    provider: str
    key: str
    balance: float
    plan: str = "starter"


class Store(DeliveryStore, Protocol):
    """Jobs, accounts, media records, and webhook deliveries (``DeliveryStore``: kept with the jobs, so
    a restart or another worker resumes them)."""

    def put_job(self, job: Job) -> None: ...
    def get_job(self, provider: str, job_id: str) -> Job | None: ...
    def update_job(self, provider: str, job_id: str, change: Callable[[Job], None]) -> Job | None: ...
    def poll_job(self, provider: str, job_id: str, owner: str) -> Job | None: ...
    def list_jobs(self, provider: str | None = None, owner: str | None = None) -> list[Job]: ...
    def page_jobs(
        self, provider: str | None, owner: str | None, after: int | None, limit: int
    ) -> tuple[list[tuple[int, Job]], int | None]:
        """Up to `limit` jobs stored after the cursor `after` (None: from the first), in the order they
        were first stored, each with its place (a cursor that goes on after it), and the cursor of the
        next page (None: no more). A job's place never
        changes, so a walk lists each job that existed when it began exactly once, whatever is stored
        meanwhile. A store may look at a bounded number of jobs per page and return fewer."""
        ...

    def unfinished_jobs(self) -> list[Job]: ...
    def get_account(self, provider: str, key: str) -> Account | None: ...
    def put_account(self, account: Account) -> None: ...
    def charge(self, provider: str, key: str, amount: float) -> float | None: ...
    def list_accounts(self, provider: str | None = None) -> list[Account]: ...
    def delete_account(self, provider: str, key: str) -> bool: ...
    def put_media(self, provider: str, ref: MediaRef) -> None: ...
    def get_media(self, media_id: str) -> tuple[str, MediaRef] | None: ...
    def expired_media(self, now: float, limit: int) -> list[str]:
        """Ids of media expired by `now` whose files are not purged yet, oldest first, at most `limit`."""
        ...

    def mark_purged(self, media_ids: list[str]) -> None:
        """Their files are gone: expired_media no longer lists them (the records stay, so the URL
        answers the provider's "expired", not 404)."""
        ...

    def reset(self) -> None: ...
    def close(self) -> None: ...


class RateLimiter(ABC):
    """Limits per (provider, key): the policy here, the buckets in a backend."""

    def __init__(self, clock: Clock, enabled: bool = True) -> None:
        self._clock = clock
        self.default_enabled = enabled
        self.enabled = enabled
        self.overrides: dict[str, Limit] = {}  # provider -> limit set from the control plane

    @abstractmethod
    def take(self, provider: str, key: str, limit: Limit) -> Decision:
        """One request against its bucket, decided atomically (``ratelimit.take_token``'s arithmetic)."""

    @abstractmethod
    def reset(self) -> None:
        """Empty the buckets (a new plan or override takes effect at once)."""

    def reset_policy(self) -> None:
        self.enabled, self.overrides = self.default_enabled, {}
        self.reset()

    def configure(self, enabled: bool | None = None, provider: str | None = None, limit: Limit | None = None) -> None:
        if enabled is not None:
            self.enabled = enabled
        if provider is not None and limit is not None:
            self.overrides = {**self.overrides, provider: limit}
            self.reset()


class Faults(ABC):
    """The fault rules, in order; the first rule that matches and draws fires.

    A backend gives the storage operations below; the seeded draw of `probability` stays per process.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._lock = threading.RLock()

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._random = random.Random(seed)

    @abstractmethod
    def stored(self) -> list[Rule]:
        """The rules in order, each with its `fired` count (copies: changing one changes nothing kept)."""

    @abstractmethod
    def insert(self, rule: Rule) -> str:
        """Store a new rule at the end; its id."""

    @abstractmethod
    def count(self, rule: Rule) -> bool:
        """Count one firing, atomically, if the rule still exists and has times left."""

    @abstractmethod
    def has_rules(self) -> bool:
        """Cheap: asked on every request (the common answer is no)."""

    @abstractmethod
    def remove(self, rule_id: str) -> bool: ...

    @abstractmethod
    def clear(self) -> None: ...

    def add(self, rule: Rule) -> Rule:
        rule.id = self.insert(rule)
        return rule

    def listed(self) -> list[dict[str, Any]]:
        return [asdict(rule) for rule in self.stored()]

    def fire(
        self, provider: str, operation: str, key: str | None, headers: Mapping[str, str], body: str
    ) -> Rule | None:
        """The rule that fires for this request, counted (rules whose times are spent drop out). The
        caller asks `has_rules` first: the pipeline does, before it makes the headers and body."""
        for _ in range(100):  # another process or thread spending the last `times` makes this one pick again
            with self._lock:
                rule = pick(self.stored(), self._random, provider, operation, key, headers, body)
            if rule is None:
                return None
            if self.count(rule):
                rule.fired += 1
                return rule
        return None


@dataclass(frozen=True)
class JournalQuery:
    """Which journal entries to list: a filter left None takes any, `path` matches as a substring,
    and the last `limit` that match (below `before`, when given) come back, oldest first."""

    provider: str | None = None
    key: str | None = None
    path: str | None = None
    method: str | None = None
    limit: int = 100
    before: int | None = None  # the cursor: only entries numbered below it (None: from the newest)

    def matches(self, entry: Mapping[str, Any]) -> bool:
        """The filters on one entry as a mapping (``Entry._asdict()`` or a stored entry's dict)."""
        return (
            (self.provider is None or entry["provider"] == self.provider)
            and (self.key is None or entry["key"] == self.key)
            and (self.path is None or self.path in entry["path"])
            and (self.method is None or entry["method"] == self.method.upper())
        )


class Journal(Protocol):
    def record(self, entry: Entry) -> None: ...  # numbers the entry: its own id is ignored
    def clear(self) -> None: ...
    def query(self, query: JournalQuery) -> list[dict[str, Any]]: ...  # page(query)'s entries
    def page(self, query: JournalQuery) -> tuple[list[dict[str, Any]], int | None]:
        """The entries `query` asks for and the cursor of the next (older) page, None when none is left."""
        ...

    def flush(self) -> None:
        """Write what this process batched (a shared journal; in memory, nothing to do)."""
        ...

    async def settle(self) -> None:
        """`flush`, after the writes this process has on their way (the control plane's first step)."""
        ...


class BatchedJournal(ABC):
    """A shared journal's writes batched off the request: `record` keeps the entry and asks the
    event loop to write everything kept once the current turn is done (one transaction or round trip
    for all the requests answered in that turn; `_write_soon`, which a backend with an asyncio client
    makes a write that does not hold the loop). Kept entries are written before this process lists
    or clears the journal (`flush`) and before it serves any control-plane request (`settle`, which
    also waits for the writes on their way), so another process sees them by then. Outside an event
    loop an entry is written at once."""

    def __init__(self) -> None:
        self._pending: list[Entry] = []
        self._batch_lock = threading.Lock()
        self._scheduled = False

    @abstractmethod
    def _write(self, entries: list[Entry]) -> None:
        """Store these entries in this order, numbering them."""

    @abstractmethod
    def _clear(self) -> None: ...

    @abstractmethod
    def _page(self, query: JournalQuery) -> tuple[list[dict[str, Any]], int | None]: ...

    def record(self, entry: Entry) -> None:
        with self._batch_lock:
            self._pending.append(entry)
            first, self._scheduled = not self._scheduled, True
        if first:
            try:
                asyncio.get_running_loop().call_soon(self._write_soon)
            except RuntimeError:  # no loop in this thread
                self.flush()

    def _take(self) -> list[Entry]:
        with self._batch_lock:
            pending, self._pending, self._scheduled = self._pending, [], False
        return pending

    def _write_soon(self) -> None:
        """The turn is done: write its entries (here on the loop; a backend may send them without waiting)."""
        self.flush()

    def flush(self) -> None:
        pending = self._take()
        if pending:
            self._write(pending)

    async def settle(self) -> None:
        self.flush()

    def clear(self) -> None:
        with self._batch_lock:
            self._pending.clear()
        self._clear()

    def query(self, query: JournalQuery) -> list[dict[str, Any]]:
        return self.page(query)[0]

    def page(self, query: JournalQuery) -> tuple[list[dict[str, Any]], int | None]:
        self.flush()
        return self._page(query)


PAGE_SIZE, PAGE_MAX = 100, 1000  # a listing's default and largest page (jobs, journal)
SCAN_BUDGET = 10_000  # rows one page may look at while filtering, so no page holds the loop for long


def page_back(
    query: JournalQuery, older: Callable[[int | None, int], list[dict[str, Any]]], chunk: int = 500
) -> tuple[list[dict[str, Any]], int | None]:
    """A journal page from newest to oldest, written once over a backend's `older(before, n)` (up to
    `n` decoded entries numbered below `before`, newest first). Looks at no more than SCAN_BUDGET
    entries: a rare filter returns a short page and a cursor to go on from."""
    found: list[dict[str, Any]] = []
    before, scanned = query.before, 0
    while scanned < SCAN_BUDGET:
        entries = older(before, chunk)
        for entry in entries:
            scanned += 1
            before = entry["id"]
            if query.matches(entry):
                found.append(entry)
                if len(found) == query.limit:
                    return found[::-1], before
        if len(entries) < chunk:
            return found[::-1], None
    return found[::-1], before


class Look:
    """What one request saw of a shared store's change counter when it began (the front door, ``web/front.py``).

    Reads made in that request may trust a cache validated then; reads anywhere else (background
    work, the threads it starts, a task the request created that outlives it) find the look ended
    and go to the store. A write by this process ends every look's use of the cache at once.
    """

    __slots__ = ("live", "store", "version")

    def __init__(self, store: object, version: Any) -> None:
        self.store, self.version, self.live = store, version, True


_LOOK: ContextVar[Look | None] = ContextVar("cutout_mock_look", default=None)


def begin_look(store: object, version: Any) -> None:
    _LOOK.set(Look(store, version))


def end_look() -> None:
    look = _LOOK.get()
    if look is not None:
        look.live = False
        _LOOK.set(None)


def current_look(store: object) -> Look | None:
    """The live look of this request on `store`, if any."""
    look = _LOOK.get()
    return look if look is not None and look.live and look.store is store else None


class VersionedCell(Protocol):
    """One document and a version number that grows with every write."""

    def write(self, data: dict[str, Any]) -> int: ...
    def version(self) -> int | None: ...  # None: never written
    async def request_version(self) -> int | None:
        """The version as a request begins (Redis: with the request's look at the store's change counter)."""
        ...

    async def aclose(self) -> None: ...
    def read(self) -> tuple[int, dict[str, Any]] | None: ...


class Leases(Protocol):
    """Who runs a job: a claim expires unless renewed, so the work of a dead process is found.

    Held on the real clock (a frozen mock clock must not keep a dead worker's jobs alive), by
    `lease_holder()`: Redis (``RedisLeases``, keys with a TTL) and SQLite under ``--workers``
    (``SqliteLeases``, a table); ``runtime/recovery.py`` sweeps for lapsed ones the same way on both.
    """

    seconds: float  # how long a claim lasts without renewal

    def claim(self, provider: str, job_id: str) -> bool: ...
    def renew(self, jobs: list[tuple[str, str]]) -> None: ...
    def release(self, provider: str, job_id: str) -> None: ...


@dataclass
class Shared:
    """What several processes share, all kept by one backend."""

    limiter: RateLimiter
    faults: Faults
    journal: Journal
    controls: SharedControls
    leases: Leases | None = None  # a process may die while others serve (Redis replicas, SQLite workers)

    @classmethod
    def build(
        cls,
        clock: MockClock,
        cell: VersionedCell,
        limiter: RateLimiter,
        faults: Faults,
        journal: Journal,
        leases: Leases | None = None,
    ) -> Shared:
        """The controls are the clock and `limiter`'s policy, published in the backend's `cell`."""
        return cls(limiter, faults, journal, SharedControls(cell, clock, limiter), leases)


def process_name() -> str:
    """This process among replicas on several machines (ids are seeded with it, leases held by it)."""
    return f"{socket.gethostname()}/{os.getpid()}"


def lease_holder() -> str:
    """Who holds a lease: this process, and one mock of it (two mocks in one process hold apart)."""
    return f"{process_name()}/{uuid.uuid4().hex[:8]}"


class SharedControls:
    """The clock and the rate-limit policy, published by the process that changed them."""

    def __init__(self, cell: VersionedCell, clock: MockClock, limiter: RateLimiter) -> None:
        self._cell, self._clock, self._limiter = cell, clock, limiter
        self._version: int | None = -1
        self._values: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}

    def share(self, name: str, read: Callable[[], Any], take: Callable[[Any], None]) -> None:
        """Publish ``read()`` (plain JSON data) under `name` with the clock, and ``take`` what another
        process published (the price choices of /__mock/prices: per process, half the requests of
        ``--workers 2`` were priced by the set the call had not chosen)."""
        self._values[name] = (read, take)

    def publish(self) -> None:
        self._version = self._cell.write(
            {
                "clock": self._clock.export(),
                "enabled": self._limiter.enabled,
                "overrides": {name: [lim.requests, lim.window] for name, lim in self._limiter.overrides.items()},
                **{name: read() for name, (read, _take) in self._values.items()},
            }
        )

    def adopt(self) -> None:
        """A process starting: take what was published (or publish, if nobody did)."""
        if self._cell.version() is None:
            self.publish()
        else:
            self.sync()

    def sync(self) -> None:
        """Take what another process published since this one last looked (one small read)."""
        self._take(self._cell.version())

    async def begin_request(self) -> None:
        """A request begins: `sync`, and on a store with a change counter the request's look at it."""
        self._take(await self._cell.request_version())

    def _take(self, version: int | None) -> None:
        if version == self._version:
            return
        found = self._cell.read()
        if found is None:
            return
        self._version, data = found
        self._clock.load(data["clock"])
        self._limiter.enabled = data["enabled"]
        self._limiter.overrides = {name: Limit(int(r), float(w)) for name, (r, w) in data["overrides"].items()}
        for name, (_read, take) in self._values.items():
            if name in data:
                take(data[name])

    def done(self) -> None:
        """The request ended: its look (if any) no longer vouches for a cache."""
        end_look()

    async def aclose(self) -> None:
        await self._cell.aclose()
