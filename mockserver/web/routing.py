"""How a request finds its endpoint: route by depth, then pattern; endpoint by method.

Starlette's routing, narrowed to what a provider's routes are: every path parameter is one segment,
and every endpoint answers its own failures. The front door (``web/front.py``) picks the provider's
router by the first path segment. Each step here replaces a linear regex scan or a wrapper that a
status poll paid for on every request.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.web.http import JsonResponse
from mockserver.web.journal import note_response

Endpoint = Callable[[Request], Awaitable[Response]]


class Endpoints:
    """The endpoints of one path by method; a GET answers HEAD too. `unlisted` are served but left
    out of a 405's ``Allow`` (RFC 9110), which lists what the spec documents for the path (fal's
    files: the spec has the upload's PUT; the GET of the stored file is the CDN's, not in the spec)."""

    def __init__(self, endpoints: dict[str, Endpoint], unlisted: dict[str, Endpoint] | None = None) -> None:
        self.endpoints = dict(endpoints)
        if "GET" in endpoints:
            self.endpoints.setdefault("HEAD", endpoints["GET"])
        self.allow = ", ".join(self.endpoints)
        for method, endpoint in (unlisted or {}).items():
            self.endpoints.setdefault(method, endpoint)
            if method == "GET":
                self.endpoints.setdefault("HEAD", endpoint)


class ProviderRouter:
    """One provider's paths: the route by the number of path segments, then a pattern, then the
    endpoint by method, awaited directly. Every path under the provider's prefix gets an answer
    here: an unknown one `default` (the provider's 404), a method the path does not have a 405.

    Every path parameter in the specs is one segment, so a path can only match a route with as many
    segments: a status poll tries one or two patterns instead of each of the provider's routes. No
    redirect of a trailing slash (a Starlette habit, not a provider's): that path gets the default.
    Patterns are Starlette's (``compile_path``); the parameters land in ``scope["path_params"]``.
    Not Starlette's ``request_response`` either: that wraps every call in exception handling (a
    closure and a send wrapper per request) that these endpoints never use, since each answers
    every failure in its provider's own shape.
    """

    def __init__(self, paths: dict[str, Endpoints], default: ASGIApp) -> None:
        self.default = default
        self.by_depth: dict[int, list[tuple[re.Pattern[str], int, Endpoints]]] = {}
        # More concrete paths first (OpenAPI's rule: /files/upload/multipart is its own path, not a
        # /files/{media_id}/{filename}), so another method on a concrete path is its 405.
        for path, endpoints in sorted(paths.items(), key=lambda item: item[0].count("{")):
            pattern, _, convertors = compile_path(path)
            self.by_depth.setdefault(path.count("/"), []).append((pattern, len(convertors), endpoints))

    def find(self, path: str, method: str) -> tuple[Endpoints, dict[str, str]] | None:
        """The path's endpoints and parameters: the first route whose pattern matches and that has
        the method, unless a more concrete path matched first (then that one, for its 405)."""
        partial: tuple[re.Match[str], int, Endpoints] | None = None
        for pattern, params, endpoints in self.by_depth.get(path.count("/"), ()):
            if partial is not None and params > partial[1]:
                break  # a more concrete path matched: a template's method does not take it over
            match = pattern.match(path)
            if match is None:
                continue
            if method in endpoints.endpoints:
                return endpoints, match.groupdict()
            if partial is None:
                partial = match, params, endpoints
        return None if partial is None else (partial[2], partial[0].groupdict())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.find(scope["path"], scope["method"])
        if found is None:
            await self.default(scope, receive, send)
            return
        endpoints, scope["path_params"] = found
        endpoint = endpoints.endpoints.get(scope["method"])
        if endpoint is None:
            response = method_not_allowed(endpoints.allow)
        else:
            response = await endpoint(Request(scope, receive, send))
        await note_response(scope, response)(scope, receive, send)


def method_not_allowed(allow: str) -> Response:
    """405 with the methods the path has in ``Allow``, in the app's own shape."""
    return JsonResponse({"detail": "Method Not Allowed"}, 405, headers={"Allow": allow})


async def not_found(request: Request, exc: Exception) -> Response:
    """The app's answer to a path no provider or control route serves."""
    return note_response(request.scope, JsonResponse({"detail": "Not Found"}, 404))


async def not_allowed(request: Request, exc: Exception) -> Response:
    """405 with the ``Allow`` header Starlette computed (RFC 9110 requires it): the control plane's."""
    allow = (getattr(exc, "headers", None) or {}).get("Allow", "")
    return note_response(request.scope, method_not_allowed(allow))
