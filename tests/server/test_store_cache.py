"""The stores' read caches are never stale across processes, and listings are paginated.

A SQLite store keeps what it read (validated by ``PRAGMA data_version``), a Redis store what a
request read (validated by one look at the store's change counter per request). Two apps on one
store here are two workers or replicas: a write through one must be seen by the very next read
through the other, however often they alternate. Listings (`/__mock/jobs`, `/__mock/journal`) come
in pages with a cursor that walks every item exactly once, whatever is added meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from mockserver.app import create_app
from mockserver.core.backends.sqlite import SqliteStore
from mockserver.core.jobs import Job, State
from mockserver.settings import Settings

pytestmark = pytest.mark.anyio
PIXELCUT = {"X-API-KEY": "pc-cache"}
FAL = {"Authorization": "Key fal-cache"}
VIDEO = "/pixelcut/v1/video/remove-background"
FAL_SUBMIT = "/fal/queue/pixelcut/video-background-removal"
SAMPLE = "https://cdn3.pixelcut.app/samples/tiny.mp4"


async def _clients(settings: list[Settings]) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    apps = [create_app(s) for s in settings]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://testserver") for a in apps]
    await clients[0].post("/__mock/reset")
    yield tuple(clients)
    for client, app in zip(clients, apps, strict=True):
        await client.aclose()
        await app.state.mock.aclose()
        app.state.mock.store.close()


async def _pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    store = request.getfixturevalue("redis_url") if request.param == "redis" else "sqlite"
    workers = 1 if request.param == "sqlite-two-serves" else 2
    settings = Settings.for_tests(store=store, state_dir=tmp_path, workers=workers, seed=None)
    async for clients in _clients([settings, settings]):
        yield clients


@pytest.fixture(params=["sqlite-workers", "sqlite-two-serves", "redis"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Two apps on one store: SQLite as two workers (shared journal and controls), SQLite as two
    single-process servers on one file (in-memory journal, the cache alone keeps them honest), Redis."""
    async for clients in _pair(request, tmp_path):
        yield clients


