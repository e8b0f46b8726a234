"""Request bodies: JSON, multipart fields and files, or raw bytes, read within bounds.

Every bound is checked before the work it guards, and none lets a request become a 500: a body
that breaks one raises ``BadBody`` with a reason, which each provider's vocabulary (and the control
plane) words in its own error shape.

- **Size**: a declared ``Content-Length`` over the limit is refused unread; a body sent without one
  (chunked) is refused as soon as what arrived passes the limit, so nothing over it is buffered.
- **Time**: the whole body must arrive within ``timeout`` seconds (``--read-timeout``), or the
  request is refused with kind ``timeout`` (each provider's 408) and the connection closed.
- **JSON shape**: at most ``MAX_JSON_DEPTH`` containers deep and ``MAX_JSON_VALUES`` values,
  checked on the raw bytes before parsing (Python's parser recurses, and a deep document broke
  every later walk of it: validation, magic inputs, storage); numbers must be finite (``NaN``,
  ``Infinity`` and ``1e999`` are not JSON numbers, and a stored one broke every JSON answer after).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import anyio
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

MAX_BODY = 110 * 1024 * 1024  # above every provider's upload limit; bigger bodies are refused unread
MAX_JSON_DEPTH = 32  # containers nested in one another; the providers' own bodies use 3
MAX_JSON_VALUES = 10_000  # values in one document (each member, element and container counts)
CLOSE = {"Connection": "close"}  # on a refusal the client may still be sending: drop the connection


@dataclass
class BadBody(Exception):
    """Why a request body could not be used: ``kind`` is one of the reasons below."""

    kind: str  # "empty" | "json" | "content_type" | "too_large" | "multipart" | "timeout" | "disconnected"
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        """Headers the refusal must carry: a body refused while it may still be arriving (too large
        or too slow) closes the connection, so the rest is not read."""
        return CLOSE if self.kind in ("too_large", "timeout", "disconnected") else {}


@dataclass
class Body:
    """A parsed request body: JSON fields, or form fields plus uploaded files."""

    fields: dict[str, Any]
    files: dict[str, bytes]
    content_type: str


async def read_body(
    request: Request,
    *,
    allow_multipart: bool = False,
    raw: bool = False,
    max_bytes: int = MAX_BODY,
    timeout: float,
) -> Body:
    """The body as JSON (default), multipart fields and files, or ``raw`` bytes in ``files["body"]``.

    Raises BadBody: too_large (over ``max_bytes``), timeout (not all there within ``timeout`` s),
    content_type, empty, json (malformed, too deep, too many values, a non-finite number), multipart.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if allow_multipart and content_type == "multipart/form-data":
        return await _read_multipart(request, max_bytes, timeout)
    data = await read_bytes(request, max_bytes=max_bytes, timeout=timeout)
    if raw:
        if not data:
            raise BadBody("empty", "the request body is empty")
        return Body({}, {"body": data}, content_type or "application/octet-stream")
    if content_type not in ("application/json", "") and not content_type.endswith("+json"):
        raise BadBody("content_type", f"unsupported content type {content_type!r}")
    if not data.strip():
        raise BadBody("empty", "the request body is empty")
    value = parse_json(data)
    if not isinstance(value, dict):
        raise BadBody("json", "the request body must be a JSON object")
    return Body(value, {}, "application/json")


async def read_bytes(request: Request, *, max_bytes: int, timeout: float) -> bytes:
    """The whole body, refused (BadBody too_large) as soon as it is known to pass ``max_bytes``, and
    (BadBody timeout) when it has not all arrived within ``timeout`` seconds."""
    data = bytearray()
    async for chunk in stream(request, max_bytes=max_bytes, timeout=timeout):
        data.extend(chunk)
    return bytes(data)


