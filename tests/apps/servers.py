"""Sample provider servers for the kit to verify: the mock as a good one, and broken ones.

Each broken server is the mock behind a small ASGI layer that breaks exactly one contract, the way
a hand-written proxy or gateway gets it wrong. ``BROKEN`` maps each to the provider it speaks and
the check that must catch it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts._asgi import RewriteJson


class RewriteRequest:
    """Change requests before the wrapped app sees them (headers)."""

    def __init__(self, app: ASGIApp, headers: Callable[[list[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]]):
        self.app, self.headers = app, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "headers": self.headers(list(scope["headers"]))}
        await self.app(scope, receive, send)


class CorruptMedia:
    """Serve output files with their headers but garbage bytes of the same length."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def corrupt(message: Message) -> None:
            if message["type"] == "http.response.body" and scope.get("cutout.media"):
                message = {**message, "body": bytes(len(message.get("body", b"")))}
            if message["type"] == "http.response.start":
                content_type = dict(message["headers"]).get(b"content-type", b"")
                scope["cutout.media"] = content_type.startswith((b"image/", b"video/"))
            await send(message)

        await self.app(scope, receive, corrupt)


def _is_status_poll(scope: Scope) -> bool:
    return scope["method"] == "GET" and "/job/" in scope["path"]


def status_goes_back(app: ASGIApp) -> ASGIApp:
    """Pixelcut: the third poll of a job says `pending` again (a proxy caching an old answer)."""
    polls: dict[str, int] = {}

    def rewrite(scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if _is_status_poll(scope) and "job_id" in body:
            polls[body["job_id"]] = polls.get(body["job_id"], 0) + 1
            if polls[body["job_id"]] == 3:
                return status, {"job_id": body["job_id"], "status": "pending"}
        return status, body

    return RewriteJson(app, rewrite)


def terminal_unstable(app: ASGIApp) -> ASGIApp:
    """Pixelcut: after `completed`, the next poll says `running` (a load balancer over stale replicas)."""
    finished: dict[str, int] = {}

    def rewrite(scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if _is_status_poll(scope) and body.get("status") == "completed":
            finished[body["job_id"]] = finished.get(body["job_id"], 0) + 1
            if finished[body["job_id"]] == 2:
                return status, {"job_id": body["job_id"], "status": "running"}
        return status, body

    return RewriteJson(app, rewrite)


def wrong_polling_url(app: ASGIApp) -> ASGIApp:
    """Pixazo: the polling URL points at a path the gateway does not serve (v1 instead of v2)."""

    def rewrite(scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if "polling_url" in body:
            body = {**body, "polling_url": body["polling_url"].replace("/v2/requests/", "/v1/requests/")}
        return status, body

    return RewriteJson(app, rewrite)


def error_shape_dropped(app: ASGIApp) -> ASGIApp:
    """PixelAPI: errors re-worded by a gateway as `{"message": ...}` (the client loses `detail`)."""

    def rewrite(scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if status >= 400 and "detail" in body:
            return status, {"message": str(body["detail"])}
        return status, body

    return RewriteJson(app, rewrite)


def auth_not_enforced(app: ASGIApp) -> ASGIApp:
    """fal: a proxy that adds its own key to requests that came without one."""

    def add_key(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        if not any(name.lower() == b"authorization" for name, _ in headers):
            headers.append((b"authorization", b"Key proxy-shared-key"))
        return headers

    return RewriteRequest(app, add_key)


def rate_headers_inconsistent(app: ASGIApp) -> ASGIApp:
    """PixelAPI: X-RateLimit-Remaining above the limit (a gateway summing two replicas' counters)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def double(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message["headers"]:
                    if name.lower() == b"x-ratelimit-remaining":
                        value = str(int(value) * 2 + 5).encode()
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, double)

    return wrapped


def ids_repeat(app: ASGIApp) -> ASGIApp:
    """Pixazo: every submit answers with the first request id it ever gave (a cached submit)."""
    first: dict[str, str] = {}

    def rewrite(scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if scope["method"] == "POST" and "polling_url" in body:
            first.setdefault("id", body["request_id"])
            first.setdefault("url", body["polling_url"])
            return status, {**body, "request_id": first["id"], "polling_url": first["url"]}
        return status, body

    return RewriteJson(app, rewrite)


def media_corrupt(app: ASGIApp) -> ASGIApp:
    """Pixelcut: output files served with the right type but broken bytes (a bad CDN cache)."""
    return CorruptMedia(app)


@dataclass(frozen=True)
class Broken:
    build: Callable[[ASGIApp], ASGIApp]
    provider: str
    caught_by: str


BROKEN = {
    "status_goes_back": Broken(status_goes_back, "pixelcut", "status_moves_forward"),
    "terminal_unstable": Broken(terminal_unstable, "pixelcut", "terminal_is_stable"),
    "wrong_polling_url": Broken(wrong_polling_url, "pixazo", "polling_url_resolves"),
    "media_corrupt": Broken(media_corrupt, "pixelcut", "media_downloads_and_decodes"),
    "error_shape_dropped": Broken(error_shape_dropped, "pixelapi", "error_bodies_have_the_provider_shape"),
    "auth_not_enforced": Broken(auth_not_enforced, "fal", "auth_is_enforced"),
    "rate_headers_inconsistent": Broken(rate_headers_inconsistent, "pixelapi", "rate_limit_headers_are_consistent"),
    "ids_repeat": Broken(ids_repeat, "pixazo", "ids_are_unique"),
}
