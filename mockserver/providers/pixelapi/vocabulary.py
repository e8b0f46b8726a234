"""PixelAPI's words and hooks: job status names (and the SDK's ``pending``), ``detail`` errors, prices,
the CDN's gate on library user agents, per-plan rate limits and their headers."""

from __future__ import annotations

import math
import re
from typing import Any

from starlette.requests import Request

from mockserver.core.backends.base import Account
from mockserver.core.jobs import State
from mockserver.core.ratelimit import Decision, Limit
from mockserver.engine import inputs
from mockserver.engine.errors import MediaError
from mockserver.providers.base import Vocabulary
from mockserver.runtime.catalogue import Surface
from mockserver.web.bodies import BadBody
from mockserver.web.http import ApiError, header

STATUS = {
    State.QUEUED: "queued",
    State.RUNNING: "processing",
    State.SUCCEEDED: "completed",
    State.FAILED: "failed",
    State.ERRORED: "failed",
    State.CANCELLED: "failed",
    State.BLOCKED: "blocked",
}
# Credits per operation (pixelapi.dev/docs, current revision).
COSTS = {
    "remove-background": 2.0,
    "replace-background": 5.0,
    "restore-face": 3.0,
    "remove-object": 5.0,
    "upscale": 20.0,
    "generate": 3.0,
    "virtual-tryon": 25.0,
}
AUDIO_COST = {15: 5.0, 30: 10.0}  # up to 15 s, up to 30 s
VIDEO_COST = {"480p": 50.0, "720p": 100.0}
VIDEO_SIZE = {"480p": (832, 480), "720p": (1280, 720)}
STEPS = {"flux-schnell": (1, 8, 4), "sdxl": (20, 50, 30)}  # min, max, default
OUTPUT_TTL = 24 * 3600.0  # "Output URLs expire after 24 hours"
MAX_UPLOAD = 10 * 1024 * 1024
IMAGE_LIMITS = inputs.ImageLimits(max_bytes=MAX_UPLOAD, min_side=16, max_side=4096)
STARTING_CREDITS = 10_000.0  # a new key is on the starter plan
PLAN_LIMITS = {"free": 5, "starter": 20, "pro": 60, "scale": 200}  # requests per minute
# Default agents of HTTP libraries, which the CDN blocks ("set a custom User-Agent").
_LIBRARY_AGENT = re.compile(
    r"^(python-urllib|python-requests|python-httpx|go-http-client|java/|okhttp|axios|node-fetch|undici|libwww-perl)",
    re.I,
)


def detail(status: int, message: Any) -> ApiError:
    return ApiError(status, {"detail": message})


def is_sdk(request: Request) -> bool:
    """The official Python SDK parses status with an enum that has ``pending``, not ``queued``."""
    return request.headers.get("user-agent", "").lower().startswith("pixelapi-python/")


def state_word(state: State, request: Request) -> str:
    return "pending" if state is State.QUEUED and is_sdk(request) else STATUS[state]


class PixelapiVocabulary(Vocabulary):
    name = "pixelapi"
    surfaces = {"api": Surface("/pixelapi", "api.pixelapi.dev")}  # noqa: RUF012 (read only)
    media_surface, media_route = "api", "/outputs/{media_id}.{ext}"
    starting_balance = STARTING_CREDITS
    result_ttl = OUTPUT_TTL
    max_body = MAX_UPLOAD

    def status_word(self, state: State) -> str:
        return STATUS[state]

    def api_key(self, request: Request) -> str | None:
        scheme, _, token = header(request, "authorization").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return header(request, "x-api-key") or None

    def gate(self, request: Request) -> ApiError | None:
        """The CDN blocks HTTP libraries' default agents ("set a custom User-Agent")."""
        agent = header(request, "user-agent").strip()
        if not agent or _LIBRARY_AGENT.match(agent):
            return detail(403, "Blocked by CDN: set a custom User-Agent header (e.g. MyApp/1.0)")
        return None

    def rate_limit(self, account: Account) -> Limit:
        """Requests per minute by plan (pixelapi.dev/docs): free 5, starter 20, pro 60, scale 200."""
        return Limit(PLAN_LIMITS.get(account.plan, PLAN_LIMITS["starter"]), 60.0)

    def rate_headers(self, decision: Decision) -> dict[str, str]:
        """On every response: requests left, and when the allowance is whole again (epoch seconds)."""
        return {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(math.ceil(decision.reset_at)),
        }

    def unauthorized(self, request: Request) -> ApiError:
        return detail(401, "Invalid API key")

    def not_found(self, what: str) -> ApiError:
        return detail(404, "Generation not found" if what == "job" else "Not found")

    def bad_body(self, problem: BadBody) -> ApiError:
        if problem.kind == "too_large":
            return detail(413, "File too large. Maximum file size is 10MB")
        if problem.kind == "multipart":
            return detail(400, problem.detail)
        return detail(422, [{"loc": ["body"], "msg": problem.detail, "type": f"{problem.kind}_invalid"}])

    def invalid(self, errors: list[dict[str, Any]]) -> ApiError:
        return detail(422, errors)

    def media_error(self, problem: MediaError) -> ApiError:
        if problem.code == "file_size_too_large":
            return detail(413, "File too large. Maximum file size is 10MB")
        return detail(400, problem.message)

    def insufficient_credits(self, needed: float, balance: float) -> ApiError:
        return detail(
            402,
            f"Insufficient credits. Required: {needed:g}, available: {balance:g}. Upgrade at https://pixelapi.dev/app/#pricing",
        )

    def internal(self) -> ApiError:
        return detail(500, "Internal server error")

    def media_expired(self) -> ApiError:
        return detail(410, "Output expired: outputs are kept for 24 hours")

    def rate_limited(self, decision: Decision) -> ApiError:
        limit, wait = decision.limit, decision.retry_after
        return detail(429, f"Rate limit exceeded: {limit} requests per minute on your plan. Retry after {wait} s.")
