"""`serve --workers 2` on SQLite and on Redis: two processes, one port, limits, credits and faults exact."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from contracts.control import MockControl
from tests.server.live import serve_process

PIXELCUT = {"X-API-KEY": "pc-workers"}
PIXELAPI = {"Authorization": "Bearer pa-workers", "User-Agent": "workers-test/1.0"}


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def workers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`serve --workers 2` on the SQLite file, or on Redis (under a key prefix of its own)."""
    store = "sqlite"
    if request.param == "redis":
        store = f"{request.getfixturevalue('redis_server')}?prefix=workers-{uuid.uuid4().hex[:8]}:"
    state = tmp_path_factory.mktemp("workers")
    with serve_process(state, "--workers", "2", "--clock", "virtual", "--store", store) as (_, base, _b):
        yield base


def _parallel(count: int, call: object) -> list[int]:
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(call, range(count)))  # type: ignore[arg-type]


def _fresh_get(url: str, headers: dict[str, str]) -> int:
    """A new connection each time, so the kernel spreads them over both workers."""
    return httpx.get(url, headers={**headers, "Connection": "close"}, timeout=30).status_code


def test_two_processes_answer(workers: str) -> None:
    pids: set[int] = set()
    for _ in range(300):
        pids.add(httpx.get(f"{workers}/__mock/health", headers={"Connection": "close"}).json()["pid"])
        if len(pids) > 1:
            break
    assert len(pids) == 2


def test_rate_limit_is_exact_across_workers(workers: str) -> None:
    with MockControl(workers) as control:
        control.reset()
        control.set_rate_limits(True, provider="pixelcut", requests=10, window=3600)
        codes = _parallel(40, lambda _: _fresh_get(f"{workers}/pixelcut/v1/credits", PIXELCUT))
        assert sorted(codes).count(200) == 10 and codes.count(429) == 30
        assert len(control.get_journal(provider="pixelcut", key="pc-workers", limit=1000)) == 40  # both logs


def test_credits_are_exact_across_workers(workers: str) -> None:
    with MockControl(workers) as control:
        control.reset()
        control.set_rate_limits(False)
        control.put_account("pixelapi", "pa-workers", balance=9)  # remove-background costs 2: four fit

        def submit(_: int) -> int:
            body = {"image_url": "https://example.com/product.jpg"}
            headers = {**PIXELAPI, "Connection": "close"}
            return httpx.post(f"{workers}/pixelapi/v1/image/remove-background", json=body, headers=headers).status_code

        codes = _parallel(12, submit)
        assert codes.count(200) == 4 and codes.count(402) == 8
        assert control.get_account("pixelapi", "pa-workers")["balance"] == 1
        assert len({j["id"] for j in control.list_jobs("pixelapi")}) == 4  # ids unique across workers


def test_fault_times_and_clock_are_shared(workers: str) -> None:
    with MockControl(workers) as control:
        control.reset()
        control.set_rate_limits(False)
        control.add_fault("status", provider="pixelcut", operation="get-credits", status=503, times=3)
        codes = _parallel(20, lambda _: _fresh_get(f"{workers}/pixelcut/v1/credits", PIXELCUT))
        assert codes.count(503) == 3 and codes.count(200) == 17
        now = control.get_clock()["now"]
        control.advance_clock(120)
        seen = {httpx.get(f"{workers}/__mock/clock", headers={"Connection": "close"}).json()["now"] for _ in range(20)}
        assert seen == {now + 120}
