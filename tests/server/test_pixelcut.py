"""Pixelcut end to end in-process: submit, poll through every state, download and decode."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from mockserver.engine.codecs import read_rgba
from mockserver.engine.metrics import iou
from tests.server.conftest import advance, data_url

pytestmark = pytest.mark.anyio
KEY = {"X-API-KEY": "sk_test_one"}
VIDEO = "/pixelcut/v1/video/remove-background"


def _png_alpha(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.mode == "RGBA"
        return np.asarray(image)[..., 3].astype(np.float32) / 255


@pytest.mark.fact(
    "pixelcut: application/json answers 200 {result_url} to a PNG cut-out",
    source="pixelcut-image-remove-background.txt#Responses 200",
)
async def test_image_json_returns_a_url_to_a_true_cutout(
    client: httpx.AsyncClient, product: tuple[bytes, np.ndarray]
) -> None:
    data, truth = product
    r = await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": data_url(data, "image/png")}, headers=KEY
    )
    assert r.status_code == 200, r.text
    url = r.json()["result_url"]
    assert url.startswith("http://testserver/pixelcut/assets/public/result/") and url.endswith(".png")
    image = await client.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert iou(_png_alpha(image.content), truth) >= 0.95


@pytest.mark.fact(
    "pixelcut: multipart image upload; Accept image/* answers the PNG bytes",
    source="pixelcut-image-remove-background.txt#Header Parameters",
)
async def test_image_multipart_with_accept_image_returns_png_bytes(
    client: httpx.AsyncClient, product: tuple[bytes, np.ndarray]
) -> None:
    data = product[0]
    r = await client.post(
        "/pixelcut/v1/remove-background",
        files={"image": ("p.png", data, "image/png")},
        data={"image_url": "https://ignored.example/x.png", "crop": "true"},
        headers={**KEY, "Accept": "image/*"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    alpha = _png_alpha(r.content)
    assert alpha.shape[0] < 256 and alpha.shape[1] < 256, "crop was ignored"


@pytest.mark.fact(
    "pixelcut: an AI shadow consumes 3 more credits", source="pixelcut-image-remove-background.txt#Remove Background"
)
async def test_shadow_costs_three_more_credits(client: httpx.AsyncClient, product: tuple[bytes, np.ndarray]) -> None:
    before = (await client.get("/pixelcut/v1/credits", headers=KEY)).json()["credits"]
    body = {
        "image_url": data_url(product[0], "image/png"),
        "shadow": {"opacity": 0.8, "light_source": {"position": {"x": 0.9, "y": -0.5, "z": 0.5}}},
    }
    r = await client.post("/pixelcut/v1/remove-background", json=body, headers={**KEY, "Accept": "image/png"})
    assert r.status_code == 200
    after = (await client.get("/pixelcut/v1/credits", headers=KEY)).json()["credits"]
    assert before - after == 4
    with_shadow = _png_alpha(r.content)
    assert (with_shadow > 0).sum() > (product[1] > 0.5).sum(), "no shadow was added"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"image_url": data_url(b"not an image", "image/png")}, "malformed_image"),
        ({"image_url": data_url(np.full(10, 1, np.uint8).tobytes(), "image/png")}, "malformed_image"),
        ({"image_url": "http://10.0.0.5/private.png"}, "invalid_parameter"),
        ({"image_url": "https://example.com/product.jpg", "format": "jpg"}, "invalid_parameter"),
        ({"image_url": "https://example.com/product.jpg", "margin": "60%"}, "invalid_parameter"),
    ],
)
async def test_image_errors_are_not_charged(client: httpx.AsyncClient, body: dict[str, object], code: str) -> None:
    before = (await client.get("/pixelcut/v1/credits", headers=KEY)).json()["credits"]
    r = await client.post("/pixelcut/v1/remove-background", json=body, headers=KEY)
    assert r.status_code == 400 and r.json()["error_code"] == code, r.text
    assert (await client.get("/pixelcut/v1/credits", headers=KEY)).json()["credits"] == before


async def test_plain_image_is_unknown_foreground(client: httpx.AsyncClient) -> None:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), (90, 90, 90)).save(out, "PNG")
    r = await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": data_url(out.getvalue(), "image/png")}, headers=KEY
    )
    assert r.status_code == 400 and r.json() == {
        "error": "The foreground subject of the image could not be detected",
        "error_code": "unknown_foreground",
    }


@pytest.mark.fact(
    "pixelcut: video 202 {job_id} with Location /v1/video/remove-background/job/{job_id}",
    source="pixelcut-video-remove-background.openapi.txt#responses 202",
)
@pytest.mark.fact(
    "pixelcut: job status pending, running, completed with result_url",
    source="NOTES.md#3.4 GET /v1/video/remove-background/job/{job_id}",
)
async def test_video_job_walks_every_state(
    client: httpx.AsyncClient, clip_file: tuple[bytes, list[np.ndarray]], tmp_path: Path
) -> None:
    data, truths = clip_file
    r = await client.post(
        VIDEO,
        json={"video_url": data_url(data, "video/mp4"), "background_color": "transparent", "output_format": "webm_vp9"},
        headers=KEY,
    )
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    assert r.headers["location"] == f"/v1/video/remove-background/job/{job_id}"
    seen = []
    for step in (0, 0.6, 5):
        await advance(client, step)
        status = await client.get(f"/pixelcut{r.headers['location']}", headers=KEY)
        assert status.status_code == 200
        seen.append(status.json()["status"])
    assert seen == ["pending", "running", "completed"]
    result = await client.get(status.json()["result_url"])
    assert result.headers["content-type"] == "video/webm"
    path = tmp_path / "out.webm"
    path.write_bytes(result.content)
    frames = list(read_rgba(path))
    assert len(frames) == len(truths)
    assert np.mean([iou(f[..., 3] / 255, t) for f, t in zip(frames, truths, strict=True)]) >= 0.9


async def test_video_default_is_mp4_over_black(
    client: httpx.AsyncClient, clip_file: tuple[bytes, list[np.ndarray]], tmp_path: Path
) -> None:
    r = await client.post(VIDEO, json={"video_url": data_url(clip_file[0], "video/mp4")}, headers=KEY)
    await advance(client, 5)
    status = (await client.get(f"/pixelcut/v1/video/remove-background/job/{r.json()['job_id']}", headers=KEY)).json()
    media = await client.get(status["result_url"])
    assert media.headers["content-type"] == "video/mp4"
    path = tmp_path / "out.mp4"
    path.write_bytes(media.content)
    first = next(read_rgba(path))
    assert first[2, 2, :3].max() < 30, "background is not black"


@pytest.mark.fact(
    "pixelcut: transparent requires webm_vp9, mov_proresks or gif",
    source="pixelcut-video-remove-background.openapi.txt#VideoBackgroundColorParameter",
)
async def test_transparent_needs_an_alpha_format(client: httpx.AsyncClient) -> None:
    for fmt in ("mp4_h264", "mkv_vp9"):  # Pixelcut names webm_vp9, mov_proresks and gif only
        r = await client.post(
            VIDEO,
            json={"video_url": "https://example.com/v.mp4", "background_color": "transparent", "output_format": fmt},
            headers=KEY,
        )
        assert r.status_code == 400 and r.json()["error_code"] == "invalid_parameter"


@pytest.mark.fact(
    "pixelcut: a failed job carries error {message, error_code}",
    source="openapi/pixelcut.yaml#/components/schemas/VideoJob/properties/error",
)
async def test_failed_video_job_has_the_error_object(client: httpx.AsyncClient) -> None:
    r = await client.post(VIDEO, json={"video_url": data_url(b"\x00garbage" * 50, "video/mp4")}, headers=KEY)
    await advance(client, 5)
    body = (await client.get(f"/pixelcut/v1/video/remove-background/job/{r.json()['job_id']}", headers=KEY)).json()
    assert body["status"] == "failed" and "result_url" not in body
    assert body["error"]["error_code"] == "invalid_parameter" and body["error"]["message"]


@pytest.mark.fact("pixelcut: unknown job 404", source="openapi/pixelcut.yaml#/components/responses/Error404")
async def test_unknown_and_foreign_jobs_are_404(client: httpx.AsyncClient) -> None:
    r = await client.post(VIDEO, json={"video_url": "https://example.com/video.mp4"}, headers=KEY)
    job = f"/pixelcut/v1/video/remove-background/job/{r.json()['job_id']}"
    assert (await client.get(job, headers=KEY)).status_code == 200
    foreign = await client.get(job, headers={"X-API-KEY": "sk_someone_else"})
    assert foreign.status_code == 404 and foreign.json()["error_code"] == "not_found"
    assert (await client.get("/pixelcut/v1/video/remove-background/job/nope", headers=KEY)).status_code == 404


@pytest.mark.fact(
    "pixelcut: result URLs are valid for 1 hour", source="pixelcut-image-remove-background.txt#Responses 200"
)
async def test_result_url_expires_after_an_hour(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": "https://example.com/product.jpg"}, headers=KEY
    )
    url = r.json()["result_url"]
    await advance(client, 3599)
    assert (await client.get(url)).status_code == 200
    await advance(client, 2)
    gone = await client.get(url)
    assert gone.status_code == 410 and gone.json()["error_code"] == "job_expired"


@pytest.mark.fact(
    "pixelcut: 401 invalid_auth_token; 403 insufficient_api_credits",
    source="pixelcut-image-remove-background.txt#Responses 401 403",
)
async def test_strict_keys_and_insufficient_credits(tmp_path: Path) -> None:
    from mockserver.app import create_app
    from mockserver.settings import Settings

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"pixelcut": {"sk_poor": {"balance": 2}}}))
    app = create_app(Settings.for_tests(state_dir=tmp_path, keys_file=keys))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        unknown = await c.get("/pixelcut/v1/credits", headers={"X-API-KEY": "sk_not_listed"})
        assert unknown.status_code == 401 and unknown.json()["error_code"] == "invalid_auth_token"
        body = {"image_url": "https://example.com/product.jpg", "shadow": True}
        poor = await c.post("/pixelcut/v1/remove-background", json=body, headers={"X-API-KEY": "sk_poor"})
        assert poor.status_code == 403 and poor.json() == {
            "error": "Insufficient credits available",
            "error_code": "insufficient_api_credits",
        }
        assert (await c.get("/pixelcut/v1/credits", headers={"X-API-KEY": "sk_poor"})).json() == {"credits": 2}


@pytest.mark.fact(
    "pixelcut: video_url is format: url; anything else is 400 invalid_parameter",
    source="pixelcut-video-remove-background.openapi.txt#VideoURLParameter",
)
@pytest.mark.fact("pixelcut: video_url check", source="openapi/pixelcut.yaml#/components/schemas/VideoURLParameter")
async def test_video_url_must_be_a_url(client: httpx.AsyncClient) -> None:
    for bad in ("not a url", "example.com/v.mp4", "ftp://example.com/v.mp4", "https:///v.mp4", "http://[::1/v.mp4"):
        r = await client.post(VIDEO, json={"video_url": bad}, headers=KEY)
        assert r.status_code == 400, bad
        assert r.json() == {
            "error": "Invalid parameter video_url: must be a URL (format: url)",
            "error_code": "invalid_parameter",
        }
    assert (await client.get("/__mock/jobs?provider=pixelcut")).json()["jobs"] == []


@pytest.mark.fact(
    "pixelcut: output_format defaults to mp4_h264 if not specified",
    source="pixelcut-video-remove-background.openapi.txt#VideoOutputFormatParameter",
)
@pytest.mark.fact(
    "pixelcut: transparent without a format",
    source="openapi/pixelcut.yaml#/components/schemas/VideoOutputFormatParameter",
)
async def test_default_output_format_is_mp4_h264_even_when_transparent(client: httpx.AsyncClient) -> None:
    url = "https://example.com/v.mp4"
    black = await client.post(VIDEO, json={"video_url": url}, headers=KEY)
    assert black.status_code == 202
    job = (await client.get(f"/__mock/jobs/pixelcut/{black.json()['job_id']}")).json()
    assert job["input"] == {"video_url": url}
    transparent = await client.post(VIDEO, json={"video_url": url, "background_color": "transparent"}, headers=KEY)
    assert transparent.status_code == 400
    assert transparent.json()["error_code"] == "invalid_parameter"
    assert "mp4_h264" in transparent.json()["error"]


@pytest.mark.fact(
    "pixelcut: shadow.light_source.position is required",
    source="pixelcut-image-remove-background.txt#ShadowParameter",
)
async def test_light_source_without_position_is_refused(client: httpx.AsyncClient) -> None:
    shadow = {"enabled": True, "light_source": {"size": 0.5}}
    expected = {"error": "Missing required parameter: shadow.light_source.position", "error_code": "missing_parameter"}
    before = (await client.get("/pixelcut/v1/credits", headers=KEY)).json()["credits"]
    as_json = await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": "https://example.com/p.jpg", "shadow": shadow}, headers=KEY
    )
    assert as_json.status_code == 400 and as_json.json() == expected
    as_form = await client.post(
        "/pixelcut/v1/remove-background",
        data={"shadow": json.dumps(shadow)},
        files={"image": ("p.png", b"not read: the options are checked first", "image/png")},
        headers=KEY,
    )
    assert as_form.status_code == 400 and as_form.json() == expected
    assert (await client.get("/pixelcut/v1/credits", headers=KEY)).json()["credits"] == before
    shadow["light_source"]["position"] = {"x": 0.2, "y": -0.5, "z": 1.0}
    ok = await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": "https://example.com/p.jpg", "shadow": shadow}, headers=KEY
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.fact(
    "pixelcut: 403 insufficient_api_credits when credits do not cover the action (video included)",
    source="pixelcut-video-remove-background.openapi.txt#Error403",
)
@pytest.mark.fact("pixelcut: video price", source="openapi/pixelcut.yaml#/paths/~1v1~1video~1remove-background/post")
async def test_video_costs_credits_and_runs_out_with_403(
    tmp_path: Path, clip_file: tuple[bytes, list[np.ndarray]]
) -> None:
    from mockserver.app import create_app
    from mockserver.settings import Settings

    app = create_app(Settings.for_tests(state_dir=tmp_path, pixelcut_video_credits=2.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        await c.put("/__mock/accounts/pixelcut/sk_video", json={"balance": 3})
        headers = {"X-API-KEY": "sk_video"}
        body = {"video_url": data_url(clip_file[0], "video/mp4")}  # 12 frames: one block of 30
        first = await c.post(VIDEO, json=body, headers=headers)
        assert first.status_code == 202
        assert (await c.get("/pixelcut/v1/credits", headers=headers)).json() == {"credits": 1}
        second = await c.post(VIDEO, json=body, headers=headers)
        assert second.status_code == 403
        assert second.headers["content-type"].startswith("application/json")
        assert second.json() == {"error": "Insufficient credits available", "error_code": "insufficient_api_credits"}
    await app.state.mock.aclose()
