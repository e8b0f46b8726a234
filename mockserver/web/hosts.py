"""Doors into the app: a provider's real host name, or a surface served at the root of its own port."""

from __future__ import annotations

from urllib.parse import SplitResult, unquote, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.web.http import JsonResponse, raw_header


class HostRouting:
    """Requests to a real provider host (``queue.fal.run``) are served at that surface's prefix.

    This is what in-process interception (respx by real hostnames) and hosts-file or proxy setups
    use. URLs the mock returns then keep to the real hosts (``cutout.bases``).
    """

    def __init__(self, app: ASGIApp, host_prefixes: dict[str, str]) -> None:
        """`host_prefixes`: real host -> surface prefix, each surface's own host before its aliases
        (fal's backup ``queue.falrun.com``): a request on an alias gets URLs on that alias for its
        surface and on the other surfaces' own hosts."""
        self.app, self.host_prefixes = app, host_prefixes
        own: dict[str, str] = {}
        for host, prefix in host_prefixes.items():
            own.setdefault(prefix, host)
        # Surface bases by the host a request came in on, made once per scheme rather than per request.
        self._bases = {
            s: {h: {**{p: f"{s}://{o}" for p, o in own.items()}, p: f"{s}://{h}"} for h, p in host_prefixes.items()}
            for s in ("http", "https")
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # An exposed port (SurfaceMount, which sets the bases) has routed already: its real host name in
        # Host (a hosts file, the TLS certificate's names) must not add the surface's prefix twice.
        if scope["type"] == "http" and "cutout.bases" not in scope:
            host = raw_header(scope["headers"], "host").split(":")[0].lower().rstrip(".")  # "queue.fal.run." too
            prefix = self.host_prefixes.get(host)
            if prefix is not None:
                bases = self._bases["http" if scope.get("scheme") == "http" else "https"][host]
                scope = {**scope, "path": prefix + scope["path"], "raw_path": None, "cutout.bases": bases}
        await self.app(scope, receive, send)


class SurfaceMount:
    """One surface served at the root of a port of its own (``--expose fal-queue=8443``).

    The port is the provider's real host (hosts files, proxies, TLS), often reachable by more than the
    main port is, so ``/__mock`` is not served there unless `control` (``--expose-control``): without
    it ``/__mock/...`` is a path of the surface like any other, answered with the provider's 404.
    """

    def __init__(self, app: ASGIApp, prefix: str, control: bool = False) -> None:
        self.app, self.prefix, self.control = app, prefix, control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            base = f"{scope.get('scheme', 'http')}://{raw_header(scope['headers'], 'host')}"
            control = self.control and (scope["path"] == "/__mock" or scope["path"].startswith("/__mock/"))
            path = scope["path"] if control else self.prefix + scope["path"]
            scope = {**scope, "path": path, "raw_path": None, "cutout.bases": {self.prefix: base}}
        await self.app(scope, receive, send)


class TargetUrlProxy:
    """A client-side proxy door (fal's ``fal.config({proxyUrl})``): a request to `path` names its real
    target in the `header` (``x-fal-target-url: https://queue.fal.run/...``) and is served as if sent
    there, so a JS app reaches the mock with one line. URLs in the answer stay on the mock's own base
    (the app cannot reach the real hosts). A target on no known host (nor this server) is refused as
    @fal-ai/server-proxy refuses it: 400 ``"Invalid request"``. Without an Authorization header the
    proxy's own key is used (`key`), as the real proxy adds its server's FAL_KEY.
    """

    def __init__(self, app: ASGIApp, path: str, header: str, host_prefixes: dict[str, str], key: str) -> None:
        self.app, self.path, self.header, self.host_prefixes = app, path, header, host_prefixes
        self.authorization = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        try:
            target = urlsplit(raw_header(scope["headers"], self.header))
            path = self._served_path(target, raw_header(scope["headers"], "host"))
        except ValueError:  # "https://[::1/x": an unclosed IPv6 bracket (urlsplit), a bad port (.port)
            path = None
        if path is None:
            await JsonResponse("Invalid request", 400)(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != self.header.encode()]
        if not raw_header(headers, "authorization"):
            headers.append((b"authorization", self.authorization.encode("latin-1")))
        query = target.query.encode("latin-1")
        scope = {**scope, "path": path, "raw_path": None, "query_string": query, "headers": headers}
        await self.app(scope, receive, send)

    def _served_path(self, target: SplitResult, own_host: str) -> str | None:
        if target.scheme not in ("http", "https") or not target.hostname:
            return None
        path = unquote(target.path) or "/"
        prefix = self.host_prefixes.get(target.hostname.lower())
        if prefix is not None:
            return prefix + path
        own = target.netloc.lower() == own_host.lower() and not path.startswith("/__mock")
        return path if own else None
