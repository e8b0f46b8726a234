"""fal's words and hooks: queue status names, FastAPI-style ``detail`` errors, what a finished request
returned (the result endpoint and the webhook say the same), queue and CDN URL shapes, signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
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
from mockserver.web.bodies import BadBody, parse_json
from mockserver.web.http import ApiError, header

APP = "pixelcut/video-background-removal"
STATUS = {State.QUEUED: "IN_QUEUE", State.RUNNING: "IN_PROGRESS"}  # every other state is COMPLETED
VIDEO_PRICE = FramePrice(0.022, 30)  # "Your request will cost $0.022 per 30 frames."
# "fal keeps the result for 1 hour after the request completes. If the result is 10 KB or larger, fal
# keeps it for 6 minutes" (inference-api/queue/result). The CDN files it names live on their own.
RESULT_RETENTION = 3600.0
RESULT_RETENTION_LARGE = 360.0
LARGE_RESULT = 10 * 1024
# CDN files: "Configurable" (media-expiration); the default is not published: 7 days here (inferred).
CDN_TTL = 7 * 24 * 3600.0
NEVER = 100 * 365 * 24 * 3600.0  # expiration_duration_seconds null: "no expiration"
UPLOAD_TTL = CDN_TTL
MULTIPART_MAX_TOTAL = 1024**3  # the bound on one multipart upload (fal publishes none; inferred)
MIN_REQUEST_TIMEOUT = 0.1  # X-Fal-Request-Timeout "Minimum > 0.1 seconds" (common-parameters)
PRICE_PER_30_FRAMES = 0.022  # USD, from the model page
CDN_TOKEN_PREFIX = "cutout-cdn."
PROXY_PATH = "/fal/proxy"  # where the mock plays @fal-ai/server-proxy for fal.config({proxyUrl})
PROXY_HEADER = "x-fal-target-url"  # fal-js middleware.ts TARGET_URL_HEADER
PROXY_AUTHORIZATION = "Key proxy"  # the proxy's own key, for requests that bring none (a browser's)
BACKUP_HOSTS = {"queue.fal.run": "queue.falrun.com", "fal.run": "falrun.com"}  # fal-client _BACKUP_DOMAINS
EXPOSED_HEADERS = (
    "x-fal-request-id",
    "x-fal-error-type",
    "x-fal-retryable",
    "x-fal-request-timeout-type",
    "etag",
    "retry-after",
)

# Request errors (documented-model-apis/request-errors): error_type -> (typical status, detail).
REQUEST_ERRORS = {
    "request_timeout": (504, "Request timed out"),
    "startup_timeout": (504, "Runner did not start in time"),
    "runner_scheduling_failure": (503, "No runner could be allocated"),
    "runner_connection_timeout": (503, "Connection to the runner timed out"),
    "runner_disconnected": (503, "Runner disconnected unexpectedly"),
    "runner_connection_refused": (503, "Runner refused the connection"),
    "runner_connection_error": (503, "Connection error with the runner"),
    "runner_incomplete_response": (502, "Runner sent an incomplete response"),
    "runner_server_error": (500, "Runner internal server error"),
    "client_disconnected": (499, "Client disconnected"),
    "client_cancelled": (499, "Request was cancelled"),
    "bad_request": (400, "Bad request"),
    "internal_error": (500, "Internal Server Error"),
}
# A fault's bare status -> the request error fal documents for it (the first of its typical status).
FAULT_TYPES = {
    500: "internal_error",
    502: "runner_incomplete_response",
    503: "runner_disconnected",
    504: "request_timeout",
}
# The job's own error codes (runtime, faults, recovery) -> fal's request error types.
JOB_ERROR_TYPES = {"request_timeout": "request_timeout", "unexpected_error": "runner_disconnected"}


RETRY_DELAYS = (15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3360.0)  # 10 tries within 2 hours


def user_id(key: str) -> str:
    """A stable user id for a key (the X-Fal-Webhook-User-Id a receiver puts in the signed message)."""
    return "user_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def error_headers(body: Any, status: int) -> dict[str, str]:
    """X-Fal-Error-Type beside a request error's ``error_type``; X-Fal-Retryable on model errors (a
    ``detail`` list: "Headers: Includes required headers like X-Fal-Retryable", docs.fal.ai/errors)."""
    headers: dict[str, str] = {}
    if isinstance(body, dict) and "error_type" in body:
        headers["X-Fal-Error-Type"] = body["error_type"]
        if body["error_type"] == "request_timeout":
            headers["X-Fal-Request-Timeout-Type"] = "user"
    if (isinstance(body, dict) and isinstance(body.get("detail"), list)) or status == 422:
        headers["X-Fal-Retryable"] = "true" if status >= 500 else "false"
    return headers


def detail(status: int, message: Any, error_type: str | None = None) -> ApiError:
    body: dict[str, Any] = {"detail": message}
    if error_type:
        body["error_type"] = error_type
    return ApiError(status, body, error_headers(body, status))


def request_error(error_type: str, message: str | None = None) -> ApiError:
    """A request error as fal documents it: flat ``detail`` + ``error_type``, X-Fal-Error-Type."""
    status, default = REQUEST_ERRORS[error_type]
    return detail(status, message or default, error_type)


def internal_error() -> ApiError:
    return request_error("internal_error")


def validation(loc: list[str | int], msg: str, kind: str) -> ApiError:
    body = {"detail": [{"loc": loc, "msg": msg, "type": kind}]}
    return ApiError(422, body, error_headers(body, 422))


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


def job_error(seen: JobView) -> ApiError:
    """What a finished, unsuccessful request "returned": the model's 422 for a refused input, fal's
    request error otherwise (client_cancelled for a cancel, request_timeout for a missed
    X-Fal-Request-Timeout, runner_disconnected for work lost)."""
    job, state = seen.job, seen.state
    if state is State.CANCELLED:
        return request_error("client_cancelled")
    code = seen.code("")
    if state in (State.FAILED, State.BLOCKED) and job.error:
        kind = "content_policy_violation" if state is State.BLOCKED else code
        return validation(["body", "video_url"], job.error["message"], kind)
    return request_error(JOB_ERROR_TYPES.get(code, "internal_error"), seen.message("") or None)


def result(links: Links, seen: JobView) -> tuple[int, dict[str, Any], dict[str, str]]:
    """What the model "returned" for a finished request: the result endpoint and webhooks say the same."""
    if seen.state is State.SUCCEEDED:
        return 200, output(links, seen.job), {}
    error = job_error(seen)
    return error.status, error.body, error.headers


def result_retention(body: dict[str, Any]) -> float:
    """How long the queue keeps a result of this body (1 hour; 6 minutes from 10 KB)."""
    return RESULT_RETENTION_LARGE if len(json.dumps(body)) >= LARGE_RESULT else RESULT_RETENTION


def lifecycle_ttl(value: str | None, default: float) -> float:
    """Seconds a file is kept under an X-Fal-Object-Lifecycle(-Preference) JSON value
    (``{"expiration_duration_seconds": N | null}``); `default` when absent or unreadable."""
    if not value:
        return default
    try:
        chosen = parse_json(value)  # bounded as a JSON body is
    except BadBody:
        return default
    if not isinstance(chosen, dict) or "expiration_duration_seconds" not in chosen:
        return default
    seconds = chosen["expiration_duration_seconds"]
    if seconds is None:
        return NEVER
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
        return float(seconds)
    return default


def request_timeout(value: str | None) -> float | None:
    """X-Fal-Request-Timeout in seconds (None when absent); bad_request (400) when not a number
    above the documented minimum ("Minimum > 0.1 seconds")."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > MIN_REQUEST_TIMEOUT or seconds == float("inf"):
        raise request_error("bad_request", f"Invalid X-Fal-Request-Timeout header: {value!r} (must be > 0.1 seconds)")
    return seconds