@pytest.fixture(params=["sqlite-workers", "redis"])
async def shared(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Two apps sharing faults and controls through the store as well."""
    async for clients in _pair(request, tmp_path):
        yield clients


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def one(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = request.getfixturevalue("redis_url") if request.param == "redis" else request.param
    async for (client,) in _clients([Settings.for_tests(store=store, state_dir=tmp_path, seed=None)]):
        yield client


async def _status(client: httpx.AsyncClient, job_id: str) -> str:
    answer = await client.get(f"{VIDEO}/job/{job_id}", headers=PIXELCUT)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


async def test_a_write_in_one_is_seen_by_the_next_read_in_the_other(pair: tuple[httpx.AsyncClient, ...]) -> None:
    a, b = pair
    job_id = (await a.post(VIDEO, json={"video_url": SAMPLE}, headers={**PIXELCUT, "X-Mock-Scenario": "error"})).json()[
        "job_id"
    ]
    for round_ in range(4):  # each side reads (and caches) before the other writes, again and again
        writer, reader = (a, b) if round_ % 2 == 0 else (b, a)
        assert await _status(reader, job_id) == await _status(writer, job_id)
        balance = 100 + round_
        assert (await writer.put("/__mock/accounts/pixelcut/pc-cache", json={"balance": balance})).status_code == 200
        assert (await reader.get("/__mock/accounts/pixelcut/pc-cache")).json()["balance"] == balance
        credits = (await reader.get("/pixelcut/v1/credits", headers=PIXELCUT)).json()
        assert balance in credits.values(), credits  # the provider's own read of the account
    before = await _status(b, job_id)
    forced = await a.post(f"/__mock/jobs/pixelcut/{job_id}/state", json={"state": "failed"})
    assert forced.status_code == 200, forced.text
    after = await _status(b, job_id)
    assert after != before and after == await _status(a, job_id)
    assert (await b.get(f"/__mock/jobs/pixelcut/{job_id}")).json()["state"] == "failed"


async def test_a_fault_and_the_clock_set_in_one_hold_in_the_other(shared: tuple[httpx.AsyncClient, ...]) -> None:
    a, b = shared
    assert (await b.get("/pixelcut/v1/credits", headers=PIXELCUT)).status_code == 200  # b has looked
    rule = {"action": "status", "status": 503, "provider": "pixelcut", "times": 1}
    assert (await a.post("/__mock/faults", json=rule)).status_code == 201
    codes = [(await c.get("/pixelcut/v1/credits", headers=PIXELCUT)).status_code for c in (b, a, b)]
    assert codes == [503, 200, 200]
    now = (await b.get("/__mock/clock")).json()["now"]
    await a.post("/__mock/clock", json={"advance": 30})
    assert (await b.get("/__mock/clock")).json()["now"] == pytest.approx(now + 30)


async def _walk_jobs(client: httpx.AsyncClient, **params: str) -> tuple[list[str], int]:
    """Every job id of the listing, page by page; and how many pages it took."""
    ids: list[str] = []
    cursor, pages = None, 0
    while True:
        asked = {**params, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/__mock/jobs", params=asked)).json()
        ids += [job["id"] for job in page["jobs"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, pages
        assert pages < 100


async def _submit(client: httpx.AsyncClient, key: str) -> str:
    headers = {"X-API-KEY": key, "X-Mock-Scenario": "error"}  # scripted work: no engine
    answer = await client.post(VIDEO, json={"video_url": SAMPLE}, headers=headers)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


async def test_the_job_listing_is_paginated_and_a_cursor_walks_each_job_once(one: httpx.AsyncClient) -> None:
    client = one
    mine = [await _submit(client, "pc-one" if i % 3 else "pc-two") for i in range(20)]
    first = (await client.get("/__mock/jobs")).json()
    assert [j["id"] for j in first["jobs"]] == mine and first["next_cursor"] is None  # under the default page
    page = (await client.get("/__mock/jobs", params={"limit": 6})).json()
    assert [j["id"] for j in page["jobs"]] == mine[:6] and page["next_cursor"]

    # Stable under inserts: jobs stored during the walk come after the ones it started with.
    walked: list[str] = []
    cursor = None
    while True:
        page = (await client.get("/__mock/jobs", params={"limit": 6, **({"cursor": cursor} if cursor else {})})).json()
        walked += [j["id"] for j in page["jobs"]]
        if len(walked) < 12:
            mine.append(await _submit(client, "pc-one"))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == mine and len(set(walked)) == len(walked)

    for key in ("pc-one", "pc-two"):  # the owner's index, with and without the provider
        expected = [job for job, owner in zip(mine, _owners(mine, client), strict=True) if owner == key]
        assert (await _walk_jobs(client, provider="pixelcut", key=key, limit="4"))[0] == expected
        assert (await _walk_jobs(client, key=key, limit="4"))[0] == expected
    assert (await _walk_jobs(client, provider="fal", limit="4"))[0] == []

    forced = mine[3]
    await client.post(f"/__mock/jobs/pixelcut/{forced}/state", json={"state": "failed"})
    assert (await _walk_jobs(client, state="failed", limit="1"))[0] == [forced]
    assert (await _walk_jobs(client, state="queued", limit="5"))[0] == [j for j in mine if j != forced]

    forged = "9" * 25  # past a 64-bit integer: SQLite's store answered 500
    for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"cursor": "abc"}, {"cursor": forged}):
        for listing in ("/__mock/jobs", "/__mock/journal"):
            answer = await client.get(listing, params=bad)
            assert answer.status_code == 422 and "detail" in answer.json(), (listing, bad, answer.text)
    largest = {"cursor": str(2**63 - 1)}
    assert (await client.get("/__mock/jobs", params=largest)).json() == {"jobs": [], "next_cursor": None}


def _owners(jobs: list[str], client: httpx.AsyncClient) -> list[str]:
    """The key each job of the test above was submitted with (every third to pc-two, the rest pc-one)."""
    return ["pc-two" if i < 20 and i % 3 == 0 else "pc-one" for i in range(len(jobs))]


async def test_the_journal_is_paginated_newest_page_first(one: httpx.AsyncClient) -> None:
    client = one
    for i in range(23):
        await client.get(f"/pixelcut/v1/credits?n={i}", headers=PIXELCUT if i % 2 else {"X-API-KEY": "pc-other"})
    newest = (await client.get("/__mock/journal", params={"limit": 5})).json()
    assert [e["query"] for e in newest["entries"]] == [f"n={i}" for i in range(18, 23)] and newest["next_cursor"]

    pages: list[list[str]] = []
    cursor = None
    while True:
        params = {"limit": "5", "key": "pc-cache", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/__mock/journal", params=params)).json()
        pages.append([e["query"] for e in page["entries"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        await client.get("/pixelcut/v1/credits?n=later", headers=PIXELCUT)  # newer entries do not move the walk
    walked = [query for page in reversed(pages) for query in page]
    assert walked == [f"n={i}" for i in range(1, 23, 2)]
    assert (await client.get("/__mock/journal", params={"limit": "1001"})).status_code == 422


@pytest.fixture
async def redis_one(redis_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for (client,) in _clients([Settings.for_tests(store=redis_url, state_dir=tmp_path, seed=None)]):
        yield client


def _redis_calls(redis_url: str, command: str) -> int:
    """How many times the Redis server has run `command` (INFO commandstats; scripts' calls included)."""
    import redis

    client = redis.Redis.from_url(redis_url.partition("?")[0])
    try:
        return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))
    finally:
        client.close()


