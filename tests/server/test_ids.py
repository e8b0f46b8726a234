"""Ids and media URLs: unguessable without a seed; with one, ids repeat and media URLs still do not."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mockserver.app import create_app
from mockserver.settings import Settings
from tests.server.conftest import data_url

pytestmark = pytest.mark.anyio
KEY = {"X-API-KEY": "sk_ids"}
VIDEO = {"video_url": "https://cdn3.pixelcut.app/a/sample.mp4"}


async def _ids(tmp_path: Path, seed: int | None, product: bytes) -> tuple[list[str], str]:
    app = create_app(Settings.for_tests(state_dir=tmp_path, seed=seed, work="background"))  # ids only
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        jobs = [
            (await client.post("/pixelcut/v1/video/remove-background", json=VIDEO, headers=KEY)).json()["job_id"]
            for _ in range(3)
        ]
        image = await client.post(
            "/pixelcut/v1/remove-background", json={"image_url": data_url(product, "image/png")}, headers=KEY
        )
    await app.state.mock.aclose()
    return jobs, image.json()["result_url"]


async def test_without_a_seed_two_servers_give_unrelated_ids(tmp_path: Path, product: tuple[bytes, object]) -> None:
    jobs_a, media_a = await _ids(tmp_path / "a", None, product[0])
    jobs_b, media_b = await _ids(tmp_path / "b", None, product[0])
    assert len(set(jobs_a) | set(jobs_b)) == 6
    assert media_a != media_b
    # no shared prefix beyond chance: the ids are not a counter or a clock
    assert all(a[:8] != b[:8] for a, b in zip(jobs_a, jobs_b, strict=True))


async def test_a_seed_repeats_ids_but_not_media_urls(tmp_path: Path, product: tuple[bytes, object]) -> None:
    jobs_a, media_a = await _ids(tmp_path / "a", 7, product[0])
    jobs_b, media_b = await _ids(tmp_path / "b", 7, product[0])
    assert jobs_a == jobs_b
    assert media_a != media_b
    secret_a, secret_b = media_a.rsplit("/", 1)[-1][16:32], media_b.rsplit("/", 1)[-1][16:32]
    assert secret_a != secret_b and len(secret_a) == 16
