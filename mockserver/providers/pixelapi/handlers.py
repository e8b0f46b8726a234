"""PixelAPI handlers: every documented operation is a job; GET /v1/image/{id} polls any of them."""

from __future__ import annotations

import asyncio
import base64
import binascii
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from starlette.responses import Response

from mockserver.core.accounts import NotEnoughCredits
from mockserver.core.clock import iso
from mockserver.core.jobs import Job, JobView, State
from mockserver.engine import generate, imageops, inputs, matting
from mockserver.engine.compose import TRANSPARENT, composite, encode_png
from mockserver.engine.errors import MediaError
from mockserver.engine.segment import Segmenter
from mockserver.providers.base import View
from mockserver.providers.pixelapi import vocabulary as words
from mockserver.providers.work import image_job, load_input_image
from mockserver.runtime.jobs import Work, WorkResult
from mockserver.web.http import JsonResponse

ID_PREFIX = {
    "remove-background": "bg-rm-",
    "replace-background": "bg-rp-",
    "restore-face": "face-",
    "remove-object": "obj-rm-",
    "upscale": "up-",
}


async def _accepted(
    view: View, operation: str, work: Work, cost: float, *, run_seconds: float = 2.0, **extra: Any
) -> Response:
    words.renew_allotment(view)
    generation_id = ID_PREFIX.get(operation, "") + view.mock.ids.uuid4()
    job_input = {
        k: v for k, v in (view.body.fields if view.body else {}).items() if isinstance(v, str | int | float | bool)
    }
    job = await view.submit(
        operation, {**job_input, **extra}, work, job_id=generation_id, cost=cost, run_seconds=run_seconds
    )
    body = {
        "generation_id": job.id,
        "status": words.state_word(State.QUEUED, view.request),
        "operation": operation,
        "credits_used": cost,
        **extra,
    }
    return JsonResponse(body)


async def _image_source(view: View, name: str = "image") -> tuple[bytes | None, str | None]:
    """An uploaded file (checked now, so a bad file is a 400) or a URL (fetched by the job)."""
    assert view.body is not None
    upload, url = view.body.files.get(name), view.field(f"{name}_url")
    if upload is not None and url:
        raise words.detail(422, f"Provide either {name} (file upload) or {name}_url, not both")
    if upload is None and not url:
        raise words.detail(
            422, [{"loc": ["body", f"{name}_url"], "msg": "field required", "type": "value_error.missing"}]
        )
    if upload is not None:
        await asyncio.to_thread(inputs.load_image, upload, words.IMAGE_LIMITS)
    return upload, url


def _image_operation(
    operation: str, transform: Callable[..., np.ndarray], *, uses_engine: bool = False, picture: bool = False
) -> Callable[[View], Any]:
    """A handler for an image-in, image-out job; `uses_engine`: `transform` takes the mock's engine;
    `picture`: it takes the input's Picture (own alpha kept) instead of RGB flattened on white."""

    async def handler(view: View) -> Response:
        data, url = await _image_source(view)
        work = image_job(
            view.mock,
            words.IMAGE_LIMITS,
            partial(transform, engine=view.mock.engine) if uses_engine else transform,
            ttl=words.OUTPUT_TTL,
            file_name=f"{operation}.png",
            data=data,
            url=url,
            picture=picture,
        )
        return await _accepted(view, operation, work, words.price(view, operation))

    handler.__name__ = operation.replace("-", "_")
    return handler


def _cutout(picture: inputs.Picture, engine: Segmenter) -> np.ndarray:
    colour, alpha = matting.cut_out(picture, engine, require_subject=True)
    return composite(colour, alpha, TRANSPARENT, foreground=False)


remove_background_cutout = _image_operation("remove-background", _cutout, uses_engine=True, picture=True)
restore_face = _image_operation("restore-face", imageops.restore_face)
upscale = _image_operation("upscale", imageops.upscale4x)