async def test_redis_requests_that_begin_together_share_one_look(redis_one: httpx.AsyncClient, redis_url: str) -> None:
    """On Redis each request looks at the change counter (one MGET), without holding the event loop:
    the requests that begin in the same turn of the loop share one look; each is still answered from
    the store as it was when it began, and its journal entry is written (off the loop) by the time
    the control plane answers."""
    client = redis_one
    job_id = await _submit(client, "pc-cache")
    await _status(client, job_id)  # the job is read and kept
    before = _redis_calls(redis_url, "mget")
    answers = await asyncio.gather(*(client.get(f"{VIDEO}/job/{job_id}", headers=PIXELCUT) for _ in range(16)))
    looks = _redis_calls(redis_url, "mget") - before
    assert [a.status_code for a in answers] == [200] * 16
    assert 1 <= looks <= 4, looks  # 16 without sharing

    entries = (await client.get("/__mock/journal", params={"key": "pc-cache", "limit": 100})).json()["entries"]
    assert len(entries) == 1 + 1 + 16  # the submit, the first poll, the 16
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)


async def test_redis_a_look_sent_before_a_request_began_is_not_its_answer(redis_url: str) -> None:
    """A request that begins while another's look is on its way asks again: a write that ended
    before it began is seen (here by the change counter it reads)."""
    import redis

    from mockserver.core.backends.redis_async import ChangeWatch, LoopClient

    plain, prefix = redis_url.partition("?prefix=")[::2]
    changes = f"{prefix}changes"
    writer = redis.Redis.from_url(plain, decode_responses=True)
    client = LoopClient(plain)
    watch = ChangeWatch(client, changes, f"{prefix}controls", f"{prefix}faults")
    try:
        for _ in range(20):
            first = asyncio.ensure_future(watch.snapshot())
            for _ in range(3):
                await asyncio.sleep(0)  # the first look's GET goes out
            written = writer.incr(changes)
            second = await watch.snapshot()
            assert second.version.endswith(f":{written}")
            assert (await first).version.rpartition(":")[2] in (str(written - 1), str(written))
    finally:
        writer.close()
        await client.aclose()


