"""Two mocks on one shared store (SQLite under --workers, or Redis) behave as one mock.

Each test builds two apps on the same store in this process, as two workers or two replicas would
be: what one accepts, counts or changes, the other sees, and every limit holds across both.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mockserver.app import create_app
from mockserver.core.jobs import Job, State
from mockserver.runtime.recovery import recover
from mockserver.settings import Settings
from tests.server.test_durability import _HeldInput
from tests.server.test_webhooks import Receiver

pytestmark = pytest.mark.anyio
FAL = {"Authorization": "Key fal-shared"}
PIXELCUT = {"X-API-KEY": "pc-shared"}
SUBMIT = "/fal/queue/pixelcut/video-background-removal"
SAMPLE = "https://cdn3.pixelcut.app/samples/tiny.mp4"


@pytest.fixture(params=["sqlite", "redis"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Two clients, each on its own app, sharing one store (ids random: both run in this process).

    Jobs end on their third status poll, wherever the polls land.
    """
    store = request.getfixturevalue("redis_url") if request.param == "redis" else "sqlite"
    settings = {"store": store, "state_dir": tmp_path, "workers": 2, "seed": None, "progression": "polls"}
    apps = [create_app(Settings.for_tests(**settings)) for _ in range(2)]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://testserver") for a in apps]
    await clients[0].post("/__mock/reset")
    await clients[0].post("/__mock/ratelimits", json={"enabled": False})
    yield tuple(clients)
    for client, app in zip(clients, apps, strict=True):
        await client.aclose()
        await app.state.mock.aclose()
        app.state.mock.store.close()


async def test_a_job_taken_by_one_is_served_by_the_other(pair: tuple[httpx.AsyncClient, ...]) -> None:
    a, b = pair
    request_id = (await a.post(SUBMIT, json={"video_url": SAMPLE}, headers=FAL)).json()["request_id"]
    seen = [(await c.get(f"{SUBMIT}/requests/{request_id}/status", headers=FAL)).json()["status"] for c in (a, b, a)]
    assert seen == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]  # the polls count in the shared store
    result = (await b.get(f"{SUBMIT}/requests/{request_id}", headers=FAL)).json()
    video = await a.get(result["video"]["url"])
    assert video.status_code == 200 and video.content[:4] == b"\x1a\x45\xdf\xa3"
    job = (await a.get(f"/__mock/jobs/fal/{request_id}")).json()
    assert job["polls"] == 4 and job["state"] == "succeeded"  # three status polls and the result
    assert [j["id"] for j in (await b.get("/__mock/jobs", params={"provider": "fal"})).json()["jobs"]] == [request_id]


async def test_a_cancel_from_both_refunds_once(pair: tuple[httpx.AsyncClient, ...]) -> None:
    a, b = pair
    await a.put("/__mock/accounts/fal/fal-shared", json={"balance": 1.0})
    request_id = (await a.post(SUBMIT, json={"video_url": SAMPLE}, headers=FAL)).json()["request_id"]
    charged = 1.0 - (await b.get("/__mock/accounts/fal/fal-shared")).json()["balance"]
    assert charged == pytest.approx(0.022)
    answers = [(await c.put(f"{SUBMIT}/requests/{request_id}/cancel", headers=FAL)).status_code for c in (a, b)]
    assert answers == [202, 400]
    assert (await a.get("/__mock/accounts/fal/fal-shared")).json()["balance"] == pytest.approx(1.0)


async def test_credits_run_out_across_both(pair: tuple[httpx.AsyncClient, ...]) -> None:
    a, b = pair
    await a.put("/__mock/accounts/pixelapi/pa-shared", json={"balance": 5})  # remove-background costs 2
    headers = {"Authorization": "Bearer pa-shared", "User-Agent": "shared/1.0"}
    body = {"image_url": "https://example.com/product.jpg"}
    codes = [
        (await c.post("/pixelapi/v1/image/remove-background", json=body, headers=headers)).status_code
        for c in (a, b, a, b)
    ]
    assert codes == [200, 200, 402, 402]
    assert (await b.get("/__mock/accounts/pixelapi/pa-shared")).json()["balance"] == 1


