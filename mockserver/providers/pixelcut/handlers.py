"""Pixelcut handlers: parse the request, call the engine or the job core, answer in Pixelcut's shape."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import Response

from mockserver.engine import compose, inputs, matting
from mockserver.engine.errors import InvalidOption, MediaError
from mockserver.engine.segment import Segmenter
from mockserver.engine.video import choose_format
from mockserver.providers.base import View
from mockserver.providers.pixelcut import vocabulary as words
from mockserver.providers.work import input_bytes, input_stem, parse_background, submit_video
from mockserver.runtime.pool import EngineCrashed
from mockserver.web.bodies import BadBody, parse_json
from mockserver.web.http import JsonResponse

MARGIN_FIELDS = {
    "margin": ("top", "bottom", "left", "right"),
    "margin_top": ("top",),
    "margin_bottom": ("bottom",),
    "margin_left": ("left",),
    "margin_right": ("right",),
}


_MARGIN = re.compile(r"^(\d+(?:\.\d+)?)(%|px)$")


def parse_shadow(value: object) -> compose.Shadow | None:
    """Pixelcut's ShadowParameter, with its documented defaults and ranges: ``true`` / ``false`` /
    ``{enabled, opacity, light_source: {size, position: {x, y, z}}}``."""
    if value is None or value is False:
        return None
    if value is True:
        value = {}  # every field at its documented default
    if not isinstance(value, Mapping):
        raise InvalidOption("shadow must be a boolean or an object", "shadow")
    if value.get("enabled", True) is False:
        return None
    light = value.get("light_source") or {}
    if isinstance(light, Mapping) and light and "position" not in light:
        # ShadowParameter: light_source.position is "required" whenever a light source is given.
        raise words.error(400, "missing_parameter", "Missing required parameter: shadow.light_source.position")
    position = light.get("position") or {} if isinstance(light, Mapping) else {}
    if not isinstance(light, Mapping) or not isinstance(position, Mapping):
        raise InvalidOption("shadow.light_source must be an object", "shadow")
    fields = {
        "opacity": (value.get("opacity", 0.5), 0.0, 1.0),
        "size": (light.get("size", 0.3), 0.0, 1.0),
        "x": (position.get("x", -0.3), -1.0, 1.0),
        "y": (position.get("y", -0.6), -1.0, 1.0),
        "z": (position.get("z", 0.7), 0.0, 2.0),
    }
    parsed = {}
    for name, (v, lo, hi) in fields.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise InvalidOption(f"shadow {name} must be a number from {lo} to {hi}", "shadow")
        parsed[name] = float(v)
    return compose.Shadow(**parsed)


def parse_margin(value: object) -> tuple[str, float]:
    """``"10%"`` (0-49 %) or ``"12px"``, as Pixelcut's beta margin options."""
    match = _MARGIN.match(value) if isinstance(value, str) else None
    if not match:
        raise InvalidOption(f"invalid margin {value!r}: use e.g. '10%' or '12px'", "margin")
    amount, unit = float(match.group(1)), match.group(2)
    if unit == "%" and amount > 49:
        raise InvalidOption("margin percentage must be from 0% to 49%", "margin")
    if unit == "px" and amount > compose.MAX_OUTPUT_SIDE:
        raise InvalidOption(f"margin in pixels must be at most {compose.MAX_OUTPUT_SIDE}px", "margin")
    return unit, amount


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
            return parse_json(value)  # bounded as a JSON body is
        except BadBody:
            raise InvalidOption("shadow must be true, false or a JSON object") from None
    return value


def _image_options(view: View) -> tuple[compose.Shadow | None, bool, dict[str, tuple[str, float]]]:
    if view.field("format", "png") != "png":
        raise InvalidOption("format: only png is supported")
    shadow = parse_shadow(_form_value(view.field("shadow")))
    crop = _form_value(view.field("crop", False))
    if not isinstance(crop, bool):
        raise InvalidOption("crop must be true or false")
    margins: dict[str, tuple[str, float]] = {}
    for name, sides in MARGIN_FIELDS.items():
        if view.field(name) is not None:
            for side in sides:
                margins[side] = parse_margin(view.field(name))
    return shadow, crop, margins


