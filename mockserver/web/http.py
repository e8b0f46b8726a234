"""The request and response primitives every endpoint shares: headers, JSON responses, ApiError.

Handlers raise ``ApiError`` with the provider's own status and body; the pipeline turns it into a
response.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def header(request: Request, name: str, default: str = "") -> str:
    """One request header by its lower-case name, scanned from the raw list.

    Starlette's ``request.headers.get`` builds a mapping view and lower-cases and encodes the name
    on each call; the key, the gate and the scenario header made that a large part of a status poll.
    """
    return raw_header(request.scope["headers"], name, default)


def raw_header(headers: Iterable[tuple[bytes, bytes]], name: str, default: str = "") -> str:
    """A header from an ASGI scope's raw list (names arrive lower-case, per the ASGI spec)."""
    wanted = name.encode("latin-1")
    for key, value in headers:
        if key == wanted:
            return value.decode("latin-1")
    return default


class JsonResponse(JSONResponse):
    """Starlette's JSONResponse with one encoder made once: ``json.dumps`` given options builds a
    new encoder per call, a third of rendering a job status."""

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content).encode("utf-8")

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Without extra headers, the two a JSON body needs are written directly: Starlette's general
        path (headers to merge, a charset for text types) was a third of building the response."""
        if headers or self.status_code < 200 or self.status_code in (204, 304):
            super().init_headers(headers)
            return
        assert self.media_type is not None
        self.raw_headers = [
            (b"content-length", str(len(self.body)).encode("latin-1")),
            (b"content-type", self.media_type.encode("latin-1")),
        ]


class ApiError(Exception):
    """A response in a provider's own shape, raised from anywhere below a handler."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body, self.headers = status, body, dict(headers or {})

    def response(self) -> Response:
        return JsonResponse(self.body, self.status, headers=self.headers)
