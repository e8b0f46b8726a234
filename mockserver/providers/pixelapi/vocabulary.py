"""PixelAPI's words and hooks: job status names (and the SDK's), ``detail`` errors, prices (two
documented sets), plan allotments, the CDN's gate on library user agents, per-plan rate limits and
their headers (on every response, a 401 too)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from starlette.requests import Request

from mockserver.core.backends.base import Account, Store
from mockserver.core.clock import LATEST
from mockserver.core.jobs import State
from mockserver.core.ratelimit import Decision, Limit
from mockserver.engine import inputs
from mockserver.engine.errors import MediaError
from mockserver.providers.base import View, Vocabulary
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
# The SDK (PyPI pixelapi 0.2.0, User-Agent pixelapi-python/*) parses status with an enum of pending,
# processing, completed and failed only: it is shown the docs' words in its own (the rule in README).
SDK_STATUS = {**STATUS, State.QUEUED: "pending", State.BLOCKED: "failed"}
BLOCKED_MESSAGE = "blocked: content policy violation (no credits charged)"
# Credits per operation. The docs give two figures: "table" (the Credit Costs table, the FAQ and the
# List Models table agree) and "pages" (the figure on each endpoint's own section). The mock uses the
# table unless ``--pixelapi-prices pages`` (x-cutout-inference).
PRICES = {
    "table": {
        "remove-background": 2.0,
        "replace-background": 5.0,
        "restore-face": 3.0,
        "remove-object": 5.0,
        "upscale": 20.0,
        "generate": 3.0,
        "audio-15": 5.0,  # up to 15 s
        "audio-30": 10.0,  # 16-30 s
        "video-480p": 50.0,  # "50-100 credits": the video section only
        "video-720p": 100.0,
        "virtual-tryon": 25.0,  # the try-on section only
    },
    "pages": {
        "remove-background": 4.0,
        "replace-background": 8.0,
        "restore-face": 5.0,
        "remove-object": 8.0,
        "upscale": 20.0,
        "generate": 5.0,
        "audio-15": 8.0,  # the section's example: 15 s -> credits_used 8.0
        "audio-30": 10.0,
        "video-480p": 50.0,
        "video-720p": 100.0,
        "virtual-tryon": 25.0,
    },
}
# Monthly credits per plan (Rate Limits & Plans); "Monthly credits reset on your billing cycle.
# Unused credits don't roll over." The cycle is the calendar month of the mock's clock (inference).
PLAN_CREDITS = {"free": 10.0, "starter": 10_000.0, "pro": 60_000.0, "scale": 300_000.0}
VIDEO_SIZE = {"480p": (832, 480), "720p": (1280, 720)}
STEPS = {"flux-schnell": (1, 8, 4), "sdxl": (20, 50, 30)}  # min, max, default
OUTPUT_TTL = 24 * 3600.0  # "Output URLs expire after 24 hours"
MAX_UPLOAD = 10 * 1024 * 1024
IMAGE_LIMITS = inputs.ImageLimits(max_bytes=MAX_UPLOAD, min_side=16, max_side=4096)
STARTING_CREDITS = PLAN_CREDITS["starter"]  # a new key is on the starter plan
PLAN_LIMITS = {"free": 5, "starter": 20, "pro": 60, "scale": 200}  # requests per minute
# Default agents of HTTP libraries, which the CDN blocks ("set a custom User-Agent").
_LIBRARY_AGENT = re.compile(
    r"^(python-urllib|python-requests|python-httpx|go-http-client|java/|okhttp|axios|node-fetch|undici|libwww-perl)",
    re.I,
)


CDN_BLOCKED = "Blocked by CDN: set a custom User-Agent header (e.g. MyApp/1.0)"


def detail(status: int, message: Any) -> ApiError:
    return ApiError(status, {"detail": message})


def is_sdk(request: Request) -> bool:
    """The official Python SDK (``User-Agent: pixelapi-python/<version>``)."""
    return request.headers.get("user-agent", "").lower().startswith("pixelapi-python/")


def state_word(state: State, request: Request) -> str:
    """The docs' word for `state` (queued, processing, completed, failed, blocked); the SDK's enum
    word for the SDK: queued -> pending, blocked -> failed (its error says blocked)."""
    return (SDK_STATUS if is_sdk(request) else STATUS)[state]


def price(view: View, operation: str) -> float:
    """Credits for `operation` (a PRICES key) in the price set ``--pixelapi-prices`` picks."""
    return PRICES[view.mock.settings.pixelapi_prices][operation]


def renew_allotment(view: View) -> None:
    """The monthly reset: when the caller's last job was made in an earlier calendar month (UTC, mock
    clock) than now, the balance becomes the plan's allotment (unused credits do not roll over). A
    balance set through the control plane this month counts as this month's reset (`balance_set`).

    The month a key was last looked at (or set) is kept per process, not in the store: with
    ``--workers 2`` and a shared store, a balance set through one worker is not known to the other,
    which may still reset it on the key's first request of the month there (a known gap)."""
    account = view.account
    if account is None:
        return
    month, seen = _month(view.now()), _RENEWED.setdefault(view.mock.store, {})
    if seen.get(account.key) == month:  # looked this month already (the clock never goes back)
        return
    seen[account.key] = month
    jobs = view.mock.store.list_jobs(PixelapiVocabulary.name, account.key)
    if not jobs:
        return
    last = max(job.created_at for job in jobs)
    if _month(last) < month:
        allotment = PLAN_CREDITS.get(account.plan, STARTING_CREDITS)
        view.mock.store.put_account(Account(account.provider, account.key, allotment, account.plan))
        view.account = Account(account.provider, account.key, allotment, account.plan)


