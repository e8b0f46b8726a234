"""ASGI middleware of the HTTP layer: host routing, exposed surfaces, and the request journal."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.core.clock import Clock
from mockserver.core.journal import Entry
from mockserver.core.sharing import JournalLike, SharedControls

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
            prefix = self.host_prefixes.get(_host(scope["headers"]).split(":")[0].lower())
            if prefix is not None:
                bases = self._bases["http" if scope.get("scheme") == "http" else "https"]
                scope = {**scope, "path": prefix + scope["path"], "raw_path": None, "cutout.bases": bases}
        await self.app(scope, receive, send)


def _host(headers: list[tuple[bytes, bytes]]) -> str:
    """The Host header as sent (a scan: no dict of every header per request)."""
    for name, value in headers:
        if name == b"host":
            return value.decode("latin-1")
    return ""


class SurfaceMount:
    """One surface served at the root of a port of its own (``--expose fal-queue=8443``)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            base = f"{scope.get('scheme', 'http')}://{_host(scope['headers'])}"
            path = scope["path"] if scope["path"].startswith("/__mock") else self.prefix + scope["path"]
            scope = {**scope, "path": path, "raw_path": None, "cutout.bases": {self.prefix: base}}
        await self.app(scope, receive, send)


class JournalRecorder:
    """Records every request outside /__mock with its response (bodies truncated, binary as a size)."""

    BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})  # their receive is not wrapped

    def __init__(self, app: ASGIApp, journal: JournalLike, clock: Clock, prefixes: dict[str, str]) -> None:
        self.app, self.journal, self.clock = app, journal, clock
        # Each provider's prefix is one path segment: found by a dict lookup, as SegmentRouter does.
        self.providers = {prefix.strip("/"): name for prefix, name in prefixes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__mock"):
            await self.app(scope, receive, send)
            return
        started, at = time.perf_counter(), self.clock.now()
        request_body: list[bytes] = []
        response_body: list[bytes] = []
        start: list[Message] = []

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request_body) < 4:  # enough for BODY_LIMIT
                request_body.append(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.append(message)
            elif message["type"] == "http.response.body" and len(response_body) < 4:
                response_body.append(message.get("body", b""))
            await send(message)

        wrapped = receive if scope["method"] in self.BODYLESS else recording_receive
        try:
            await self.app(scope, wrapped, recording_send)
        finally:
            self._record(scope, at, started, request_body, response_body, start[0] if start else None)

    def _record(
        self,
        scope: Scope,
        at: float,
        started: float,
        request_body: list[bytes],
        response_body: list[bytes],
        start: Message | None,
    ) -> None:
        path = scope["path"]
        self.journal.record(
            Entry(
                id=self.journal.next_id(),
                at=at,
                method=scope["method"],
                path=path,
                query=scope.get("query_string", b""),
                provider=self.providers.get(path.split("/", 2)[1]),
                operation=scope.get("cutout.operation"),
                key=scope.get("cutout.key"),
                status=start["status"] if start else 500,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                request_headers=tuple(scope.get("headers", ())),
                request_body=_kept(request_body),
                response_headers=tuple(start.get("headers", ())) if start else (),
                response_body=_kept(response_body),
            )
        )


def _kept(chunks: list[bytes]) -> bytes:
    """The first BODY_LIMIT bytes of a body (one chunk, the usual case, is sliced without a join)."""
    if len(chunks) == 1:
        return chunks[0][:BODY_LIMIT]
    return b"".join(chunks)[:BODY_LIMIT]


class SyncControls:
    """Several processes: take the clock and limits another one published, before each request."""

    def __init__(self, app: ASGIApp, controls: SharedControls) -> None:
        self.app, self.controls = app, controls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.controls.sync()
        await self.app(scope, receive, send)
