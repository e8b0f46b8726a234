"""The engine's processes (runtime/pool.py): media work runs outside the serving process, its errors
come back as the provider's, and a killed worker fails only its own work."""

from __future__ import annotations

import asyncio
import ctypes
import io
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette

from mockserver.app import create_app
from mockserver.cli import serve_settings
from mockserver.engine.errors import InvalidOption
from mockserver.engine.imageops import TryOnError
from mockserver.engine.synth import make_image
from mockserver.providers import work
from mockserver.providers.pixelcut import handlers as pixelcut
from mockserver.runtime.mock import engine_share
from mockserver.runtime.pool import EngineCrashed, EnginePool
from mockserver.settings import CORES, Settings
from tests.server.conftest import advance, data_url
from tests.server.live import free_port, serve_command, serve_process, wait_healthy

pytestmark = pytest.mark.anyio
PIXELCUT = {"X-API-KEY": "sk_test_pool"}
PIXELAPI = {"Authorization": "Bearer pk_pool", "User-Agent": "MyApp/1.0"}
CUTOUT = "/pixelcut/v1/remove-background"


def _die(test_pid: int, *args: Any) -> Any:
    """Stands in for the engine: a worker killed mid-work (as the OOM killer does)."""
    if os.getpid() == test_pid:
        raise AssertionError("the engine ran in the test's own process")
    os.kill(os.getpid(), signal.SIGKILL)


def _product_png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(make_image(1004, (256, 256), background="gradient").rgb).save(out, "PNG")
    return out.getvalue()


def _raise(kind: type[Exception], *args: str) -> None:
    raise kind(*args)


def _blas_threads() -> int | None:
    """The threads numpy's OpenBLAS runs on in this process, as the library reports them (None: no
    OpenBLAS loaded, or one that does not say)."""
    maps = Path("/proc/self/maps").read_text().splitlines()
    for lib in {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}:
        loaded = ctypes.CDLL(lib)
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads"):
            if hasattr(loaded, symbol):
                return int(getattr(loaded, symbol)())
    return None