async def stream(request: Request, *, max_bytes: int, timeout: float) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive (for a handler that streams an upload to disk), within the
    same bounds: BadBody too_large once a declared or a received size passes ``max_bytes``, BadBody
    timeout when the last chunk has not arrived ``timeout`` seconds after the first was asked for."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BadBody("too_large", f"request body larger than {max_bytes} bytes")
    deadline, size = anyio.current_time() + timeout, 0
    chunks = request.stream().__aiter__()
    while True:
        try:
            with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BadBody("timeout", f"the request body did not arrive within {timeout:g} s") from None
        except ClientDisconnect:  # not the server's failure: no traceback, and no 500 in the journal
            raise BadBody("disconnected", "the client closed the connection before its body arrived") from None
        size += len(chunk)
        if size > max_bytes:
            raise BadBody("too_large", f"request body larger than {max_bytes} bytes")
        yield chunk


# --- JSON within bounds -----------------------------------------------------------------------------

# A JSON string, escapes included; one left open runs to the end (so a body of unclosed strings is
# one pass, not a retry from every quote: `"\\"\\"\\"...` took 8 s for 64 KB, quadratic).
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{},")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # the escape of a UTF-16 surrogate
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1, ord(","): 0}


def parse_json(data: bytes | str) -> Any:
    """A JSON document within the bounds above; BadBody("json") says which one it broke.

    The shape is checked on the bytes first, without building anything: counting brackets and
    commas (strings included) is enough for any ordinary body; only a body with more of them than
    the bounds allow is looked at again with its strings taken out, and refused if it really is too
    deep or too large. Numbers must be finite.
    """
    if isinstance(data, str):
        text, raw = data, data.encode("utf-8", "surrogatepass")
    else:  # UTF-8 only (RFC 8259 section 8.1), a BOM allowed: json.loads would sniff UTF-16 and -32, and
        # bytes read as UTF-16 hide brackets from a check made on UTF-8 (a U+2200 holds a 0x22 byte)
        raw = data
        try:
            text = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise BadBody("json", f"the request body is not UTF-8: {exc}") from None
    _check_shape(raw)
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadBody("json", f"the request body is not valid JSON: {exc}") from None
    if _SURROGATE.search(raw):  # an escaped surrogate: fine in a pair, but a lone one is no character
        _check_text(value)
    return value


def _check_shape(data: bytes) -> None:
    opens = data.count(b"[") + data.count(b"{")
    if opens <= MAX_JSON_DEPTH and opens + data.count(b",") < MAX_JSON_VALUES:
        return  # no deeper than its containers, no more values than its separators and containers
    skeleton = _STRING.sub(b"", data).translate(None, _NOT_STRUCTURE)
    # Depth on a prefix at most as long as an allowed document's skeleton: past it, the count refuses.
    if max(accumulate(_STEP[b] for b in skeleton[: 3 * MAX_JSON_VALUES]), default=0) > MAX_JSON_DEPTH:
        raise BadBody("json", f"the JSON document is nested more than {MAX_JSON_DEPTH} levels deep")
    values = skeleton.count(b",") + skeleton.count(b"[") + skeleton.count(b"{")
    if values >= MAX_JSON_VALUES or len(skeleton) > 3 * MAX_JSON_VALUES:
        raise BadBody("json", f"the JSON document holds more than {MAX_JSON_VALUES} values")


def _check_text(value: Any) -> None:
    """Refuse a string (key or value) holding a lone surrogate, which no UTF-8 answer can carry."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadBody("json", "the request body holds a lone surrogate (\\ud800-\\udfff)") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


# --- multipart --------------------------------------------------------------------------------------


async def _read_multipart(request: Request, max_bytes: int, timeout: float) -> Body:
    if "boundary=" not in request.headers.get("content-type", ""):
        raise BadBody("multipart", "multipart/form-data without a boundary")
    parser = MultiPartParser(
        request.headers,
        stream(request, max_bytes=max_bytes, timeout=timeout),
        max_files=8,
        max_fields=64,
        max_part_size=max_bytes,
    )
    try:
        form = await parser.parse()  # files spooled to disk past 1 MB, all closed if it fails
    except (MultiPartException, ValueError) as exc:
        raise BadBody("multipart", f"malformed multipart body: {exc}") from None
    fields: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[name] = await value.read()
            else:
                fields[name] = value
    finally:
        await form.close()
    return Body(fields, files, "multipart/form-data")
