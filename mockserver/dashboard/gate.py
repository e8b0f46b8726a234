"""Who may see the dashboard: whoever the control plane would answer (``control/lock.py``).

Its pages show what ``/__mock`` shows, so each page and the event stream ask the control plane's
own lock first (the ``Host`` a DNS-rebinding page would send, a foreign ``Origin``, the token).
A browser cannot put the token in a header when it follows a link, so with ``--control-token`` the
banner's link carries it once, ``/__mock/ui?token=...``: a page asked so answers with a redirect to
itself without it and a cookie holding it (HttpOnly, SameSite=Strict, path ``/__mock/ui``), which
later pages and the event stream are read with. A page puts the token in a ``<meta>`` for its
script, which sends it as ``Authorization: Bearer`` on every call to the control plane.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mockserver.control.lock import ControlLock
from mockserver.web.http import header

COOKIE = "cutout_control_token"


class Gate:
    """The control plane's lock, read for a dashboard page (token from header, link or cookie)."""

    def __init__(self, lock: ControlLock, path: str) -> None:
        self.lock, self.path = lock, path  # path: where the cookie is sent (the dashboard's)

    def token(self, request: Request) -> str | None:
        """The token this request carries (``Authorization: Bearer``, else the cookie); None without."""
        scheme, _, given = header(request, "authorization").partition(" ")
        if scheme.lower() == "bearer" and given.strip():
            return given.strip()
        return request.cookies.get(COOKIE) or None

    def refusal(self, request: Request) -> Response | None:
        """A page for a request the control plane would refuse, a redirect that keeps a linked token
        in a cookie, or None: go on."""
        linked = request.query_params.get("token")
        asked = _with_token(request, linked if linked is not None else self.token(request))
        refused = self.lock.refusal(asked)
        if refused is not None:
            return _refusal_page(refused.status, refused.detail)
        if linked is not None and self.lock.token is not None:
            rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            target = request.url.path + (f"?{rest}" if rest else "")
            answer = RedirectResponse(target, 303)
            answer.set_cookie(COOKIE, linked, path=self.path, httponly=True, samesite="strict")
            return answer
        return None


def _with_token(request: Request, token: str | None) -> Request:
    """`request` as the lock should read it: the dashboard's token as an Authorization header."""
    if token is None or header(request, "authorization"):
        return request
    scope = dict(request.scope)
    scope["headers"] = [*request.scope["headers"], (b"authorization", f"Bearer {token}".encode("latin-1"))]
    return Request(scope, request.receive)


def _refusal_page(status: int, detail: str) -> Response:
    hint = (
        "Open it once as <code>/__mock/ui?token=&lt;the control token&gt;</code> (the token given to "
        "<code>--control-token</code>; <code>serve</code> prints this link when it generated the token)."
        if status == 401
        else "The control plane would refuse this request too."
    )
    body = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Dashboard locked · cutout-mock</title>'
        f"<main><h1>Dashboard locked</h1><p>{html.escape(detail)}</p><p>{hint}</p></main></html>"
    )
    return HTMLResponse(body, status)