# Per store, the month each key's allotment was last looked at: one look per key and month, not a
# scan of its jobs on every submit.
_RENEWED: WeakKeyDictionary[object, dict[str, int]] = WeakKeyDictionary()


def _month(epoch: float) -> int:
    moment = datetime.fromtimestamp(min(epoch, LATEST), UTC)  # a clock run fast past year 9999 stays in it
    return moment.year * 12 + moment.month


class PixelapiVocabulary(Vocabulary):
    name = "pixelapi"
    surfaces = {"api": Surface("/pixelapi", "api.pixelapi.dev")}  # noqa: RUF012 (read only)
    media_surface, media_route = "api", "/outputs/{media_id}.{ext}"
    starting_balance = STARTING_CREDITS
    result_ttl = OUTPUT_TTL
    max_body = MAX_UPLOAD
    plans = tuple(PLAN_CREDITS)  # free, starter, pro, scale

    def balance_set(self, store: Store, key: str, now: float) -> None:
        """A balance set in a month is that month's reset: the allotment does not overwrite it."""
        _RENEWED.setdefault(store, {})[key] = _month(now)

    def status_word(self, state: State) -> str:
        return STATUS[state]

    def api_key(self, request: Request) -> str | None:
        """``Authorization: Bearer <key>`` only ("Use Authorization: Bearer YOUR_KEY (not X-API-Key)")."""
        scheme, _, token = header(request, "authorization").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None

    def response_headers(self, view: View) -> dict[str, str]:
        """Rate headers are "included in every response": an answer with no key behind it (a 401, the
        CDN's 403) counts against the caller's address at the free plan's 5 a minute."""
        if view.account is not None or not view.mock.limiter.enabled:
            return {}
        client = view.request.client
        address = client.host if client else "unknown"
        decision = view.mock.limiter.take(self.name, f"address:{address}", Limit(PLAN_LIMITS["free"], 60.0))
        return self.rate_headers(decision)

    def fault_status(self, status: int, request: Request) -> ApiError | None:
        """503 on the try-on is its documented ``gpu_out_of_memory``; 403 is the CDN's refusal."""
        if status == 503 and request.scope.get("cutout.operation") == "pixelapi-virtual-tryon":
            return detail(
                503,
                {
                    "error": "gpu_out_of_memory",
                    "message": "GPU busy. Retry in a few seconds.",
                    "guidance": "Use smaller images (max 1024x1024)",
                },
            )
        if status == 403:
            return detail(403, CDN_BLOCKED)
        return None

    def gate(self, request: Request) -> ApiError | None:
        """The CDN blocks HTTP libraries' default agents ("set a custom User-Agent")."""
        agent = header(request, "user-agent").strip()
        if not agent or _LIBRARY_AGENT.match(agent):
            return detail(403, CDN_BLOCKED)
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
        if header(request, "x-api-key") and not header(request, "authorization"):
            return detail(401, "Invalid API key. Use Authorization: Bearer YOUR_KEY (not X-API-Key)")
        return detail(401, "Invalid API key")

    def not_found(self, what: str) -> ApiError:
        return detail(404, "Generation not found" if what == "job" else "Not found")

    def bad_body(self, problem: BadBody) -> ApiError:
        if problem.kind == "too_large":
            return detail(413, "File too large. Maximum file size is 10MB")
        if problem.kind == "timeout":
            return detail(408, f"Request timeout: {problem.detail}")
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
