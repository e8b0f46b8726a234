"""The kit's front door: ``contracts`` exports its public names, and ``contracts.mock`` is a configured
mock in a ``with`` block or as a decorator (what the plugin's fixtures are, one per test)."""

from __future__ import annotations

import httpx
import pytest
import requests

import contracts

SAMPLE = "https://cdn3.pixelcut.app/a/sample.mp4"
KEY = {"X-API-KEY": "sk_front_door"}


def test_every_exported_name_loads() -> None:
    for name in contracts.__all__:
        assert getattr(contracts, name) is not None, name
    assert set(contracts.__all__) <= set(dir(contracts))
    with pytest.raises(AttributeError):
        contracts.no_such_name  # noqa: B018


def test_mock_in_a_with_block_intercepts_the_real_hosts_and_follows_the_clock() -> None:
    with (
        contracts.mock(provider="pixelcut", progression="timed") as cutout,
        httpx.Client(base_url=cutout.base_url(), headers=KEY) as http,
    ):
        assert cutout.base_url() == "https://api.developer.pixelcut.ai"
        job = http.post("/v1/video/remove-background", json={"video_url": SAMPLE}).json()
        status = f"/v1/video/remove-background/job/{job['job_id']}"
        assert http.get(status).json()["status"] == "pending"
        cutout.advance(60)
        assert http.get(status).json()["status"] == "completed"
        [listed] = cutout.control.list_jobs(provider="pixelcut")
        assert listed["id"] == job["job_id"]
        with cutout.client() as own_paths:
            assert own_paths.get("/__mock/health").json()["status"] == "ok"


def test_mock_as_a_decorator_sets_up_each_call_afresh() -> None:
    scenario = {"faults": [{"provider": "pixelcut", "action": "status", "status": 503, "times": 1}]}

    @contracts.mock(scenario=scenario)
    def credits(cutout: contracts.CutoutMock) -> list[int]:
        with httpx.Client(base_url="https://api.developer.pixelcut.ai", headers=KEY) as http:
            return [http.get("/v1/credits").status_code for _ in range(2)]

    assert credits() == [503, 200]
    assert credits() == [503, 200]  # the fault again: each call starts from a reset


@pytest.mark.anyio
async def test_mock_decorates_async_functions() -> None:
    @contracts.mock(provider="pixelapi")
    async def models(cutout: contracts.CutoutMock) -> int:
        async with httpx.AsyncClient(base_url=cutout.base_url()) as http:
            response = await http.get("/v1/models")
        return response.status_code

    assert await models() in (401, 403)


def test_mock_server_on_a_real_port() -> None:
    with contracts.mock_server(provider="pixazo") as server:
        base = server.base_url("pixazo")
        assert base.startswith(server.url) and server.hosts()["pixazo-gateway"] == "gateway.pixazo.ai"
        response = requests.get(base + "/v2/requests/status/nope", headers={"Ocp-Apim-Subscription-Key": "k"})
        assert response.status_code == 404 and "message" in response.json()


def test_bad_options_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="clock must be one of"):
        contracts.mock(clock="sundial")
    with pytest.raises(ValueError, match="engine must be one of"):
        contracts.mock(engine="u2net")
