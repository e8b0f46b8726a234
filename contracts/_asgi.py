"""A small ASGI layer the kit puts in front of a server: rewrite its JSON responses.

The client verifier adds fields a client has never seen; the sample broken servers in
``tests/apps`` break one contract each the same way. The control plane (``/__mock``) passes as is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Rewrite = Callable[[Scope, int, dict[str, Any]], tuple[int, dict[str, Any]]]


class RewriteJson:
    """Rewrite JSON-object responses (status and body) of the wrapped app; others pass as they are."""

    def __init__(self, app: ASGIApp, rewrite: Rewrite) -> None:
        self.app, self.rewrite = app, rewrite

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__mock"):
            return await self.app(scope, receive, send)
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            status = start["status"]
            data = (
                _json_object(body) if dict(headers).get(b"content-type", b"").startswith(b"application/json") else None
            )
            if data is not None:
                status, data = self.rewrite(scope, status, data)
                body = json.dumps(data).encode()
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
