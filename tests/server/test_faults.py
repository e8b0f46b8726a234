"""Faults and scenarios: rules, the X-Mock-Scenario header and magic inputs, in each provider's words."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.server.conftest import advance

pytestmark = pytest.mark.anyio
PIXELCUT_KEY = {"X-API-KEY": "sk_f"}
PIXELAPI = {"Authorization": "Bearer pk_f", "User-Agent": "FaultTest/1.0"}
FAL = {"Authorization": "Key fal-f"}
PIXAZO = {"Ocp-Apim-Subscription-Key": "pz-f"}
FAL_SUBMIT = "/fal/queue/pixelcut/video-background-removal"
PIXAZO_SUBMIT = "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"


async def _rule(client: httpx.AsyncClient, **rule: object) -> dict[str, object]:
    r = await client.post("/__mock/faults", json=rule)
    assert r.status_code == 201, r.text
    return r.json()


async def test_rule_with_times_fires_exactly_twice(client: httpx.AsyncClient) -> None:
    rule = await _rule(client, provider="pixelcut", operation="get-credits", action="status", status=500, times=2)
    codes = [(await client.get("/pixelcut/v1/credits", headers=PIXELCUT_KEY)).status_code for _ in range(4)]
    assert codes == [500, 500, 200, 200]
    listed = (await client.get("/__mock/faults")).json()["rules"]
    assert listed[0]["id"] == rule["id"] and listed[0]["fired"] == 2


async def test_status_faults_in_each_providers_shape(client: httpx.AsyncClient) -> None:
    await _rule(client, action="status", status=503)
    pixelcut = await client.get("/pixelcut/v1/credits", headers=PIXELCUT_KEY)
    assert pixelcut.status_code == 503 and set(pixelcut.json()) == {"error", "error_code"}
    fal = await client.get(f"{FAL_SUBMIT}/requests/x/status", headers=FAL)
    assert fal.status_code == 503 and "detail" in fal.json() and fal.headers["x-fal-request-id"]
    pixazo = await client.get("/pixazo/v2/requests/status/x", headers=PIXAZO)
    assert pixazo.status_code == 503 and set(pixazo.json()) == {"error", "message"}
    pixelapi = await client.get("/pixelapi/v1/models", headers=PIXELAPI)
    assert pixelapi.status_code == 503 and set(pixelapi.json()) == {"detail"}


async def test_matching_on_key_header_and_body(client: httpx.AsyncClient) -> None:
    await _rule(client, key="sk_victim", action="status", status=429)
    await _rule(client, header={"User-Agent": "BadBot"}, action="status", status=401)
    await _rule(client, body_contains="cursed.png", action="status", status=402)
    assert (await client.get("/pixelcut/v1/credits", headers=PIXELCUT_KEY)).status_code == 200
    limited = await client.get("/pixelcut/v1/credits", headers={"X-API-KEY": "sk_victim"})
    assert (
        limited.status_code == 429
        and limited.headers["retry-after"] == "1"
        and limited.json()["error_code"] == "rate_limit_exceeded"
    )
    bot = await client.get("/pixelapi/v1/models", headers={**PIXELAPI, "User-Agent": "BadBot/2"})
    assert bot.status_code == 401 and bot.json() == {"detail": "Invalid API key"}
    credits = await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": "https://example.com/cursed.png"}, headers=PIXELCUT_KEY
    )
    assert (
        credits.status_code == 403 and credits.json()["error_code"] == "insufficient_api_credits"
    )  # Pixelcut's own code


async def test_probability_is_seeded(client: httpx.AsyncClient) -> None:
    await _rule(client, provider="pixelcut", action="status", status=500, probability=0.5)
    codes = [(await client.get("/pixelcut/v1/credits", headers=PIXELCUT_KEY)).status_code for _ in range(40)]
    assert 8 < codes.count(500) < 32
    await client.post("/__mock/reset")
    await _rule(client, provider="pixelcut", action="status", status=500, probability=0.0)
    assert all([(await client.get("/pixelcut/v1/credits", headers=PIXELCUT_KEY)).status_code == 200 for _ in range(5)])


async def test_latency_and_malformed(client: httpx.AsyncClient) -> None:
    await _rule(client, operation="get-credits", action="latency", delay=0.2, times=1)
    started = time.perf_counter()
    assert (await client.get("/pixelcut/v1/credits", headers=PIXELCUT_KEY)).status_code == 200
    assert time.perf_counter() - started >= 0.2
    await _rule(client, operation="pixelapi-list-models", action="malformed")
    broken = await client.get("/pixelapi/v1/models", headers=PIXELAPI)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        ("server-error", 500),
        ("unavailable", 503),
        ("rate-limited", 429),
        ("unauthorized", 401),
        ("insufficient-credits", 402),
    ],
)
async def test_scenario_header(client: httpx.AsyncClient, scenario: str, status: int) -> None:
    r = await client.get("/pixelapi/v1/models", headers={**PIXELAPI, "X-Mock-Scenario": scenario})
    assert r.status_code == status and "detail" in r.json()
    assert (await client.get("/pixelapi/v1/models", headers=PIXELAPI)).status_code == 200, "one request only"


async def test_unknown_scenario_is_the_providers_validation_error(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{FAL_SUBMIT}/requests/x/status", headers={**FAL, "X-Mock-Scenario": "meteor"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["header", "X-Mock-Scenario"]


async def test_magic_inputs_shape_jobs_in_each_providers_words(client: httpx.AsyncClient) -> None:
    fal = (await client.post(FAL_SUBMIT, json={"video_url": "https://example.com/mock-fail.mp4"}, headers=FAL)).json()
    pixazo_error = (
        await client.post(PIXAZO_SUBMIT, json={"video_url": "https://example.com/mock-error.mp4"}, headers=PIXAZO)
    ).json()
    pixazo_fail = (
        await client.post(PIXAZO_SUBMIT, json={"video_url": "https://example.com/mock-fail.mp4"}, headers=PIXAZO)
    ).json()
    blocked = (
        await client.post(
            "/pixelapi/v1/image/generate", json={"prompt": "a mock-blocked cat", "model": "sdxl"}, headers=PIXELAPI
        )
    ).json()
    stuck = (
        await client.post(
            "/pixelcut/v1/video/remove-background",
            json={"video_url": "https://example.com/mock-stuck.mp4"},
            headers=PIXELCUT_KEY,
        )
    ).json()
    await advance(client, 600)
    status = (await client.get(fal["status_url"], headers=FAL)).json()
    assert status["status"] == "COMPLETED" and status["error"]
    assert (await client.get(fal["response_url"], headers=FAL)).status_code == 422
    assert (await client.get(pixazo_error["polling_url"], headers=PIXAZO)).json()["status"] == "ERROR"
    assert (await client.get(pixazo_fail["polling_url"], headers=PIXAZO)).json()["status"] == "FAILED"
    generation = (await client.get(f"/pixelapi/v1/image/{blocked['generation_id']}", headers=PIXELAPI)).json()
    assert generation["status"] == "blocked"
    balance = (await client.get("/pixelapi/v1/account/balance", headers=PIXELAPI)).json()["credits_remaining"]
    assert balance == 10_000, "blocked jobs are not charged"
    pixelcut = (
        await client.get(f"/pixelcut/v1/video/remove-background/job/{stuck['job_id']}", headers=PIXELCUT_KEY)
    ).json()
    assert pixelcut["status"] == "pending", "a stuck job stays in the queue"


async def test_scenario_header_shapes_the_job(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/pixelcut/v1/video/remove-background",
        json={"video_url": "https://example.com/v.mp4"},
        headers={**PIXELCUT_KEY, "X-Mock-Scenario": "error"},
    )
    await advance(client, 10)
    body = (
        await client.get(f"/pixelcut/v1/video/remove-background/job/{r.json()['job_id']}", headers=PIXELCUT_KEY)
    ).json()
    assert body["status"] == "failed" and body["error"]["error_code"] == "unexpected_error"


async def test_rule_management(client: httpx.AsyncClient) -> None:
    for bad in (
        {"action": "explode"},
        {"action": "status"},
        {"action": "status", "status": 200},
        {"action": "latency", "delay": 99},
        {"action": "fail", "times": 0},
        {"action": "fail", "colour": "red"},
        [1, 2],
    ):
        assert (await client.post("/__mock/faults", json=bad)).status_code == 422, bad
    rule = await _rule(client, action="fail")
    assert (await client.delete(f"/__mock/faults/{rule['id']}")).status_code == 204
    assert (await client.delete(f"/__mock/faults/{rule['id']}")).status_code == 404
    await _rule(client, action="fail")
    await client.delete("/__mock/faults")
    listed = (await client.get("/__mock/faults")).json()
    assert listed["rules"] == [] and "server-error" in listed["scenarios"] and "mock-fail" in listed["magic_inputs"]
