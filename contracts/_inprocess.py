"""The mock app in this process, reachable from sync and async httpx code without a socket.

The app lives on an event loop of its own, in a daemon thread, for its whole life: its background
work, webhook client and locks all belong to that loop, whichever loop or thread the caller uses.
``transport`` (sync) and ``async_transport`` forward each request to it; respx routes real provider
hostnames to them, and ``MockControl`` uses the sync one. A sync call from inside an async test
blocks only the test's loop, never the mock's, so it cannot deadlock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from functools import cached_property
from typing import Any, Protocol, TypeVar

import httpx
from starlette.types import Message

from contracts.control import MockControl
from mockserver.app import create_app
from mockserver.settings import Settings

T = TypeVar("T")
BASE_URL = "http://testserver"


class InProcessMock:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.for_tests()
        self.app = create_app(self.settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cutout-mock", daemon=True)
        self._thread.start()
        self._asgi = httpx.ASGITransport(app=self.app)
        self._lifespan: asyncio.Future[None] | None = None
        self._stop: asyncio.Event | None = None
        self._run(self._start_lifespan())
        self.transport = _SyncBridge(self)
        self.async_transport = _AsyncBridge(self)

    # --- the app's loop ---------------------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _start_lifespan(self) -> None:
        """Run the app's lifespan as a task that lives until `close` (startup now, shutdown then)."""
        self._stop = asyncio.Event()
        started = asyncio.Event()
        queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        await queue.put({"type": "lifespan.startup"})

        async def receive() -> dict[str, str]:
            message = await queue.get()
            return message

        async def send(message: Message) -> None:
            if message["type"].startswith("lifespan.startup"):
                started.set()

        async def stopper() -> None:
            assert self._stop is not None
            await self._stop.wait()
            await queue.put({"type": "lifespan.shutdown"})

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._lifespan = asyncio.ensure_future(self.app(scope, receive, send))
        self._stopper = asyncio.ensure_future(stopper())
        await started.wait()

    async def _forward(self, request: httpx.Request, content: bytes) -> httpx.Response:
        fresh = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        response = await self._asgi.handle_async_request(fresh)
        body = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        return self._run(self._forward(request, request.read()))

    @cached_property
    def hosts(self) -> dict[str, str]:
        """Every surface's real host (``fal-queue`` -> ``queue.fal.run``), asked once."""
        with MockControl(BASE_URL, transport=self.transport) as control:
            return surface_hosts(control)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        future = asyncio.run_coroutine_threadsafe(self._forward(request, content), self._loop)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        if not self._loop.is_running():
            return

        async def shutdown() -> None:
            assert self._stop is not None and self._lifespan is not None
            self._stop.set()
            await self._lifespan
            await self._stopper

        self._run(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class _SyncBridge(httpx.BaseTransport):
    def __init__(self, mock: InProcessMock) -> None:
        self._mock = mock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._mock.handle(request)


class _AsyncBridge(httpx.AsyncBaseTransport):
    def __init__(self, mock: InProcessMock) -> None:
        self._mock = mock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._mock.handle_async(request)


def surface_hosts(control: MockControl) -> dict[str, str]:
    """Each surface's real host by its full name (``fal-queue``), from a mock's control plane."""
    return {f"{p['name']}-{s['name']}": s["host"] for p in control.list_providers() for s in p["surfaces"]}


class Answers(Protocol):
    """Something that answers httpx requests, sync and async (this in-process mock, a live server)."""

    def handle(self, request: httpx.Request) -> httpx.Response: ...

    async def handle_async(self, request: httpx.Request) -> httpx.Response: ...


def intercept(mock: Answers, hosts: set[str]) -> Any:
    """A respx router (use it as a context manager) that answers `hosts` from `mock` and lets every
    other request through (a webhook receiver, the user's own servers, the mock's own port)."""
    import respx  # the kit's dependency, imported when interception is asked for

    class Interceptor(respx.MockRouter):
        def handler(self, request: httpx.Request) -> httpx.Response:
            if request.url.host in hosts:
                return mock.handle(request)
            return super().handler(request)

        async def async_handler(self, request: httpx.Request) -> httpx.Response:
            if request.url.host in hosts:
                return await mock.handle_async(request)
            return await super().async_handler(request)

    router = Interceptor(assert_all_called=False, assert_all_mocked=False)
    router.route().pass_through()
    return router
