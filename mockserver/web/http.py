"""The request and response primitives every endpoint shares: headers, JSON responses, ApiError.

Handlers raise ``ApiError`` with the provider's own status and body; the pipeline turns it into a
response.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# Keys that are not text as the standard library writes them ("1", "true"); dates and dataclasses
# go to the fallback (`plain`: their text), as they did before orjson.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


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
    """Starlette's JSONResponse written by orjson: the standard library's encoder builds a C encoder
    on every call, which was a fifth of answering a status poll."""

    def render(self, content: Any) -> bytes:
        """The body as compact UTF-8 JSON. What orjson does not write as the standard library would
        (a lone surrogate, an integer past 64 bits, a date, a dataclass, a structure nested past 254
        levels) is written as `plain` makes it, by the standard library's encoder, rather than failing:
        an object as its text, NaN as null, nothing nested past 64 levels."""
        try:
            return orjson.dumps(content, option=_ORJSON_OPTIONS)
        except (TypeError, ValueError, RecursionError):  # orjson.JSONEncodeError is a TypeError
            return _ENCODER.encode(plain(content)).encode("utf-8")

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


def plain(value: Any, depth: int = 0) -> Any:
    """`value` as JSON can carry it: non-finite numbers as null, lone surrogates replaced (U+FFFD),
    keys and unknown objects as text, and nothing nested deeper than 64 levels (null there)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value) if _lone(value) else value
    if depth >= 64:
        return None
    if isinstance(value, Mapping):
        return {plain(str(k) if not isinstance(k, str) else k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item, depth + 1) for item in value]
    return plain(str(value))


def _lone(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def content_disposition(filename: str, disposition: str = "inline") -> str:
    """A Content-Disposition value for `filename` (RFC 6266): the name itself when it is printable
    ASCII, else an ASCII stand-in (``_`` for each other character) and the real name as ``filename*``
    in UTF-8 (RFC 8187). Header values are Latin-1 on the wire: a raw UTF-8 name made every download
    of such a file a 500."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    if fallback == filename:
        return f'{disposition}; filename="{filename}"'
    encoded = quote(filename.encode("utf-8", "replace"), safe="")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


class ApiError(Exception):
    """A response in a provider's own shape, raised from anywhere below a handler."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body, self.headers = status, body, dict(headers or {})

    def response(self) -> Response:
        return JsonResponse(self.body, self.status, headers=self.headers)
