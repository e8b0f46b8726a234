"""Server fixtures: the app in-process (httpx.ASGITransport) with a virtual clock and inline work."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from mockserver.engine.synth import Clip, make_image


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    response = await client.post("/__mock/clock", json={"advance": seconds})
    assert response.status_code == 200, response.text


def data_url(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="session")
def product() -> tuple[bytes, np.ndarray]:
    """A PNG product shot and its true alpha."""
    sample = make_image(1004, (256, 256), background="gradient")
    out = io.BytesIO()
    Image.fromarray(sample.rgb).save(out, "PNG")
    return out.getvalue(), sample.alpha


@pytest.fixture(scope="session")
def clip_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[bytes, list[np.ndarray]]]:
    """A small MP4 clip and the true alpha of each frame."""
    clip = Clip(seed=21, size=(360, 640), n_frames=12, background="gradient")
    path = clip.write(tmp_path_factory.mktemp("clip") / "clip.mp4")
    yield path.read_bytes(), [alpha for _, alpha in clip.frames()]
