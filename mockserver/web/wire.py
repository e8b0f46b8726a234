"""HTTP/1.1 on the socket, bounded: uvicorn's httptools protocol with limits on what a client sends.

uvicorn[standard] parses requests with httptools (llhttp), which has no limit of its own on a
request's header section: a client sending headers without end grew the server's memory until it
stopped, and one sending them a byte a minute held a connection for ever. This protocol adds:

- **Header bytes**: a request line and headers over ``MAX_HEADER_BYTES`` (64 KiB, as counted
  before they are parsed) get ``431 Request Header Fields Too Large`` and the connection closes.
- **Read time** (``--read-timeout``): a header section not complete within the read timeout of the
  end of the message before it and of the answer to it (or of the connection opening; a keep-alive
  connection's idle time counts, the app's time on a request does not) gets 408 and the connection
  closes. A body is the app's to time (``web/bodies.py`` answers 408 in the provider's own shape);
  for a body nobody reads (an endpoint that takes none), the connection is closed a grace period
  after the read timeout.

These answers come before any route is known, so they are ``{"detail": ...}`` JSON, as uvicorn's own
400 for a malformed request is plain text. Run it with ``ServerConfig`` (``server.py``).
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024  # nginx allows 4 x 8 KiB, Cloudflare 32 KiB: a real client stays far under
LINGER = 1.0  # seconds a refused connection is read (and dropped) before it closes
BODY_GRACE = 5.0  # seconds past the read timeout before an unread body's connection is closed


class ServerConfig(uvicorn.Config):
    """uvicorn's Config running the bounded protocol, with the read timeout it enforces (seconds)."""

    def __init__(self, app: Any, *, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, http=BoundedHttpToolsProtocol, **kwargs)
        self.read_timeout = read_timeout


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose header section is bounded in bytes and time (see the module).

    One timer per connection, not one per request: each message's, answer's and header section's
    end only move a deadline (a float), and the timer, when it fires early, waits again for the
    deadline; a message's end brings the timer forward only when it waits on a body's later deadline
    (read timeout + grace). Arming and cancelling a timer for every request cost a status poll ~2 us.
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.read_timeout: float = getattr(config, "read_timeout", 30.0)
        self._in_head = True  # between a message's end (or the connection's start) and its headers' end
        self._head_bytes = 0  # bytes received in that span (an upper bound: a read may hold a body's end)
        self._deadline = 0.0  # loop time by which the head (or the body, past its grace) must have come
        self._timer: TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait(self.read_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped, so closing does not reset the connection before the answer is read
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self._refuse(431, f"the request line and headers are over {MAX_HEADER_BYTES} bytes")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._deadline = self.loop.time() + self.read_timeout + BODY_GRACE  # the app answers 408 first
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes = True, 0
        self._deadline = self.loop.time() + self.read_timeout
        if self._timer is not None and self._timer.when() > self._deadline:
            self._wait(self.read_timeout)  # it fired in the body and waits on the body's later deadline
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._in_head:  # the next header section's read time runs from this answer, not the app's work
            self._deadline = self.loop.time() + self.read_timeout
        super().on_response_complete()

    def _wait(self, seconds: float) -> None:
        """A new deadline `seconds` from now, and the timer that checks it."""
        self._deadline = self.loop.time() + seconds
        self._disarm()
        self._timer = self.loop.call_at(self._deadline, self._too_slow)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        if self.transport.is_closing() or self._refused:
            return
        if self.loop.time() < self._deadline:  # a message or a header section ended since: wait on
            self._timer = self.loop.call_at(self._deadline, self._too_slow)
        elif self._in_head and self.cycle is not None and not self.cycle.response_complete:
            self._wait(self.read_timeout)  # the app still works on the previous request: not the client's wait
        elif self._in_head:
            self._refuse(408, f"the request headers did not arrive within {self.read_timeout:g} s")
        elif self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already; the body nobody reads is still trickling in
        else:
            self._refuse(408, f"the request body did not arrive within {self.read_timeout:g} s")

    def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` with ``{"detail"}`` and close, as uvicorn answers a malformed request."""
        self._disarm()
        body = json.dumps({"detail": detail}).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        self._refused = True
        if self.transport.can_write_eof():  # half-close, drop what still comes, close shortly after
            self.transport.write_eof()
            self.loop.call_later(LINGER, self.transport.close)
        else:
            self.transport.close()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app, if reading, sees the client gone
            self.cycle.message_event.set()
