"""What the Redis store does on the event loop without holding it: a request's look at the change
counter, and the journal's batches.

On Redis a status poll needs one fact from the server: whether anything changed since this process
last looked (the store's change counter, ``<prefix>changes``; every write of a job, an account, the
fault list or the controls counts one). Asked on the blocking client, the event loop waited out a
round trip per request and served nothing meanwhile, and so it did for each turn's journal batch:
0.32 x a bare Starlette endpoint at c=32 (0.41 x since, with 0.25 Redis commands a poll).

Here both go out on an asyncio connection. Every request that begins before a look's read is sent
takes its answer, so one round trip serves all the requests that arrived in a turn of the loop; a
request never takes an answer sent before it began, so whatever any process wrote before the
request began is seen (the change counter moved, so the store's read cache is dropped).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

try:
    import redis.asyncio as aioredis
except ImportError:  # pragma: no cover - RedisStore's connect says what to install
    aioredis = None  # type: ignore[assignment]


class LoopClient:
    """An asyncio Redis client for the running event loop (the tests run several loops in one process).

    `url` is a plain Redis URL (no ``?prefix=``). Calling it gives the running loop's client. A command
    that finds its connection dropped (Redis restarted) is sent once more on a new one (the blocking
    client finds such a connection before it sends): without it, the first look after a restart failed
    all the requests that shared it with a 500.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            client = aioredis.Redis.from_url(
                self._url, decode_responses=True, retry_on_error=[aioredis.ConnectionError]
            )
            self._client, self._loop = client, loop
        return self._client

    async def aclose(self) -> None:
        """Close this loop's connections (another loop's client is left to the garbage collector)."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client, self._loop = None, None


@dataclass(frozen=True)
class Snapshot:
    """What one read of the change counter (and, when it moved, one more round trip) told."""

    version: str  # "<epoch>:<change counter>" (the epoch is new when the keys were flushed: FLUSHDB)
    controls: int | None  # the controls document's version (None: never written)
    faults: bool  # whether any fault rule exists


class ChangeWatch:
    """The change counter and what hangs on it, one read shared by the requests that begin together.

    `changes`, `controls` and `faults` are full key names. The counter is read with an epoch (a random
    token set once, ``<changes>:epoch``): after a FLUSHDB the counter starts again and could come back
    to a value a cache was kept for, but the epoch is new.
    """

    def __init__(self, client: LoopClient, changes: str, controls: str, faults: str) -> None:
        self._client, self._changes, self._controls, self._faults = client, changes, controls, faults
        self._epoch = changes + ":epoch"
        self._waiting: list[asyncio.Future[Snapshot]] | None = None  # callers of the next read, not sent yet
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop `_waiting` belongs to
        self._running: set[asyncio.Task[None]] = set()  # reads on their way (a task needs a reference)
        self._last: Snapshot | None = None

    async def snapshot(self) -> Snapshot:
        """The store as of a read sent after this call began (shared with the calls that joined it).

        Each caller waits on a future of its own, which the read answers: a caller cancelled (its client
        gone) cancels only its own wait, and the read's error goes to the callers still waiting."""
        loop = asyncio.get_running_loop()
        waiting = self._waiting
        if waiting is None or self._loop is not loop:
            waiting = self._waiting = []
            self._loop = loop
            fetch = loop.create_task(self._answer(waiting))
            self._running.add(fetch)
            fetch.add_done_callback(self._running.discard)
        answer: asyncio.Future[Snapshot] = loop.create_future()
        waiting.append(answer)
        return await answer

    async def _answer(self, waiting: list[asyncio.Future[Snapshot]]) -> None:
        self._waiting = None  # from now on a new caller needs a read of its own: this one may be on its way
        try:
            found = await self._fetch()
        except asyncio.CancelledError:  # the loop is closing: so are its callers
            for answer in waiting:
                answer.cancel()
            raise
        except Exception as error:  # Redis's error, to every caller still waiting (nobody else takes it)
            for answer in waiting:
                if not answer.done():
                    answer.set_exception(error)
            return
        for answer in waiting:
            if not answer.done():
                answer.set_result(found)

    async def _fetch(self) -> Snapshot:
        client = self._client()
        changes, epoch = await client.mget(self._changes, self._epoch)
        if epoch is None:  # a new Redis, or one flushed under the mock: counts start again from nothing
            await client.set(self._epoch, uuid.uuid4().hex, nx=True)
            epoch = await client.get(self._epoch)
        version = f"{epoch}:{changes or 0}"
        last = self._last
        if last is not None and last.version == version:
            return last
        async with client.pipeline(transaction=False) as pipe:  # it moved: so may have these
            pipe.hget(self._controls, "version")
            pipe.exists(self._faults)
            controls, faults = await pipe.execute()
        self._last = Snapshot(version, int(controls) if controls is not None else None, bool(faults))
        return self._last
