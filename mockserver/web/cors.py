"""CORS on some path prefixes only (fal's surfaces): a browser app may call them directly.

Starlette's CORSMiddleware, any origin and any requested header, narrowed to the prefixes given:
the other providers' answers are left exactly as they were. Preflights are answered here, before
the journal (they are the browser's, not the client's requests).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")


class PrefixCors:
    """CORS for requests whose (served) path starts with one of `prefixes`, exposing `exposed` headers."""

    def __init__(self, app: ASGIApp, prefixes: Sequence[str], exposed: Sequence[str]) -> None:
        self.app, self.prefixes = app, tuple(prefixes)
        self.cors = CORSMiddleware(
            app, allow_origins=["*"], allow_methods=METHODS, allow_headers=["*"], expose_headers=exposed, max_age=600
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only a browser's request (it carries Origin) goes through CORS: a status poll from a client
        # library pays one scan of its raw headers, not Starlette's Headers object.
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            for name, _ in scope["headers"]:
                if name == b"origin":
                    await self.cors(scope, receive, send)
                    return
        await self.app(scope, receive, send)
