"""Shared fixtures: generated media only (nothing large is committed)."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import cv2
import httpx
import pytest
from starlette.applications import Starlette

from mockserver.app import create_app
from mockserver.engine.synth import Clip
from mockserver.settings import Settings
from tests.server.live import redis_process

cv2.setNumThreads(1)  # the figures and gates are defined for one thread


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Clip, Path]:
    """A 2 s-class smoke clip, x264 encoded, with its ground truth available from `Clip.frames()`."""
    clip = Clip(seed=5, size=(360, 640), n_frames=30, background="gradient")
    return clip, clip.write(tmp_path_factory.mktemp("clips") / "gradient.mp4")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny input for format round trips and CLI runs (odd size on purpose)."""
    return Clip(seed=3, size=(97, 129), n_frames=8).write(tmp_path_factory.mktemp("clips") / "tiny.mp4")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis for the shared-store tests.

    ``CUTOUT_MOCK_TEST_REDIS`` when set (CI starts one), else a redis-server of our own on a free
    port, else the test is skipped, except under ``CUTOUT_MOCK_REQUIRE_REDIS=1`` (CI), where a
    missing Redis fails the run instead of hiding these tests.
    """
    required = os.environ.get("CUTOUT_MOCK_REQUIRE_REDIS") == "1"
    if not required:
        pytest.importorskip("redis")
    url = os.environ.get("CUTOUT_MOCK_TEST_REDIS")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if required:
            pytest.fail("CUTOUT_MOCK_REQUIRE_REDIS=1 but no Redis: set CUTOUT_MOCK_TEST_REDIS or install redis-server")
        pytest.skip("no redis-server here (CI installs one)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = redis_process(binary, port, tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The shared Redis with a key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    yield f"{redis_server}?prefix={prefix}"
    client = redis.Redis.from_url(redis_server)
    names = list(client.scan_iter(match=prefix + "*"))
    if names:
        client.delete(*names)
    client.close()


# The app in-process (httpx.ASGITransport) with a virtual clock and inline work: the server tests' and
# the dashboard pages' client.
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return create_app(Settings.for_tests(state_dir=tmp_path))


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c
    await app.state.mock.aclose()  # the ASGI transport runs no lifespan: close the mock's own clients
