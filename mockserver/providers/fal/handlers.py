"""fal handlers: the queue protocol fal-client speaks, the sync run, and storage uploads."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from mockserver.core.clock import iso
from mockserver.core.jobs import Job, State
from mockserver.core.webhooks import Headers
from mockserver.engine import inputs
from mockserver.engine.errors import InvalidOption
from mockserver.providers.base import Context
from mockserver.providers.fal import vocabulary as words
from mockserver.providers.work import VideoJob, cutout_options, input_stem, submit_video_cutout
from mockserver.web.http import JsonResponse

STREAM_LIMIT_SECONDS = 300.0  # an SSE stream ends by itself after this much real time


def _urls(ctx: Context, request_id: str) -> dict[str, str]:
    base = f"/{words.APP}/requests/{request_id}"
    return {
        "response_url": ctx.url("queue", base),
        "status_url": ctx.url("queue", base + "/status"),
        "cancel_url": ctx.url("queue", base + "/cancel"),
    }


async def _start(ctx: Context, *, inline: bool | None) -> Job:
    fields = ctx.body.fields if ctx.body else {}
    try:
        background, fmt = cutout_options(fields)
    except InvalidOption as problem:
        raise words.validation(["body", problem.field or "body"], problem.message, "value_error") from None
    request_id = ctx.mock.ids.uuid4()
    ctx.extra_headers["x-fal-request-id"] = request_id
    url = fields["video_url"]
    spec = VideoJob(
        url,
        fmt,
        background,
        inputs.PIXELCUT_VIDEO,
        words.RESULT_TTL,
        f"{input_stem(url, 'video')}_result.{fmt.extension}",
    )
    webhook = ctx.request.query_params.get("fal_webhook")
    return await submit_video_cutout(ctx, words.APP, spec, job_id=request_id, webhook_url=webhook, inline=inline)


async def queue_submit(ctx: Context) -> Response:
    job = await _start(ctx, inline=None)
    body = {
        "request_id": job.id,
        "gateway_request_id": job.id,
        "status": "IN_QUEUE",
        "queue_position": job.queue_position(ctx.now()),
        **_urls(ctx, job.id),
    }
    return JsonResponse(body)


def _logs(job: Job, state: State) -> list[dict[str, str]]:
    entries = []
    if state is not State.QUEUED:
        entries.append(("INFO", "Starting video background removal", job.started_at()))
    if state.terminal:
        frames = job.result.get("frames")
        message = f"Processed {frames} frames" if frames else f"Request finished: {state.value}"
        entries.append(("INFO" if state is State.SUCCEEDED else "ERROR", message, job.finished_at()))
    return [{"message": m, "level": level, "source": "USER", "timestamp": iso(t)} for level, m, t in entries]


def _status_body(ctx: Context, job: Job, with_logs: bool) -> tuple[dict[str, Any], State]:
    state = job.visible_state(ctx.now())
    body: dict[str, Any] = {"status": words.STATUS.get(state, "COMPLETED"), "request_id": job.id, **_urls(ctx, job.id)}
    if state is State.QUEUED:
        body["queue_position"] = job.queue_position(ctx.now())
    body["logs"] = _logs(job, state) if with_logs else None
    if state.terminal:
        body["metrics"] = {"inference_time": round(job.finished_at() - job.started_at(), 3)}
        if state is not State.SUCCEEDED:
            body["error"] = (job.error or {}).get("message", f"Request {state.value}")
            body["error_type"] = (
                "request_cancelled" if state is State.CANCELLED else (job.error or {}).get("code", "internal_error")
            )
    return body, state


def _wants_logs(ctx: Context) -> bool:
    return ctx.request.query_params.get("logs", "0").lower() in ("1", "true")


async def queue_status(ctx: Context) -> Response:
    job = ctx.own_job(ctx.request.path_params["request_id"])
    ctx.extra_headers["x-fal-request-id"] = job.id
    body, state = _status_body(ctx, job, _wants_logs(ctx))
    return JsonResponse(body, 200 if state.terminal else 202)


async def queue_status_stream(ctx: Context) -> Response:
    request_id = ctx.request.path_params["request_id"]
    ctx.own_job(request_id)
    ctx.extra_headers["x-fal-request-id"] = request_id
    with_logs = _wants_logs(ctx)

    async def events() -> AsyncIterator[str]:
        last, deadline = None, time.monotonic() + STREAM_LIMIT_SECONDS
        while time.monotonic() < deadline:
            job = ctx.mock.store.get_job(ctx.provider.name, request_id)
            if job is None:
                return
            body, state = _status_body(ctx, job, with_logs)
            if body != last:
                yield f"data: {json.dumps(body)}\n\n"
                last = body
            if state.terminal:
                return
            await asyncio.sleep(0.05)

    return StreamingResponse(events(), media_type="text/event-stream")


def _output(ctx: Context, job: Job) -> dict[str, Any]:
    ref = job.outputs[0]
    return {
        "video": {
            "url": ctx.media_url(ref),
            "content_type": ref.content_type,
            "file_name": ref.filename,
            "file_size": ref.size,
        }
    }


def _result(ctx: Context, job: Job, state: State) -> tuple[int, dict[str, Any]]:
    """What the model "returned" for a finished request: the result endpoint and webhooks say the same."""
    if state is State.SUCCEEDED:
        return 200, _output(ctx, job)
    if state is State.CANCELLED:
        error = words.detail(400, "Request was cancelled", "request_cancelled")
    elif state is State.FAILED and job.error:
        error = words.validation(["body", "video_url"], job.error["message"], job.error["code"])
    else:
        error = words.internal_error()
    return error.status, error.body


def _result_response(ctx: Context, job: Job) -> Response:
    state = job.visible_state(ctx.now())
    if not state.terminal:
        raise words.detail(400, "Request is still in progress")
    status, body = _result(ctx, job, state)
    return JsonResponse(body, status, headers=words.error_headers(body) if status >= 400 else None)


def webhook_payload(ctx: Context, job: Job) -> dict[str, Any]:
    """fal's webhook body: status OK with the output, or ERROR with the model's error as payload."""
    status, body = _result(ctx, job, job.final_state())
    common = {"request_id": job.id, "gateway_request_id": job.id}
    if status == 200:
        return {**common, "status": "OK", "payload": body}
    return {**common, "status": "ERROR", "error": f"Invalid status code: {status}", "payload": body}


def webhook_headers(ctx: Context, job: Job) -> Headers:
    """fal's signature headers, computed per attempt (the timestamp is part of the signed message)."""
    signer, user_id = ctx.mock.signer, words.user_id(job.owner)

    def headers(body: bytes, now: float) -> dict[str, str]:
        timestamp = str(int(now))
        return {
            "X-Fal-Webhook-Request-Id": job.id,
            "X-Fal-Webhook-User-Id": user_id,
            "X-Fal-Webhook-Timestamp": timestamp,
            "X-Fal-Webhook-Signature": signer.sign(job.id, user_id, timestamp, body),
        }

    return headers


