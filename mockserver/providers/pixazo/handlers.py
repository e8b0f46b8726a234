"""Pixazo handlers: the generate request and the universal status endpoint."""

from __future__ import annotations

from starlette.responses import Response

from mockserver.providers.base import View
from mockserver.providers.pixazo import vocabulary as words
from mockserver.providers.work import cutout_options, submit_video
from mockserver.web.http import JsonResponse


async def submit(view: View) -> Response:
    background, fmt = cutout_options(view.body.fields if view.body else {})
    request_id = f"{words.MODEL_ID}_{view.mock.ids.uuid7()}"
    webhook = view.request.headers.get("x-webhook-url")
    await submit_video(view, words.MODEL_ID, background, fmt, job_id=request_id, name="output", webhook_url=webhook)
    polling_url = view.url("gateway", f"/v2/requests/status/{request_id}")
    return JsonResponse({"request_id": request_id, "status": "QUEUED", "polling_url": polling_url}, 202)


async def status(view: View) -> Response:
    seen = view.own_job(view.request.path_params["request_id"])
    return JsonResponse(words.status_body(view.links(), seen))
