"""The mock's services in one place: clock, ids, store, media, accounts, fetching, job execution.

Providers reach everything through a ``Mock``; nothing here knows a provider's words. Work on a job
(fetch input, run the engine, store the outputs) runs as an asyncio task whose CPU part runs in a
thread, or inline before the submit returns (tests), and its result is written to the job in one
atomic update, so a job is never seen as succeeded before its outputs exist.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mockserver.core.accounts import Accounts
from mockserver.core.backends import sqlite
from mockserver.core.backends.base import (
    Faults,
    Journal,
    Leases,
    RateLimiter,
    Shared,
    SharedControls,
    Store,
    process_name,
)
from mockserver.core.backends.memory import MemoryFaults, MemoryJournal, MemoryRateLimiter, MemoryStore
from mockserver.core.backends.sqlite import SqliteStore
from mockserver.core.clock import MockClock
from mockserver.core.ids import IdSource
from mockserver.core.jobs import Job, MediaRef, State
from mockserver.core.media import MediaStore
from mockserver.core.signing import Signer
from mockserver.core.webhooks import Webhooks
from mockserver.engine import inputs
from mockserver.engine.errors import MediaError
from mockserver.engine.segment import Segmenter, get_segmenter
from mockserver.runtime.transport import SelfRoutingTransport
from mockserver.settings import Settings

log = logging.getLogger("cutout_mock")


@dataclass
class WorkResult:
    """What a job's work produced; `outcome` is succeeded / failed / errored / blocked."""

    outcome: State
    outputs: list[MediaRef] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None


Work = Callable[[Job], Awaitable[WorkResult]]


def is_redis(store: str) -> bool:
    return store.startswith(("redis://", "rediss://", "unix://"))


def open_store(settings: Settings) -> Store:
    """The store `--store` names: ``sqlite`` (a file in the state directory), ``memory``, or a Redis URL."""
    if settings.store == "memory":
        return MemoryStore()
    if is_redis(settings.store):
        from mockserver.core.backends.redis import RedisStore  # redis-py is an optional extra

        return RedisStore(settings.store)
    return SqliteStore(settings.resolved_state_dir() / "cutout-mock.db")


def share(store: Store, clock: MockClock, settings: Settings) -> Shared | None:
    """The shared limits, faults, journal and controls when several processes serve (else None).

    Redis always shares (replicas may start at any time); SQLite only under ``--workers``.
    """
    args = (clock, settings.rate_limits, settings.journal_size, settings.seed)
    if is_redis(settings.store):
        from mockserver.core.backends import redis

        return redis.services(store, *args, lease_seconds=settings.lease_seconds)  # type: ignore[arg-type]
    if settings.workers > 1 and isinstance(store, SqliteStore):
        return sqlite.services(store, *args)
    return None


