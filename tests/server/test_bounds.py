"""Bounded work: options that would make huge outputs are refused with the provider's own error,
before or instead of the work, and cost nothing."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.server.conftest import data_url

pytestmark = pytest.mark.anyio
KEY = {"X-API-KEY": "sk_bounds"}


@pytest.mark.parametrize(
    ("margin", "why"),
    [
        ("8000px", "the margins make a"),  # each side under the cap, the image over it
        ("9000px", "at most 8192px"),
        ("99999999999999999999px", "at most 8192px"),  # was a 500
    ],
)
async def test_pixelcut_margin_is_bounded(
    client: httpx.AsyncClient, product: tuple[bytes, np.ndarray], margin: str, why: str
) -> None:
    before = (await client.get("/pixelcut/v1/credits", headers=KEY)).json()["credits"]
    r = await client.post(
        "/pixelcut/v1/remove-background",
        json={"image_url": data_url(product[0], "image/png"), "crop": True, "margin": margin},
        headers=KEY,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "invalid_parameter" and why in r.json()["error"]
    assert (await client.get("/pixelcut/v1/credits", headers=KEY)).json()["credits"] == before


async def test_a_large_margin_under_the_cap_works(client: httpx.AsyncClient, product: tuple[bytes, np.ndarray]) -> None:
    r = await client.post(
        "/pixelcut/v1/remove-background",
        json={"image_url": data_url(product[0], "image/png"), "crop": True, "margin": "1000px"},
        headers={**KEY, "Accept": "image/png"},
    )
    assert r.status_code == 200, r.text
    width, height = Image.open(io.BytesIO(r.content)).size
    assert 2000 < width <= 2300 and 2000 < height <= 2300
