"""The front door: what a request passes before its router, in one pass read top to bottom.

    controls -> host -> proxy -> CORS -> journal -> router

1. **controls** (several processes): the clock and limits another process published, and on Redis the
   request's look at the store's change counter (``SharedControls.begin_request``). A look that fails
   is noted in the scope (``STORE_ERROR``) and the request's route answers its own 500;
2. **host**: a request to a provider's real host (``queue.fal.run``) is served at that surface's
   prefix (``web/hosts.py: HostDoor``);
3. **proxy**: a provider's client-side proxy path serves the request its header names (``ProxyDoor``;
   a target it may not name gets the proxy's 400);
4. **CORS**: a browser's request (it carries ``Origin``) to a prefix with CORS goes through Starlette's
   CORSMiddleware (``web/cors.py``), which answers a preflight itself, before the journal;
5. **journal**: every request outside /__mock is recorded with its answer (``web/journal.py``),
   but those answered before it: a CORS preflight and a proxy target refused;
6. **router**: the first path segment picks the provider's router, which answers every path under
   its prefix, its own 404 and 405 included (``web/routing.py``). Anything else (/__mock, the
   dashboard, an unknown first segment) goes on to the app's Starlette router and its exception
   handlers.

One class, not a middleware per step: each layer cost a status poll a coroutine, and Starlette's
exception middleware a Request object and a send wrapper that the providers' routes never use; it
stands outside Starlette's error middleware too (``FrontedApp``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.core.backends.base import SharedControls, StoreUnavailable
from mockserver.web.cors import with_cors
from mockserver.web.hosts import HostDoor, ProxyDoor
from mockserver.web.http import JsonResponse

STORE_ERROR = "cutout.store_error"  # the scope's note that the request's look failed (StoreUnavailable)


class Front:
    """The app's one middleware (see the module). `app` is the rest of Starlette's stack, for the
    paths no provider router serves; `routers` the provider routers by their prefix's one segment;
    `cors` (path prefix, headers exposed to the page) per prefix with CORS; `journal` wraps an ASGI
    app in the journal hook (None: the journal is off)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routers: Mapping[str, ASGIApp],
        hosts: HostDoor,
        proxies: Sequence[ProxyDoor] = (),
        cors: Sequence[tuple[str, Sequence[str]]] = (),
        journal: Callable[[ASGIApp], ASGIApp] | None = None,
        controls: SharedControls | None = None,
    ) -> None:
        self.app, self.routers, self.hosts, self.controls = app, dict(routers), hosts, controls
        self.proxies = {proxy.path: proxy for proxy in proxies}
        self.routed = self.route if journal is None else journal(self.route)
        self.cors = tuple((prefix, with_cors(self.routed, exposed)) for prefix, exposed in cors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # the lifespan
            return
        if self.controls is None:
            await self.enter(scope, receive, send)
            return
        try:
            await self.controls.begin_request()  # on Redis: the request's look at the store's change counter
        except StoreUnavailable as problem:  # a route answers its own 500 (pipeline.py, control/routes.py)
            scope[STORE_ERROR] = problem
        try:
            await self.enter(scope, receive, send)
        finally:
            self.controls.done()

    async def enter(self, scope: Scope, receive: Receive, send: Send) -> None:
        host, browser = b"", False
        for name, value in scope["headers"]:  # one scan of the raw list (names arrive lower-case)
            if name == b"host" and not host:
                host = value
            elif name == b"origin":
                browser = True
        scope = self.hosts.route(scope, host)
        proxy = self.proxies.get(scope["path"])
        if proxy is not None and scope["method"] != "OPTIONS":  # a preflight is CORS's to answer
            target = proxy.target(scope)
            if target is None:
                await JsonResponse("Invalid request", 400)(scope, receive, send)
                return
            scope = target
        if browser:
            for prefix, cors in self.cors:
                if scope["path"].startswith(prefix):
                    await cors(scope, receive, send)
                    return
        await self.routed(scope, receive, send)

    async def route(self, scope: Scope, receive: Receive, send: Send) -> None:
        router = self.routers.get(scope["path"][1:].partition("/")[0])
        await (self.app if router is None else router)(scope, receive, send)


class FrontedApp(Starlette):
    """Starlette with the front door outermost, outside its error middleware. The provider routes
    answer every failure in their provider's shape (``pipeline.py``), so their requests skip that
    middleware's send wrapper; a failure in the door itself still gets a plain 500 (uvicorn's, as
    Starlette's was). /__mock and the dashboard keep Starlette's whole stack. `front` makes the door
    around the rest of the stack."""

    def __init__(self, *, front: Callable[[ASGIApp], Front], **options: Any) -> None:
        super().__init__(**options)
        self.front = front

    def build_middleware_stack(self) -> ASGIApp:
        return self.front(super().build_middleware_stack())
