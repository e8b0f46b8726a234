"""The routing rule: prefixes, real hostnames, exposed surfaces; URLs stay self-consistent."""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc
from pathlib import Path

import httpx
import pytest

from mockserver.app import check_handlers, create_app, surfaces
from mockserver.providers import PROVIDERS
from mockserver.settings import Settings
from mockserver.web.hosts import SurfaceMount

pytestmark = pytest.mark.anyio
SAMPLE = "https://cdn3.pixelcut.app/fal/video-background-removal/sample.mp4"


def test_every_spec_operation_has_a_handler_and_back() -> None:
    for provider in PROVIDERS:
        check_handlers(provider)
    pixelcut = PROVIDERS[0]
    missing = dataclasses.replace(pixelcut, handlers={k: v for k, v in pixelcut.handlers.items() if k != "get-credits"})
    with pytest.raises(RuntimeError, match=r"without handler.*get-credits"):
        check_handlers(missing)
    extra = dataclasses.replace(
        pixelcut, handlers={**pixelcut.handlers, "not-in-spec": pixelcut.handlers["get-credits"]}
    )
    with pytest.raises(RuntimeError, match=r"without operation.*not-in-spec"):
        check_handlers(extra)


async def test_real_hostnames_keep_real_urls(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://queue.fal.run") as fal:
        job = (
            await fal.post(
                "/pixelcut/video-background-removal", json={"video_url": SAMPLE}, headers={"Authorization": "Key k"}
            )
        ).json()
        assert job["status_url"].startswith("https://queue.fal.run/pixelcut/video-background-removal/requests/")
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as control:
            await control.post("/__mock/clock", json={"advance": 5})
        result = (await fal.get(job["response_url"], headers={"Authorization": "Key k"})).json()
        assert result["video"]["url"].startswith("https://v3.fal.media/files/")
        media = await fal.get(result["video"]["url"])
        assert media.status_code == 200 and media.headers["content-type"] == "video/webm"


@pytest.mark.parametrize("host", ["queue.fal.run", "QUEUE.FAL.RUN:443", "queue.fal.run.", "queue.falrun.com."])
async def test_a_real_hostname_routes_in_any_case_with_a_port_or_a_trailing_dot(app: object, host: str) -> None:
    # "queue.fal.run." (a fully qualified name) was not routed: the path fell to Pixelcut's prefix and its 404
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        path = "/pixelcut/video-background-removal/requests/nope/status"
        r = await client.get(path, headers={"Host": host, "Authorization": "Key k"})
        assert (r.status_code, r.json()) == (404, {"detail": "Request not found"}), r.text


async def test_prefix_urls_use_the_request_base(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": "https://example.com/a.png"}, headers={"X-API-KEY": "k"}
    )
    assert r.json()["result_url"].startswith("http://testserver/pixelcut/assets/public/result/")


async def test_exposed_surface_serves_at_root(tmp_path: Path) -> None:
    settings = Settings.for_tests(state_dir=tmp_path, public_url="http://127.0.0.1:8080")
    app = create_app(settings)
    exposed = SurfaceMount(app, surfaces()["fal-queue"], control=True)  # --expose-control (tests/control/test_lock.py)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=exposed), base_url="https://127.0.0.1:8443") as fal:
        job = (
            await fal.post(
                "/pixelcut/video-background-removal", json={"video_url": SAMPLE}, headers={"Authorization": "Key k"}
            )
        ).json()
        assert job["status_url"].startswith("https://127.0.0.1:8443/pixelcut/video-background-removal/requests/")
        assert (await fal.get("/__mock/health")).status_code == 200
        await fal.post("/__mock/clock", json={"advance": 5})
        result = (await fal.get(job["response_url"], headers={"Authorization": "Key k"})).json()
        assert result["video"]["url"].startswith("http://127.0.0.1:8080/fal/cdn/files/"), (
            "other surfaces use the main port"
        )


@pytest.mark.parametrize("base", ["https://queue.fal.run:8443", "https://queue.fal.run"])
async def test_an_exposed_surface_answers_under_its_real_host_name(tmp_path: Path, base: str) -> None:
    # --expose fal-queue=8443 --tls with a hosts file: Host is queue.fal.run (the certificate's name). Host
    # routing added /fal/queue a second time and every request was a 404.
    app = create_app(Settings.for_tests(state_dir=tmp_path))
    exposed = SurfaceMount(app, surfaces()["fal-queue"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=exposed), base_url=base) as fal:
        r = await fal.post(
            "/pixelcut/video-background-removal", json={"video_url": SAMPLE}, headers={"Authorization": "Key k"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["status_url"].startswith(f"{base}/pixelcut/video-background-removal/requests/")
        status = await fal.get(r.json()["status_url"], headers={"Authorization": "Key k"})
        assert status.status_code in (200, 202), status.text


def test_surface_names() -> None:
    assert {"fal-queue", "fal-run", "fal-rest", "fal-cdn", "pixelcut-api", "pixazo-gateway", "pixelapi-api"} <= set(
        surfaces()
    )


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nothing/here")).status_code == 404
    not_allowed = await client.delete("/pixelcut/v1/credits")
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] in ("GET, HEAD", "HEAD, GET")
    assert (await client.head("/pixelcut/v1/credits", headers={"X-API-KEY": "sk_h"})).status_code == 200


async def test_a_trailing_slash_is_the_providers_404_not_a_redirect(client: httpx.AsyncClient) -> None:
    """Starlette would redirect ``/v1/credits/`` to ``/v1/credits``; the providers document no such
    path, so it is answered like any unknown one (and a client's stray slash shows up at once)."""
    r = await client.get("/pixelcut/v1/credits/", headers={"X-API-KEY": "sk_s"})
    assert r.status_code == 404 and set(r.json()) == {"error", "error_code"}
    status = await client.get("/fal/queue/pixelcut/video-background-removal/requests/x/status/")
    assert status.status_code == 404 and "detail" in status.json()


async def test_sqlite_state_survives_a_restart(tmp_path: Path) -> None:
    settings = Settings.for_tests(state_dir=tmp_path, store="sqlite")
    first = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://testserver") as c:
        r = await c.post(
            "/pixelapi/v1/image/upscale",
            json={"image_url": "https://example.com/a.png"},
            headers={"Authorization": "Bearer k", "User-Agent": "t/1"},
        )
        generation = r.json()["generation_id"]
        await c.post("/__mock/clock", json={"advance": 5})
        before = (
            await c.get(f"/pixelapi/v1/image/{generation}", headers={"Authorization": "Bearer k", "User-Agent": "t/1"})
        ).json()
    first.state.mock.store.close()
    second = create_app(Settings.for_tests(state_dir=tmp_path, store="sqlite"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://testserver") as c:
        await c.post("/__mock/clock", json={"advance": 5})
        after = (
            await c.get(f"/pixelapi/v1/image/{generation}", headers={"Authorization": "Bearer k", "User-Agent": "t/1"})
        ).json()
        assert after["status"] == before["status"] == "completed" and after["output_url"] == before["output_url"]
        assert (await c.get(after["output_url"])).status_code == 200
        balance = (
            await c.get("/pixelapi/v1/account/balance", headers={"Authorization": "Bearer k", "User-Agent": "t/1"})
        ).json()
        assert balance["credits_remaining"] == 10_000 - 20


def test_specs_are_found_inside_an_installed_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed from the wheel, the specs live in mockserver/openapi (force-included by hatch)."""
    import shutil

    from mockserver.web import spec

    packaged = tmp_path / "mockserver" / "openapi"
    shutil.copytree(spec.SPEC_DIR, packaged)
    monkeypatch.setattr(spec, "SPEC_DIR", tmp_path / "no-source-tree")
    monkeypatch.setattr(spec, "_PACKAGED", packaged)
    assert spec.spec_path("fal") == packaged / "fal.yaml"
    with pytest.raises(FileNotFoundError):
        spec.spec_path("nope")


async def test_unknown_paths_answer_in_the_providers_shape(client: httpx.AsyncClient) -> None:
    """Even a path a route pattern cannot match (a newline in an id: found by schemathesis)."""
    shapes = {
        "pixelcut": {"error", "error_code"},
        "fal": {"detail"},
        "pixazo": {"error", "message"},
        "pixelapi": {"detail"},
    }
    for provider, keys in shapes.items():
        r = await client.get(f"/{provider}/no/such/path")
        assert r.status_code == 404 and set(r.json()) == keys, (provider, r.text)
    odd = await client.get("/pixazo/v2/requests/status/F%F3%0A%28", headers={"Ocp-Apim-Subscription-Key": "k"})
    assert odd.status_code == 404 and odd.json()["error"] == "Request not found"


async def test_host_values_no_host_name_could_have_are_not_kept(tmp_path: Path) -> None:
    """The front door keeps the reading of the Host values it saw (a client sends the same one on
    every request), but not values longer than a host name and port can be: 1024 distinct ones of
    up to the header limit (64 KiB each) stayed in memory for the process's life (+180 MB RSS)."""
    app = create_app(Settings.for_tests(state_dir=tmp_path, journal_size=0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/x")).status_code == 404  # whatever the first request builds, built
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(64):
                assert (await client.get("/x", headers={"Host": f"{i}.{'a' * 32_000}"})).status_code == 404
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert kept < 512 * 1024, f"{kept} bytes kept after 64 Host values of 32 KB"
