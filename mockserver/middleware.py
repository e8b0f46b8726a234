"""ASGI middleware of the HTTP layer: host routing, exposed surfaces, and the request journal."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.core.clock import Clock
from mockserver.core.journal import Entry, Journal
from mockserver.core.sharing import SharedControls

BODY_LIMIT = 4096  # bytes of a body kept in the journal


class HostRouting:
    """Requests to a real provider host (``queue.fal.run``) are served at that surface's prefix.

    This is what in-process interception (respx by real hostnames) and hosts-file or proxy setups
    use. URLs the mock returns then keep to the real hosts (``cutout.bases``).
    """

    def __init__(self, app: ASGIApp, host_prefixes: dict[str, str]) -> None:
        self.app, self.host_prefixes = app, host_prefixes
        # Surface bases on real hosts, made once per scheme rather than on every request.
        self._bases = {s: {p: f"{s}://{h}" for h, p in host_prefixes.items()} for s in ("http", "https")}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").split(":")[0].lower()
            prefix = self.host_prefixes.get(host)
            if prefix is not None:
                bases = self._bases["http" if scope.get("scheme") == "http" else "https"]
                scope = {**scope, "path": prefix + scope["path"], "raw_path": None, "cutout.bases": bases}
        await self.app(scope, receive, send)


class SurfaceMount:
    """One surface served at the root of a port of its own (``--expose fal-queue=8443``)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            base = f"{scope.get('scheme', 'http')}://{host}"
            path = scope["path"] if scope["path"].startswith("/__mock") else self.prefix + scope["path"]
            scope = {**scope, "path": path, "raw_path": None, "cutout.bases": {self.prefix: base}}
        await self.app(scope, receive, send)


class JournalRecorder:
    """Records every request outside /__mock with its response (bodies truncated, binary as a size)."""

    def __init__(self, app: ASGIApp, journal: Journal, clock: Clock, prefixes: dict[str, str]) -> None:
        self.app, self.journal, self.clock = app, journal, clock
        self.prefixes = sorted(prefixes.items(), key=lambda item: -len(item[0]))  # path prefix -> provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__mock"):
            await self.app(scope, receive, send)
            return
        started, at = time.perf_counter(), self.clock.now()
        request_body, response_body = bytearray(), bytearray()
        response: dict[str, Any] = {"status": 500, "headers": []}

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request_body) < BODY_LIMIT:
                request_body.extend(message.get("body", b"")[: BODY_LIMIT - len(request_body)])
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"], response["headers"] = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body" and len(response_body) < BODY_LIMIT:
                response_body.extend(message.get("body", b"")[: BODY_LIMIT - len(response_body)])
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            self._record(scope, at, started, bytes(request_body), bytes(response_body), response)

    def _record(
        self,
        scope: Scope,
        at: float,
        started: float,
        request_body: bytes,
        response_body: bytes,
        response: dict[str, Any],
    ) -> None:
        path = scope["path"]
        self.journal.record(
            Entry(
                id=self.journal.next_id(),
                at=at,
                method=scope["method"],
                path=path,
                query=scope.get("query_string", b""),
                provider=next((name for prefix, name in self.prefixes if path.startswith(prefix)), None),
                operation=scope.get("cutout.operation"),
                key=scope.get("cutout.key"),
                status=response["status"],
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                request_headers=tuple(scope.get("headers", ())),
                request_body=request_body,
                response_headers=tuple(response["headers"]),
                response_body=response_body,
            )
        )


class SyncControls:
    """Several processes: take the clock and limits another one published, before each request."""

    def __init__(self, app: ASGIApp, controls: SharedControls) -> None:
        self.app, self.controls = app, controls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.controls.sync()
        await self.app(scope, receive, send)