async def jwks(ctx: Context) -> Response:
    """The public keys that verify the mock's webhook signatures (https://rest.fal.ai/.well-known/jwks.json)."""
    return JsonResponse(ctx.mock.signer.jwks())


async def queue_result(ctx: Context) -> Response:
    job = ctx.own_job(ctx.request.path_params["request_id"])
    ctx.extra_headers["x-fal-request-id"] = job.id
    return _result_response(ctx, job)


async def queue_cancel(ctx: Context) -> Response:
    request_id = ctx.request.path_params["request_id"]
    job = ctx.mock.store.get_job(ctx.provider.name, request_id)
    if job is None or job.owner != ctx.key:
        return JsonResponse({"status": "NOT_FOUND"}, 404)
    ctx.extra_headers["x-fal-request-id"] = job.id  # echoed only once it names a real request
    now = ctx.now()
    cancelled = []

    def cancel(stored: Job) -> None:
        if not stored.visible_state(now).terminal:
            stored.forced, stored.forced_at = State.CANCELLED, now
            cancelled.append(stored)

    ctx.mock.store.update_job(ctx.provider.name, request_id, cancel)
    if cancelled:
        ctx.mock.refund_job(ctx.provider.name, request_id)
        ctx.job_changed(cancelled[0])
        return JsonResponse({"status": "CANCELLATION_REQUESTED"}, 202)
    return JsonResponse({"status": "ALREADY_COMPLETED"}, 400)


async def run(ctx: Context) -> Response:
    """fal.run: the same work, done before answering."""
    job = await _start(ctx, inline=True)
    stored = ctx.mock.store.get_job(ctx.provider.name, job.id) or job
    status, body = _result(ctx, stored, stored.final_state())
    return JsonResponse(body, status, headers=words.error_headers(body) if status >= 400 else None)


async def storage_token(ctx: Context) -> Response:
    return JsonResponse(
        {
            "token": words.cdn_token(ctx.key),
            "token_type": "Bearer",
            "base_url": ctx.url("cdn", ""),
            "expires_at": iso(ctx.now() + 3600),
        }
    )


async def cdn_upload(ctx: Context) -> Response:
    assert ctx.body is not None
    name = ctx.request.headers.get("x-fal-file-name") or f"upload.{ctx.body.content_type.split('/')[-1]}"
    name = name.replace("/", "_")[:128]
    ref = ctx.mock.media.save(
        ctx.provider.name, name, ctx.body.content_type, words.UPLOAD_TTL, data=ctx.body.files["body"]
    )
    return JsonResponse({"access_url": ctx.media_url(ref)})
