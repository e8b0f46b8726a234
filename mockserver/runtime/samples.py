"""Sample input media, generated on demand (nothing committed).

Served at ``/__mock/samples/<name>`` and, as a documented magic input, behind the example URLs of the
providers' own docs (``https://cdn3.pixelcut.app/.../sample.mp4``, ``https://example.com/product.jpg``,
the Pixazo r2.dev ``Video.mp4``), so the docs' examples run against the mock with only the base URL
changed. The file type follows the name's extension; names with "person" give a portrait, names with
"tiny" a 72x96 clip of 6 frames (for tests that run many jobs).
"""

from __future__ import annotations

import functools
import hashlib
import io
import tempfile
from pathlib import Path, PurePosixPath

import cv2
import httpx
import numpy as np
from PIL import Image

from mockserver.engine.synth import Clip, make_image

SAMPLE_HOSTS = frozenset(
    {
        "cdn3.pixelcut.app",
        "pub-582b7213209642b9b995c96c95a30381.r2.dev",
        "example.com",
        "www.example.com",
    }
)
IMAGE_TYPES = {
    ".png": ("PNG", "image/png"),
    ".jpg": ("JPEG", "image/jpeg"),
    ".jpeg": ("JPEG", "image/jpeg"),
    ".webp": ("WEBP", "image/webp"),
}
VIDEO_TYPES = {
    ".mp4": ("mp4_h264", "video/mp4"),
    ".mov": ("mov_h265", "video/quicktime"),
    ".webm": ("webm_vp9", "video/webm"),
    ".mkv": ("mkv_h264", "video/x-matroska"),
    ".gif": ("gif", "image/gif"),
}


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def _person() -> np.ndarray:
    person = np.full((480, 320, 3), 235, np.uint8)
    cv2.ellipse(person, (160, 80), (45, 58), 0, 0, 360, (205, 160, 135), -1)
    cv2.rectangle(person, (80, 135), (240, 470), (70, 80, 170), -1)
    return person


@functools.lru_cache(maxsize=32)
def sample(name: str) -> tuple[bytes, str] | None:
    """(bytes, content type) for a sample name, or None when the extension is not a media type."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in IMAGE_TYPES:
        pil_format, content_type = IMAGE_TYPES[suffix]
        rgb = (
            _person()
            if "person" in name.lower()
            else make_image(_seed(name) % 1000, (512, 512), background="gradient").rgb
        )
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, pil_format)
        return out.getvalue(), content_type
    if suffix in VIDEO_TYPES:
        fmt, content_type = VIDEO_TYPES[suffix]
        tiny = "tiny" in name.lower()  # for tests that run many jobs: 72x96, 6 frames
        size, frames = ((72, 96), 6) if tiny else ((240, 320), 24)
        with tempfile.TemporaryDirectory() as tmp:
            path = Clip(seed=_seed(name) % 1000, size=size, n_frames=frames, fps=24).write(
                Path(tmp) / f"s{suffix}", fmt
            )
            return path.read_bytes(), content_type
    return None


class SampleTransport(httpx.AsyncBaseTransport):
    """Answers GETs to the documented example hosts with generated samples."""

    def serves(self, url: httpx.URL) -> bool:
        return url.host in SAMPLE_HOSTS and sample(PurePosixPath(url.path).name) is not None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        found = sample(PurePosixPath(request.url.path).name)
        if found is None:
            return httpx.Response(404, request=request)
        data, content_type = found
        return httpx.Response(200, content=data, headers={"content-type": content_type}, request=request)
