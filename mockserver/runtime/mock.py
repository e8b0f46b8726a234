"""The mock's services in one place: clock, ids, store, accounts, media, limits, faults, journal,
webhooks, fetching, and the jobs (runtime/jobs.py).

Providers and the control plane reach everything through a ``Mock``; nothing here knows a
provider's words. Which providers it serves (their names, surfaces, operations) it learns from the
app at composition, as plain data the control plane reads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
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
from mockserver.core.disk import DiskUsage
from mockserver.core.ids import IdSource
from mockserver.core.jobs import Job
from mockserver.core.media import MediaStore
from mockserver.core.signing import Signer
from mockserver.core.webhooks import Delivery, Headers, Webhooks
from mockserver.engine import inputs
from mockserver.engine.segment import Segmenter, get_segmenter
from mockserver.runtime.catalogue import Served
from mockserver.runtime.jobs import Jobs, Webhook
from mockserver.runtime.pool import EnginePool
from mockserver.runtime.transport import SelfRoutingTransport
from mockserver.settings import Settings


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
        return sqlite.services(store, *args, lease_seconds=settings.lease_seconds)
    return None


def engine_share(settings: Settings) -> int:
    """This process's engine workers: ``--engine-processes`` split among ``--workers`` (at least one
    each), or 0 (threads of this process)."""
    if settings.engine_processes == 0:
        return 0
    return max(1, settings.engine_processes // settings.workers)


class Mock:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The price choices as serve was started with: /__mock/prices changes them, reset restores these.
        self.start_prices: dict[str, Any] = {"pixelapi_prices": settings.pixelapi_prices}
        self.start_prices["pixelcut_video_credits"] = settings.pixelcut_video_credits
        self.clock = MockClock(frozen=settings.clock == "virtual", speed=settings.speed)
        state_dir = settings.resolved_state_dir()
        self.store: Store = open_store(settings)
        keys = json.loads(settings.keys_file.read_text()) if settings.keys_file else None
        self.accounts = Accounts(self.store, keys)
        shared = share(self.store, self.clock, settings)
        self.controls: SharedControls | None = shared.controls if shared else None
        if self.controls is not None:  # /__mock/prices holds for every process, as the clock does
            self.controls.share("prices", self._prices, self._take_prices)
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
        self.disk = DiskUsage(state_dir)  # what /__mock/health reports of the state dir
        self.signer = Signer.load_or_create(state_dir / "keys" / "webhook-ed25519.pem")
        self.webhooks = Webhooks(self.clock, self.ids, self.store, self._webhook_client, self.webhook_headers)
        self.jobs = Jobs(self.store, self.accounts, self.clock, self.webhooks, self.leases, settings, self._webhook_of)
        self.pool = EnginePool(engine_share(settings), settings.engine)  # workers start on first use
        self.served: dict[str, Served] = {}  # by name, filled by the app (serve())
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

    def _prices(self) -> dict[str, Any]:
        """The price choices in use (the settings /__mock/prices sets), as plain data."""
        return {setting: getattr(self.settings, setting) for setting in self.start_prices}

    def _take_prices(self, prices: dict[str, Any]) -> None:
        for setting, value in prices.items():
            if setting in self.start_prices:
                setattr(self.settings, setting, value)

    def reseed(self, seed: int | None) -> None:
        """Ids and fault draws repeat from here on (per process when several workers share the port)."""
        self.ids.reseed(seed if self.controls is None or seed is None else f"{seed}/{process_name()}")
        self.faults.reseed(seed)

    # --- wiring -------------------------------------------------------------------------------

    def serve(self, providers: Iterable[Served]) -> None:
        """Called by create_app: the providers this mock serves, before anything uses them."""
        self.served = {p.name: p for p in providers}

    def bind(self, app: Any, own_hosts: set[str]) -> None:
        """Called by create_app: the app serves the mock's own URLs in-process when fetched."""
        self._app = app
        self._own_hosts |= own_hosts

    def _webhook_client(self) -> httpx.AsyncClient:
        """Webhooks go where fetches go: the mock's own hosts in-process, others behind the SSRF policy."""
        transport = SelfRoutingTransport(self._app, self._own_hosts, self.fetch_policy(0))
        return httpx.AsyncClient(transport=transport, follow_redirects=False)

    def _webhook_of(self, job: Job) -> Webhook | None:
        """A job's webhook from its provider, for a process that did not take the job."""
        served = self.served.get(job.provider)
        return served.webhook(job) if served is not None else None

    def webhook_headers(self, delivery: Delivery) -> Headers | None:
        """A delivery's headers, from its provider and its job as stored (a delivery scheduled before a
        restart, or by another worker, is signed as its scheduler would have signed it)."""
        served, job = self.served.get(delivery.provider), self.store.get_job(delivery.provider, delivery.job_id)
        return served.webhook_headers(self.signer, job) if served is not None and job is not None else None

    def fetch_policy(self, max_bytes: int) -> inputs.FetchPolicy:
        return inputs.FetchPolicy(max_bytes=max_bytes, allow_private=self.settings.allow_private_fetch)

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        if self._fetch_client is None:
            transport = SelfRoutingTransport(self._app, self._own_hosts, self.fetch_policy(max_bytes))
            self._fetch_client = httpx.AsyncClient(transport=transport, timeout=30, follow_redirects=False)
        return await inputs.fetch(url, self.fetch_policy(max_bytes), client=self._fetch_client)

    async def purge_media(self, every: float = 60.0, first: float = 5.0) -> None:
        """`serve`'s background loop: delete expired output files every `every` seconds of mock time (a
        sped-up clock purges sooner, at most once a real second), off the event loop, so the state
        dir's disk use stays bounded (their URLs still say expired). The first purge waits `first`
        real seconds, and each batch leaves the GIL a moment: a backlog of 50,000 files purged while
        serve started made the start-up 3x slower."""
        await asyncio.sleep(first)
        while True:
            await asyncio.to_thread(self.media.purge_expired, pause=0.005)
            await asyncio.sleep(min(every, max(1.0, every / self.clock.speed)))

    async def aclose(self) -> None:
        self.jobs.cancel_all()
        self.pool.close()
        if self.controls is not None:
            await self.controls.aclose()
        if self._fetch_client is not None:
            await self._fetch_client.aclose()
            self._fetch_client = None
