"""The request journal: every request the mock served and what it answered (DESIGN §5).

Bounded (the oldest entries fall off), queryable by provider, key, path and method, and written by
one ASGI middleware, so nothing a provider handler does can skip it. Entries keep raw headers and
body bytes; decoding happens when someone asks, not on every request. The journal itself is kept by
a storage backend (``backends.base.Journal``, asked with a ``JournalQuery``): this module is the entry.
"""

from __future__ import annotations

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
# Lists as the ASGI scope and a Response hold them (kept as they are); tuples as older entries were made.
RawHeaders = list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...]


class Entry(NamedTuple):
    """One request: atomic values only (headers as (name, value) pairs of bytes)."""

    id: int
    at: float  # the mock's clock
    method: str
    path: str
    query: bytes
    provider: str | None
    operation: str | None
    key: str | None
    status: int
    duration_ms: float  # as measured; rounded when shown
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
            "duration_ms": round(self.duration_ms, 3),
            "request_headers": request_headers,
            "request_body": _text(self.request_body, request_headers, self.method),
            "response_headers": response_headers,
            "response_body": _text(self.response_body, response_headers, self.method),
        }


_KEPT_NAMES = frozenset(name.encode("latin-1") for name in KEPT_HEADERS)


def _headers(raw: RawHeaders) -> dict[str, str]:
    """The kept headers, decoded (only those: a shared journal encodes every entry as it is written)."""
    return {k.lower().decode("latin-1"): v.decode("latin-1") for k, v in raw if k.lower() in _KEPT_NAMES}


def _text(body: bytes, headers: dict[str, str], method: str) -> str:
    """A text body as text; anything else as its size (files' bytes are not kept: Content-Length)."""
    content_type = headers.get("content-type", "")
    if body and ("json" in content_type or content_type.startswith("text/") or "form-urlencoded" in content_type):
        return body.decode("utf-8", errors="replace")
    declared = headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else len(body)
    if not size or method == "HEAD":  # a HEAD answer declares the GET's length but has no body
        return ""
    return f"<{size} bytes {content_type or 'binary'}>"