async def test_limits_faults_clock_and_journal_are_one(pair: tuple[httpx.AsyncClient, ...]) -> None:
    a, b = pair
    limit = {"enabled": True, "provider": "pixelcut", "requests": 3, "window": 60}
    assert (await a.post("/__mock/ratelimits", json=limit)).status_code == 200
    codes = [(await c.get("/pixelcut/v1/credits", headers=PIXELCUT)).status_code for c in (a, b, a, b)]
    assert codes == [200, 200, 200, 429]
    await b.post("/__mock/clock", json={"advance": 60})  # the bucket refills on the shared clock
    assert (await a.get("/pixelcut/v1/credits", headers=PIXELCUT)).status_code == 200

    await a.post("/__mock/ratelimits", json={"enabled": False})
    rule = {"action": "status", "status": 503, "provider": "pixelcut", "times": 3}
    rule_id = (await b.post("/__mock/faults", json=rule)).json()["id"]
    codes = [(await c.get("/pixelcut/v1/credits", headers=PIXELCUT)).status_code for c in (a, b, a, b, a)]
    assert codes == [503, 503, 503, 200, 200]
    assert (await a.get("/__mock/faults")).json()["rules"][0]["fired"] == 3
    assert (await a.delete(f"/__mock/faults/{rule_id}")).status_code == 204
    assert (await b.get("/__mock/faults")).json()["rules"] == []

    # Each process writes its journal in batches (its own entries in order), so both processes' entries
    # are all there, each once, in the order the batches were written.
    journal = (await b.get("/__mock/journal", params={"provider": "pixelcut", "limit": 100})).json()["entries"]
    assert sorted(e["status"] for e in journal) == [200] * 6 + [429] + [503] * 3
    assert len({e["id"] for e in journal}) == 10


async def test_reset_on_one_clears_both(pair: tuple[httpx.AsyncClient, ...]) -> None:
    a, b = pair
    await a.post(SUBMIT, json={"video_url": SAMPLE}, headers=FAL)
    await a.post("/__mock/faults", json={"action": "status", "status": 500})
    await b.post("/__mock/reset")
    assert (await a.get("/__mock/jobs")).json()["jobs"] == []
    assert (await a.get("/__mock/accounts")).json()["accounts"] == []
    assert (await a.get("/__mock/faults")).json()["rules"] == []
    assert (await a.get("/__mock/journal")).json()["entries"] == []


async def test_a_replica_ends_only_jobs_nobody_holds(redis_url: str, tmp_path: Path) -> None:
    """Leases: a live replica's running job is left alone; once its lease is gone, one survivor ends it."""
    settings = {"store": redis_url, "state_dir": tmp_path, "seed": None, "work": "background"}
    first, second = (create_app(Settings.for_tests(**settings)).state.mock for _ in range(2))
    job = Job(id="lease-test", provider="fal", operation="video", owner="fal-shared", created_at=0.0, input={})
    first.store.put_job(job)
    assert first.leases is not None and first.leases.claim("fal", job.id)
    assert recover(second, files=False).ended == []  # the first replica holds it
    first.leases.release("fal", job.id)  # what a lapsed lease looks like (its holder died)
    assert recover(second, files=False).ended == [job.id]
    assert recover(first, files=False).ended == []  # ended once
    ended = second.store.get_job("fal", job.id)
    assert ended is not None and ended.outcome == "errored" and "restarted" in ended.error["message"]
    for mock in (first, second):
        mock.store.close()


