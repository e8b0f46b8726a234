"""Expired outputs leave the disk; their URLs keep answering the provider's "expired"."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.server.conftest import advance, data_url

pytestmark = pytest.mark.anyio
KEY = {"X-API-KEY": "sk_expiry"}


def _files(state_dir: Path) -> list[Path]:
    return [p for p in (state_dir / "media").glob("??/*") if p.is_file()]


async def test_an_expired_output_is_deleted_and_its_url_says_expired(
    client: httpx.AsyncClient, product: tuple[bytes, np.ndarray], tmp_path: Path
) -> None:
    """The in-process app's state dir is this test's tmp_path (tests/server/conftest.py)."""
    r = await client.post(
        "/pixelcut/v1/remove-background", json={"image_url": data_url(product[0], "image/png")}, headers=KEY
    )
    url = r.json()["result_url"]
    assert len(_files(tmp_path)) == 1 and (await client.get(url)).status_code == 200
    await advance(client, 3599)
    assert len(_files(tmp_path)) == 1
    await advance(client, 2)  # Pixelcut keeps results an hour
    assert _files(tmp_path) == []
    expired = await client.get(url)
    assert expired.status_code == 410 and expired.json()["error_code"] == "job_expired"
