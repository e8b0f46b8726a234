"""The engine through HTTP: chosen in Settings, and no provider reports success on a collapsed mask."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from mockserver.app import create_app
from mockserver.engine.metrics import iou
from mockserver.engine.synth import fruit_on_cloth
from mockserver.settings import Settings
from tests.server.conftest import advance, data_url

pytestmark = pytest.mark.anyio
FRUIT = fruit_on_cloth(7)


def _png(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(params=["classic", "auto"])
async def engine_client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings.for_tests(state_dir=tmp_path, engine=request.param))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        client.headers["X-Engine"] = request.param  # for the test's own eyes only
        yield client
    await app.state.mock.aclose()


def _alpha(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"))[..., 3].astype(np.float32) / 255


async def test_pixelcut_answers_unknown_foreground_or_the_cutout(engine_client: httpx.AsyncClient) -> None:
    key = {"X-API-KEY": "sk_engine"}
    before = (await engine_client.get("/pixelcut/v1/credits", headers=key)).json()["credits"]
    r = await engine_client.post(
        "/pixelcut/v1/remove-background",
        json={"image_url": data_url(_png(FRUIT.rgb), "image/png")},
        headers={**key, "Accept": "image/png"},
    )
    if engine_client.headers["X-Engine"] == "classic":
        assert r.status_code == 400
        assert r.json()["error_code"] == "unknown_foreground"
        assert (await engine_client.get("/pixelcut/v1/credits", headers=key)).json()["credits"] == before
    else:
        assert r.status_code == 200
        assert iou(_alpha(r.content), FRUIT.alpha) >= 0.95


async def test_pixelapi_fails_the_job_or_cuts_out(engine_client: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer pk_engine", "User-Agent": "MyApp/1.0"}
    r = await engine_client.post(
        "/pixelapi/v1/image/remove-background",
        files={"image": ("fruit.png", _png(FRUIT.rgb), "image/png")},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    await advance(engine_client, 10)
    body = (await engine_client.get(f"/pixelapi/v1/image/{r.json()['generation_id']}", headers=auth)).json()
    if engine_client.headers["X-Engine"] == "classic":
        assert body["status"] == "failed", body
        assert "foreground" in str(body.get("error", "")).lower(), body
    else:
        assert body["status"] == "completed", body
        assert iou(_alpha((await engine_client.get(body["output_url"])).content), FRUIT.alpha) >= 0.95
