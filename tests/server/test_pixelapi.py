"""PixelAPI end to end in-process: every operation produces a real output of the promised type."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from mockserver.engine.codecs import read_rgba
from mockserver.engine.metrics import iou
from mockserver.runtime.samples import sample
from tests.server.conftest import advance

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": "Bearer pk_live_test", "User-Agent": "MyApp/1.0"}
PRODUCT = "https://example.com/product.jpg"


async def _run(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str] = AUTH,
    poll: str = "/pixelapi/v1/image/",
    **kwargs: object,
) -> dict[str, object]:
    r = await client.post(f"/pixelapi{path}", headers=headers, **kwargs)
    assert r.status_code == 200, r.text
    generation = r.json()["generation_id"]
    await advance(client, 10)
    body = (await client.get(f"{poll}{generation}", headers=headers)).json()
    assert body["status"] == "completed", body
    return body


async def _image(client: httpx.AsyncClient, url: str) -> Image.Image:
    return Image.open(io.BytesIO((await client.get(url)).content))


async def test_remove_background_upload(client: httpx.AsyncClient, product: tuple[bytes, np.ndarray]) -> None:
    body = await _run(client, "/v1/image/remove-background", files={"image": ("p.png", product[0], "image/png")})
    image = await _image(client, str(body["output_url"]))
    assert image.mode == "RGBA" and iou(np.asarray(image)[..., 3] / 255, product[1]) >= 0.95
    assert body["credits_used"] == 2 and body["operation"] == "remove-background"


async def test_upscale_is_4x(client: httpx.AsyncClient) -> None:
    body = await _run(client, "/v1/image/upscale", json={"image_url": PRODUCT})
    assert (await _image(client, str(body["output_url"]))).size == (2048, 2048)


async def test_generate_image_size(client: httpx.AsyncClient) -> None:
    body = await _run(
        client,
        "/v1/image/generate",
        json={"prompt": "a red chair", "model": "sdxl", "width": 768, "height": 512, "steps": 25, "seed": 3},
    )
    assert (await _image(client, str(body["output_url"]))).size == (768, 512)
    assert body["model"] == "sdxl"


async def test_other_image_operations(client: httpx.AsyncClient) -> None:
    for path, payload in [
        ("/v1/image/replace-background", {"image_url": PRODUCT, "prompt": "on a beach"}),
        ("/v1/image/restore-face", {"image_url": PRODUCT}),
        ("/v1/image/remove-object", {"image_url": PRODUCT, "prompt": "remove the watermark"}),
    ]:
        body = await _run(client, path, json=payload)
        assert (await _image(client, str(body["output_url"]))).size == (512, 512)


async def test_audio_is_wav_of_the_duration(client: httpx.AsyncClient) -> None:
    r = await client.post("/pixelapi/v1/audio/generate", json={"prompt": "calm piano", "duration": 7}, headers=AUTH)
    assert r.json()["credits_used"] == 5 and r.json()["duration"] == 7
    await advance(client, 10)
    body = (await client.get(f"/pixelapi/v1/image/{r.json()['generation_id']}", headers=AUTH)).json()
    with wave.open(io.BytesIO((await client.get(body["output_url"])).content)) as wav:
        assert wav.getnframes() / wav.getframerate() == 7


async def test_video_is_16fps_mp4(client: httpx.AsyncClient, tmp_path: Path) -> None:
    body = await _run(
        client, "/v1/video/generate", json={"prompt": "waves", "duration": 1.5}, poll="/pixelapi/v1/video/"
    )
    path = tmp_path / "v.mp4"
    path.write_bytes((await client.get(str(body["output_url"]))).content)
    frames = list(read_rgba(path))
    assert len(frames) == 24 and frames[0].shape == (480, 832, 4)


async def test_virtual_tryon(client: httpx.AsyncClient) -> None:
    person, garment = (base64.b64encode(sample(n)[0]).decode() for n in ("person.png", "garment.png"))
    r = await client.post(
        "/pixelapi/v1/virtual-tryon",
        json={"person_image": person, "garment_image": garment, "category": "upperbody"},
        headers=AUTH,
    )
    assert r.status_code == 200 and r.json()["credits_used"] == 25
    await advance(client, 10)
    job = (await client.get(f"/pixelapi/v1/virtual-tryon/jobs/{r.json()['job_id']}", headers=AUTH)).json()
    assert job["status"] == "completed"
    result = Image.open(io.BytesIO(base64.b64decode(job["result_image_b64"])))
    assert result.size == (320, 480)
    bad = await client.post(
        "/pixelapi/v1/virtual-tryon",
        json={"person_image": person, "garment_image": garment, "category": "hat"},
        headers=AUTH,
    )
    assert bad.status_code == 422 and bad.json()["detail"]["error"] == "invalid_category"


async def test_user_agent_gate_and_sdk_words(client: httpx.AsyncClient) -> None:
    for agent in ("", "python-requests/2.32", "Python-urllib/3.11", "python-httpx/0.28"):
        r = await client.post(
            "/pixelapi/v1/image/remove-background",
            json={"image_url": PRODUCT},
            headers={"Authorization": "Bearer k", "User-Agent": agent},
        )
        assert r.status_code == 403 and "User-Agent" in r.json()["detail"]
    sdk = {"Authorization": "Bearer k", "User-Agent": "pixelapi-python/0.2.0"}
    r = await client.post("/pixelapi/v1/image/remove-background", json={"image_url": PRODUCT}, headers=sdk)
    assert r.json()["status"] == "pending"
    assert (await client.get(f"/pixelapi/v1/image/{r.json()['generation_id']}", headers=sdk)).json()[
        "status"
    ] == "pending"


async def test_x_api_key_and_balance_and_usage(client: httpx.AsyncClient) -> None:
    headers = {"X-API-Key": "pk_live_other", "User-Agent": "n8n"}
    before = (await client.get("/pixelapi/v1/account/balance", headers=headers)).json()
    assert before["plan"] == "starter"
    await client.post("/pixelapi/v1/image/upscale", json={"image_url": PRODUCT}, headers=headers)
    after = (await client.get("/pixelapi/v1/account/balance", headers=headers)).json()
    assert before["credits_remaining"] - after["credits_remaining"] == 20
    usage = (await client.get("/pixelapi/v1/account/usage", params={"limit": 5}, headers=headers)).json()["usage"]
    assert [u["operation"] for u in usage] == ["upscale"]
    assert (await client.get("/pixelapi/v1/account/usage", params={"limit": "x"}, headers=headers)).status_code == 422
    models = (await client.get("/pixelapi/v1/models", headers=headers)).json()["models"]
    assert {"flux-schnell", "sdxl", "remove-background"} <= {m["id"] for m in models}


async def test_blocked_limits_and_errors(client: httpx.AsyncClient) -> None:
    big = await client.post(
        "/pixelapi/v1/image/remove-background",
        files={"image": ("b.png", b"\0" * (10 * 1024 * 1024 + 10), "image/png")},
        headers=AUTH,
    )
    assert big.status_code == 413
    corrupt = await client.post(
        "/pixelapi/v1/image/remove-background", files={"image": ("b.png", b"garbage", "image/png")}, headers=AUTH
    )
    assert corrupt.status_code == 400 and corrupt.json()["detail"]
    neither = await client.post("/pixelapi/v1/image/remove-object", json={"image_url": PRODUCT}, headers=AUTH)
    assert neither.status_code == 422
    steps = await client.post(
        "/pixelapi/v1/image/generate", json={"prompt": "x", "model": "flux-schnell", "steps": 20}, headers=AUTH
    )
    assert steps.status_code == 422
    assert (await client.get("/pixelapi/v1/image/nope", headers=AUTH)).json() == {"detail": "Generation not found"}
    assert (await client.get("/pixelapi/v1/account/balance", headers={"User-Agent": "x"})).json() == {
        "detail": "Invalid API key"
    }


async def test_outputs_expire_after_24_hours(client: httpx.AsyncClient) -> None:
    body = await _run(client, "/v1/image/remove-background", json={"image_url": PRODUCT})
    await advance(client, 24 * 3600)
    assert (await client.get(str(body["output_url"]))).status_code == 410
