"""CORS on some path prefixes only (fal's surfaces): a browser app may call them directly.

Starlette's CORSMiddleware, any origin and any requested header. The front door (``web/front.py``)
sends through it only a browser's request (one that carries ``Origin``) to a prefix that has CORS,
so the other providers' answers are left exactly as they were. Preflights are answered there,
before the journal (they are the browser's, not the client's requests).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")


def with_cors(app: ASGIApp, exposed: Sequence[str]) -> CORSMiddleware:
    """CORS around `app` for any origin, exposing the `exposed` response headers to the page."""
    return CORSMiddleware(
        app, allow_origins=["*"], allow_methods=METHODS, allow_headers=["*"], expose_headers=exposed, max_age=600
    )
