"""The real work behind jobs, and the options, shared by the providers that sell the same thing.

Three providers sell the same video cut-out (Pixelcut's model, also through fal and Pixazo): its
input limits, the background presets, and one way to submit it (`submit_video`, the provider's
price, TTL and file naming). Two sell image work (Pixelcut, PixelAPI), each with its own limits.
Media work runs in the engine's processes (``mock.pool``: runtime/pool.py), so it never holds the
event loop or the GIL that answers polls; only fetching and saving stay in the serving process.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from mockserver.core.accounts import FramePrice
from mockserver.core.jobs import Job, State
from mockserver.engine import inputs
from mockserver.engine.compose import TRANSPARENT, Background, encode_png
from mockserver.engine.errors import InvalidOption
from mockserver.engine.video import VideoFormat, choose_format, process_video, video_engine
from mockserver.providers.base import View
from mockserver.runtime.jobs import Work, WorkResult
from mockserver.runtime.mock import Mock

# Pixelcut's video model, which fal and Pixazo sell too: its documented input limits.
VIDEO_LIMITS = inputs.VideoLimits(
    max_bytes=100 * inputs.MB, max_seconds=60.0, min_side=64, max_side=4096
)  # containers and codecs: the engine's list (MP4/MOV, WebM/MKV, GIF; H.264, HEVC, VP8/9, AV1, ProRes)
# fal's and Pixazo's ``background`` presets (``custom`` takes ``background_color``).
NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "magenta": (255, 0, 255),
}
_HEX = re.compile(r"^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$")


def parse_colour(value: object) -> tuple[int, int, int]:
    """``{r,g,b}`` with 0..255 integers, ``#RGB`` or ``#RRGGBB``."""
    if isinstance(value, Mapping):
        try:
            rgb = tuple(value[k] for k in ("r", "g", "b"))
        except KeyError as missing:
            raise InvalidOption(
                f"background_color needs keys r, g, b (missing {missing})", "background_color"
            ) from None
        if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in rgb):
            raise InvalidOption("background_color r, g, b must be integers from 0 to 255", "background_color")
        return rgb
    if isinstance(value, str) and _HEX.match(value):
        digits = value[1:]
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
        return r, g, b
    raise InvalidOption(f"invalid colour {value!r}: use {{r,g,b}}, #RGB or #RRGGBB", "background_color")


def parse_background(background: str | None = "transparent", colour: object = None) -> Background:
    """fal/Pixazo style: ``background`` preset plus ``background_color`` when it is ``custom``.

    A hex string or ``transparent`` alone (Pixelcut's ``background_color``) works too.
    """
    if background is None or background == "transparent":
        return TRANSPARENT
    if background in NAMED_COLOURS:
        return Background(NAMED_COLOURS[background])
    if background == "custom":
        if colour is None:
            raise InvalidOption("background 'custom' needs background_color", "background_color")
        return Background(parse_colour(colour))
    return Background(parse_colour(background))


def input_stem(url: str, default: str = "input") -> str:
    """``https://x/y/sample.mp4`` -> ``sample``: outputs are named after their input, as fal does."""
    stem = PurePosixPath(url.split("?")[0]).stem if not url.startswith("data:") else ""
    return stem[:64] or default


def cutout_options(fields: dict[str, object]) -> tuple[Background, VideoFormat]:
    """The pixelcut/video-background-removal input as fal and Pixazo take it.

    ``background`` (default transparent), ``background_color`` {r,g,b} when it is ``custom``, and
    ``output_format``, auto when absent: webm_vp9 for transparent, else mp4_h264. Raises
    InvalidOption (e.g. transparent in an MP4).
    """
    background = parse_background(fields.get("background", "transparent"), fields.get("background_color"))  # type: ignore[arg-type]
    return background, choose_format(background, fields.get("output_format"))  # type: ignore[arg-type]


@dataclass(frozen=True)
class VideoJob:
    url: str
    fmt: VideoFormat
    background: Background
    limits: inputs.VideoLimits
    ttl: float
    file_name: str


async def submit_video(
    view: View,
    operation: str,
    background: Background,
    fmt: VideoFormat,
    *,
    job_id: str,
    name: str,
    webhook_url: str | None = None,
    inline: bool | None = None,
) -> Job:
    """Submit the video cut-out of the request's ``video_url`` as a job, the one way for Pixelcut, fal
    and Pixazo: the provider's price (one block held now, the rest when the frames are counted) and
    result TTL; the output is named `name` (``{stem}``: the input's) with the format's extension."""
    words, url = view.vocabulary, view.field("video_url")
    file_name = f"{name.format(stem=input_stem(url, 'video'))}.{fmt.extension}"
    spec = VideoJob(url, fmt, background, VIDEO_LIMITS, words.output_ttl(view), file_name)
    price = words.video_price_for(view)
    work = video_cutout(view.mock, spec, price)
    fields = dict(view.body.fields) if view.body else {}
    hold = price.amount if price else 0.0
    return await view.submit(
        operation, fields, work, job_id=job_id, cost=hold, run_seconds=2.0, webhook_url=webhook_url, inline=inline
    )


