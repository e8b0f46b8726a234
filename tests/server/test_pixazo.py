"""Pixazo end to end in-process: generate request, GET and POST status, APIM auth, refunds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest

from mockserver.app import create_app
from mockserver.engine.codecs import read_rgba
from mockserver.settings import Settings
from tests.server.conftest import advance, data_url

pytestmark = pytest.mark.anyio
KEY = {"Ocp-Apim-Subscription-Key": "pz-key", "Cache-Control": "no-cache"}
SUBMIT = "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
DOC_EXAMPLE = {
    "video_url": "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/Video.mp4",
    "background": "transparent",
    "output_format": "webm_vp9",
}


@pytest.mark.fact(
    "pixazo: the documented request answers 202 {request_id, status QUEUED, polling_url}",
    source="pixazo-pixelcut-video-background-removal.txt#Output",
)
@pytest.mark.fact(
    "pixazo: status QUEUED, PROCESSING, COMPLETED with output.media_url[] and media_type",
    source="pixazo-pixelcut-video-background-removal.txt#Retrieving Results",
)
async def test_documented_example_end_to_end(client: httpx.AsyncClient, tmp_path: Path) -> None:
    r = await client.post(SUBMIT, json=DOC_EXAMPLE, headers=KEY)
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "QUEUED"
    assert re.fullmatch(
        r"pixelcut-video-background-removal_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        body["request_id"],
    )
    assert body["polling_url"].endswith(f"/v2/requests/status/{body['request_id']}")
    words = []
    for step in (0, 0.6, 5):
        await advance(client, step)
        status = await client.get(body["polling_url"], headers=KEY)
        words.append(status.json()["status"])
    assert words == ["QUEUED", "PROCESSING", "COMPLETED"]
    final = status.json()
    assert final["error"] is None and final["model_id"] == "pixelcut-video-background-removal"
    assert final["output"]["media_type"] == "video/webm" and len(final["output"]["media_url"]) == 1
    assert final["completed_at"] and final["created_at"] <= final["updated_at"]
    posted = await client.post(body["polling_url"], headers=KEY)
    assert posted.json() == final
    path = tmp_path / "o.webm"
    path.write_bytes((await client.get(final["output"]["media_url"][0])).content)
    alpha = np.stack([f[..., 3] for f in read_rgba(path)])
    assert alpha.min() == 0 and alpha.max() == 255


@pytest.mark.fact(
    "pixazo: a failed request has status FAILED, error and output null",
    source="pixazo-pixelcut-video-background-removal.txt#Error via Status/Webhook",
)
async def test_failed_job_reports_error(client: httpx.AsyncClient) -> None:
    r = await client.post(SUBMIT, json={"video_url": data_url(b"junk", "video/mp4")}, headers=KEY)
    await advance(client, 5)
    body = (await client.get(r.json()["polling_url"], headers=KEY)).json()
    assert body["status"] == "FAILED" and body["error"] and body["output"] is None


@pytest.mark.fact("pixazo: APIM 401 bodies", source="openapi/pixazo.yaml#/components/responses/ApimError")
async def test_apim_auth_errors(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"pixazo": {"good": {"balance": 5}}}))
    app = create_app(Settings.for_tests(state_dir=tmp_path, keys_file=keys))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        missing = await c.post(SUBMIT, json=DOC_EXAMPLE)
        assert missing.status_code == 401 and missing.json()["statusCode"] == 401
        assert "missing subscription key" in missing.json()["message"]
        invalid = await c.post(SUBMIT, json=DOC_EXAMPLE, headers={"Ocp-Apim-Subscription-Key": "bad"})
        assert "invalid subscription key" in invalid.json()["message"]
        assert (
            await c.post(SUBMIT, json=DOC_EXAMPLE, headers={"Ocp-Apim-Subscription-Key": "good"})
        ).status_code == 202


@pytest.mark.fact(
    "pixazo: validation 400 and unknown request 404", source="openapi/pixazo.yaml#/components/responses/NotFound"
)
async def test_validation_and_not_found(client: httpx.AsyncClient) -> None:
    bad = await client.post(SUBMIT, json={"video_url": "x", "background": "custom"}, headers=KEY)
    assert (
        bad.status_code == 400
        and bad.json()["error"] == "Invalid request"
        and "background_color" in bad.json()["message"]
    )
    enum = await client.post(SUBMIT, json={"video_url": "x", "output_format": "avi"}, headers=KEY)
    assert enum.status_code == 400
    missing = await client.get("/pixazo/v2/requests/status/pixelcut-video-background-removal_nope", headers=KEY)
    assert missing.status_code == 404 and set(missing.json()) == {"error", "message"}


@pytest.mark.fact(
    "pixazo: 403 Forbidden is a status of its own, reachable by a fault rule",
    source="pixazo-pixelcut-video-background-removal.txt#Response Handling",
)
@pytest.mark.fact("pixazo: 403 body", source="openapi/pixazo.yaml#/components/responses/Forbidden")
async def test_a_403_fault_is_forbidden_not_the_wallets_402(client: httpx.AsyncClient) -> None:
    rule = {"provider": "pixazo", "operation": "pixazo-pixelcut-request", "action": "status", "status": 403}
    assert (await client.post("/__mock/faults", json=rule)).status_code == 201
    r = await client.post(SUBMIT, json=DOC_EXAMPLE, headers=KEY)
    assert r.status_code == 403
    assert r.json() == {
        "statusCode": 403,
        "message": "Out of call volume quota. Quota will be replenished in 00:59:59.",
    }
    scenario = await client.post(SUBMIT, json=DOC_EXAMPLE, headers={**KEY, "X-Mock-Scenario": "insufficient-credits"})
    assert scenario.status_code == 402 and scenario.json() == {
        "error": "Insufficient Balance",
        "message": "Your wallet does not have enough balance.",
    }


@pytest.mark.fact(
    "pixazo: an unknown model answers 400 Model not found",
    source="pixazo-pixelcut-video-background-removal.txt#Queue System Errors",
)
@pytest.mark.fact("pixazo: an unknown model is checked before the key", source="openapi/pixazo.yaml#/info")
async def test_unknown_model_path_is_400_model_not_found(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/pixazo/pixelcut-video-upscaler/v1/pixelcut-video-upscaler-request", json=DOC_EXAMPLE, headers=KEY
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {
        "error": "Model not found",
        "message": "Model 'pixelcut-video-upscaler' not found or is disabled",
    }
    keyless = await client.post("/pixazo/pixelcut-video-upscaler/v1/pixelcut-video-upscaler-request", json=DOC_EXAMPLE)
    assert keyless.status_code == 400 and keyless.json()["error"] == "Model not found"  # before the key's 401
    other = await client.post(
        "/pixazo/pixelcut-video-background-removal/v1/no-such-operation", json=DOC_EXAMPLE, headers=KEY
    )
    assert other.status_code == 404 and set(other.json()) == {"error", "message"}
