"""Doors into the app: a provider's real host name, or a surface served at the root of its own port."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.web.http import raw_header


class HostRouting:
    """Requests to a real provider host (``queue.fal.run``) are served at that surface's prefix.

    This is what in-process interception (respx by real hostnames) and hosts-file or proxy setups
    use. URLs the mock returns then keep to the real hosts (``cutout.bases``).
    """

    def __init__(self, app: ASGIApp, host_prefixes: dict[str, str]) -> None:
        self.app, self.host_prefixes = app, host_prefixes
        # Surface bases on real hosts, made once per scheme rather than on every request.
        self._bases = {s: {p: f"{s}://{h}" for h, p in host_prefixes.items()} for s in ("http", "https")}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            prefix = self.host_prefixes.get(raw_header(scope["headers"], "host").split(":")[0].lower())
            if prefix is not None:
                bases = self._bases["http" if scope.get("scheme") == "http" else "https"]
                scope = {**scope, "path": prefix + scope["path"], "raw_path": None, "cutout.bases": bases}
        await self.app(scope, receive, send)


class SurfaceMount:
    """One surface served at the root of a port of its own (``--expose fal-queue=8443``)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            base = f"{scope.get('scheme', 'http')}://{raw_header(scope['headers'], 'host')}"
            path = scope["path"] if scope["path"].startswith("/__mock") else self.prefix + scope["path"]
            scope = {**scope, "path": path, "raw_path": None, "cutout.bases": {self.prefix: base}}
        await self.app(scope, receive, send)
