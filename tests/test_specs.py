"""Every spec (providers and control plane) is valid OpenAPI 3.1 by an independent validator, and so
is what the mock serves at /__mock/openapi.json."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from openapi_spec_validator import validate

from mockserver.app import create_app
from mockserver.settings import Settings

SPECS = sorted((Path(__file__).resolve().parent.parent / "openapi").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_spec_is_valid_openapi(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    assert document["openapi"].startswith("3.1")
    validate(document)


@pytest.mark.anyio
async def test_the_served_control_spec_is_valid(tmp_path: Path) -> None:
    app = create_app(Settings.for_tests(state_dir=tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        served = await client.get("/__mock/openapi.json")
    await app.state.mock.aclose()
    assert served.status_code == 200
    validate(served.json())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
