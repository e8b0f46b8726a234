"""Getting input media safely: fetch a URL with limits, then probe and validate the bytes.

Fetching streams the body and aborts as soon as it passes the size limit or the time budget, and
refuses addresses by the SSRF policy of DESIGN §6 (each hop of a redirect is checked again). Probing
reads only headers before deciding (so a decompression bomb is refused before it is decoded), then
checks each documented limit and raises the matching typed error from `errors`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes, urljoin

import av
import httpx
import numpy as np
from PIL import Image

from mockserver.engine.addresses import guarded_transport
from mockserver.engine.codecs import Orientation
from mockserver.engine.errors import (
    DurationTooLong,
    EmptyFile,
    FetchError,
    FetchTimeout,
    FileTooLarge,
    MalformedImage,
    MalformedVideo,
    ResolutionTooHigh,
    ResolutionTooLow,
    UnsupportedCodec,
    UnsupportedImageFormat,
    UnsupportedVideoFormat,
)
from mockserver.engine.pictures import Picture, from_pillow

MB = 1024 * 1024


@dataclass(frozen=True)
class ImageLimits:
    """What an image input may be; each provider states its own (these defaults are the engine's)."""

    max_bytes: int = 25 * MB
    min_side: int = 64
    max_side: int = 6000
    formats: frozenset[str] = frozenset({"PNG", "JPEG", "WEBP"})


@dataclass(frozen=True)
class VideoLimits:
    """What a video input may be; each provider states its own (these defaults are the engine's)."""

    max_bytes: int = 100 * MB
    max_seconds: float = 60.0
    min_side: int = 64
    max_side: int = 4096
    # FFmpeg demuxer names: "mov,mp4,..." covers MP4 and MOV; "matroska,webm" covers WebM and MKV.
    containers: frozenset[str] = frozenset({"mov", "mp4", "matroska", "webm", "gif"})
    codecs: frozenset[str] = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "prores", "gif"})


CLAIM_SLACK = 0.1  # seconds a container's claimed duration may pass the limit (a 60.0 s clip says 60.0003)

DEFAULT_IMAGE = ImageLimits()
DEFAULT_VIDEO = VideoLimits()


# --- fetching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchPolicy:
    """How far a fetch may reach (the address policy itself is engine/addresses.py)."""

    max_bytes: int = 100 * MB
    timeout: float = 20.0
    allow_private: bool = False
    max_redirects: int = 5


_NUMBER_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_DOTTED_QUAD = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)
MAX_URL = 8192  # characters; browsers and CDNs refuse longer URLs too