def test_an_unreachable_redis_stops_serve_with_the_reason(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--state-dir", str(tmp_path)]
    done = subprocess.run([*command, "--store", "redis://127.0.0.1:1/0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot use Redis at 127.0.0.1:1" in done.stderr and "Traceback" not in done.stderr


async def test_a_store_sweeps_only_the_files_its_own_records_name(redis_url: str, tmp_path: Path) -> None:
    """A SQLite state dir later served from Redis: Redis's start-up sweep took the SQLite store's outputs
    for unrecorded files and deleted them, so its result URLs answered 404 when it came back. Now only
    the media folder's owner (here SQLite, whose database is there) sweeps it, for its crash leftovers."""
    pixelcut, image = "/pixelcut/v1/remove-background", {"image_url": "https://example.com/product.jpg"}

    async def cut_out(store: str) -> tuple[str, int]:
        app = create_app(Settings.for_tests(store=store, state_dir=tmp_path, seed=None))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            url = (await c.post(pixelcut, json=image, headers=PIXELCUT)).json()["result_url"]
            assert (await c.get(url)).status_code == 200
        await app.state.mock.aclose()
        app.state.mock.store.close()
        return url, len(list((tmp_path / "media").glob("??/*")))

    def start_up(store: str) -> int:
        settings = Settings.for_tests(store=store, state_dir=tmp_path, seed=None, lease_seconds=0.001)
        mock = create_app(settings).state.mock  # (Redis sweeps files older than a lease: all of them here)
        removed = recover(mock, files=True).removed_files  # serve's sweep, at once rather than 10 s later
        mock.store.close()
        return removed

    sqlite_url, files = await cut_out("sqlite")
    assert start_up(redis_url) == 0 and len(list((tmp_path / "media").glob("??/*"))) == files
    app = create_app(Settings.for_tests(store="sqlite", state_dir=tmp_path, seed=None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        assert (await c.get(sqlite_url)).status_code == 200, "the SQLite store's output was deleted"
    await app.state.mock.aclose()
    app.state.mock.store.close()
    (tmp_path / "media" / "ff").mkdir(exist_ok=True)
    (tmp_path / "media" / "ff" / "ff-orphan").write_bytes(b"x")  # written, never recorded (a crash)
    assert start_up("sqlite") == 1  # the owner still sweeps


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_sweep_never_ends_a_job_whose_work_just_finished(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The sweep lists unfinished jobs, then claims each: a job whose work ended between the two (its
    worker recorded the outcome and let go of the lease) was ended as lost anyway, so a job that
    succeeded showed errored ("restarted before the job finished"), was refunded and announced so."""
    store = request.getfixturevalue("redis_url") if kind == "redis" else "sqlite"
    settings = {"store": store, "state_dir": tmp_path, "seed": None, "work": "background", "workers": 2}
    first, second = (create_app(Settings.for_tests(**settings)).state.mock for _ in range(2))
    job = Job(id="race-test", provider="fal", operation="video", owner="fal-shared", created_at=0.0, input={})
    first.store.put_job(job)
    listed = [j for j in second.store.unfinished_jobs() if j.id == job.id]  # the sweep's list

    def finish(stored: Job) -> None:  # what the first worker's work records as it ends
        stored.outcome, stored.done_at = State.SUCCEEDED, 1.0

    first.store.update_job("fal", job.id, finish)
    assert second.leases is not None and second.leases.claim("fal", job.id)  # nobody holds it now
    assert second.jobs.end(listed[0], State.ERRORED, {"code": "x", "message": "lost"}, lost=True) is None
    stored = second.store.get_job("fal", job.id)
    assert stored is not None and (stored.outcome, stored.forced, stored.error) == (State.SUCCEEDED, None, None)
    assert recover(second, files=False).ended == []
    for mock in (first, second):
        mock.store.close()


async def test_prices_chosen_on_one_hold_on_both(pair: tuple[httpx.AsyncClient, ...]) -> None:
    """/__mock/prices was per process: under --workers 2 half the requests kept the other price set."""
    a, b = pair
    assert (await a.post("/__mock/prices", json={"pixelapi": "pages", "pixelcut_video_credits": 2})).status_code == 200
    assert (await b.get("/__mock/prices")).json() == {"pixelapi": "pages", "pixelcut_video_credits": 2}
    headers = {"Authorization": "Bearer pa-prices", "User-Agent": "shared/1.0"}
    body = {"image_url": "https://example.com/product.jpg"}
    submitted = await b.post("/pixelapi/v1/image/remove-background", json=body, headers=headers)
    assert submitted.json()["credits_used"] == 4  # the endpoint page's figure, not the table's 2
    await b.post("/__mock/reset")  # serve's own choices again, on both
    assert (await a.get("/__mock/prices")).json() == {"pixelapi": "table", "pixelcut_video_credits": 1.0}


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_cancel_in_another_worker_is_announced_once(workers: int, tmp_path: Path) -> None:
    """A fal job with a webhook cancelled while its work runs: the webhook the work's end schedules is
    made once, whether the cancel came to the process running it or to another one on the store."""
    receiver = Receiver()
    settings = {"store": "sqlite", "state_dir": tmp_path, "seed": None, "workers": workers}
    settings |= {"work": "background", "allow_private_fetch": True}
    apps = [create_app(Settings.for_tests(**settings)) for _ in range(workers)]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=x), base_url="http://testserver") for x in apps]
    a, b = clients[0], clients[-1]  # the one that runs the job, the one that cancels it
    held = _HeldInput((await a.get("/__mock/samples/tiny.mp4")).content)
    try:
        url = f"{SUBMIT}?fal_webhook={receiver.url}"
        request_id = (await a.post(url, json={"video_url": held.url}, headers=FAL)).json()["request_id"]
        assert await asyncio.to_thread(held.asked.wait, 30), "the work never fetched its input"
        assert (await b.put(f"{SUBMIT}/requests/{request_id}/cancel", headers=FAL)).status_code == 202
        held.release.set()
        await apps[0].state.mock.jobs.drain()
        await a.post("/__mock/clock", json={"advance": 3600})
        await a.post("/__mock/webhooks/flush")
        deliveries = (await a.get("/__mock/webhooks")).json()["deliveries"]
        assert len(deliveries) == 1 and deliveries[0]["delivered"], deliveries
        assert len(receiver.received) == 1
    finally:
        held.close()
        receiver.server.shutdown()
        receiver.server.server_close()
        for client, app in zip(clients, apps, strict=True):
            await client.aclose()
            await app.state.mock.aclose()
            app.state.mock.store.close()
