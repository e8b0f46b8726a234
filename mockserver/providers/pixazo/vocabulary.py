"""Pixazo's words and hooks: QUEUED..ERROR, the status object (its webhook payload too), APIM-style
401s, ``{error, message}`` gateway errors."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from mockserver.core.accounts import FramePrice
from mockserver.core.clock import iso
from mockserver.core.jobs import Job, JobView, State
from mockserver.core.ratelimit import Decision
from mockserver.engine.errors import InvalidOption, MediaError
from mockserver.providers.base import Links, Vocabulary
from mockserver.runtime.catalogue import Surface
from mockserver.web.bodies import BadBody
from mockserver.web.http import ApiError, header

MODEL_ID = "pixelcut-video-background-removal"
STATUS = {
    State.QUEUED: "QUEUED",
    State.RUNNING: "PROCESSING",
    State.SUCCEEDED: "COMPLETED",
    State.FAILED: "FAILED",
    State.BLOCKED: "FAILED",
    State.CANCELLED: "FAILED",
    State.ERRORED: "ERROR",
}
RETRY_DELAYS = (10.0, 30.0, 60.0, 120.0)  # undocumented: five tries within about 4 minutes
# Not published; the gateway proxies fal's model, so its price is assumed (x-cutout-inference).
VIDEO_PRICE = FramePrice(0.022, 30)
RESULT_TTL = 24 * 3600.0  # not documented; R2 links outlive the others
MISSING_KEY = (
    "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API."
)
INVALID_KEY = (
    "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
)
# Pixazo lists 403 Forbidden without a body; APIM's quota policy answers 403 with this (x-cutout-inference).
QUOTA = "Out of call volume quota. Quota will be replenished in 00:59:59."


def error(status: int, title: str, message: str) -> ApiError:
    return ApiError(status, {"error": title, "message": message})


def status_body(links: Links, seen: JobView) -> dict[str, Any]:
    """The status object; the webhook payload is the same object, as it stands once finished."""
    job, state = seen.job, seen.state
    output = None
    if seen.succeeded:
        output = {"media_url": [links.media_url(ref) for ref in job.outputs], "media_type": job.outputs[0].content_type}
    return {
        "request_id": job.id,
        "status": STATUS[state],
        "model_id": MODEL_ID,
        "error": seen.message(f"Request {state.value}") if seen.failed else None,
        "output": output,
        "created_at": iso(job.created_at),
        "updated_at": iso(seen.updated_at),
        "completed_at": iso(job.finished_at()) if state.terminal else None,
    }


class PixazoVocabulary(Vocabulary):
    name = "pixazo"
    surfaces = {  # noqa: RUF012 (read only)
        "gateway": Surface("/pixazo", "gateway.pixazo.ai"),
        # Outputs live on a Cloudflare R2 bucket in reality; the mock stands in a host of its own.
        "media": Surface("/pixazo/media", "media.pixazo.mock"),
    }
    media_surface, media_route = "media", "/v1/{media_id}/{filename}"
    starting_balance = 10.0
    result_ttl = RESULT_TTL
    video_price = VIDEO_PRICE
    refund_on = (State.ERRORED, State.CANCELLED)  # "ERROR - System error - not charged"
    webhook_retries = RETRY_DELAYS

    def status_word(self, state: State) -> str:
        return STATUS[state]

    def api_key(self, request: Request) -> str | None:
        return header(request, "ocp-apim-subscription-key") or None

    def webhook_payload(self, links: Links, job: Job) -> dict[str, Any]:
        return status_body(links, JobView(job, job.finished_at(), final=True))

    def unauthorized(self, request: Request) -> ApiError:
        missing = not request.headers.get("ocp-apim-subscription-key")
        return ApiError(401, {"statusCode": 401, "message": MISSING_KEY if missing else INVALID_KEY})

    def not_found(self, what: str) -> ApiError:
        return error(
            404, "Request not found" if what == "job" else "Not found", f"No {what} with that id for this subscription"
        )

    def bad_body(self, problem: BadBody) -> ApiError:
        if problem.kind == "too_large":
            return error(413, "Payload Too Large", problem.detail)
        if problem.kind == "timeout":
            return error(408, "Request Timeout", problem.detail)
        return error(400, "Invalid request", problem.detail)

    def invalid(self, errors: list[dict[str, Any]]) -> ApiError:
        first = errors[0]
        name = ".".join(str(p) for p in first["loc"][1:]) or "body"
        return error(400, "Invalid request", f"{name}: {first['msg']}")

    def media_error(self, problem: MediaError) -> ApiError:
        return error(400, "Invalid request", problem.message)

    def invalid_option(self, problem: InvalidOption) -> ApiError:
        return error(400, "Invalid request", f"{problem.field or 'body'}: {problem.message}")

    def insufficient_credits(self, needed: float, balance: float) -> ApiError:
        return error(402, "Insufficient Balance", "Your wallet does not have enough balance.")

    def internal(self) -> ApiError:
        return error(500, "Internal Server Error", "Something went wrong; retry later")

    def media_expired(self) -> ApiError:
        return error(404, "Not found", "The output has expired")

    def fault_status(self, status: int, request: Request) -> ApiError | None:
        """403 is its own documented status (Forbidden), not the wallet's 402."""
        if status == 403:
            return ApiError(403, {"statusCode": 403, "message": QUOTA})
        return None

    def unknown_path(self, path: str) -> ApiError:
        """``/{model}/v{n}/...`` naming a model the gateway does not serve: the documented 400
        ``Model not found``; any other unknown path is its 404."""
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] and parts[0] != MODEL_ID and re.fullmatch(r"v\d+", parts[1]):
            return error(400, "Model not found", f"Model '{parts[0]}' not found or is disabled")
        return self.not_found("resource")

    def rate_limited(self, decision: Decision) -> ApiError:
        """APIM's rate-limit policy answer."""
        message = f"Rate limit is exceeded. Try again in {decision.retry_after} seconds."
        return ApiError(429, {"statusCode": 429, "message": message})
