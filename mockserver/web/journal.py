"""The journal hook: every request outside /__mock recorded with the response the app noted for it."""

from __future__ import annotations

import time

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.core.backends.base import Journal
from mockserver.core.clock import Clock
from mockserver.core.journal import Entry

BODY_LIMIT = 4096  # bytes of a body kept in the journal

RESPONSE = "cutout.response"  # scope key: the Response the app answered with, for the journal


def note_response(scope: Scope, response: Response) -> Response:
    """Tell the journal what this request was answered with (every responder of the app calls it)."""
    scope[RESPONSE] = response
    return response


class JournalRecorder:
    """Records every request outside /__mock with its response (bodies truncated, binary as a size).

    The response is read from the object the app noted (``note_response``), not from the messages
    sent: wrapping ``send`` for every request cost a status poll more than the record itself. A
    request nothing noted ended in an exception, which Starlette answers 500, and is recorded so.
    Bodies of files and streams are not kept (a file shows as its Content-Length).
    """

    BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})  # their receive is not wrapped

    def __init__(self, app: ASGIApp, journal: Journal, clock: Clock, prefixes: dict[str, str]) -> None:
        self.app, self.journal, self.clock = app, journal, clock
        # Each provider's prefix is one path segment: found by a dict lookup, as the front door finds its router.
        self.providers = {prefix.strip("/"): name for prefix, name in prefixes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__mock"):
            await self.app(scope, receive, send)
            return
        started, at = time.perf_counter(), self.clock.now()
        if scope["method"] in self.BODYLESS:
            try:
                await self.app(scope, receive, send)
            finally:
                self._record(scope, at, started, b"")
            return
        request_body: list[bytes] = []

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request_body) < 4:  # enough for BODY_LIMIT
                request_body.append(message.get("body", b""))
            return message

        try:
            await self.app(scope, recording_receive, send)
        finally:
            self._record(scope, at, started, b"".join(request_body)[:BODY_LIMIT])

    def _record(self, scope: Scope, at: float, started: float, request_body: bytes) -> None:
        response: Response | None = scope.get(RESPONSE)
        if response is None:
            status, headers, body = 500, [], b""
        else:
            status, headers = response.status_code, response.raw_headers
            body = b"" if scope["method"] == "HEAD" else getattr(response, "body", b"")[:BODY_LIMIT]
        path = scope["path"]
        # Entry._make, not Entry(...): a status poll's entry is made without the keyword machinery.
        entry = _make_entry(
            (
                0,  # the journal numbers it
                at,
                scope["method"],
                path,
                scope.get("query_string", b""),
                self.providers.get(path[1:].partition("/")[0]),
                scope.get("cutout.operation"),
                scope.get("cutout.key"),
                status,
                (time.perf_counter() - started) * 1000,
                scope["headers"],  # the request's own lists, never changed once it is answered
                request_body,
                headers,
                body,
            )
        )
        self.journal.record(entry)


_make_entry = Entry._make
