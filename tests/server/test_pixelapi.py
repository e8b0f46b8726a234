"""PixelAPI end to end in-process: every operation produces a real output of the promised type."""

from __future__ import annotations

import base64
import importlib
import importlib.metadata
import importlib.util
import io
import subprocess
import sys
import types
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette

import contracts
from mockserver.app import create_app
from mockserver.engine.codecs import read_rgba
from mockserver.engine.metrics import iou
from mockserver.runtime.samples import sample
from mockserver.settings import Settings
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


@pytest.mark.fact(
    "pixelapi: remove-background takes a multipart image, answers generation_id; completed has output_url",
    source="pixelapi.txt#Remove Background",
)
async def test_remove_background_upload(client: httpx.AsyncClient, product: tuple[bytes, np.ndarray]) -> None:
    body = await _run(client, "/v1/image/remove-background", files={"image": ("p.png", product[0], "image/png")})
    image = await _image(client, str(body["output_url"]))
    assert image.mode == "RGBA" and iou(np.asarray(image)[..., 3] / 255, product[1]) >= 0.95
    assert body["credits_used"] == 2 and body["operation"] == "remove-background"


@pytest.mark.fact("pixelapi: upscale is 4x", source="pixelapi.txt#Upscale Image")
async def test_upscale_is_4x(client: httpx.AsyncClient) -> None:
    body = await _run(client, "/v1/image/upscale", json={"image_url": PRODUCT})
    assert (await _image(client, str(body["output_url"]))).size == (2048, 2048)


@pytest.mark.fact("pixelapi: generate width and height 512-1536", source="pixelapi.txt#Generate Image")
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


@pytest.mark.fact("pixelapi: audio is a WAV of the duration asked", source="pixelapi.txt#Generate Audio")
async def test_audio_is_wav_of_the_duration(client: httpx.AsyncClient) -> None:
    r = await client.post("/pixelapi/v1/audio/generate", json={"prompt": "calm piano", "duration": 7}, headers=AUTH)
    assert r.json()["credits_used"] == 5 and r.json()["duration"] == 7
    await advance(client, 10)
    body = (await client.get(f"/pixelapi/v1/image/{r.json()['generation_id']}", headers=AUTH)).json()
    with wave.open(io.BytesIO((await client.get(body["output_url"])).content)) as wav:
        assert wav.getnframes() / wav.getframerate() == 7


@pytest.mark.fact("pixelapi: video is MP4 at 16 fps, 480p is 832x480", source="pixelapi.txt#Generate Video")
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


@pytest.mark.fact(
    "pixelapi: requests without a custom User-Agent get 403 (CDN)", source="pixelapi.txt#Getting 403 Forbidden"
)
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


