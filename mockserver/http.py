"""HTTP plumbing every provider shares: the error type, body parsing, absolute URLs.

Handlers raise ``ApiError`` with the provider's own status and body; the app turns it into a
response. Body parsing never lets a malformed request become a 500: it raises ``BadBody`` with a
reason, which each provider's vocabulary words in its own error shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_BODY = 110 * 1024 * 1024  # above every provider's upload limit; bigger bodies are refused unread
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


@dataclass
class BadBody(Exception):
    """Why a request body could not be used: ``kind`` is one of the reasons below."""

    kind: str  # "empty" | "json" | "content_type" | "too_large" | "multipart"
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Body:
    """A parsed request body: JSON fields, or form fields plus uploaded files."""

    fields: dict[str, Any]
    files: dict[str, bytes]
    content_type: str


async def read_body(
    request: Request, *, allow_multipart: bool = False, raw: bool = False, max_bytes: int = MAX_BODY
) -> Body:
    """The body as JSON (default), multipart fields and files, or ``raw`` bytes in ``files["body"]``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadBody("too_large", f"request body larger than {max_bytes} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if allow_multipart and content_type == "multipart/form-data":
        return await _read_multipart(request, max_bytes)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > max_bytes:
            raise BadBody("too_large", f"request body larger than {max_bytes} bytes")
    if raw:
        if not data:
            raise BadBody("empty", "the request body is empty")
        return Body({}, {"body": bytes(data)}, content_type or "application/octet-stream")
    if content_type not in ("application/json", "") and not content_type.endswith("+json"):
        raise BadBody("content_type", f"unsupported content type {content_type!r}")
    if not data.strip():
        raise BadBody("empty", "the request body is empty")
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody("json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadBody("json", "the request body must be a JSON object")
    return Body(value, {}, "application/json")


async def _read_multipart(request: Request, max_bytes: int) -> Body:
    if "boundary=" not in request.headers.get("content-type", ""):
        raise BadBody("multipart", "multipart/form-data without a boundary")
    try:
        form = await request.form(max_files=8, max_fields=64, max_part_size=max_bytes)
    except (MultiPartException, HTTPException, ValueError) as exc:  # request.form() raises HTTPException(400)
        raise BadBody("multipart", f"malformed multipart body: {exc}") from None
    fields: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                if len(data) > max_bytes:
                    raise BadBody("too_large", f"file {name!r} is larger than {max_bytes} bytes")
                files[name] = data
            else:
                fields[name] = value
    finally:
        await form.close()
    return Body(fields, files, "multipart/form-data")
