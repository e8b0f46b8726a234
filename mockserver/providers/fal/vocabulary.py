"""fal's words and hooks: queue status names, FastAPI-style ``detail`` errors, what a finished request
returned (the result endpoint and the webhook say the same), queue and CDN URL shapes, signed webhooks."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from starlette.requests import Request

from mockserver.core.accounts import FramePrice
from mockserver.core.jobs import Job, JobView, State
from mockserver.core.ratelimit import Decision
from mockserver.core.signing import Signer
from mockserver.core.webhooks import Headers
from mockserver.engine.errors import InvalidOption, MediaError
from mockserver.providers.base import Links, View, Vocabulary
from mockserver.runtime.catalogue import Surface
from mockserver.web.bodies import BadBody
from mockserver.web.http import ApiError, header

APP = "pixelcut/video-background-removal"
STATUS = {State.QUEUED: "IN_QUEUE", State.RUNNING: "IN_PROGRESS"}  # every other state is COMPLETED
VIDEO_PRICE = FramePrice(0.022, 30)  # "Your request will cost $0.022 per 30 frames."
RESULT_TTL = 3600.0  # "fal keeps the result for 1 hour after the request completes"
UPLOAD_TTL = 7 * 24 * 3600.0
PRICE_PER_30_FRAMES = 0.022  # USD, from the model page
CDN_TOKEN_PREFIX = "cutout-cdn."


RETRY_DELAYS = (15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3360.0)  # 10 tries within 2 hours


def user_id(key: str) -> str:
    """A stable user id for a key (the X-Fal-Webhook-User-Id a receiver puts in the signed message)."""
    return "user_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def error_headers(body: dict[str, Any]) -> dict[str, str]:
    return {"X-Fal-Error-Type": body["error_type"]} if "error_type" in body else {}


def detail(status: int, message: Any, error_type: str | None = None) -> ApiError:
    body: dict[str, Any] = {"detail": message}
    if error_type:
        body["error_type"] = error_type
    return ApiError(status, body, error_headers(body))


def internal_error() -> ApiError:
    return detail(500, "Internal Server Error", "internal_error")


def validation(loc: list[str | int], msg: str, kind: str) -> ApiError:
    return ApiError(422, {"detail": [{"loc": loc, "msg": msg, "type": kind}]})


def cdn_token(key: str) -> str:
    return CDN_TOKEN_PREFIX + base64.urlsafe_b64encode(key.encode()).decode()


def output(links: Links, job: Job) -> dict[str, Any]:
    ref = job.outputs[0]
    return {
        "video": {
            "url": links.media_url(ref),
            "content_type": ref.content_type,
            "file_name": ref.filename,
            "file_size": ref.size,
        }
    }


def result(links: Links, seen: JobView) -> tuple[int, dict[str, Any]]:
    """What the model "returned" for a finished request: the result endpoint and webhooks say the same."""
    job, state = seen.job, seen.state
    if state is State.SUCCEEDED:
        return 200, output(links, job)
    if state is State.CANCELLED:
        error = detail(400, "Request was cancelled", "request_cancelled")
    elif state is State.FAILED and job.error:
        error = validation(["body", "video_url"], job.error["message"], job.error["code"])
    else:
        error = internal_error()
    return error.status, error.body


class FalVocabulary(Vocabulary):
    name = "fal"
    surfaces = {  # noqa: RUF012 (read only)
        "queue": Surface("/fal/queue", "queue.fal.run"),
        "run": Surface("/fal/run", "fal.run"),
        "rest": Surface("/fal/rest", "rest.fal.ai"),
        "cdn": Surface("/fal/cdn", "v3.fal.media"),
    }
    media_surface, media_route = "cdn", "/files/{media_id}/{filename}"
    starting_balance = 10.0
    result_ttl = RESULT_TTL
    video_price = VIDEO_PRICE
    webhook_retries = RETRY_DELAYS

    def api_key(self, request: Request) -> str | None:
        """``Authorization: Key <key>`` for the API; ``Bearer <cdn token>`` (which names its key) on the CDN."""
        scheme, _, value = header(request, "authorization").partition(" ")
        value = value.strip()
        if scheme.lower() == "key":
            return value or None
        if scheme.lower() == "bearer" and value.startswith(CDN_TOKEN_PREFIX):
            try:
                return base64.urlsafe_b64decode(value.removeprefix(CDN_TOKEN_PREFIX).encode()).decode()
            except (ValueError, UnicodeDecodeError):
                return None
        return None

    def response_headers(self, view: View) -> dict[str, str]:
        """fal sends x-fal-request-id on every response (fal-client reads it to tell fal from a proxy)."""
        if "x-fal-request-id" in view.extra_headers:
            return {}
        return {"x-fal-request-id": view.mock.ids.uuid4()}

    def webhook_payload(self, links: Links, job: Job) -> dict[str, Any]:
        """fal's webhook body: status OK with the output, or ERROR with the model's error as payload."""
        status, body = result(links, JobView(job, job.finished_at(), final=True))
        common = {"request_id": job.id, "gateway_request_id": job.id}
        if status == 200:
            return {**common, "status": "OK", "payload": body}
        return {**common, "status": "ERROR", "error": f"Invalid status code: {status}", "payload": body}

    def webhook_headers(self, signer: Signer, job: Job) -> Headers:
        """fal's signature headers, computed per attempt (the timestamp is part of the signed message)."""
        user = user_id(job.owner)

        def headers(body: bytes, now: float) -> dict[str, str]:
            timestamp = str(int(now))
            return {
                "X-Fal-Webhook-Request-Id": job.id,
                "X-Fal-Webhook-User-Id": user,
                "X-Fal-Webhook-Timestamp": timestamp,
                "X-Fal-Webhook-Signature": signer.sign(job.id, user, timestamp, body),
            }

        return headers

    def unauthorized(self, request: Request) -> ApiError:
        return detail(401, "Unauthorized")

    def not_found(self, what: str) -> ApiError:
        return detail(404, "Request not found" if what == "job" else "Not Found")

    def bad_body(self, problem: BadBody) -> ApiError:
        if problem.kind == "too_large":
            return detail(413, "Request Entity Too Large")
        kind = "value_error.jsondecode" if problem.kind == "json" else "value_error.missing"
        return validation(["body"], problem.detail, kind)

    def invalid(self, errors: list[dict[str, Any]]) -> ApiError:
        return ApiError(422, {"detail": errors})

    def media_error(self, problem: MediaError) -> ApiError:
        return validation(["body", "video_url"], problem.message, problem.code)

    def invalid_option(self, problem: InvalidOption) -> ApiError:
        return validation(["body", problem.field or "body"], problem.message, "value_error")

    def insufficient_credits(self, needed: float, balance: float) -> ApiError:
        return detail(
            403, "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."
        )

    def internal(self) -> ApiError:
        return internal_error()

    def media_expired(self) -> ApiError:
        return detail(404, "File not found or expired")

    def rate_limited(self, decision: Decision) -> ApiError:
        # fal-client retries 429 silently up to 10 times before it gives up.
        return detail(429, "Rate limit exceeded", "rate_limited")