@pytest.mark.fact(
    "pixelapi: GET /v1/account/balance {credits_remaining, plan, email}", source="pixelapi.txt#Account Balance"
)
async def test_balance_and_usage(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": "Bearer pk_live_other", "User-Agent": "n8n"}
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


@pytest.mark.fact("pixelapi: uploads over 10MB get 413", source="pixelapi.txt#Error Handling")
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


@pytest.mark.fact("pixelapi: output URLs expire after 24 hours", source="pixelapi.txt#How long are output URLs valid?")
async def test_outputs_expire_after_24_hours(client: httpx.AsyncClient) -> None:
    body = await _run(client, "/v1/image/remove-background", json={"image_url": PRODUCT})
    await advance(client, 24 * 3600)
    assert (await client.get(str(body["output_url"]))).status_code == 410


# --- the docs to the letter ------------------------------------------------------------------------


def _app(tmp_path: Path, **settings: object) -> Starlette:
    return create_app(Settings.for_tests(state_dir=tmp_path, **settings))


@pytest.mark.fact(
    "pixelapi: auth is Authorization: Bearer only; X-API-Key gets 401",
    source="pixelapi.txt#Getting 401 Unauthorized",
)
async def test_x_api_key_is_refused_with_401(client: httpx.AsyncClient) -> None:
    r = await client.get("/pixelapi/v1/account/balance", headers={"X-API-Key": "pk_live_k", "User-Agent": "n8n"})
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid API key. Use Authorization: Bearer YOUR_KEY (not X-API-Key)"}
    none = await client.get("/pixelapi/v1/account/balance", headers={"User-Agent": "MyApp/1.0"})
    assert none.status_code == 401 and none.json() == {"detail": "Invalid API key"}
    bearer = await client.get("/pixelapi/v1/account/balance", headers={**AUTH, "X-API-Key": "ignored"})
    assert bearer.status_code == 200 and bearer.json()["plan"] == "starter"


@pytest.mark.fact(
    "pixelapi: X-RateLimit-Remaining and X-RateLimit-Reset on every response, a 401 included",
    source="pixelapi.txt#Rate Limits & Plans",
)
@pytest.mark.fact("pixelapi: 401 rate headers", source="openapi/pixelapi.yaml#/components/responses/Unauthorized")
async def test_a_401_carries_the_rate_limit_headers(tmp_path: Path) -> None:
    app = _app(tmp_path, rate_limits=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        now = (await c.get("/__mock/clock")).json()["now"]
        seen = []
        for _ in range(2):
            r = await c.get("/pixelapi/v1/models", headers={"User-Agent": "MyApp/1.0"})
            assert r.status_code == 401 and r.json() == {"detail": "Invalid API key"}
            assert r.headers["X-RateLimit-Limit"] == "5"
            assert now < int(r.headers["X-RateLimit-Reset"]) <= now + 61
            seen.append(int(r.headers["X-RateLimit-Remaining"]))
        assert seen == [4, 3]
        blocked = await c.get("/pixelapi/v1/models", headers={**AUTH, "User-Agent": "python-requests/2.32"})
        assert blocked.status_code == 403 and blocked.headers["X-RateLimit-Remaining"] == "2"
        ok = await c.get("/pixelapi/v1/models", headers=AUTH)
        assert ok.status_code == 200 and ok.headers["X-RateLimit-Limit"] == "20"
    await app.state.mock.aclose()


@pytest.mark.fact(
    "pixelapi: model (flux-schnell or sdxl) is required on generate", source="pixelapi.txt#Generate Image"
)
async def test_generate_requires_model(client: httpx.AsyncClient) -> None:
    r = await client.post("/pixelapi/v1/image/generate", json={"prompt": "a red chair"}, headers=AUTH)
    assert r.status_code == 422
    (problem,) = r.json()["detail"]
    assert problem["loc"] == ["body", "model"] and problem["type"] == "value_error.missing"
    assert (await client.get("/__mock/jobs?provider=pixelapi")).json()["jobs"] == []


def _b64_png(rgb: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


@pytest.mark.fact(
    "pixelapi: try-on image_too_small (422) carries received_size",
    source="pixelapi.txt#Virtual Try-On: Error Responses",
)
async def test_tryon_image_too_small_is_synchronous_with_received_size(client: httpx.AsyncClient) -> None:
    garment = base64.b64encode(sample("garment.png")[0]).decode()
    tiny = _b64_png(np.full((32, 48, 3), 200, np.uint8))
    before = (await client.get("/pixelapi/v1/account/balance", headers=AUTH)).json()["credits_remaining"]
    r = await client.post(
        "/pixelapi/v1/virtual-tryon",
        json={"person_image": tiny, "garment_image": garment, "category": "upperbody"},
        headers=AUTH,
    )
    assert r.status_code == 422
    assert r.json() == {
        "detail": {
            "error": "image_too_small",
            "message": "Person image is too small (minimum 100px)",
            "guidance": "Use a photo that is at least 300x400px, portrait orientation",
            "received_size": "48x32px",
        }
    }
    assert (await client.get("/pixelapi/v1/account/balance", headers=AUTH)).json()["credits_remaining"] == before


@pytest.mark.fact(
    "pixelapi: a try-on short of credits is a 402 before the fit",
    source="openapi/pixelapi.yaml#/paths/~1v1~1virtual-tryon/post",
)
async def test_tryon_checks_credits_before_the_fit(client: httpx.AsyncClient) -> None:
    """A key short of the try-on's 25 credits gets the 402 before the costly fit (inferred order,
    openapi/pixelapi.yaml): a portrait with nobody in it is not segmented first (its 422)."""
    await client.put("/__mock/accounts/pixelapi/pk_live_poor", json={"balance": 5})
    headers = {"Authorization": "Bearer pk_live_poor", "User-Agent": "MyApp/1.0"}
    garment = base64.b64encode(sample("garment.png")[0]).decode()
    blank = _b64_png(np.full((400, 300, 3), 235, np.uint8))
    r = await client.post(
        "/pixelapi/v1/virtual-tryon",
        json={"person_image": blank, "garment_image": garment, "category": "upperbody"},
        headers=headers,
    )
    assert r.status_code == 402, r.text
    assert r.json()["detail"].startswith("Insufficient credits. Required: 25, available: 5")


@pytest.mark.fact(
    "pixelapi: try-on body_segmentation_failed is a 422 answer, not a failed job",
    source="pixelapi.txt#Virtual Try-On: Error Responses",
)
async def test_tryon_body_segmentation_failed_is_a_422(client: httpx.AsyncClient) -> None:
    garment = base64.b64encode(sample("garment.png")[0]).decode()
    blank = _b64_png(np.full((400, 300, 3), 235, np.uint8))  # a portrait with nobody in it
    r = await client.post(
        "/pixelapi/v1/virtual-tryon",
        json={"person_image": blank, "garment_image": garment, "category": "upperbody"},
        headers=AUTH,
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["error"] == "body_segmentation_failed" and detail["message"]
    assert detail["guidance"] == "Use a clearer front-facing torso photo" and "received_size" not in detail
    assert (await client.get("/__mock/jobs?provider=pixelapi")).json()["jobs"] == []
    landscape = _b64_png(np.full((300, 400, 3), 235, np.uint8))
    wide = await client.post(
        "/pixelapi/v1/virtual-tryon",
        json={"person_image": landscape, "garment_image": garment, "category": "dress"},
        headers=AUTH,
    )
    assert wide.status_code == 422 and wide.json()["detail"]["error"] == "wrong_aspect_ratio"


@pytest.mark.fact("pixelapi: try-on 503 gpu_out_of_memory", source="pixelapi.txt#Virtual Try-On: Error Responses")
async def test_gpu_out_of_memory_from_a_fault_rule(client: httpx.AsyncClient) -> None:
    rule = {"provider": "pixelapi", "operation": "pixelapi-virtual-tryon", "action": "status", "status": 503}
    assert (await client.post("/__mock/faults", json=rule)).status_code == 201
    body = {"person_image": "x", "garment_image": "y", "category": "upperbody"}
    r = await client.post("/pixelapi/v1/virtual-tryon", json=body, headers=AUTH)
    assert r.status_code == 503
    assert r.json() == {
        "detail": {
            "error": "gpu_out_of_memory",
            "message": "GPU busy. Retry in a few seconds.",
            "guidance": "Use smaller images (max 1024x1024)",
        }
    }
    scenario = await client.post(
        "/pixelapi/v1/virtual-tryon", json=body, headers={**AUTH, "X-Mock-Scenario": "unavailable"}
    )
    assert scenario.status_code == 503 and scenario.json()["detail"]["error"] == "gpu_out_of_memory"
    other = await client.post(
        "/pixelapi/v1/image/upscale", json={"image_url": PRODUCT}, headers={**AUTH, "X-Mock-Scenario": "unavailable"}
    )
    assert other.status_code == 503 and isinstance(other.json()["detail"], str)


@pytest.mark.fact(
    "pixelapi: credits per the Credit Costs table (remove-background 2, generate 3, upscale 20)",
    source="pixelapi.txt#Credit Costs",
)
@pytest.mark.fact("pixelapi: price sets", source="openapi/pixelapi.yaml#/paths/~1v1~1image~1remove-background/post")
async def test_prices_follow_the_table_or_the_endpoint_pages(tmp_path: Path) -> None:
    charged = {}
    for prices in ("table", "pages"):
        app = _app(tmp_path / prices, pixelapi_prices=prices)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            rb = await c.post("/pixelapi/v1/image/remove-background", json={"image_url": PRODUCT}, headers=AUTH)
            gen = await c.post("/pixelapi/v1/image/generate", json={"model": "sdxl", "prompt": "a chair"}, headers=AUTH)
            models = {
                m["id"]: m["credits"] for m in (await c.get("/pixelapi/v1/models", headers=AUTH)).json()["models"]
            }
            balance = (await c.get("/pixelapi/v1/account/balance", headers=AUTH)).json()["credits_remaining"]
            charged[prices] = (rb.json()["credits_used"], gen.json()["credits_used"], 10_000 - balance)
            assert (
                models["remove-background"] == rb.json()["credits_used"]
                and models["sdxl"] == gen.json()["credits_used"]
            )
        await app.state.mock.aclose()
    assert charged == {"table": (2, 3, 5), "pages": (4, 5, 9)}


@pytest.mark.fact(
    "pixelapi: monthly credits reset on the billing cycle; unused credits do not roll over",
    source="pixelapi.txt#Do credits expire?",
)
@pytest.mark.fact("pixelapi: monthly reset", source="openapi/pixelapi.yaml#/paths/~1v1~1account~1balance/get")
async def test_plan_allotment_and_monthly_reset(client: httpx.AsyncClient) -> None:
    await client.put("/__mock/accounts/pixelapi/pk_live_free", json={"balance": 100, "plan": "free"})
    headers = {"Authorization": "Bearer pk_live_free", "User-Agent": "MyApp/1.0"}
    r = await client.post("/pixelapi/v1/image/upscale", json={"image_url": PRODUCT}, headers=headers)
    assert r.status_code == 200
    assert (await client.get("/pixelapi/v1/account/balance", headers=headers)).json()["credits_remaining"] == 80
    await advance(client, 32 * 86400)  # the next calendar month
    balance = (await client.get("/pixelapi/v1/account/balance", headers=headers)).json()
    assert balance == {"credits_remaining": 10, "plan": "free", "email": balance["email"]}
    short = await client.post("/pixelapi/v1/image/upscale", json={"image_url": PRODUCT}, headers=headers)
    assert short.status_code == 402
    assert short.json() == {
        "detail": "Insufficient credits. Required: 20, available: 10. Upgrade at https://pixelapi.dev/app/#pricing"
    }
    await client.put("/__mock/accounts/pixelapi/pk_live_free", json={"plan": "pro"})
    assert (
        await client.post("/pixelapi/v1/image/remove-background", json={"image_url": PRODUCT}, headers=headers)
    ).status_code == 200
    await advance(client, 31 * 86400)
    renewed = (await client.get("/pixelapi/v1/account/balance", headers=headers)).json()
    assert (renewed["credits_remaining"], renewed["plan"]) == (60_000, "pro")


@pytest.mark.fact(
    "pixelapi: a balance set in a month counts as its reset",
    source="openapi/pixelapi.yaml#/paths/~1v1~1account~1balance/get",
)
async def test_a_balance_set_after_the_month_began_counts_as_its_reset(client: httpx.AsyncClient) -> None:
    """A balance set through the control plane in a new month is that month's: the first submit or
    balance read of the month does not put the allotment over it (review finding)."""
    headers = {"Authorization": "Bearer pk_live_set", "User-Agent": "MyApp/1.0"}
    r = await client.post("/pixelapi/v1/image/upscale", json={"image_url": PRODUCT}, headers=headers)
    assert r.status_code == 200
    await advance(client, 32 * 86400)  # the next calendar month, nothing asked of the key yet
    assert (await client.put("/__mock/accounts/pixelapi/pk_live_set", json={"balance": 5})).status_code == 200
    assert (await client.get("/pixelapi/v1/account/balance", headers=headers)).json()["credits_remaining"] == 5
    short = await client.post("/pixelapi/v1/image/upscale", json={"image_url": PRODUCT}, headers=headers)
    assert short.status_code == 402
    await advance(client, 31 * 86400)  # the month after: the allotment again
    assert (await client.get("/pixelapi/v1/account/balance", headers=headers)).json()["credits_remaining"] == 10_000


async def test_an_unknown_plan_is_a_422_listing_the_plans(client: httpx.AsyncClient) -> None:
    r = await client.put("/__mock/accounts/pixelapi/pk_live_gold", json={"plan": "gold"})
    assert r.status_code == 422
    assert all(plan in r.text for plan in ("free", "starter", "pro", "scale"))
    assert (await client.get("/__mock/accounts/pixelapi/pk_live_gold")).status_code == 404  # nothing made


# --- the official SDK (PyPI pixelapi 0.2.0), its own code against the mock --------------------------


def load_sdk() -> types.SimpleNamespace:
    """PyPI ``pixelapi`` 0.2.0's modules, unmodified, loaded around its import bug.

    Its ``__init__`` imports ``client``, whose ``from . import __version__`` runs before ``__init__``
    has defined it: ``import pixelapi`` raises ImportError upstream. A bare package module carrying
    ``__version__`` stands in for that ``__init__``; every other file is the wheel's own.
    """
    found = importlib.util.find_spec("pixelapi")  # locates the package without running its __init__
    assert found is not None and found.submodule_search_locations is not None, "pip install pixelapi==0.2.0"
    for name in [n for n in sys.modules if n == "pixelapi" or n.startswith("pixelapi.")]:
        del sys.modules[name]
    package = types.ModuleType("pixelapi")
    package.__path__ = list(found.submodule_search_locations)
    package.__version__ = importlib.metadata.version("pixelapi")  # type: ignore[attr-defined]
    sys.modules["pixelapi"] = package
    modules = {
        name: importlib.import_module(f"pixelapi.{name}") for name in ("client", "exceptions", "video", "account")
    }
    return types.SimpleNamespace(**modules)


class Wired:
    """``_request`` for the wheel's unwired helpers (``video.VideoClient``, ``account.AccountClient``
    call ``client._request``, which 0.2.0's client lacks): the SDK's own httpx client and its own
    ``_raise_for_status``, nothing else."""

    def __init__(self, sdk: types.SimpleNamespace, client: Any) -> None:
        self._sdk, self._http = sdk, client._client

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        self._sdk.client._raise_for_status(response)
        return response.json()


POLL = 0.01  # the SDK's sleeps are real ones here (jobs move on polls: done on the third)


@pytest.fixture
def sdk() -> Iterator[types.SimpleNamespace]:
    yield load_sdk()
    for name in [n for n in sys.modules if n == "pixelapi" or n.startswith("pixelapi.")]:
        del sys.modules[name]


def test_the_sdk_import_bug_is_still_upstream() -> None:
    """If this fails, 0.2.0's import works again and load_sdk can go."""
    code = "import pixelapi"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "__version__" in done.stderr


@pytest.mark.fact(
    "pixelapi: status queued | processing | completed | failed | blocked (the SDK sees its enum's words)",
    source="pixelapi.txt#Get Job Status",
)
@pytest.mark.fact(
    "pixelapi: the SDK's words", source="openapi/pixelapi.yaml#/components/schemas/Generation/properties/status"
)
def test_the_sdk_runs_every_job_type_to_every_end(sdk: types.SimpleNamespace) -> None:
    """Each of the SDK's job types ends completed, failed and blocked, through its own wait() (the
    unwired video helper through its own poll); the README states the rule it sees."""
    PixelAPI, errors = sdk.client.PixelAPI, sdk.exceptions
    with contracts.mock(provider="pixelapi") as cutout, PixelAPI("pk_live_sdk") as client:
        image = "https://example.com/product{}.jpg"
        jobs: dict[str, Callable[[str], Any]] = {
            "remove-background": lambda m: client.image.remove_background(image_url=image.format(m)),
            "upscale": lambda m: client.image.upscale(image_url=image.format(m)),
            "restore-face": lambda m: client.image.restore_face(image_url=image.format(m)),
            "remove-object": lambda m: client.image.remove_object(image_url=image.format(m), mask_url=image.format("")),
            "replace-background": lambda m: client.image.replace_background(
                image_url=image.format(m), prompt="a beach"
            ),
            "generate": lambda m: client.image.generate(prompt=f"a red chair {m}", model="sdxl"),
            "audio-generate": lambda m: client.audio.generate(prompt=f"calm piano {m}", duration=5),
        }
        for operation, submit in jobs.items():
            started = submit("")
            assert started.status.value == "pending" and started.credits_used > 0, operation
            done = client.generation.wait(started.id, poll_interval=POLL)
            assert done.is_complete and done.output_url and done.completed_at, operation
            for magic, words in (("mock-fail", "Job failed"), ("mock-blocked", "blocked: content policy")):
                doomed = submit(magic)
                with pytest.raises(errors.PixelAPIError) as ended:
                    client.generation.wait(doomed.id, poll_interval=POLL)
                assert ended.value.body == {"generation_id": doomed.id, "status": "failed"}, operation
                assert words in ended.value.message or magic == "mock-fail", (operation, ended.value.message)
        video = sdk.video.VideoClient(Wired(sdk, client))
        for magic, status in (("", "completed"), ("mock-fail", "failed"), ("mock-blocked", "failed")):
            result = video.generate(f"waves {magic}", poll_interval=POLL)
            assert result.status == status and (result.url is not None) == (status == "completed")
        account = sdk.account.AccountClient(Wired(sdk, client))
        assert account.balance()["plan"] == "starter"
        assert len(account.usage(limit=100)["usage"]) == 3 * len(jobs) + 3
        states = {job["state"] for job in cutout.control.list_jobs(provider="pixelapi")}
        assert states == {"succeeded", "failed", "blocked"}
        with pytest.raises(errors.NotFoundError):
            client.generation.get("nope")
        with pytest.raises(errors.ValidationError):
            client.image.generate(prompt="x", model="dall-e")


@pytest.mark.fact("pixelapi: 402 Insufficient credits with a detail", source="pixelapi.txt#Error Handling")
async def test_the_async_sdk_sees_the_same_words(sdk: types.SimpleNamespace) -> None:
    with contracts.mock(provider="pixelapi") as cutout:
        client = sdk.client.AsyncPixelAPI("pk_live_async")
        started = await client.image.remove_background(image_url=PRODUCT)
        assert started.status.value == "pending"
        assert (await client.generation.wait(started.id, poll_interval=POLL)).is_complete
        cutout.control.put_account("pixelapi", "pk_live_async", balance=1)
        with pytest.raises(sdk.exceptions.InsufficientCreditsError) as short:
            await client.image.remove_background(image_url=PRODUCT)
        assert short.value.status_code == 402 and "Required: 2, available: 1" in short.value.message
        await client.close()


@pytest.mark.fact(
    "pixelapi: a scenario picks the other price set",
    source="openapi/pixelapi.yaml#/paths/~1v1~1image~1remove-background/post",
)
async def test_a_scenario_or_the_control_plane_picks_the_other_prices(client: httpx.AsyncClient) -> None:
    assert (await client.get("/__mock/prices")).json() == {"pixelapi": "table", "pixelcut_video_credits": 1.0}
    loaded = await client.post("/__mock/scenario", json={"prices": {"pixelapi": "pages"}})
    assert loaded.status_code == 200 and loaded.json()["prices"]["pixelapi"] == "pages"
    r = await client.post("/pixelapi/v1/image/remove-background", json={"image_url": PRODUCT}, headers=AUTH)
    assert r.json()["credits_used"] == 4
    for bad in ({"pixelapi": "cheap"}, {"pixelcut_video_credits": -1}, {"other": 1}):
        refused = await client.post("/__mock/prices", json=bad)
        assert refused.status_code == 422 and refused.json()["detail"], bad
        whole = await client.post("/__mock/scenario", json={"prices": bad, "seed": 3})
        assert whole.status_code == 422
    assert (await client.get("/__mock/prices")).json()["pixelapi"] == "pages", "a refused document changed nothing"
    video = await client.post("/__mock/prices", json={"pixelcut_video_credits": 0})
    assert video.json() == {"pixelapi": "pages", "pixelcut_video_credits": 0}
    await client.post("/__mock/reset")
    assert (await client.get("/__mock/prices")).json() == {"pixelapi": "table", "pixelcut_video_credits": 1.0}
    again = await client.post("/pixelapi/v1/image/remove-background", json={"image_url": PRODUCT}, headers=AUTH)
    assert again.json()["credits_used"] == 2