async def test_redis_connections_dropped_under_the_mock_are_made_again(
    redis_one: httpx.AsyncClient, redis_url: str
) -> None:
    """Redis restarted between two requests (here: its clients killed, which is what a restart does to
    them): the next request's look and journal batch go out on new connections, as the blocking
    client's did; the asyncio client's pooled connection failed the first look (500)."""
    import redis

    client = redis_one
    job_id = await _submit(client, "pc-cache")
    await _status(client, job_id)  # a look and a journal batch: the asyncio connections are open
    admin = redis.Redis.from_url(redis_url.partition("?")[0], decode_responses=True)
    try:
        db = admin.connection_pool.connection_kwargs.get("db", 0)
        for each in admin.client_list():
            if each["id"] != str(admin.client_id()) and int(each["db"]) == db:
                admin.client_kill_filter(_id=each["id"])
    finally:
        admin.close()
    await _status(client, job_id)  # answered 200
    entries = (await client.get("/__mock/journal", params={"key": "pc-cache"})).json()["entries"]
    assert len(entries) == 3, entries  # the submit and both polls


async def test_redis_gone_a_provider_answers_its_own_500_and_the_mock_recovers(tmp_path: Path) -> None:
    """Redis stopped under a running mock: a poll is the provider's own 500 (its JSON error body, as
    for any failure in a handler), not Starlette's text of a traceback; Redis started again, the mock
    answers from it (the job went with Redis's memory)."""
    pytest.importorskip("redis")
    from tests.server.live import free_port, redis_process

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs a redis-server of its own to stop")
    port = free_port()
    server = redis_process(binary, port, tmp_path)
    settings = Settings.for_tests(store=f"redis://127.0.0.1:{port}/0", state_dir=tmp_path, seed=None)
    try:
        async for (client,) in _clients([settings]):
            job_id = await _submit(client, "pc-cache")
            server.terminate()
            server.wait(10)
            answer = await client.get(f"{VIDEO}/job/{job_id}", headers=PIXELCUT)
            assert answer.status_code == 500, answer.text
            assert set(answer.json()) == {"error", "error_code"}  # Pixelcut's error body
            server = redis_process(binary, port, tmp_path)
            assert (await client.get(f"{VIDEO}/job/{job_id}", headers=PIXELCUT)).status_code == 404
    finally:
        server.terminate()
        server.wait(10)


def test_redis_a_failed_look_whose_callers_all_left_leaves_no_error_to_log() -> None:
    """Clients gone (their requests cancelled) while Redis is down: the look they shared fails with
    nobody waiting for it, and asyncio must not log "Task exception was never retrieved" for it."""
    pytest.importorskip("redis")
    from mockserver.core.backends.redis_async import ChangeWatch, LoopClient
    from tests.server.live import free_port

    logged: list[str] = []

    async def leave() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: logged.append(context["message"]))
        client = LoopClient(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
        watch = ChangeWatch(client, "p:changes", "p:controls", "p:faults")
        callers = [asyncio.ensure_future(watch.snapshot()) for _ in range(4)]
        await asyncio.sleep(0)  # the look starts
        for caller in callers:
            caller.cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        await asyncio.wait(asyncio.all_tasks() - {asyncio.current_task()})  # the look fails
        await client.aclose()
        gc.collect()

    asyncio.run(leave())
    gc.collect()
    assert logged == []


async def test_redis_keys_flushed_under_the_mock_are_not_served_from_its_cache(
    redis_one: httpx.AsyncClient, redis_url: str
) -> None:
    """A FLUSHDB under a running mock (a test suite's teardown) starts the change counter again; when
    it comes back to the value the cache was kept for, the cache must still not answer."""
    import redis

    client = redis_one
    job_id = await _submit(client, "pc-cache")
    await _status(client, job_id)  # read and kept, under the counter's value now
    plain, prefix = redis_url.partition("?prefix=")[::2]
    raw = redis.Redis.from_url(plain, decode_responses=True)
    try:
        counter = raw.get(f"{prefix}changes")
        raw.delete(*raw.scan_iter(match=f"{prefix}*"))  # what FLUSHDB does to this mock's keys
        raw.set(f"{prefix}changes", counter)  # as many writes since as before: the same value
    finally:
        raw.close()
    answer = await client.get(f"{VIDEO}/job/{job_id}", headers=PIXELCUT)
    assert answer.status_code == 404, answer.text


# --- SQLite: one look per turn of the event loop -------------------------------------------------


def _sqlite_job(store: SqliteStore, outcome: State | None = None) -> None:
    store.put_job(Job("turn-job", "pixelcut", "video-remove-background", "pc-cache", 0.0, {}, outcome=outcome))


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqliteStore, sqlite3.Connection]]:
    """A store holding the job, and another process's connection to its file."""
    store = SqliteStore(tmp_path / "state.sqlite3")
    other = sqlite3.connect(tmp_path / "state.sqlite3", isolation_level=None)
    _sqlite_job(store)
    yield store, other
    other.close()
    store.close()