def clean_url(url: str) -> str:
    """`url` checked (http(s), a host (a number only as a.b.c.d), no control characters, at most MAX_URL
    characters) and without
    any user:password part, which is never forwarded. Raises FetchError."""
    if len(url) > MAX_URL:
        raise FetchError(f"the URL is longer than {MAX_URL} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise FetchError("the URL contains spaces or control characters")
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise FetchError("the URL is not valid") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise FetchError("unsupported URL: use http(s) or data:")
    if _NUMBER_LABEL.fullmatch(parts.host.rstrip(".").rsplit(".", 1)[-1]) and not _DOTTED_QUAD.fullmatch(parts.host):
        # A host ending in a number is an IPv4 address to browsers and to inet_aton, read differently by
        # each (2130706433, 0x7f.1 and 127.1 are all 127.0.0.1 to one of them): only a.b.c.d is taken.
        raise FetchError("the URL's host is a number not written as a.b.c.d")
    return str(parts.copy_with(userinfo=b"")) if parts.userinfo else url


def _decode_data_url(url: str, policy: FetchPolicy) -> bytes:
    header, _, payload = url.partition(",")
    raw = base64.b64decode(payload, validate=False) if header.endswith(";base64") else unquote_to_bytes(payload)
    if len(raw) > policy.max_bytes:
        raise FileTooLarge(f"the file is larger than {policy.max_bytes // MB} MB")
    return raw


async def fetch(url: str, policy: FetchPolicy = FetchPolicy(), client: httpx.AsyncClient | None = None) -> bytes:
    """The body at `url`, or a typed FetchError / FileTooLarge. Accepts http(s) and data: URLs.

    `client` lets the server route URLs that point at itself in-process (no socket needed).
    """
    if url.startswith("data:"):
        return _decode_data_url(url, policy)
    deadline = time.monotonic() + policy.timeout
    own_client = client is None
    client = client or httpx.AsyncClient(
        transport=guarded_transport(policy.allow_private), timeout=policy.timeout, follow_redirects=False
    )
    try:
        for _ in range(policy.max_redirects + 1):
            url = clean_url(url)
            remaining = deadline - time.monotonic()
            try:
                body, location = await asyncio.wait_for(_get(client, url, policy), timeout=max(remaining, 0.01))
            except TimeoutError:
                raise FetchTimeout(f"fetching {url} took longer than {policy.timeout:g} s") from None
            if location is None:
                return body
            url = urljoin(url, location)
        raise FetchError(f"too many redirects fetching {url}")
    finally:
        if own_client:
            await client.aclose()


async def _get(client: httpx.AsyncClient, url: str, policy: FetchPolicy) -> tuple[bytes, str | None]:
    try:
        async with client.stream("GET", url) as response:
            if response.is_redirect and "location" in response.headers:
                return b"", response.headers["location"]
            if response.status_code >= 400:
                raise FetchError(f"fetching {url} returned HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > policy.max_bytes:
                raise FileTooLarge(f"the file is larger than {policy.max_bytes // MB} MB")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > policy.max_bytes:
                    raise FileTooLarge(f"the file is larger than {policy.max_bytes // MB} MB")
                chunks.append(chunk)
            return b"".join(chunks), None
    except httpx.TimeoutException:
        raise FetchTimeout(f"fetching {url} timed out") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"could not fetch {url}: {exc.__class__.__name__}") from None


# --- images ---------------------------------------------------------------------------------


def _open_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """The opened (not yet decoded) image, checked against the limits from its header alone."""
    if not data:
        raise EmptyFile("the image file is empty")
    if len(data) > limits.max_bytes:
        raise FileTooLarge(f"the image is larger than {limits.max_bytes // MB} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.size  # noqa: B018 - header only; pixels are not decoded yet
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ResolutionTooHigh("the image resolution is too high") from None
    except Exception:
        raise MalformedImage("the image could not be decoded") from None
    if image.format not in limits.formats:
        raise UnsupportedImageFormat(f"image format {image.format} is not supported")
    w, h = image.size
    if max(w, h) > limits.max_side:
        raise ResolutionTooHigh(f"{w}x{h} is larger than {limits.max_side}x{limits.max_side}")
    if min(w, h) < limits.min_side:
        raise ResolutionTooLow(f"{w}x{h} is smaller than {limits.min_side}x{limits.min_side}")
    return image


def load_picture(data: bytes, limits: ImageLimits = DEFAULT_IMAGE) -> Picture:
    """Validated sRGB pixels and the file's own alpha (engine/pictures.py: every mode and bit depth,
    transparency, ICC profiles, CMYK, EXIF orientation)."""
    image = _open_image(data, limits)
    try:
        image.load()
        return from_pillow(image, data)
    except Exception:
        raise MalformedImage("the image data is truncated or corrupt") from None


def load_image(data: bytes, limits: ImageLimits = DEFAULT_IMAGE) -> np.ndarray:
    """Validated sRGB RGB uint8 pixels (as `load_picture`, transparency flattened on white)."""
    return load_picture(data, limits).flattened()


# --- videos ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    container: str
    codec: str
    width: int  # as displayed: a portrait phone video (a landscape raster with a matrix) is portrait
    height: int
    seconds: float  # what the container says; 0.0 when it does not say (process_video checks decoded time)
    frames: int | None
    audio: bool = False


def probe_video(path: str | Path, limits: VideoLimits = DEFAULT_VIDEO) -> VideoInfo:
    """Check a video file against the limits without decoding more than its first frame.

    The duration checked here is the one the container states, which a file can hide (a live WebM,
    MPEG-TS) or understate; `video.process_video(max_seconds=...)` enforces the same limit on the
    decoded timestamps, so such a file is stopped there instead.
    """
    size = Path(path).stat().st_size
    if size == 0:
        raise EmptyFile("the video file is empty")
    if size > limits.max_bytes:
        raise FileTooLarge(f"the video is larger than {limits.max_bytes // MB} MB")
    try:
        container = av.open(str(path))
    except av.FFmpegError:
        raise MalformedVideo("the video could not be opened") from None
    with container:
        names = set(container.format.name.split(","))
        if not names & limits.containers:
            raise UnsupportedVideoFormat(f"container {container.format.name} is not supported")
        if not container.streams.video:
            raise MalformedVideo("the file has no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec not in limits.codecs:
            raise UnsupportedCodec(f"codec {codec} is not supported")
        w, h = stream.codec_context.width, stream.codec_context.height
        if max(w, h) > limits.max_side:
            raise ResolutionTooHigh(f"{w}x{h} is larger than {limits.max_side}x{limits.max_side}")
        if min(w, h) < limits.min_side:
            raise ResolutionTooLow(f"{w}x{h} is smaller than {limits.min_side}x{limits.min_side}")
        seconds = _duration(container, stream)
        if seconds > limits.max_seconds + CLAIM_SLACK:
            raise DurationTooLong(f"the video is {seconds:.1f} s long; the limit is {limits.max_seconds:g} s")
        try:
            first = next(container.decode(stream))
        except (av.FFmpegError, StopIteration):
            raise MalformedVideo("the video has no decodable frame") from None
        w, h = Orientation.of(first).size(w, h)
        container_name = "gif" if "gif" in names else container.format.name
        return VideoInfo(container_name, codec, w, h, seconds, stream.frames or None, bool(container.streams.audio))


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    """The duration the file states: the video stream's, else the container's, else frames / rate."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    if stream.frames and stream.average_rate:
        return float(stream.frames / stream.average_rate)
    return 0.0


def spool(data: bytes, suffix: str = "") -> Path:
    """Write bytes to a temporary file (PyAV and the encoders want a seekable path)."""
    with tempfile.NamedTemporaryFile(delete=False, suffix=suffix, prefix="cutout-") as handle:
        handle.write(data)
    return Path(handle.name)
