"""Request bodies: JSON, multipart fields and files, or raw bytes, read within a size limit.

Body parsing never lets a malformed request become a 500: it raises ``BadBody`` with a reason,
which each provider's vocabulary words in its own error shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

MAX_BODY = 110 * 1024 * 1024  # above every provider's upload limit; bigger bodies are refused unread


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