async def remove_background(view: View) -> Response:
    assert view.body is not None
    upload, url = view.body.files.get("image"), view.field("image_url")
    if upload is None and not url:
        raise words.error(400, "missing_parameter", "Missing required parameter: image or image_url")
    if url is not None and not isinstance(url, str):
        raise words.error(400, "invalid_parameter", "image_url must be a string")
    shadow, crop, margins = _image_options(view)  # InvalidOption: Pixelcut's invalid_parameter
    cost = words.IMAGE_COST + (words.SHADOW_COST if shadow else 0)
    view.charge(cost)
    mock = view.mock
    try:
        data = await input_bytes(mock, words.IMAGE_LIMITS, data=upload, url=url)
        png = await mock.pool.run(_cutout_png, data, words.IMAGE_LIMITS, mock.engine, shadow, crop, margins)
    except (MediaError, EngineCrashed):
        mock.accounts.refund(view.vocabulary.name, view.key, cost)  # failures are not charged
        raise
    if view.request.headers.get("accept", "").lower().startswith("image/"):
        return Response(png, media_type="image/png")
    ref = view.mock.media.save(
        view.vocabulary.name, f"{input_stem(url or 'image')}.png", "image/png", words.RESULT_TTL, data=png
    )
    return JsonResponse({"result_url": view.media_url(ref)})


def _cutout_png(
    data: bytes,
    limits: inputs.ImageLimits,
    engine: Segmenter,
    shadow: compose.Shadow | None,
    crop: bool,
    margins: dict[str, tuple[str, float]],
) -> bytes:
    """In an engine process: the input file decoded within `limits`, cut out, shadowed and cropped as
    asked, as a PNG."""
    picture = inputs.load_picture(data, limits)
    colour, alpha = matting.cut_out(picture, engine, require_subject=True)
    rgba = compose.composite(colour, alpha, compose.TRANSPARENT, foreground=False)
    if shadow:
        rgba = compose.add_shadow(rgba, compose.cast_shadow(alpha, shadow))
    if crop or margins:
        rgba = compose.crop_to_subject(rgba, margins)
    return compose.encode_png(rgba)


def video_url(value: object) -> str:
    """``video_url`` is ``format: url``: an absolute http(s) URL with a host (or a ``data:`` URL, which
    the mock fetches too); anything else is the documented 400 ``invalid_parameter``."""
    if isinstance(value, str):
        if value.startswith("data:"):
            return value
        try:
            parts = urlsplit(value)
        except ValueError:  # "http://[::1/v.mp4": an unclosed IPv6 bracket was a 500
            parts = None
        if parts and parts.scheme in ("http", "https") and parts.hostname and not any(c.isspace() for c in value):
            return value
    raise words.error(400, "invalid_parameter", "Invalid parameter video_url: must be a URL (format: url)")


async def video_remove_background(view: View) -> Response:
    video_url(view.field("video_url"))
    background = parse_background(view.field("background_color", "#000000"))
    # The documented default (mp4_h264) whatever the background: a transparent one with no alpha
    # format named is refused (transparent "requires webm_vp9, mov_proresks, or gif").
    requested = view.field("output_format") or words.DEFAULT_VIDEO_FORMAT
    fmt = choose_format(background, requested, alpha_formats=words.ALPHA_FORMATS)
    job_id = view.mock.ids.uuid4()
    await submit_video(view, "video-remove-background", background, fmt, job_id=job_id, name="{stem}")
    return JsonResponse({"job_id": job_id}, 202, headers={"Location": f"/v1/video/remove-background/job/{job_id}"})


async def video_job_status(view: View) -> Response:
    seen = view.own_job(view.request.path_params["job_id"])
    body: dict[str, Any] = {"job_id": seen.job.id, "status": words.STATUS[seen.state]}
    if seen.succeeded:
        body["result_url"] = view.media_url(seen.job.outputs[0])
    elif seen.failed:
        code = words.JOB_ERROR_CODE.get(seen.state, "invalid_parameter")
        body["error"] = {"message": seen.message("Job processing failed"), "error_code": code}
    return JsonResponse(body)


async def get_credits(view: View) -> Response:
    assert view.account is not None
    return JsonResponse({"credits": view.account.balance})