async def replace_background(view: View) -> Response:
    prompt = view.field("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise words.detail(422, [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}])
    data, url = await _image_source(view)
    seed = view.field("seed")
    transform = partial(
        imageops.replace_background,
        prompt=prompt,
        seed=seed if isinstance(seed, int) else None,
        engine=view.mock.engine,
    )
    work = image_job(
        view.mock,
        words.IMAGE_LIMITS,
        transform,
        ttl=words.OUTPUT_TTL,
        file_name="replace-background.png",
        data=data,
        url=url,
    )
    return await _accepted(view, "replace-background", work, words.price(view, "replace-background"))


async def remove_object(view: View) -> Response:
    assert view.body is not None
    data, url = await _image_source(view)
    mask_upload, mask_url, prompt = view.body.files.get("mask"), view.field("mask_url"), view.field("prompt")
    if mask_upload is None and not mask_url and not prompt:
        raise words.detail(422, "Provide a mask (mask or mask_url) or a prompt describing what to remove")
    mock = view.mock

    async def work(job: Job) -> WorkResult:
        mask = None
        if mask_upload is not None or mask_url:
            mask = await load_input_image(mock, words.IMAGE_LIMITS, data=mask_upload, url=mask_url)
        inner = image_job(
            mock,
            words.IMAGE_LIMITS,
            partial(imageops.remove_object, mask=mask, prompt=prompt or None),
            ttl=words.OUTPUT_TTL,
            file_name="remove-object.png",
            data=data,
            url=url,
        )
        return await inner(job)

    return await _accepted(view, "remove-object", work, words.price(view, "remove-object"))


async def generate_image(view: View) -> Response:
    model = view.field("model")  # required ("flux-schnell or sdxl"): the spec refuses a body without it
    low, high, default = words.STEPS[model]
    steps = view.field("steps", default)
    if not low <= steps <= high:
        raise words.detail(
            422, [{"loc": ["body", "steps"], "msg": f"{model} takes {low}-{high} steps", "type": "value_error.number"}]
        )
    width, height, prompt, seed = (
        view.field("width", 1024),
        view.field("height", 1024),
        view.field("prompt"),
        view.field("seed"),
    )
    mock = view.mock

    async def work(job: Job) -> WorkResult:
        pixels = await mock.pool.run(generate.generate_image, prompt, width, height, steps, seed)
        ref = mock.media.save(
            job.provider,
            "generate.png",
            "image/png",
            words.OUTPUT_TTL,
            data=await asyncio.to_thread(encode_png, pixels),
        )
        return WorkResult(State.SUCCEEDED, [ref], {"width": width, "height": height})

    return await _accepted(view, "generate", work, words.price(view, "generate"), model=model)


async def generate_audio(view: View) -> Response:
    duration, prompt, seed = view.field("duration", 15), view.field("prompt"), view.field("seed")
    cost = words.price(view, "audio-15" if duration <= 15 else "audio-30")
    mock = view.mock

    async def work(job: Job) -> WorkResult:
        wav = await mock.pool.run(generate.generate_audio, prompt, duration, seed)
        ref = mock.media.save(job.provider, "audio.wav", "audio/wav", words.OUTPUT_TTL, data=wav)
        return WorkResult(State.SUCCEEDED, [ref], {"duration": duration})

    return await _accepted(
        view, "audio-generate", work, cost, model="musicgen-small", duration=duration, estimated_seconds=2 * duration
    )


async def generate_video(view: View) -> Response:
    duration, resolution = view.field("duration", 3), view.field("resolution", "480p")
    prompt, seed = view.field("prompt"), view.field("seed")
    width, height = words.VIDEO_SIZE[resolution]
    mock = view.mock

    async def work(job: Job) -> WorkResult:
        with tempfile.TemporaryDirectory(prefix="cutout-video-") as tmp:
            path = Path(tmp) / "video.mp4"
            frames = await mock.pool.run(generate.generate_video, prompt, duration, width, height, path, seed)
            ref = mock.media.save(job.provider, "video.mp4", "video/mp4", words.OUTPUT_TTL, source=path)
        return WorkResult(State.SUCCEEDED, [ref], {"frames": frames, "fps": 16})

    estimated = 60 if resolution == "480p" else 120
    return await _accepted(
        view,
        "video-generate",
        work,
        words.price(view, f"video-{resolution}"),
        run_seconds=5.0,
        model="wan2.1",
        estimated_seconds=estimated,
    )


def _generation(view: View, seen: JobView) -> dict[str, Any]:
    job, state = seen.job, seen.state
    message = seen.message(f"Job {state.value}") if seen.failed else None
    if state is State.BLOCKED and words.is_sdk(view.request):
        message = words.BLOCKED_MESSAGE  # its enum has no `blocked`: the word it gets is `failed`
    return {
        "id": job.id,
        "generation_id": job.id,
        "status": words.state_word(state, view.request),
        "output_url": view.media_url(job.outputs[0]) if seen.succeeded else None,
        "operation": job.operation,
        "model": job.input.get("model"),
        "credits_used": job.charged,
        "created_at": iso(job.created_at),
        "completed_at": iso(job.finished_at()) if state.terminal else None,
        "processing_ms": round(seen.seconds * 1000) if state.terminal else None,
        "error": message,
        "error_message": message,
    }


async def get_generation(view: View) -> Response:
    return JsonResponse(_generation(view, view.own_job(view.request.path_params["generation_id"])))


# (model or operation, endpoint, its PRICES key, type): the List Models table, priced by the set in use.
MODELS = [
    ("flux-schnell", "POST /v1/image/generate", "generate", "image"),
    ("sdxl", "POST /v1/image/generate", "generate", "image"),
    ("upscale-4x", "POST /v1/image/upscale", "upscale", "image"),
    ("remove-background", "POST /v1/image/remove-background", "remove-background", "image"),
    ("replace-background", "POST /v1/image/replace-background", "replace-background", "image"),
    ("restore-face", "POST /v1/image/restore-face", "restore-face", "image"),
    ("remove-object", "POST /v1/image/remove-object", "remove-object", "image"),
    ("musicgen-small", "POST /v1/audio/generate", "audio-15", "audio"),
    ("wan2.1", "POST /v1/video/generate", "video-480p", "video"),
    ("catvton", "POST /v1/virtual-tryon", "virtual-tryon", "image"),
]


async def list_models(view: View) -> Response:
    models = [
        {"id": name, "endpoint": endpoint, "credits": words.price(view, key), "type": kind}
        for name, endpoint, key, kind in MODELS
    ]
    return JsonResponse({"models": models})


async def account_balance(view: View) -> Response:
    words.renew_allotment(view)
    assert view.account is not None
    return JsonResponse(
        {
            "credits_remaining": view.account.balance,
            "plan": view.account.plan,
            "email": f"{view.key[:8]}@users.pixelapi.mock",
        }
    )


def _query_int(view: View, name: str, default: int, low: int, high: int) -> int:
    raw = view.request.query_params.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise words.detail(
            422, [{"loc": ["query", name], "msg": f"must be an integer from {low} to {high}", "type": "value_error"}]
        )
    return int(raw)


async def account_usage(view: View) -> Response:
    limit, days = _query_int(view, "limit", 50, 1, 500), _query_int(view, "days", 30, 1, 365)
    since = view.now() - days * 86400
    jobs = [j for j in view.mock.store.list_jobs(view.vocabulary.name, view.key) if j.created_at >= since]
    return JsonResponse({"usage": [_generation(view, view.seen(j)) for j in reversed(jobs)][:limit]})


# --- virtual try-on -------------------------------------------------------------------------


def _tryon_error(status: int, code: str, message: str, guidance: str, **extra: str) -> Exception:
    """The try-on's documented error: ``{"detail": {error, message, guidance[, received_size]}}``."""
    return words.detail(status, {"error": code, "message": message, "guidance": guidance, **extra})


# The try-on's documented refusals (pixelapi.dev/docs, Virtual Try-On: Error Responses), by code.
TRYON_GUIDANCE = {
    "image_too_small": "Use a photo that is at least 300x400px, portrait orientation",
    "wrong_aspect_ratio": "Use a portrait photo (taller than wide)",
    "body_segmentation_failed": "Use a clearer front-facing torso photo",
    "invalid_category": "category must be one of: upperbody, lowerbody, dress",
}


async def _tryon_image(view: View, value: str) -> np.ndarray:
    if value.startswith(("http://", "https://")):
        return await load_input_image(view.mock, words.IMAGE_LIMITS, url=value)
    try:
        data = base64.b64decode(value, validate=True)
        return await asyncio.to_thread(
            inputs.load_image, data, inputs.ImageLimits(max_bytes=words.MAX_UPLOAD, min_side=1, max_side=4096)
        )
    except (binascii.Error, ValueError, MediaError):
        raise _tryon_error(
            400,
            "invalid_image",
            "Image data is corrupt or not a valid JPG/PNG/WebP",
            "Check your base64 encoding (no data: prefix)",
        ) from None


async def virtual_tryon(view: View) -> Response:
    """Checked and fitted before the answer: every documented 422 (``image_too_small`` with
    ``received_size``, ``wrong_aspect_ratio``, ``body_segmentation_failed``, ``invalid_category``) is
    synchronous, and nothing is charged; the job then only delivers the fitted image. A key short of
    the cost gets its 402 before the fit (the order is not documented)."""
    category = view.field("category")
    if category not in imageops.TRYON_CATEGORIES:
        raise _tryon_error(
            422,
            "invalid_category",
            "category must be one of: upperbody, lowerbody, dress",
            TRYON_GUIDANCE["invalid_category"],
        )
    person = await _tryon_image(view, view.field("person_image"))
    garment = await _tryon_image(view, view.field("garment_image"))
    height, width = person.shape[:2]
    if min(height, width) < 100:
        raise _tryon_error(
            422,
            "image_too_small",
            "Person image is too small (minimum 100px)",
            TRYON_GUIDANCE["image_too_small"],
            received_size=f"{width}x{height}px",
        )
    words.renew_allotment(view)
    cost = words.price(view, "virtual-tryon")
    if view.account is not None and view.account.balance < cost:  # 402 before the costly fit (inferred)
        raise NotEnoughCredits(cost, view.account.balance)
    mock = view.mock
    try:
        pixels = await mock.pool.run(imageops.virtual_tryon, person, garment, category, mock.engine)
    except imageops.TryOnError as problem:
        raise _tryon_error(422, problem.code, problem.message, TRYON_GUIDANCE.get(problem.code, "")) from None

    async def work(job: Job) -> WorkResult:
        png = await asyncio.to_thread(encode_png, pixels)
        ref = mock.media.save(job.provider, "tryon.png", "image/png", words.OUTPUT_TTL, data=png)
        return WorkResult(State.SUCCEEDED, [ref])

    job_id = view.mock.ids.hex(24)
    await view.submit("virtual-tryon", {"category": category}, work, job_id=job_id, cost=cost, run_seconds=3.0)
    return JsonResponse({"job_id": job_id, "status": "queued", "credits_used": cost})


async def tryon_job(view: View) -> Response:
    seen = view.own_job(view.request.path_params["job_id"])
    job = seen.job
    if job.operation != "virtual-tryon":
        raise words.detail(404, "Job not found")
    body: dict[str, Any] = {"job_id": job.id, "status": "failed" if seen.failed else words.STATUS[seen.state]}
    if seen.succeeded:
        stored = view.mock.media.find(job.outputs[0].id)
        if stored is not None:
            body["result_image_b64"] = base64.b64encode(stored.path.read_bytes()).decode()
        body["output_url"] = view.media_url(job.outputs[0])
        body["inference_time_ms"] = round(seen.seconds * 1000)
    elif seen.failed:
        body["error_message"] = seen.message("Try-on failed")
    return JsonResponse(body)
