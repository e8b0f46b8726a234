"""Pixelcut's words and hooks: job status names, the ``{error, error_code}`` body, URL shapes, limits."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from mockserver.core.accounts import FramePrice
from mockserver.core.backends.base import Account
from mockserver.core.jobs import State
from mockserver.core.ratelimit import Decision, Limit
from mockserver.engine import inputs
from mockserver.engine.errors import MediaError
from mockserver.providers.base import View, Vocabulary
from mockserver.runtime.catalogue import Surface
from mockserver.web.bodies import BadBody
from mockserver.web.http import ApiError, header

STATUS = {
    State.QUEUED: "pending",
    State.RUNNING: "running",
    State.SUCCEEDED: "completed",
    State.FAILED: "failed",
    State.ERRORED: "failed",
    State.CANCELLED: "failed",
    State.BLOCKED: "failed",
}
# The failed-job error_code for each terminal failure (job-status error codes of the docs).
JOB_ERROR_CODE = {
    State.ERRORED: "unexpected_error",
    State.CANCELLED: "job_cancelled",
    State.BLOCKED: "content_filter_error",
}
# Engine error codes that Pixelcut documents for 400; the rest are worded as invalid_parameter.
DOCUMENTED_400 = {
    "malformed_image",
    "unsupported_image_format",
    "file_size_too_large",
    "resolution_too_high",
    "unknown_foreground",
}
ALPHA_FORMATS = frozenset({"webm_vp9", "mov_proresks", "gif"})  # "transparent requires ..." in the docs
RESULT_TTL = 3600.0  # "valid for 1 hour"
# Documented input limits: 25 MB, 64 to 6000 px a side, PNG / JPEG / WebP.
IMAGE_LIMITS = inputs.ImageLimits(
    max_bytes=25 * inputs.MB, min_side=64, max_side=6000, formats=frozenset({"PNG", "JPEG", "WEBP"})
)
RATE_LIMIT = Limit(5, 1.0)  # "commonly 5 requests/second per account"; no rate-limit headers documented
IMAGE_COST, SHADOW_COST = 1.0, 3.0  # base cost is not documented (1 is Pixelcut's usual unit)
VIDEO_BLOCK = 30  # frames per billed block of video (``--pixelcut-video-credits`` each; not documented)
DEFAULT_VIDEO_FORMAT = "mp4_h264"  # "Defaults to `mp4_h264` if not specified" (VideoOutputFormatParameter)


def error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, {"error": message, "error_code": code})


class PixelcutVocabulary(Vocabulary):
    name = "pixelcut"
    surfaces = {  # noqa: RUF012 (read only)
        "api": Surface("/pixelcut", "api.developer.pixelcut.ai"),
        "assets": Surface("/pixelcut/assets", "assets.pixelcut.app"),
    }
    media_surface, media_route = "assets", "/public/result/{media_id}.{ext}"
    starting_balance = 100.0
    result_ttl = RESULT_TTL

    def status_word(self, state: State) -> str:
        return STATUS[state]

    def api_key(self, request: Request) -> str | None:
        return header(request, "x-api-key") or None

    def rate_limit(self, account: Account) -> Limit:
        return RATE_LIMIT

    def video_price_for(self, view: View) -> FramePrice | None:
        """Credits per started 30 frames from ``--pixelcut-video-credits`` (Pixelcut publishes no video
        price; 0 makes video free). A balance under one block is the documented 403."""
        credits = view.mock.settings.pixelcut_video_credits
        return FramePrice(credits, VIDEO_BLOCK) if credits > 0 else None

    def unauthorized(self, request: Request) -> ApiError:
        return error(401, "invalid_auth_token", "API Token not found")

    def not_found(self, what: str) -> ApiError:
        return error(404, "not_found", f"{what.capitalize()} not found")

    def bad_body(self, problem: BadBody) -> ApiError:
        if problem.kind == "content_type":
            return error(
                400, "unsupported_content_type", "The content type must be application/json or multipart/form-data"
            )
        if problem.kind == "too_large":
            return error(400, "file_size_too_large", "File size too large")
        if problem.kind == "timeout":
            return error(408, "request_timeout", f"Request timeout: {problem.detail}")
        return error(400, "invalid_request_body", f"The request body was empty or invalid: {problem.detail}")

    def invalid(self, errors: list[dict[str, Any]]) -> ApiError:
        first = errors[0]
        name = ".".join(str(part) for part in first["loc"][1:]) or "body"
        if first["type"] == "value_error.missing":
            return error(400, "missing_parameter", f"Missing required parameter: {name}")
        return error(400, "invalid_parameter", f"Invalid parameter {name}: {first['msg']}")

    def media_error(self, problem: MediaError) -> ApiError:
        code = problem.code if problem.code in DOCUMENTED_400 else "invalid_parameter"
        return error(400, code, problem.message)

    def insufficient_credits(self, needed: float, balance: float) -> ApiError:
        return error(403, "insufficient_api_credits", "Insufficient credits available")

    def internal(self) -> ApiError:
        return error(500, "internal_error", "Internal service error")

    def media_expired(self) -> ApiError:
        return error(410, "job_expired", "The result has expired (results are kept for 1 hour)")

    def rate_limited(self, decision: Decision) -> ApiError:
        return error(429, "rate_limit_exceeded", "Too many requests")
