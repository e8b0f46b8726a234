"""fal handlers: the queue protocol fal-client speaks, the sync run, and storage uploads."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from mockserver.core.clock import iso
from mockserver.core.jobs import Job, JobView, State
from mockserver.providers.base import View
from mockserver.providers.fal import vocabulary as words
from mockserver.providers.work import cutout_options, submit_video
from mockserver.web.http import JsonResponse

STREAM_LIMIT_SECONDS = 300.0  # an SSE stream ends by itself after this much real time


def _urls(view: View, request_id: str) -> dict[str, str]:
    response_url = view.url("queue", f"/{words.APP}/requests/{request_id}")  # built once: this is every poll
    return {
        "response_url": response_url,
        "status_url": f"{response_url}/status",
        "cancel_url": f"{response_url}/cancel",
    }


async def _start(view: View, *, inline: bool | None) -> Job:
    background, fmt = cutout_options(view.body.fields if view.body else {})
    request_id = view.mock.ids.uuid4()
    view.extra_headers["x-fal-request-id"] = request_id
    webhook = view.request.query_params.get("fal_webhook")
    return await submit_video(
        view, words.APP, background, fmt, job_id=request_id, name="{stem}_result", webhook_url=webhook, inline=inline
    )


async def queue_submit(view: View) -> Response:
    job = await _start(view, inline=None)
    body = {
        "request_id": job.id,
        "gateway_request_id": job.id,
        "status": "IN_QUEUE",
        "queue_position": job.queue_position(view.now()),
        **_urls(view, job.id),
    }
    return JsonResponse(body)


def _logs(seen: JobView) -> list[dict[str, str]]:
    job, state, entries = seen.job, seen.state, []
    if state is not State.QUEUED:
        entries.append(("INFO", "Starting video background removal", job.started_at()))
    if state.terminal:
        frames = job.result.get("frames")
        message = f"Processed {frames} frames" if frames else f"Request finished: {state.value}"
        entries.append(("INFO" if seen.succeeded else "ERROR", message, job.finished_at()))
    return [{"message": m, "level": level, "source": "USER", "timestamp": iso(t)} for level, m, t in entries]


def _status_body(view: View, seen: JobView, with_logs: bool) -> dict[str, Any]:
    job, state = seen.job, seen.state
    body: dict[str, Any] = {"status": words.STATUS.get(state, "COMPLETED"), "request_id": job.id, **_urls(view, job.id)}
    if state is State.QUEUED:
        body["queue_position"] = job.queue_position(seen.now)
    body["logs"] = _logs(seen) if with_logs else None
    if state.terminal:
        body["metrics"] = {"inference_time": round(seen.seconds, 3)}
    if seen.failed:
        body["error"] = seen.message(f"Request {state.value}")
        body["error_type"] = "request_cancelled" if state is State.CANCELLED else seen.code("internal_error")
    return body


def _wants_logs(view: View) -> bool:
    return view.request.query_params.get("logs", "0").lower() in ("1", "true")


async def queue_status(view: View) -> Response:
    seen = view.own_job(view.request.path_params["request_id"])
    view.extra_headers["x-fal-request-id"] = seen.job.id
    return JsonResponse(_status_body(view, seen, _wants_logs(view)), 200 if seen.state.terminal else 202)


async def queue_status_stream(view: View) -> Response:
    request_id = view.request.path_params["request_id"]
    view.own_job(request_id)
    view.extra_headers["x-fal-request-id"] = request_id
    with_logs = _wants_logs(view)

    async def events() -> AsyncIterator[str]:
        """Each look at the job is a status poll, so under the polls progression a stream moves its job
        on as a polling client would (it waited for the 300 s limit, as no poll came)."""
        last, deadline = None, time.monotonic() + STREAM_LIMIT_SECONDS
        while time.monotonic() < deadline:
            job = view.mock.jobs.poll(view.vocabulary.name, request_id, view.key)
            if job is None:
                return
            seen = view.seen(job)
            body = _status_body(view, seen, with_logs)
            if body != last:
                yield f"data: {json.dumps(body)}\n\n"
                last = body
            if seen.state.terminal:
                return
            await asyncio.sleep(0.05)

    return StreamingResponse(events(), media_type="text/event-stream")


def _result_response(view: View, seen: JobView) -> Response:
    status, body = words.result(view.links(), seen)
    return JsonResponse(body, status, headers=words.error_headers(body) if status >= 400 else None)


async def jwks(view: View) -> Response:
    """The public keys that verify the mock's webhook signatures (https://rest.fal.ai/.well-known/jwks.json)."""
    return JsonResponse(view.mock.signer.jwks())


async def queue_result(view: View) -> Response:
    seen = view.own_job(view.request.path_params["request_id"])
    view.extra_headers["x-fal-request-id"] = seen.job.id
    if not seen.state.terminal:
        raise words.detail(400, "Request is still in progress")
    return _result_response(view, seen)


async def queue_cancel(view: View) -> Response:
    job = view.mock.jobs.get(view.vocabulary.name, view.request.path_params["request_id"], view.key)
    if job is None:
        return JsonResponse({"status": "NOT_FOUND"}, 404)
    view.extra_headers["x-fal-request-id"] = job.id  # echoed only once it names a real request
    if view.mock.jobs.end(job, State.CANCELLED) is None:
        return JsonResponse({"status": "ALREADY_COMPLETED"}, 400)
    return JsonResponse({"status": "CANCELLATION_REQUESTED"}, 202)


async def run(view: View) -> Response:
    """fal.run: the same work, done before answering."""
    job = await _start(view, inline=True)
    return _result_response(view, view.seen(job, final=True))


async def storage_token(view: View) -> Response:
    return JsonResponse(
        {
            "token": words.cdn_token(view.key),
            "token_type": "Bearer",
            "base_url": view.url("cdn", ""),
            "expires_at": iso(view.now() + 3600),
        }
    )


async def cdn_upload(view: View) -> Response:
    assert view.body is not None
    name = view.request.headers.get("x-fal-file-name") or f"upload.{view.body.content_type.split('/')[-1]}"
    name = name.replace("/", "_")[:128]
    ref = view.mock.media.save(
        view.vocabulary.name, name, view.body.content_type, words.UPLOAD_TTL, data=view.body.files["body"]
    )
    return JsonResponse({"access_url": view.media_url(ref)})
