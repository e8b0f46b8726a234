"""fal handlers: the queue protocol fal-client speaks, the sync run, and storage uploads."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from mockserver.core.clock import iso
from mockserver.core.jobs import Job, JobView, MediaRef, State
from mockserver.providers.base import View
from mockserver.providers.fal import vocabulary as words
from mockserver.providers.work import cutout_options, submit_video
from mockserver.runtime.jobs import WorkResult
from mockserver.runtime.uploads import MAX_PARTS, BadParts, EmptyUpload, Slot, Uploads, UploadTooLarge
from mockserver.web.bodies import BadBody, stream
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
    deadline = words.request_timeout(view.request.headers.get("x-fal-request-timeout"))
    request_id = view.mock.ids.uuid4()
    view.extra_headers["x-fal-request-id"] = request_id
    webhook = view.request.query_params.get("fal_webhook")
    if deadline is not None and deadline < 0.5 + view.queue_wait:
        return await _timed_out(view, request_id, deadline, webhook, inline)
    return await submit_video(
        view, words.APP, background, fmt, job_id=request_id, name="{stem}_result", webhook_url=webhook, inline=inline
    )


async def _timed_out(view: View, request_id: str, deadline: float, webhook: str | None, inline: bool | None) -> Job:
    """A request that will still be queued at its X-Fal-Request-Timeout: it never starts, and ends at
    the deadline with fal's request_timeout ("If the deadline is reached before any runner starts
    processing, the server returns 504 Gateway Timeout with X-Fal-Request-Timeout-Type: user").
    Not billed (5xx failures are not, reliability page): the hold comes back."""

    async def work(job: Job) -> WorkResult:
        return WorkResult(State.ERRORED, error={"code": "request_timeout", "message": "Request timed out"})

    view.queue_wait = deadline - 0.5
    fields = dict(view.body.fields) if view.body else {}
    price = words.VIDEO_PRICE.amount
    return await view.submit(
        words.APP, fields, work, job_id=request_id, cost=price, run_seconds=0.0, webhook_url=webhook, inline=inline
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


def _ran(seen: JobView) -> bool:
    """Whether a runner took the request: not while queued, nor when it ended before its start (a
    cancel or a timeout while queued)."""
    job = seen.job
    return seen.state is not State.QUEUED and not (seen.state.terminal and job.finished_at() <= job.started_at())


def _logs(seen: JobView) -> list[dict[str, str]]:
    job, state, entries = seen.job, seen.state, []
    if _ran(seen):
        entries.append(("INFO", "Starting video background removal", job.started_at()))
    if state.terminal and entries:  # the runner's logs: none from a request no runner took
        frames = job.result.get("frames") if seen.succeeded else None
        message = f"Processed {frames} frames" if frames else f"Request finished: {state.value}"
        entries.append(("INFO" if seen.succeeded else "ERROR", message, job.finished_at()))
    return [{"message": m, "level": level, "source": "USER", "timestamp": iso(t)} for level, m, t in entries]


def _status_body(view: View, seen: JobView, with_logs: bool) -> dict[str, Any]:
    job, state = seen.job, seen.state
    body: dict[str, Any] = {"status": words.STATUS.get(state, "COMPLETED"), "request_id": job.id, **_urls(view, job.id)}
    if state is State.QUEUED:
        body["queue_position"] = job.queue_position(seen.now)
    body["logs"] = _logs(seen) if with_logs else None
    if state.terminal:  # a request no runner took has no inference time (fal-js Metrics: number | null)
        body["metrics"] = {"inference_time": round(seen.seconds, 3) if _ran(seen) else None}
    if seen.failed:
        error = words.job_error(seen).body
        body["error"] = seen.message(f"Request {state.value}")
        body["error_type"] = error.get("error_type") or error["detail"][0]["type"]
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
    status, body, headers = words.result(view.links(), seen)
    return JsonResponse(body, status, headers=headers or None)


async def jwks(view: View) -> Response:
    """The public keys that verify the mock's webhook signatures (https://rest.fal.ai/.well-known/jwks.json)."""
    return JsonResponse(view.mock.signer.jwks())


async def queue_result(view: View) -> Response:
    seen = view.own_job(view.request.path_params["request_id"])
    view.extra_headers["x-fal-request-id"] = seen.job.id
    if not seen.state.terminal:
        raise words.detail(400, "Request is still in progress")
    _, body, _ = words.result(view.links(), seen)
    if view.now() >= seen.job.finished_at() + words.result_retention(body):
        raise view.vocabulary.not_found("job")  # the queue's copy is gone; its CDN files live on their own
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


# --- storage: rest.fal.ai initiates, v3.fal.media takes the bytes -----------------------------------
#
# fal-client (Python): token, then POST /files/upload (<= 100 MB) or /files/upload/multipart, PUT
# {access_url}/multipart/{uploadId}/{n}, POST .../complete; its fallback initiates storage_type=gcs and
# PUTs to upload_url. @fal-ai/client (JS): initiate (fal-cdn-v3) and PUT to upload_url, or from 90 MB
# initiate-multipart, PUT {upload_url}/{n}, POST {upload_url}/complete. Both multiparts are one route
# family here: a slot's file URL + /multipart/{slot id}.


def _uploads(view: View) -> Uploads:
    return Uploads(view.mock.media, view.mock.media.root.parent / "uploads")


def _file_name(name: str | None, content_type: str) -> str:
    """A name safe in a URL path: letters, digits, ``._-`` (others become ``_``), at most 128 chars."""
    if not name:
        name = "upload." + content_type.split("/")[-1].split(";")[0].split("+")[0]
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)[:128].strip(".")
    return cleaned or "upload.bin"


