"""What every storage backend provides, and what is written once above them.

A backend (``memory.py``, ``sqlite.py``, ``redis.py``) holds jobs, accounts and media records (the
`Store`); with several processes (``serve --workers N``, or replicas on one Redis) it also holds what
they must share, or "5 requests a second" would become 5 per process: rate-limit buckets, fault
rules, the journal, the controls, and (Redis) job leases. What does not depend on the storage is
written here once:

- ``StoredFaults``: the rule list lives in storage; a rule's `times` is spent by one atomic
  conditional count, and a request that loses that race picks again, so `times=3` fires 3 times.
- ``SharedControls``: the clock and the rate-limit policy are one versioned document; a process
  compares the version before each request and loads the document when another changed it.

(The journal's filters, ``journal.journal_matches``, serve the in-memory journal too.)
"""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from mockserver.core.clock import MockClock
from mockserver.core.faults import Faults, Rule, pick
from mockserver.core.jobs import Job, MediaRef
from mockserver.core.journal import Entry
from mockserver.core.ratelimit import Limit, RateLimiter


class StoreUnavailable(RuntimeError):
    """The store ``--store`` names cannot be used (a Redis not installed or not reachable, a bad URL)."""


@dataclass
class Account:
    provider: str
    key: str
    balance: float
    plan: str = "starter"


class Store(Protocol):
    def put_job(self, job: Job) -> None: ...
    def get_job(self, provider: str, job_id: str) -> Job | None: ...
    def update_job(self, provider: str, job_id: str, change: Callable[[Job], None]) -> Job | None: ...
    def poll_job(self, provider: str, job_id: str, owner: str) -> Job | None: ...
    def list_jobs(self, provider: str | None = None, owner: str | None = None) -> list[Job]: ...
    def unfinished_jobs(self) -> list[Job]: ...
    def get_account(self, provider: str, key: str) -> Account | None: ...
    def put_account(self, account: Account) -> None: ...
    def charge(self, provider: str, key: str, amount: float) -> float | None: ...
    def list_accounts(self, provider: str | None = None) -> list[Account]: ...
    def delete_account(self, provider: str, key: str) -> bool: ...
    def put_media(self, provider: str, ref: MediaRef) -> None: ...
    def get_media(self, media_id: str) -> tuple[str, MediaRef] | None: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


class JournalLike(Protocol):
    def record(self, entry: Entry) -> None: ...  # numbers the entry: its own id is ignored
    def clear(self) -> None: ...
    def query(
        self,
        *,
        provider: str | None = None,
        key: str | None = None,
        path: str | None = None,
        method: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]: ...


class VersionedCell(Protocol):
    """One document and a version number that grows with every write."""

    def write(self, data: dict[str, Any]) -> int: ...
    def version(self) -> int | None: ...  # None: never written
    def read(self) -> tuple[int, dict[str, Any]] | None: ...


class Leases(Protocol):
    """Who runs a job: a claim expires unless renewed, so the work of a dead process is found."""

    seconds: float  # how long a claim lasts without renewal

    def claim(self, provider: str, job_id: str) -> bool: ...
    def renew(self, jobs: list[tuple[str, str]]) -> None: ...
    def release(self, provider: str, job_id: str) -> None: ...


@dataclass
class Shared:
    limiter: RateLimiter
    faults: Faults
    journal: JournalLike
    controls: SharedControls
    leases: Leases | None = None  # Redis: replicas start and die on their own


def process_name() -> str:
    """This process among replicas on several machines (ids are seeded with it, leases held by it)."""
    return f"{socket.gethostname()}/{os.getpid()}"


class StoredFaults(Faults, ABC):
    """Fault rules kept in shared storage; the seeded draw of `probability` stays per process.

    Abstract: a backend gives the storage operations below. `remove` and `clear` are abstract
    too, so no backend can fall back on the in-memory list of `Faults` without saying so.
    """

    @abstractmethod
    def stored(self) -> list[Rule]:
        """The rules in order, each with its `fired` count."""

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
        if not self.has_rules():
            return None
        for _ in range(100):  # another process spending the last `times` makes this one pick again
            with self._lock:
                rule = pick(self.stored(), self._random, provider, operation, key, headers, body)
            if rule is None:
                return None
            if self.count(rule):
                rule.fired += 1
                return rule
        return None


class SharedControls:
    """The clock and the rate-limit policy, published by the process that changed them."""

    def __init__(self, cell: VersionedCell, clock: MockClock, limiter: RateLimiter) -> None:
        self._cell, self._clock, self._limiter = cell, clock, limiter
        self._version: int | None = -1

    def publish(self) -> None:
        self._version = self._cell.write(
            {
                "clock": self._clock.export(),
                "enabled": self._limiter.enabled,
                "overrides": {name: [lim.requests, lim.window] for name, lim in self._limiter.overrides.items()},
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
        if self._cell.version() == self._version:
            return
        found = self._cell.read()
        if found is None:
            return
        self._version, data = found
        self._clock.load(data["clock"])
        self._limiter.enabled = data["enabled"]
        self._limiter.overrides = {name: Limit(int(r), float(w)) for name, (r, w) in data["overrides"].items()}