class Mock:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = MockClock(frozen=settings.clock == "virtual", speed=settings.speed)
        state_dir = settings.resolved_state_dir()
        self.store: Store = open_store(settings)
        keys = json.loads(settings.keys_file.read_text()) if settings.keys_file else None
        self.accounts = Accounts(self.store, keys)
        shared = share(self.store, self.clock, settings)
        self.controls: SharedControls | None = shared.controls if shared else None
        self.leases: Leases | None = shared.leases if shared else None
        if shared is not None:
            # Several processes: exact limits, fault counts, journal and clock through the shared store;
            # ids seeded per process so two of them never hand out the same one.
            self.ids = IdSource(self.clock, None if settings.seed is None else f"{settings.seed}/{process_name()}")
            self.limiter: RateLimiter = shared.limiter
            self.journal: Journal = shared.journal
            self.faults: Faults = shared.faults
        else:
            self.ids = IdSource(self.clock, settings.seed)
            self.limiter = MemoryRateLimiter(self.clock, settings.rate_limits)
            self.journal = MemoryJournal(settings.journal_size)
            self.faults = MemoryFaults(settings.seed)
        get_segmenter(settings.engine)  # an unknown engine or a missing model file fails at start-up
        self.media = MediaStore(state_dir / "media", self.store, self.clock, self.ids)
        self.signer = Signer.load_or_create(state_dir / "keys" / "webhook-ed25519.pem")
        self.webhooks = Webhooks(self.clock, self.ids, self._webhook_client)
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: set[tuple[str, str]] = set()  # (provider, id) of jobs whose work runs here
        self._fetch_client: httpx.AsyncClient | None = None
        own_port = f"{settings.port}"
        self._own_hosts: set[str] = {
            "testserver",
            f"127.0.0.1:{own_port}",
            f"localhost:{own_port}",
            f"{settings.host}:{own_port}",
        }
        self._app: Any = None

    @property
    def engine(self) -> Segmenter:
        """The segmentation engine of `settings.engine`, read per job (the plugin's marker sets it per test)."""
        return get_segmenter(self.settings.engine)

    def reseed(self, seed: int | None) -> None:
        """Ids and fault draws repeat from here on (per process when several workers share the port)."""
        self.ids.reseed(seed if self.controls is None or seed is None else f"{seed}/{process_name()}")
        self.faults.reseed(seed)

    # --- wiring -------------------------------------------------------------------------------

    def bind(self, app: Any, own_hosts: set[str]) -> None:
        """Called by create_app: the app serves the mock's own URLs in-process when fetched."""
        self._app = app
        self._own_hosts |= own_hosts

    def _webhook_client(self) -> httpx.AsyncClient:
        """Webhooks go where fetches go: the mock's own hosts in-process, others behind the SSRF policy."""
        transport = SelfRoutingTransport(self._app, self._own_hosts, self.fetch_policy(0))
        return httpx.AsyncClient(transport=transport, follow_redirects=False)

    def fetch_policy(self, max_bytes: int) -> inputs.FetchPolicy:
        return inputs.FetchPolicy(max_bytes=max_bytes, allow_private=self.settings.allow_private_fetch)

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        if self._fetch_client is None:
            transport = SelfRoutingTransport(self._app, self._own_hosts, self.fetch_policy(max_bytes))
            self._fetch_client = httpx.AsyncClient(transport=transport, timeout=30, follow_redirects=False)
        return await inputs.fetch(url, self.fetch_policy(max_bytes), client=self._fetch_client)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._fetch_client is not None:
            await self._fetch_client.aclose()
            self._fetch_client = None

    # --- jobs ---------------------------------------------------------------------------------

    async def start(
        self, job: Job, work: Work, *, inline: bool | None = None, on_done: Callable[[Job], None] | None = None
    ) -> Job:
        """Store the job, then run its work inline (tests, sync endpoints) or in the background.

        `on_done` sees the stored job once its outcome is written (webhooks are scheduled there).
        """
        if self.leases is not None:  # held before the job is seen, so no other replica takes it for lost
            self.leases.claim(job.provider, job.id)
            self._running.add((job.provider, job.id))
        self.store.put_job(job)
        if inline or (inline is None and self.settings.work == "inline"):
            await self._run(job, work, on_done)
            return self.store.get_job(job.provider, job.id) or job
        task = asyncio.get_running_loop().create_task(self._run(job, work, on_done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: Job, work: Work, on_done: Callable[[Job], None] | None = None) -> None:
        try:
            result = await work(job)
        except MediaError as exc:
            result = WorkResult(State.FAILED, error={"code": exc.code, "message": exc.message})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the work must end the job, not leave it running forever
            log.exception("job %s errored", job.id)
            result = WorkResult(
                State.ERRORED, error={"code": "internal_error", "message": str(exc) or exc.__class__.__name__}
            )

        def finish(stored: Job) -> None:
            stored.outcome = result.outcome
            stored.outputs = result.outputs
            stored.result = result.result
            stored.error = result.error
            stored.done_at = self.clock.now()

        stored = self.store.update_job(job.provider, job.id, finish)
        if self.leases is not None:
            self._running.discard((job.provider, job.id))
            self.leases.release(job.provider, job.id)
        if on_done is not None and stored is not None:
            on_done(stored)

    # --- billing of jobs ----------------------------------------------------------------------

    def refund_job(self, provider: str, job_id: str) -> float:
        """Give back what a job was charged, exactly once (cancel, unbilled outcomes, forced failures)."""
        taken: list[float] = []

        def zero(job: Job) -> None:
            taken.append(job.charged)
            job.charged = 0.0

        stored = self.store.update_job(provider, job_id, zero)
        if stored is None or not taken or not taken[0]:
            return 0.0
        self.accounts.refund(provider, stored.owner, taken[0])
        return taken[0]

    def charge_job(self, job: Job, amount: float) -> float:
        """Bill a job more once its real cost is known, up to what the balance holds; what was taken."""
        taken = self.accounts.charge_up_to(job.provider, job.owner, amount)
        if taken:

            def add(stored: Job) -> None:
                stored.charged = round(stored.charged + taken, 6)

            self.store.update_job(job.provider, job.id, add)
        return taken

    def holds_lease(self, provider: str, job_id: str) -> bool:
        """Whether this process leased the job and runs its work now."""
        return (provider, job_id) in self._running

    def renew_leases(self) -> None:
        """Tell the other replicas this process still runs its jobs."""
        if self.leases is not None:
            self.leases.renew(sorted(self._running))

    async def drain(self) -> None:
        """Wait until every background job's work is done (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
