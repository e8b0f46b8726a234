"""Pixazo handlers: the generate request and the universal status endpoint."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from mockserver.core.clock import iso
from mockserver.core.jobs import Job, State
from mockserver.engine import inputs
from mockserver.engine.errors import InvalidOption
from mockserver.providers.base import Context
from mockserver.providers.pixazo import vocabulary as words
from mockserver.providers.work import VideoJob, cutout_options, submit_video_cutout
from mockserver.web.http import JsonResponse


async def submit(ctx: Context) -> Response:
    fields = ctx.body.fields if ctx.body else {}
    try:
        background, fmt = cutout_options(fields)
    except InvalidOption as problem:
        raise words.error(400, "Invalid request", f"{problem.field or 'body'}: {problem.message}") from None
    request_id = f"{words.MODEL_ID}_{ctx.mock.ids.uuid7()}"
    spec = VideoJob(
        fields["video_url"], fmt, background, inputs.PIXELCUT_VIDEO, words.RESULT_TTL, f"output.{fmt.extension}"
    )
    webhook = ctx.request.headers.get("x-webhook-url")
    await submit_video_cutout(ctx, words.MODEL_ID, spec, job_id=request_id, webhook_url=webhook)
    polling_url = ctx.url("gateway", f"/v2/requests/status/{request_id}")
    return JsonResponse({"request_id": request_id, "status": "QUEUED", "polling_url": polling_url}, 202)


def status_body(ctx: Context, job: Job, final: bool = False) -> dict[str, Any]:
    """The status object; the webhook payload is the same object, as it stands once finished."""
    state = job.final_state() if final else job.visible_state(ctx.now())
    output = None
    if state is State.SUCCEEDED:
        output = {"media_url": [ctx.media_url(ref) for ref in job.outputs], "media_type": job.outputs[0].content_type}
    error = None
    if state.terminal and state is not State.SUCCEEDED:
        error = (job.error or {}).get("message", f"Request {state.value}")
    updated = (
        job.created_at if state is State.QUEUED else (job.started_at() if not state.terminal else job.finished_at())
    )
    return {
        "request_id": job.id,
        "status": words.STATUS[state],
        "model_id": words.MODEL_ID,
        "error": error,
        "output": output,
        "created_at": iso(job.created_at),
        "updated_at": iso(updated),
        "completed_at": iso(job.finished_at()) if state.terminal else None,
    }


def webhook_payload(ctx: Context, job: Job) -> dict[str, Any]:
    return status_body(ctx, job, final=True)


async def status(ctx: Context) -> Response:
    return JsonResponse(status_body(ctx, ctx.own_job(ctx.request.path_params["request_id"])))