class FalVocabulary(Vocabulary):
    name = "fal"
    surfaces = {  # noqa: RUF012 (read only)
        "queue": Surface("/fal/queue", "queue.fal.run", (BACKUP_HOSTS["queue.fal.run"],)),
        "run": Surface("/fal/run", "fal.run", (BACKUP_HOSTS["fal.run"],)),
        "rest": Surface("/fal/rest", "rest.fal.ai"),
        "cdn": Surface("/fal/cdn", "v3.fal.media"),
    }
    media_surface, media_route = "cdn", "/files/{media_id}/{filename}"
    starting_balance = 10.0
    result_ttl = CDN_TTL  # of the output files; the queue's result has its own (RESULT_RETENTION)
    video_price = VIDEO_PRICE
    webhook_retries = RETRY_DELAYS
    # Polls are never refused: fal queues work over a caller's concurrency instead (reliability page).
    unlimited = frozenset({"fal-queue-status", "fal-queue-status-stream", "fal-queue-result"})
    proxy = (PROXY_PATH, PROXY_HEADER, PROXY_AUTHORIZATION)
    cors_exposed = EXPOSED_HEADERS

    def output_ttl(self, view: View) -> float:
        """Output files live as the request's X-Fal-Object-Lifecycle-Preference says ("Set
        expiration_duration_seconds to the number of seconds, or null for no expiration"), else 7 days."""
        return lifecycle_ttl(view.request.headers.get("x-fal-object-lifecycle-preference"), CDN_TTL)

    def status_word(self, state: State) -> str:
        return STATUS.get(state, "COMPLETED")

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
        status, body, _ = result(links, JobView(job, job.finished_at(), final=True))
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
        """fal's 404, with an x-fal-request-id as every fal answer (one of its own where none is named)."""
        error = detail(404, "Request not found" if what == "job" else "Not Found")
        error.headers["x-fal-request-id"] = str(uuid.uuid4())
        return error

    def fault_status(self, status: int, request: Request) -> ApiError | None:
        """A bare 5xx fault is the request error fal documents for that status (X-Fal-Error-Type)."""
        kind = FAULT_TYPES.get(status)
        return request_error(kind) if kind else None

    def bad_body(self, problem: BadBody) -> ApiError:
        if problem.kind == "too_large":
            return detail(413, "Request Entity Too Large")
        if problem.kind == "timeout":
            return detail(408, "Request Timeout")
        kind = "value_error.jsondecode" if problem.kind == "json" else "value_error.missing"
        return validation(["body"], problem.detail, kind)

    def invalid(self, errors: list[dict[str, Any]]) -> ApiError:
        body = {"detail": errors}
        return ApiError(422, body, error_headers(body, 422))

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
        # fal-client retries 429 silently up to 10 times before it gives up. No error_type: fal documents
        # none for a 429 (request-errors lists its types), so none is made up.
        return detail(429, "Rate limit exceeded")
