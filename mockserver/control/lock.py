"""Who may use /__mock: the name it was asked under, the page that asked, the token, the body's type.

Every control endpoint asks ``ControlLock.refusal(request)`` before it reads anything (routes.py), in
this order; the first rule broken answers, as the control plane's other refusals, ``{"detail": ...}``:

1. **Host** (403): one of the names this mock serves. A page that re-points its own DNS name at
   127.0.0.1 (DNS rebinding) reaches the mock with *its* name in ``Host``, so the name is what is
   checked. Served names: ``localhost`` and ``*.localhost``, any IP address literal (an address
   cannot be rebound: a browser sends it only when it was asked for that address), the providers'
   real hosts, ``--host``, the host of ``--public-url``, and each ``--allowed-host`` (``*``: any
   name). The port is not compared: a port mapping (Docker ``-p 9000:8080``) or ``--port 0`` changes
   it, and a rebinding page chooses its own port anyway. A request with no ``Host`` (HTTP/1.0)
   names nothing to rebind and passes.
2. **Origin** (403), when a browser sends one (it does on every cross-site POST, form or fetch, body
   or not): the page must be on the same host as the request, on a loopback name or address, or on
   a name the mock serves (rule 1 without the address literals, and without ``*``: allowing any
   ``Host`` behind a proxy does not let a page on any site in). ``Origin: null`` is refused.
3. **Token** (401), when ``--control-token`` is set: ``Authorization: Bearer <token>``, compared in
   constant time. ``GET /__mock/health`` stays open, for readiness probes.
4. **JSON only** (415) for POST, PUT, PATCH and DELETE: a ``Content-Type`` other than
   ``application/json`` (or ``application/*+json``) is refused, and so is a body with no
   ``Content-Type``. A call with neither (``curl -X POST .../reset``, ``MockControl().reset()``) is
   taken: it carries nothing to misread, and a browser that sends one cross-site also sends an
   ``Origin``, refused by rule 2. A page cannot send ``application/json`` (or an ``Authorization``
   header) to another site without a CORS preflight, which the mock never grants.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from mockserver.control.actions import ControlError
from mockserver.settings import Settings
from mockserver.web.http import header

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN = frozenset({("GET", "/__mock/health"), ("HEAD", "/__mock/health")})  # no token needed
ANY_HOST = "*"
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})  # listening everywhere names no host


def host_name(value: str) -> str:
    """The name of a ``Host`` value, lower-case, without port, brackets or trailing dot.

    ``"Example.COM.:8080"`` -> ``"example.com"``, ``"[::1]:8080"`` -> ``"::1"``, ``"::1"`` -> ``"::1"``.
    """
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        value = value.split(":")[0]
    return value.rstrip(".")


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback(name: str) -> bool:
    """``localhost``, ``*.localhost`` (RFC 6761: always this machine) or a loopback address."""
    name = host_name(name)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _address(name)
    return address is not None and address.is_loopback


def needs_token(host: str) -> bool:
    """Whether `serve --host HOST` listens beyond this machine, so /__mock gets a token by default."""
    return not is_loopback(host)


def new_token() -> str:
    """A control token: 32 bytes from ``secrets``, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ControlLock:
    """The rules above for one mock: the names it serves (lower-case, no port) and its token."""

    names: frozenset[str]
    token: str | None = None
    any_host: bool = False

    @classmethod
    def for_mock(cls, settings: Settings, provider_hosts: Iterable[str]) -> ControlLock:
        """The names of `settings` (``--host``, ``--public-url``, ``--allowed-host``) and the providers'."""
        names = {host_name(h) for h in provider_hosts}
        names |= {host_name(h) for h in settings.allowed_hosts if h != ANY_HOST}
        if host_name(settings.host) not in WILDCARD_ADDRESSES:
            names.add(host_name(settings.host))
        if settings.public_url:
            names.add(host_name(urlsplit(settings.public_url).netloc.rpartition("@")[2]))
        return cls(frozenset(names), settings.control_token or None, ANY_HOST in settings.allowed_hosts)

    def serves(self, name: str) -> bool:
        """Rule 1: a name a request to this mock may carry in ``Host``."""
        return self.any_host or name in self.names or is_loopback(name) or _address(name) is not None

    def _origin_allowed(self, origin: str, host: str) -> bool:
        """Rule 2: a page on the request's own host, on loopback, or on a name the mock serves."""
        if origin == "null" or "://" not in origin:
            return False
        name = _origin_name(origin)
        if not name:
            return False
        return name == host or is_loopback(name) or name in self.names  # "*" widens Host only, never Origin

    def refusal(self, request: Request) -> ControlError | None:
        """The first rule `request` breaks, as the refusal to answer with; None when it may go on."""
        raw_host = header(request, "host")
        host = host_name(raw_host)
        if raw_host and not self.serves(host):
            return ControlError(
                403,
                f"Host {raw_host!r} is not a name this mock serves (a DNS-rebinding page sends its own name); "
                f"start it with --allowed-host {host} to allow it",
            )
        origin = header(request, "origin")
        if origin and not self._origin_allowed(origin.strip().lower(), host):
            return ControlError(
                403,
                f"a page at {origin!r} may not use /__mock (Origin is another site); if that site is yours "
                f"(a proxy in front of the mock), start it with --allowed-host {_origin_name(origin)}",
            )
        if self.token is not None and (request.method, request.scope["path"]) not in OPEN:
            scheme, _, given = header(request, "authorization").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
                return ControlError(401, "/__mock needs 'Authorization: Bearer <control token>' (see --control-token)")
        if request.method in STATE_CHANGING:
            return _type_refusal(request)
        return None


def _origin_name(origin: str) -> str:
    """The host name of an ``Origin`` (``"https://App.example:3000"`` -> ``"app.example"``); "" when it
    cannot be read (``"http://[::1"``: an unclosed bracket, which urlsplit refuses)."""
    try:
        return host_name(urlsplit(origin).netloc)
    except ValueError:
        return ""


def _type_refusal(request: Request) -> ControlError | None:
    content_type = header(request, "content-type")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type:
        if media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json")):
            return None
        return ControlError(415, f"/__mock takes application/json, not {media_type!r}")
    length = header(request, "content-length").strip()
    if (length and length != "0") or header(request, "transfer-encoding"):
        return ControlError(415, "a body sent to /__mock needs 'Content-Type: application/json'")
    return None
