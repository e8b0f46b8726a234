"""The mock on a real port of 127.0.0.1, in a thread: for `requests` and other non-httpx clients."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import httpx
import uvicorn
from starlette.types import ASGIApp

from mockserver.app import create_app
from mockserver.settings import Settings

_DECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class LiveServer:
    """uvicorn serving a fresh mock on a free port until `close`.

    The asyncio loop, not uvloop: closing uvloop while clients still hold keep-alive connections
    raised at loop close. The lifespan runs, as under `serve`, so the mock closes its own clients.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        wrap: Callable[[ASGIApp], ASGIApp] | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        """`wrap` puts an ASGI layer in front of the mock (a proxy, a gateway, a deliberately broken one)."""
        self.settings = settings or Settings.for_tests()
        self.app = create_app(self.settings)
        config = uvicorn.Config(
            wrap(self.app) if wrap else self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="cutout-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the mock server did not start")
            time.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._forwarder: httpx.Client | None = None

    # --- answering requests to the providers' real hosts (``intercept`` routes them here) ----------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Send a request made to a real host (``queue.fal.run``) to this port, its Host kept: the mock
        serves it as that surface and answers with URLs on the real hosts."""
        if self._forwarder is None:
            self._forwarder = httpx.Client(timeout=120)
        url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        headers = {**request.headers, "x-forwarded-proto": request.url.scheme}  # uvicorn trusts 127.0.0.1
        local = self._forwarder.send(httpx.Request(request.method, url, headers=headers, content=request.read()))
        kept = [(k, v) for k, v in local.headers.multi_items() if k not in _DECODED]  # content is decoded
        return httpx.Response(local.status_code, headers=kept, content=local.content, request=request)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return await asyncio.to_thread(self.handle, request)

    def close(self) -> None:
        if self._forwarder is not None:
            self._forwarder.close()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
