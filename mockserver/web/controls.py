"""Several processes serving one port: each request first takes the clock and limits another one published."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.core.backends.base import SharedControls, StoreUnavailable

STORE_ERROR = "cutout.store_error"  # the scope's note that the request's look failed (StoreUnavailable)


class SyncControls:
    """Several processes: take the clock and limits another one published, before each request."""

    def __init__(self, app: ASGIApp, controls: SharedControls) -> None:
        self.app, self.controls = app, controls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.controls.begin_request()  # on Redis: the request's look at the store's change counter
        except StoreUnavailable as problem:  # a provider's route answers its own 500 (pipeline.py), not a traceback
            scope[STORE_ERROR] = problem
        try:
            await self.app(scope, receive, send)
        finally:
            self.controls.done()
