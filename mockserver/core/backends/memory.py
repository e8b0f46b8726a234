"""Everything in this process's memory: the store of tests and ``--store memory``, and the limiter,
faults and journal of a single process (on any store).

Fast and exact under threads (one lock per part); gone when the process ends.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable

from mockserver.core.backends.base import Account
from mockserver.core.jobs import Job, MediaRef


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._jobs: dict[tuple[str, str], Job] = {}
            self._accounts: dict[tuple[str, str], Account] = {}
            self._media: dict[str, tuple[str, MediaRef]] = {}

    def put_job(self, job: Job) -> None:
        with self._lock:
            self._jobs[(job.provider, job.id)] = job.copy()

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

    def get_media(self, media_id: str) -> tuple[str, MediaRef] | None:
        with self._lock:
            return self._media.get(media_id)

    def close(self) -> None:
        pass
