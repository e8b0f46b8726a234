"""Pixelcut handlers: parse the request, call the engine or the job core, answer in Pixelcut's shape."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from mockserver.core.jobs import State
from mockserver.engine import compose, inputs, matting
from mockserver.engine.errors import InvalidOption, MediaError
from mockserver.engine.segment import Segmenter
from mockserver.engine.video import choose_format
from mockserver.providers.base import Context
from mockserver.providers.pixelcut import vocabulary as words
from mockserver.providers.work import VideoJob, input_stem, load_input_picture, submit_video_cutout
from mockserver.web.http import JsonResponse

MARGIN_FIELDS = {
    "margin": ("top", "bottom", "left", "right"),
    "margin_top": ("top",),
    "margin_bottom": ("bottom",),
    "margin_left": ("left",),
    "margin_right": ("right",),
}


def _form_value(value: Any) -> Any:
    """Multipart fields arrive as text: ``"true"``/``"false"`` and JSON objects are decoded; an empty
    field is absent, as HTML forms send it."""
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidOption("shadow must be true, false or a JSON object") from None
    return value


def _image_options(ctx: Context) -> tuple[compose.Shadow | None, bool, dict[str, tuple[str, float]]]:
    if ctx.field("format", "png") != "png":
        raise InvalidOption("format: only png is supported")
    shadow = compose.Shadow.from_request(_form_value(ctx.field("shadow")))
    crop = _form_value(ctx.field("crop", False))
    if not isinstance(crop, bool):
        raise InvalidOption("crop must be true or false")
    margins: dict[str, tuple[str, float]] = {}
    for name, sides in MARGIN_FIELDS.items():
        if ctx.field(name) is not None:
            for side in sides:
                margins[side] = compose.parse_margin(ctx.field(name))
    return shadow, crop, margins


async def remove_background(ctx: Context) -> Response:
    assert ctx.body is not None
    upload, url = ctx.body.files.get("image"), ctx.field("image_url")
    if upload is None and not url:
        raise words.error(400, "missing_parameter", "Missing required parameter: image or image_url")
    if url is not None and not isinstance(url, str):
        raise words.error(400, "invalid_parameter", "image_url must be a string")
    try:
        shadow, crop, margins = _image_options(ctx)
    except InvalidOption as problem:
        raise words.error(400, "invalid_parameter", problem.message) from None
    cost = words.IMAGE_COST + (words.SHADOW_COST if shadow else 0)
    ctx.charge(cost)
    try:
        picture = await load_input_picture(ctx.mock, inputs.PIXELCUT_IMAGE, data=upload, url=url)
        png = _cutout_png(picture, ctx.mock.engine, shadow, crop, margins)
    except MediaError:
        ctx.mock.accounts.refund(ctx.provider.name, ctx.key, cost)  # failures are not charged
        raise
    if ctx.request.headers.get("accept", "").lower().startswith("image/"):
        return Response(png, media_type="image/png")
    ref = ctx.mock.media.save(
        ctx.provider.name, f"{input_stem(url or 'image')}.png", "image/png", words.RESULT_TTL, data=png
    )
    return JsonResponse({"result_url": ctx.media_url(ref)})


def _cutout_png(
    picture: inputs.Picture,
    engine: Segmenter,
    shadow: compose.Shadow | None,
    crop: bool,
    margins: dict[str, tuple[str, float]],
) -> bytes:
    colour, alpha = matting.cut_out(picture, engine, require_subject=True)
    rgba = compose.composite(colour, alpha, compose.TRANSPARENT, foreground=False)
    if shadow:
        rgba = compose.add_shadow(rgba, compose.cast_shadow(alpha, shadow))
    if crop or margins:
        rgba = compose.crop_to_subject(rgba, margins)
    return compose.encode_png(rgba)


async def video_remove_background(ctx: Context) -> Response:
    url = ctx.field("video_url")
    try:
        background = compose.parse_background(ctx.field("background_color", "#000000"))
        fmt = choose_format(background, ctx.field("output_format"), alpha_formats=words.ALPHA_FORMATS)
    except InvalidOption as problem:
        raise words.error(400, "invalid_parameter", problem.message) from None
    job_id = ctx.mock.ids.uuid4()
    spec = VideoJob(
        url, fmt, background, inputs.PIXELCUT_VIDEO, words.RESULT_TTL, f"{input_stem(url, 'video')}.{fmt.extension}"
    )
    await submit_video_cutout(ctx, "video-remove-background", spec, job_id=job_id)
    return JsonResponse({"job_id": job_id}, 202, headers={"Location": f"/v1/video/remove-background/job/{job_id}"})


async def video_job_status(ctx: Context) -> Response:
    job = ctx.own_job(ctx.request.path_params["job_id"])
    state = job.visible_state(ctx.now())
    body: dict[str, Any] = {"job_id": job.id, "status": words.STATUS[state]}
    if state is State.SUCCEEDED:
        body["result_url"] = ctx.media_url(job.outputs[0])
    elif state.terminal:
        code = words.JOB_ERROR_CODE.get(state, "invalid_parameter")
        message = (job.error or {}).get("message", "Job processing failed")
        body["error"] = {"message": message, "error_code": code}
    return JsonResponse(body)


async def get_credits(ctx: Context) -> Response:
    assert ctx.account is not None
    return JsonResponse({"credits": ctx.account.balance})