def _look(store: SqliteStore) -> None:
    """Read (and keep) the job: on the event loop, this turn's look (a fixture runs off the loop)."""
    assert store.get_job("pixelcut", "turn-job").outcome is None


def _fail_from(other: sqlite3.Connection) -> None:
    """The job failed, committed through the other connection."""
    data = json.loads(other.execute("SELECT data FROM jobs WHERE id = 'turn-job'").fetchone()[0])
    other.execute("UPDATE jobs SET data = ? WHERE id = 'turn-job'", (json.dumps({**data, "outcome": "failed"}),))


async def test_sqlite_a_commit_by_another_process_is_seen_in_the_next_turn_of_the_loop(
    stores: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    """Reads on the event loop share one look at ``PRAGMA data_version`` per turn of the loop; a
    request runs in a turn after the one that read it, so a commit the client could know of is seen."""
    store, other = stores
    _look(store)
    _fail_from(other)
    await asyncio.sleep(0)  # the next turn of the loop (a request read meanwhile runs there)
    assert store.get_job("pixelcut", "turn-job").outcome is State.FAILED


async def test_sqlite_a_write_by_another_store_of_this_process_is_seen_in_the_same_turn(tmp_path: Path) -> None:
    """Two apps on one file in one process (two serves in a test): a write through one ends the
    other's trust in its turn's look at once."""
    reader, writer = SqliteStore(tmp_path / "state.sqlite3"), SqliteStore(tmp_path / "state.sqlite3")
    try:
        _sqlite_job(writer)
        assert reader.get_job("pixelcut", "turn-job").outcome is None  # read and kept; this turn looked
        _sqlite_job(writer, outcome=State.FAILED)  # no await: the same turn of the loop
        assert reader.get_job("pixelcut", "turn-job").outcome is State.FAILED
    finally:
        reader.close()
        writer.close()


async def test_sqlite_a_read_modify_write_sees_a_commit_made_since_this_turns_look(
    stores: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    """`update_job` reads inside its write transaction: a commit another process made after this
    turn's look (it held the write lock while the look ran: BEGIN IMMEDIATE waited for it) is the
    job it changes. Trusting the turn's look there overwrote that commit, e.g. a cancel made by
    another worker, with the job as this worker had read it before."""
    store, other = stores
    _look(store)
    _fail_from(other)

    def bill(job: Job) -> None:
        job.charged = 1.5

    updated = store.update_job("pixelcut", "turn-job", bill)  # no await: the same turn of the loop
    assert updated is not None and (updated.outcome, updated.charged) == (State.FAILED, 1.5)
    stored = json.loads(other.execute("SELECT data FROM jobs WHERE id = 'turn-job'").fetchone()[0])
    assert (stored["outcome"], stored["charged"]) == ("failed", 1.5)
