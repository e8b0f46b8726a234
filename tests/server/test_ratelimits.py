"""Rate limits: each provider's limit, 429 shape and headers, exact under concurrency, clock-driven."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import requests

from mockserver.app import create_app
from mockserver.settings import Settings
from tests.server.conftest import advance
from tests.server.live import running

pytestmark = pytest.mark.anyio
PIXELCUT = ("/pixelcut/v1/credits", {"X-API-KEY": "sk_rl"})
PIXELAPI = ("/pixelapi/v1/account/balance", {"Authorization": "Bearer pk_rl", "User-Agent": "RateTest/1.0"})


@pytest.fixture
async def limited(tmp_path: Path) -> httpx.AsyncClient:
    app = create_app(Settings.for_tests(state_dir=tmp_path, rate_limits=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def test_off_by_default_in_test_settings(client: httpx.AsyncClient) -> None:
    path, headers = PIXELCUT
    assert all([(await client.get(path, headers=headers)).status_code == 200 for _ in range(20)])


async def test_pixelcut_five_per_second_then_429(limited: httpx.AsyncClient) -> None:
    path, headers = PIXELCUT
    codes = [(await limited.get(path, headers=headers)).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    refused = await limited.get(path, headers=headers)
    assert refused.json() == {"error": "Too many requests", "error_code": "rate_limit_exceeded"}
    assert refused.headers["retry-after"] == "1"
    other_key = await limited.get(path, headers={"X-API-KEY": "sk_other"})
    assert other_key.status_code == 200, "limits are per key"
    await advance(limited, 1)
    assert (await limited.get(path, headers=headers)).status_code == 200


async def test_pixelapi_headers_on_every_response_and_plans(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"pixelapi": {"pk_rl": {"balance": 100}, "pk_pro": {"balance": 100, "plan": "pro"}}}))
    app = create_app(Settings.for_tests(state_dir=tmp_path, rate_limits=True, keys_file=keys))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        path, headers = PIXELAPI
        remaining = []
        for _ in range(20):
            r = await c.get(path, headers=headers)
            assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "20"
            remaining.append(int(r.headers["x-ratelimit-remaining"]))
            assert int(r.headers["x-ratelimit-reset"]) > 0
        assert remaining == list(range(19, -1, -1))
        refused = await c.get(path, headers=headers)
        assert refused.status_code == 429 and "20 requests per minute" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "3"  # one request refills every 60/20 s
        await advance(c, 3)
        assert (await c.get(path, headers=headers)).status_code == 200
        pro = await c.get(path, headers={**headers, "Authorization": "Bearer pk_pro"})
        assert pro.headers["x-ratelimit-limit"] == "60"


async def test_pixazo_apim_429(limited: httpx.AsyncClient) -> None:
    headers = {"Ocp-Apim-Subscription-Key": "pz-rl"}
    path = "/pixazo/v2/requests/status/pixelcut-video-background-removal_none"
    codes = [(await limited.get(path, headers=headers)).status_code for _ in range(11)]
    assert codes == [404] * 10 + [429]
    refused = await limited.get(path, headers=headers)
    assert refused.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."}


async def test_control_plane_overrides_and_toggles(limited: httpx.AsyncClient) -> None:
    path, headers = PIXELCUT
    r = await limited.post("/__mock/ratelimits", json={"provider": "pixelcut", "requests": 2, "window": 10})
    assert r.json()["overrides"] == {"pixelcut": {"requests": 2, "window": 10.0}}
    codes = [(await limited.get(path, headers=headers)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert (await limited.get(path, headers=headers)).headers["retry-after"] == "5"
    await limited.post("/__mock/ratelimits", json={"enabled": False})
    assert (await limited.get(path, headers=headers)).status_code == 200
    bad = await limited.post("/__mock/ratelimits", json={"provider": "nobody", "requests": 1})
    assert bad.status_code == 422


def test_exact_under_concurrency(tmp_path: Path) -> None:
    """30 requests at once from 10 threads over a real port: exactly the 5 allowed get through."""
    app = create_app(Settings.for_tests(state_dir=tmp_path, rate_limits=True))
    with running(app) as base:
        path, headers = PIXELCUT
        with ThreadPoolExecutor(10) as pool:
            codes = list(
                pool.map(lambda _: requests.get(base + path, headers=headers, timeout=30).status_code, range(30))
            )
        assert codes.count(200) == 5 and codes.count(429) == 25
