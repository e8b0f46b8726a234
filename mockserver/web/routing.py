"""How a request finds its endpoint: provider by first segment, route by depth, endpoint by method.

Starlette's routing, narrowed to what this app's routes are: the first path segment names the
provider, every path parameter is one segment, and every endpoint answers its own failures. Each
step here replaces a linear regex scan or a wrapper that a status poll paid for on every request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.web.http import JsonResponse
from mockserver.web.journal import note_response

Endpoint = Callable[[Request], Awaitable[Response]]


class Endpoints:
    """The ASGI app of one path: the request's method picks the endpoint, which is awaited directly.

    Not Starlette's ``request_response``: that wraps every call in exception handling (a closure and
    a send wrapper per request) that these endpoints never use, since each answers every failure
    in its provider's own shape. Route still checks the method first, so a 405 lists ``Allow``.
    """

    def __init__(self, endpoints: dict[str, Endpoint]) -> None:
        self.endpoints = dict(endpoints)
        if "GET" in endpoints:
            self.endpoints.setdefault("HEAD", endpoints["GET"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoints[scope["method"]](Request(scope, receive, send))
        await note_response(scope, response)(scope, receive, send)


class ProviderRouter(Router):
    """One provider's routes, narrowed by the number of path segments before any pattern runs.

    Every path parameter in the specs is one segment, so a path can only match a route with as many
    segments: a status poll tries one or two patterns instead of each of the provider's routes. No
    redirect of a trailing slash (a Starlette habit, not a provider's): that path gets the default,
    the provider's own 404.
    """

    def __init__(self, routes: list[Route], default: ASGIApp) -> None:
        super().__init__(routes, redirect_slashes=False, default=default)
        self.by_depth: dict[int, list[Route]] = {}
        # More concrete paths first (OpenAPI's rule: /files/upload/multipart is its own path, not a
        # /files/{media_id}/{filename}), so another method on a concrete path is its 405.
        for route in sorted(routes, key=lambda r: len(r.param_convertors)):
            self.by_depth.setdefault(route.path.count("/"), []).append(route)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        partial: tuple[Route, Scope] | None = None
        for route in self.by_depth.get(scope["path"].count("/"), ()):
            match, child_scope = route.matches(scope)
            if partial is not None and len(route.param_convertors) > len(partial[0].param_convertors):
                break  # a more concrete path matched: a template's method does not take it over
            if match is Match.FULL:
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = route, child_scope
        if partial is not None:  # the path exists, not for this method: Route answers 405
            scope.update(partial[1])
            await partial[0].handle(scope, receive, send)
            return
        await self.default(scope, receive, send)


class SegmentRouter(Router):
    """The app's router: the first path segment picks the router (``/fal/...`` -> fal's), a dict
    lookup instead of a regex scan over every provider's routes (the largest cost of a status poll).

    It is the app's router itself, not a Mount: a Mount's ``.*`` pattern does not match a path with
    a newline in it, which then missed the provider's own 404 (found by schemathesis).
    """

    def __init__(self, routers: dict[str, Router], lifespan: Any) -> None:
        super().__init__(routes=[], lifespan=lifespan)
        self.routers = routers

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)  # lifespan
            return
        router = self.routers.get(scope["path"].split("/", 2)[1])
        if router is None:
            raise HTTPException(404)
        await router(scope, receive, send)


async def not_found(request: Request, exc: Exception) -> Response:
    """The app's answer to a path no provider or control route serves."""
    return note_response(request.scope, JsonResponse({"detail": "Not Found"}, 404))


async def not_allowed(request: Request, exc: Exception) -> Response:
    """405 with the ``Allow`` header Starlette computed (RFC 9110 requires it)."""
    response = JsonResponse({"detail": "Method Not Allowed"}, 405, headers=getattr(exc, "headers", None))
    return note_response(request.scope, response)