def video_cutout(mock: Mock, spec: VideoJob, price: FramePrice | None = None) -> Work:
    async def work(job: Job) -> WorkResult:
        data = await mock.fetch(spec.url, spec.limits.max_bytes)
        with tempfile.TemporaryDirectory(prefix="cutout-job-") as tmp:
            src = Path(tmp) / "input"
            src.write_bytes(data)
            del data
            info = await asyncio.to_thread(inputs.probe_video, src, spec.limits)
            out = Path(tmp) / f"output.{spec.fmt.extension}"
            # The container's duration was checked by the probe; a file that hides or understates it
            # is stopped on its decoded time (DurationTooLong, the provider's too-long error, refunded).
            # The engine setting picks the video mode: auto is the keyframe mode (video.DEFAULT_MODE).
            engine = video_engine(mock.settings.engine)
            stats = await mock.pool.run(
                process_video, src, out, spec.fmt, spec.background, max_seconds=spec.limits.max_seconds, **engine
            )
            ref = mock.media.save(job.provider, spec.file_name, spec.fmt.content_type, spec.ttl, source=out)
        result = {
            "frames": stats.frames,
            "width": stats.width,
            "height": stats.height,
            "fps": float(stats.fps),
            "input_seconds": stats.seconds or info.seconds,  # decoded, not what the container claims
            "audio": stats.audio,
        }
        if price is not None:
            mock.jobs.charge(job, price.cost(stats.frames) - price.amount)
        return WorkResult(State.SUCCEEDED, [ref], result)

    return work


async def input_bytes(
    mock: Mock, limits: inputs.ImageLimits, *, data: bytes | None = None, url: str | None = None
) -> bytes:
    """The input file: an uploaded one (preferred, as the docs say) or the URL's, fetched within `limits`."""
    if data is None:
        assert url is not None
        data = await mock.fetch(url, limits.max_bytes)
    return data


async def load_input_picture(
    mock: Mock, limits: inputs.ImageLimits, *, data: bytes | None = None, url: str | None = None
) -> inputs.Picture:
    """sRGB pixels and own alpha of an uploaded file (preferred, as the docs say) or of a fetched URL."""
    data = await input_bytes(mock, limits, data=data, url=url)
    return await asyncio.to_thread(inputs.load_picture, data, limits)


async def load_input_image(
    mock: Mock, limits: inputs.ImageLimits, *, data: bytes | None = None, url: str | None = None
) -> np.ndarray:
    """As `load_input_picture`, flattened on white (operations that do not keep transparency)."""
    return (await load_input_picture(mock, limits, data=data, url=url)).flattened()


def image_job(
    mock: Mock,
    limits: inputs.ImageLimits,
    operation: Callable[[np.ndarray], np.ndarray] | Callable[[inputs.Picture], np.ndarray],
    *,
    ttl: float,
    file_name: str,
    data: bytes | None = None,
    url: str | None = None,
    picture: bool = False,
) -> Work:
    """Load the input, run `operation` on its pixels in the engine's processes, store the PNG.

    `operation` gets the flattened RGB, or with `picture` the whole Picture (its own alpha too); it
    crosses to the engine's process by name (a module-level function or a partial of one).
    """

    async def work(job: Job) -> WorkResult:
        source = await input_bytes(mock, limits, data=data, url=url)
        png, (height, width) = await mock.pool.run(image_png, operation, source, limits, picture)
        ref = mock.media.save(job.provider, file_name, "image/png", ttl, data=png)
        return WorkResult(State.SUCCEEDED, [ref], {"width": width, "height": height})

    return work


def image_png(
    operation: Callable[[np.ndarray], np.ndarray] | Callable[[inputs.Picture], np.ndarray],
    data: bytes,
    limits: inputs.ImageLimits,
    picture: bool = False,
) -> tuple[bytes, tuple[int, int]]:
    """In an engine process: decode `data` within `limits`, run `operation`, encode the PNG; the PNG
    and its (height, width)."""
    loaded = inputs.load_picture(data, limits)
    pixels = operation(loaded if picture else loaded.flattened())  # type: ignore[arg-type]
    return encode_png(pixels), (pixels.shape[0], pixels.shape[1])