def _content_type(value: str | None) -> str:
    """The file's own content type as sent (``type/subtype[; params]``), else application/octet-stream."""
    kind = (value or "").split(";")[0].strip().lower()
    main, _, sub = kind.partition("/")
    token = set("abcdefghijklmnopqrstuvwxyz0123456789!#$&^_.+-")
    if main and sub and set(main) <= token and set(sub) <= token:
        return (value or "").strip()[:200]
    return "application/octet-stream"


def _ttl(view: View, *names: str) -> float:
    for name in names:
        value = view.request.headers.get(name)
        if value:
            return words.lifecycle_ttl(value, words.UPLOAD_TTL)
    return words.UPLOAD_TTL


def _slot(view: View, name: str | None, content_type: str | None, *lifecycle: str) -> Slot:
    kind = _content_type(content_type)
    return _uploads(view).open(view.vocabulary.name, _file_name(name, kind), kind, _ttl(view, *lifecycle))


def _file_url(view: View, slot: Slot) -> str:
    return view.url("cdn", f"/files/{slot.id}/{slot.filename}")


async def storage_initiate(view: View) -> Response:
    """POST rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3|gcs: where to PUT the file, and
    the URL it will have."""
    slot = _slot(view, view.field("file_name"), view.field("content_type"), "x-fal-object-lifecycle-preference")
    file_url = _file_url(view, slot)
    return JsonResponse({"upload_url": file_url, "file_url": file_url})


async def storage_initiate_multipart(view: View) -> Response:
    """POST rest.fal.ai/storage/upload/initiate-multipart (the JS client from 90 MB)."""
    slot = _slot(view, view.field("file_name"), view.field("content_type"), "x-fal-object-lifecycle")
    file_url = _file_url(view, slot)
    return JsonResponse({"upload_url": f"{file_url}/multipart/{slot.id}", "file_url": file_url})


def _open_slot(view: View) -> Slot:
    params = view.request.path_params
    slot = _uploads(view).find(view.vocabulary.name, params["media_id"])
    if slot is None or slot.filename != params["filename"] or params.get("upload_id", slot.id) != slot.id:
        raise words.detail(404, "Upload not found")
    return slot


def _body(view: View, max_bytes: int) -> AsyncIterator[bytes]:
    """The raw body as it arrives, within the read timeout (BadBody: fal's 408 or 413)."""
    return stream(view.request, max_bytes=max_bytes, timeout=view.mock.settings.read_timeout)


async def _whole(view: View, slot: Slot) -> MediaRef:
    declared = view.request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > view.vocabulary.max_body:
        raise words.detail(413, "Request Entity Too Large")
    try:
        return await _uploads(view).put_whole(slot, _body(view, view.vocabulary.max_body), view.vocabulary.max_body)
    except UploadTooLarge:
        raise words.detail(413, "Request Entity Too Large") from None
    except EmptyUpload:
        raise view.vocabulary.bad_body(BadBody("empty", "the request body is empty")) from None


async def cdn_upload(view: View) -> Response:
    """POST v3.fal.media/files/upload: the file as the raw body, with its own Content-Type."""
    headers = view.request.headers
    slot = _slot(view, headers.get("x-fal-file-name"), headers.get("content-type"), "x-fal-object-lifecycle")
    try:
        ref = await _whole(view, slot)
    except BaseException:
        _uploads(view).discard(slot)  # no URL was handed out for it
        raise
    return JsonResponse({"access_url": view.media_url(ref)})


async def cdn_put(view: View) -> Response:
    """PUT to an initiated upload's upload_url (a signed URL: the slot id is its secret, no key)."""
    await _whole(view, _open_slot(view))
    return Response(status_code=200)


async def cdn_multipart_create(view: View) -> Response:
    """POST v3.fal.media/files/upload/multipart: a slot for parts; its file URL and upload id."""
    headers = view.request.headers
    slot = _slot(view, headers.get("x-fal-file-name"), headers.get("content-type"), "x-fal-object-lifecycle")
    return JsonResponse({"access_url": _file_url(view, slot), "uploadId": slot.id})


async def cdn_multipart_part(view: View) -> Response:
    """PUT .../multipart/{upload_id}/{n}: one part; its ETag in the header (Python) and the body (JS)."""
    slot, raw = _open_slot(view), view.request.path_params["part"]
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PARTS:  # "²" is a digit to isdigit
        raise words.validation(["path", "part"], f"part number must be 1..{MAX_PARTS}", "value_error")
    number = int(raw)
    try:
        etag = await _uploads(view).put_part(
            slot, number, _body(view, words.MULTIPART_MAX_TOTAL), words.MULTIPART_MAX_TOTAL
        )
    except UploadTooLarge:
        raise words.detail(413, "Request Entity Too Large") from None
    except EmptyUpload:
        raise view.vocabulary.bad_body(BadBody("empty", "the part is empty")) from None
    return JsonResponse({"partNumber": number, "etag": etag}, headers={"ETag": etag})


async def cdn_multipart_complete(view: View) -> Response:
    """POST .../multipart/{upload_id}/complete {"parts": [{"partNumber", "etag"}]}: the file, whole."""
    slot = _open_slot(view)
    parts = [(p["partNumber"], p["etag"]) for p in view.field("parts", [])]
    try:
        ref = _uploads(view).complete(slot, parts)
    except BadParts as problem:
        raise words.validation(["body", "parts"], str(problem), "value_error") from None
    return JsonResponse({"access_url": view.media_url(ref)})