@pytest.fixture
async def pooled(tmp_path: Path) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app as `serve` runs media work (one engine process), in-process for the test's requests."""
    app = create_app(Settings.for_tests(state_dir=tmp_path, engine_processes=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield app, c
    await app.state.mock.aclose()


async def _credits(client: httpx.AsyncClient) -> float:
    return float((await client.get("/pixelcut/v1/credits", headers=PIXELCUT)).json()["credits"])


async def _cutout(client: httpx.AsyncClient, data: bytes) -> httpx.Response:
    files = {"image": ("p.png", data, "image/png")}
    return await client.post(CUTOUT, files=files, headers={**PIXELCUT, "Accept": "image/png"})


async def test_the_engine_runs_in_its_own_process_and_cuts_out_the_same(
    pooled: tuple[Starlette, httpx.AsyncClient], client: httpx.AsyncClient, product: tuple[bytes, np.ndarray]
) -> None:
    app, http = pooled
    in_pool = await _cutout(http, product[0])
    assert in_pool.status_code == 200, in_pool.text
    pids = app.state.mock.pool.pids()
    assert pids and os.getpid() not in pids
    in_thread = await _cutout(client, product[0])  # the tests' default: threads of this process
    assert in_thread.content == in_pool.content


async def test_engine_errors_cross_as_the_providers_errors(pooled: tuple[Starlette, httpx.AsyncClient]) -> None:
    _, http = pooled
    before = await _credits(http)
    broken = await http.post(CUTOUT, json={"image_url": data_url(b"not an image", "image/png")}, headers=PIXELCUT)
    assert broken.status_code == 400 and broken.json()["error_code"] == "malformed_image"
    plain = io.BytesIO()
    Image.new("RGB", (200, 200), (90, 90, 90)).save(plain, "PNG")
    empty = await _cutout(http, plain.getvalue())
    assert empty.status_code == 400 and empty.json() == {
        "error": "The foreground subject of the image could not be detected",
        "error_code": "unknown_foreground",
    }
    assert await _credits(http) == before


async def test_a_killed_engine_process_fails_its_request_unbilled_and_the_next_succeeds(
    pooled: tuple[Starlette, httpx.AsyncClient], product: tuple[bytes, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, http = pooled
    before = await _credits(http)
    with monkeypatch.context() as patch:
        patch.setattr(pixelcut, "_cutout_png", partial(_die, os.getpid()))
        lost = await _cutout(http, product[0])
    assert lost.status_code == 500 and lost.json() == {
        "error": "Internal service error",
        "error_code": "internal_error",
    }
    assert await _credits(http) == before
    assert app.state.mock.pool.crashes == 1
    again = await _cutout(http, product[0])
    assert again.status_code == 200 and again.headers["content-type"] == "image/png"


async def test_a_killed_engine_process_errors_its_job_refunded_and_the_next_job_completes(
    pooled: tuple[Starlette, httpx.AsyncClient], product: tuple[bytes, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, http = pooled

    async def balance() -> float:
        return float((await http.get("/pixelapi/v1/account/balance", headers=PIXELAPI)).json()["credits_remaining"])

    async def submit() -> str:
        files = {"image": ("p.png", product[0], "image/png")}
        r = await http.post("/pixelapi/v1/image/remove-background", files=files, headers=PIXELAPI)
        assert r.status_code == 200, r.text
        return str(r.json()["generation_id"])

    async def status(job: str) -> dict[str, Any]:
        await advance(http, 10)
        return dict((await http.get(f"/pixelapi/v1/image/{job}", headers=PIXELAPI)).json())

    before = await balance()
    with monkeypatch.context() as patch:
        patch.setattr(work, "image_png", partial(_die, os.getpid()))
        lost = await status(await submit())
    assert lost["status"] == "failed" and "engine's process stopped" in lost["error"]
    assert await balance() == before, "an errored job is refunded (PixelAPI's policy)"
    done = await status(await submit())
    assert done["status"] == "completed" and done["output_url"]


async def test_a_video_job_is_cut_out_in_the_engine_process(
    pooled: tuple[Starlette, httpx.AsyncClient], tiny_clip: Path
) -> None:
    """The video work crosses as paths, format and background; its frame count comes back."""
    _, http = pooled
    body = {"video_url": data_url(tiny_clip.read_bytes(), "video/mp4"), "background_color": "#00ff00"}
    r = await http.post("/pixelcut/v1/video/remove-background", json=body, headers=PIXELCUT)
    assert r.status_code == 202, r.text
    await advance(http, 60)
    job = (await http.get(f"/pixelcut/v1/video/remove-background/job/{r.json()['job_id']}", headers=PIXELCUT)).json()
    assert job["status"] == "completed", job
    video = await http.get(job["result_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4" and video.content


def _held(started: str, go: str, *args: Any) -> bytes:
    """Stands in for the engine: says it started, then works until the test lets it finish."""
    Path(started).touch()
    deadline = time.monotonic() + 30
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return b"\x89PNG held"


async def test_polls_are_answered_while_the_engine_works(
    pooled: tuple[Starlette, httpx.AsyncClient],
    product: tuple[bytes, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, http = pooled
    started, go = tmp_path / "started", tmp_path / "go"
    monkeypatch.setattr(pixelcut, "_cutout_png", partial(_held, str(started), str(go)))
    image = asyncio.ensure_future(_cutout(http, product[0]))
    for _ in range(3000):  # until the engine has the image (bounded: 30 s)
        if started.exists():
            break
        await asyncio.sleep(0.01)
    assert started.exists(), "the engine never started"
    for _ in range(5):
        assert (await http.get("/pixelcut/v1/credits", headers=PIXELCUT)).status_code == 200
    assert not image.done(), "the cut-out ended before it was let go"
    go.touch()
    assert (await image).content == b"\x89PNG held"


async def test_errors_keep_their_class_and_attributes_across_the_boundary() -> None:
    pool = EnginePool(1)
    try:
        assert await pool.run(os.getpid) != os.getpid()
        with pytest.raises(InvalidOption) as option:
            await pool.run(_raise, InvalidOption, "bad margin", "margin")
        assert (option.value.message, option.value.field, option.value.code) == (
            "bad margin",
            "margin",
            "invalid_parameter",
        )
        with pytest.raises(TryOnError) as tryon:  # an __init__ that does not take its own args back
            await pool.run(_raise, TryOnError, "no_person_detected", "No person found")
        assert (tryon.value.code, tryon.value.message) == ("no_person_detected", "No person found")
    finally:
        pool.close()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the loaded libraries from Linux's /proc")
async def test_an_engine_process_runs_numpys_blas_on_one_thread() -> None:
    pool = EnginePool(1)
    try:
        threads = await pool.run(_blas_threads)
    finally:
        pool.close()
    if threads is None:
        pytest.skip("numpy here is not built on an OpenBLAS that reports its threads")
    assert threads == 1  # one per core spun beside each worker: 4 image requests ran no faster than 1


async def test_a_crash_raises_engine_crashed_and_the_pool_is_rebuilt() -> None:
    pool = EnginePool(1)
    try:
        with pytest.raises(EngineCrashed):
            await pool.run(_die, os.getpid())
        assert await pool.run(os.getpid) in pool.pids() and pool.crashes == 1
    finally:
        pool.close()


def test_serve_runs_the_engine_in_one_process_per_core_split_among_workers() -> None:
    assert serve_settings([], environ={}).engine_processes == CORES
    assert serve_settings(["--engine-processes", "0"], environ={}).engine_processes == 0
    assert serve_settings([], environ={"CUTOUT_MOCK_ENGINE_PROCESSES": "3"}).engine_processes == 3
    assert Settings.for_tests().engine_processes == 0, "tests and the kit stay in one process"
    assert engine_share(Settings(engine_processes=4, workers=2)) == 2
    assert engine_share(Settings(engine_processes=1, workers=2)) == 1
    assert engine_share(Settings(engine_processes=0, workers=2)) == 0


def _descendants(pid: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return {int(child) for child in found} | {g for child in found for g in _descendants(int(child))}


def test_serve_runs_the_engine_apart_and_its_processes_end_when_the_server_is_killed(tmp_path: Path) -> None:
    with serve_process(tmp_path, "--engine-processes", "1") as (server, base, _):
        files = {"image": ("p.png", _product_png(), "image/png")}
        r = httpx.post(f"{base}{CUTOUT}", files=files, headers={**PIXELCUT, "Accept": "image/png"}, timeout=60)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        engine = _descendants(server.pid)
        assert engine, "the engine ran in the serving process"
        server.kill()  # no shutdown runs: the workers must notice on their own
        server.wait(10)
    deadline = time.monotonic() + 10
    while {pid for pid in engine if Path(f"/proc/{pid}").exists()} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not {pid for pid in engine if Path(f"/proc/{pid}").exists()}, "engine processes outlived the server"


@pytest.mark.parametrize(
    ("stop", "workers"),
    [(signal.SIGTERM, "1"), (signal.SIGKILL, "1"), (signal.SIGKILL, "2")],
    ids=["SIGTERM", "SIGKILL", "SIGKILL-workers-2"],
)
def test_a_harness_reading_serves_output_to_its_end_is_not_held_by_the_engine(
    tmp_path: Path, stop: int, workers: str
) -> None:
    """Stopping `serve` and then reading its stdout/stderr to the end before reaping it
    (``communicate()``, as a harness does) returns: the engine's processes (workers, fork server,
    resource tracker) share those pipes, and a worker waiting for its unreaped (zombie) server's
    pid to vanish held them open for ever (SIGTERM: serve re-raises the signal, so nothing stopped
    the workers; SIGKILL: nothing runs). Under --workers, a supervisor killed outright left its
    uvicorn workers serving, adopted by init, with their engine pools."""
    port = free_port()
    flags = ["--engine-processes", "1", "--workers", workers]
    server = subprocess.Popen([*serve_command(port, tmp_path), *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(server, base)
        files = {"image": ("p.png", _product_png(), "image/png")}
        r = httpx.post(f"{base}{CUTOUT}", files=files, headers={**PIXELCUT, "Accept": "image/png"}, timeout=60)
        assert r.status_code == 200
        engine = _descendants(server.pid)
        assert engine, "the engine ran in the serving process"
        server.send_signal(stop)
        server.communicate(timeout=20)  # raised TimeoutExpired before the fix
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    deadline = time.monotonic() + 5  # the pipe closes a moment before each process has ended
    while _running(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(engine), "engine processes outlived the server"


def _running(pids: set[int]) -> set[int]:
    """Those of `pids` still running (an ended process nobody reaped yet is a zombie, not running)."""
    running = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2 :][:1] not in ("Z", "X"):
            running.add(pid)
    return running
