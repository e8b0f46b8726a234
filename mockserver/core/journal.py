"""The request journal: every request the mock served and what it answered (DESIGN §5).

Bounded (the oldest entries fall off), queryable by provider, key, path and method, and written by
one ASGI middleware, so nothing a provider handler does can skip it. Entries keep raw headers and
body bytes; decoding happens when someone asks, not on every request.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Any, NamedTuple

KEPT_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "user-agent",
        "accept",
        "location",
        "retry-after",
        "x-fal-request-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-webhook-url",
        "x-mock-scenario",
    }
)
RawHeaders = tuple[tuple[bytes, bytes], ...]


class Entry(NamedTuple):
    """One request: atomic values only (headers as tuples of bytes)."""

    id: int
    at: float  # the mock's clock
    method: str
    path: str
    query: bytes
    provider: str | None
    operation: str | None
    key: str | None
    status: int
    duration_ms: float
    request_headers: RawHeaders
    request_body: bytes
    response_headers: RawHeaders
    response_body: bytes

    def to_dict(self) -> dict[str, Any]:
        request_headers, response_headers = _headers(self.request_headers), _headers(self.response_headers)
        return {
            "id": self.id,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query.decode("latin-1"),
            "provider": self.provider,
            "operation": self.operation,
            "key": self.key,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "request_headers": request_headers,
            "request_body": _text(self.request_body, request_headers.get("content-type", "")),
            "response_headers": response_headers,
            "response_body": _text(self.response_body, response_headers.get("content-type", "")),
        }


def _headers(raw: RawHeaders) -> dict[str, str]:
    decoded = ((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw)
    return {k: v for k, v in decoded if k in KEPT_HEADERS}


def _text(body: bytes, content_type: str) -> str:
    if not body:
        return ""
    if "json" in content_type or content_type.startswith("text/") or "form-urlencoded" in content_type:
        return body.decode("utf-8", errors="replace")
    return f"<{len(body)} bytes {content_type or 'binary'}>"


class Journal:
    def __init__(self, capacity: int = 10_000) -> None:
        # Stored as exact tuples of atomic values, which CPython's cyclic GC stops tracking (it does
        # not untrack tuple subclasses such as Entry): a full journal then adds nothing to each
        # collection, where tracked entries made GC pauses the p99 of a status poll.
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def next_id(self) -> int:
        return next(self._ids)  # itertools.count's next is atomic under the GIL: no lock

    def record(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(tuple(entry))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def query(
        self,
        *,
        provider: str | None = None,
        key: str | None = None,
        path: str | None = None,
        method: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Matching entries, oldest first; `path` matches as a substring."""
        with self._lock:
            entries = [Entry._make(raw) for raw in self._entries]
        found = [
            e
            for e in entries
            if (provider is None or e.provider == provider)
            and (key is None or e.key == key)
            and (path is None or path in e.path)
            and (method is None or e.method == method.upper())
        ]
        return [e.to_dict() for e in found[-limit:]]
