"""Doors into the app: a provider's real host name, or a surface served at the root of its own port."""

from __future__ import annotations

from urllib.parse import SplitResult, unquote, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.web.http import raw_header

KNOWN_HOSTS = 1024  # Host values whose reading is kept (a client sends the same one on every request)
KNOWN_HOST_BYTES = 260  # the longest kept: a DNS name (253) with its dot and a port; a longer one is hostile


class HostDoor:
    """Requests to a real provider host (``queue.fal.run``) are served at that surface's prefix.

    This is what in-process interception (respx by real hostnames) and hosts-file or proxy setups
    use. URLs the mock returns then keep to the real hosts (``cutout.bases``). One step of the
    front door (``web/front.py``).
    """

    def __init__(self, host_prefixes: dict[str, str]) -> None:
        """`host_prefixes`: real host -> surface prefix, each surface's own host before its aliases
        (fal's backup ``queue.falrun.com``): a request on an alias gets URLs on that alias for its
        surface and on the other surfaces' own hosts."""
        self.host_prefixes = host_prefixes
        own: dict[str, str] = {}
        for host, prefix in host_prefixes.items():
            own.setdefault(prefix, host)
        # Surface bases by the host a request came in on, made once per scheme rather than per request.
        self._bases = {
            s: {h: {**{p: f"{s}://{o}" for p, o in own.items()}, p: f"{s}://{h}"} for h, p in host_prefixes.items()}
            for s in ("http", "https")
        }
        self._known: dict[bytes, tuple[str, str | None]] = {}  # Host values seen: (host name, prefix)

    def route(self, scope: Scope, host: bytes) -> Scope:
        """The scope to serve: on a real host (the `host` header's value) the path gains the surface's
        prefix; on any other host, the scope as it came."""
        # An exposed port (SurfaceMount, which sets the bases) has routed already: its real host name in
        # Host (a hosts file, the TLS certificate's names) must not add the surface's prefix twice.
        if "cutout.bases" in scope:
            return scope
        known = self._known.get(host)
        if known is None:
            name = host.decode("latin-1").split(":")[0].lower().rstrip(".")  # "queue.fal.run." too
            known = name, self.host_prefixes.get(name)
            if len(self._known) < KNOWN_HOSTS and len(host) <= KNOWN_HOST_BYTES:
                self._known[host] = known
        name, prefix = known
        if prefix is None:
            return scope
        bases = self._bases["http" if scope.get("scheme") == "http" else "https"][name]
        return {**scope, "path": prefix + scope["path"], "raw_path": None, "cutout.bases": bases}


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


class ProxyDoor:
    """A client-side proxy door (fal's ``fal.config({proxyUrl})``): a request to `path` names its real
    target in the `header` (``x-fal-target-url: https://queue.fal.run/...``) and is served as if sent
    there, so a JS app reaches the mock with one line. URLs in the answer stay on the mock's own base
    (the app cannot reach the real hosts). A target on no known host (nor this server) is refused as
    @fal-ai/server-proxy refuses it: 400 ``"Invalid request"``. Without an Authorization header the
    proxy's own key is used (`key`), as the real proxy adds its server's FAL_KEY. One step of the
    front door (``web/front.py``), which answers a refusal.
    """

    def __init__(self, path: str, header: str, host_prefixes: dict[str, str], key: str) -> None:
        self.path, self.header, self.host_prefixes = path, header, host_prefixes
        self.authorization = key

    def target(self, scope: Scope) -> Scope | None:
        """The scope of the request the header names, or None for a target it may not name."""
        try:
            target = urlsplit(raw_header(scope["headers"], self.header))
            path = self._served_path(target, raw_header(scope["headers"], "host"))
        except ValueError:  # "https://[::1/x": an unclosed IPv6 bracket (urlsplit), a bad port (.port)
            return None
        if path is None:
            return None
        headers = [(k, v) for k, v in scope["headers"] if k != self.header.encode()]
        if not raw_header(headers, "authorization"):
            headers.append((b"authorization", self.authorization.encode("latin-1")))
        query = target.query.encode("latin-1")
        return {**scope, "path": path, "raw_path": None, "query_string": query, "headers": headers}

    def _served_path(self, target: SplitResult, own_host: str) -> str | None:
        if target.scheme not in ("http", "https") or not target.hostname:
            return None
        path = unquote(target.path) or "/"
        prefix = self.host_prefixes.get(target.hostname.lower())
        if prefix is not None:
            return prefix + path
        own = target.netloc.lower() == own_host.lower() and not path.startswith("/__mock")
        return path if own else None
