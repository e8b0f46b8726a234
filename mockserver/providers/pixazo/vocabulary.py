"""Pixazo's words: QUEUED..ERROR, APIM-style 401s, ``{error, message}`` gateway errors."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from mockserver.core.accounts import FramePrice
from mockserver.core.jobs import MediaRef, State
from mockserver.core.ratelimit import Decision
from mockserver.engine.errors import MediaError
from mockserver.web.bodies import BadBody
from mockserver.web.http import ApiError

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


def error(status: int, title: str, message: str) -> ApiError:
    return ApiError(status, {"error": title, "message": message})


def media_path(ref: MediaRef) -> str:
    return f"/v1/{ref.id}/{ref.filename}"


class PixazoVocabulary:
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
        return error(400, "Invalid request", problem.detail)

    def invalid(self, errors: list[dict[str, Any]]) -> ApiError:
        first = errors[0]
        name = ".".join(str(p) for p in first["loc"][1:]) or "body"
        return error(400, "Invalid request", f"{name}: {first['msg']}")

    def media_error(self, problem: MediaError) -> ApiError:
        return error(400, "Invalid request", problem.message)

    def insufficient_credits(self, needed: float, balance: float) -> ApiError:
        return error(402, "Insufficient Balance", "Your wallet does not have enough balance.")

    def internal(self) -> ApiError:
        return error(500, "Internal Server Error", "Something went wrong; retry later")

    def media_expired(self) -> ApiError:
        return error(404, "Not found", "The output has expired")

    def rate_limited(self, decision: Decision) -> ApiError:
        """APIM's rate-limit policy answer."""
        message = f"Rate limit is exceeded. Try again in {decision.retry_after} seconds."
        return ApiError(429, {"statusCode": 429, "message": message})
