"""Kill -9 a real server mid-work, restart it on the same state: nothing accepted is lost or stuck."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from contracts.control import MockControl
from mockserver.core.signing import verify
from tests.server.conftest import data_url
from tests.server.live import serve_process
from tests.server.test_webhooks import Receiver

FAL = {"Authorization": "Key fal-durable"}
SUBMIT = "/fal/queue/pixelcut/video-background-removal"
SAMPLE = "https://cdn3.pixelcut.app/samples/tiny.mp4"
LOST = (503, "runner_disconnected")  # fal's words for a job whose runner went away


@contextmanager
def _silent_server() -> Iterator[str]:
    """Accepts connections and never answers: a job fetching from it is busy until it is killed."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/never.mp4"


def test_kill_9_mid_work_loses_nothing_and_leaves_nothing_running(tmp_path: Path) -> None:
    flags = ("--clock", "virtual", "--no-rate-limits")
    with _silent_server() as never, serve_process(tmp_path, *flags) as (server, base, _):
        with httpx.Client(base_url=base, headers=FAL, timeout=30) as http, MockControl(base) as control:
            done = [http.post(SUBMIT, json={"video_url": SAMPLE}).json()["request_id"] for _ in range(3)]
            busy = [http.post(SUBMIT, json={"video_url": never}).json()["request_id"] for _ in range(2)]
            control.advance_clock(60)
            deadline = time.monotonic() + 60
            while {j["id"] for j in control.list_jobs("fal", state="succeeded")} != set(done):
                assert time.monotonic() < deadline, control.list_jobs("fal")
                time.sleep(0.05)  # the three real jobs finishing their work in the server's threads
            assert {j["id"] for j in control.list_jobs("fal", state="running")} == set(busy)
            balance = control.get_account("fal", "fal-durable")["balance"]
        server.send_signal(signal.SIGKILL)
        server.wait(10)

    with (
        serve_process(tmp_path, *flags) as (_, base, banner),  # the same state, a new port
        httpx.Client(base_url=base, headers=FAL) as http,
        MockControl(base) as control,
    ):
        assert "recovered: 2 unfinished jobs ended as errored" in banner
        control.advance_clock(3600 * 0.5)  # within the outputs' hour
        for request_id in done + busy:
            status = http.get(f"{SUBMIT}/requests/{request_id}/status")
            assert status.status_code == 200 and status.json()["status"] == "COMPLETED"
        for request_id in done:
            video = http.get(http.get(f"{SUBMIT}/requests/{request_id}").json()["video"]["url"])
            assert video.status_code == 200 and video.content[:4] == b"\x1a\x45\xdf\xa3"  # WebM
        for request_id in busy:
            result = http.get(f"{SUBMIT}/requests/{request_id}")
            assert (result.status_code, result.json()["error_type"]) == LOST  # fal's words
            assert "restarted" in control.get_job("fal", request_id)["error"]["message"]
        assert control.get_account("fal", "fal-durable")["balance"] == pytest.approx(balance + 2 * 0.022)
    with sqlite3.connect(tmp_path / "cutout-mock.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_dead_replicas_jobs_are_ended_by_a_live_one(redis_server: str, tmp_path: Path) -> None:
    """Two replicas on one Redis: kill -9 one mid-work; when its leases lapse, the other ends its jobs."""
    store = f"{redis_server}?prefix=replicas-{uuid.uuid4().hex[:8]}:"  # unique: a reused Redis keeps old runs
    flags = ("--clock", "virtual", "--no-rate-limits", "--store", store, "--lease-seconds", "1")
    with (
        _silent_server() as never,
        serve_process(tmp_path, *flags) as (doomed, doomed_base, _),
        serve_process(tmp_path, *flags) as (_, base, _b),
        MockControl(base) as control,
    ):
        with httpx.Client(base_url=doomed_base, headers=FAL, timeout=30) as http:
            busy = [http.post(SUBMIT, json={"video_url": never}).json()["request_id"] for _ in range(2)]
        control.advance_clock(60)
        assert {j["id"] for j in control.list_jobs("fal", state="running")} == set(busy)
        balance = control.get_account("fal", "fal-durable")["balance"]
        time.sleep(1.5)  # longer than a lease: the live replica must still leave them alone
        assert {j["id"] for j in control.list_jobs("fal", state="running")} == set(busy)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        deadline = time.monotonic() + 30
        while {j["id"] for j in control.list_jobs("fal", state="errored")} != set(busy):
            assert time.monotonic() < deadline, control.list_jobs("fal")
            time.sleep(0.1)  # the lease lapsing (1 s) and the survivor's sweep (every 1/3 s)
        assert control.get_account("fal", "fal-durable")["balance"] == pytest.approx(balance + 2 * 0.022)
        with httpx.Client(base_url=base, headers=FAL) as http:
            result = http.get(f"{SUBMIT}/requests/{busy[0]}")
            assert (result.status_code, result.json()["error_type"]) == LOST


@pytest.mark.slow  # two `serve --workers 2` starts
@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_a_killed_workers_jobs_end_within_the_lease(store: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """`serve --workers 2`: SIGKILL the worker running two jobs; the other ends them once their leases
    lapse (the same sweep on SQLite and Redis), refunded, while the live worker's leases hold; the one
    with a webhook has fal's error delivered once, by the survivor."""
    if store == "redis":
        store = f"{request.getfixturevalue('redis_server')}?prefix=workers-kill-{uuid.uuid4().hex[:8]}:"
    flags = ("--workers", "2", "--clock", "virtual", "--no-rate-limits", "--store", store, "--lease-seconds", "1")
    receiver = Receiver()
    with _silent_server() as never, serve_process(tmp_path, *flags, "--allow-fetch") as (_, base, _b):
        with MockControl(base) as control, httpx.Client(base_url=base, headers=FAL, timeout=30) as http:
            worker = http.get("/__mock/health").json()["pid"]  # one connection: one worker
            hooked = f"{SUBMIT}?fal_webhook={quote(receiver.url)}"
            busy = [http.post(url, json={"video_url": never}).json()["request_id"] for url in (hooked, SUBMIT)]
            assert http.get("/__mock/health").json()["pid"] == worker  # both accepted by that worker
            control.advance_clock(60)
            balance = control.get_account("fal", "fal-durable")["balance"]
            deadline = time.monotonic() + 2.5  # over two leases: the live worker renews, nobody takes them
            while time.monotonic() < deadline:
                assert {j["id"] for j in control.list_jobs("fal", state="running")} == set(busy)
                time.sleep(0.2)
            os.kill(worker, signal.SIGKILL)
        with MockControl(base) as control:  # new connections: the old ones may have been the dead worker's
            deadline = time.monotonic() + 30
            while {j["id"] for j in control.list_jobs("fal", state="errored")} != set(busy):
                assert time.monotonic() < deadline, control.list_jobs("fal")
                time.sleep(0.1)  # the lease lapsing (1 s) and the survivor's sweep (every 1/3 s)
            assert control.get_account("fal", "fal-durable")["balance"] == pytest.approx(balance + 2 * 0.022)
            while not [d for d in control.list_webhooks() if d["delivered"]]:
                assert time.monotonic() < deadline, control.list_webhooks()
                time.sleep(0.1)  # the survivor's background sender
            (delivery,) = control.list_webhooks()
            assert delivery["job_id"] == busy[0] and delivery["payload"]["status"] == "ERROR"
        with httpx.Client(base_url=base, headers=FAL) as fresh:
            result = fresh.get(f"{SUBMIT}/requests/{busy[0]}")
            assert (result.status_code, result.json()["error_type"]) == LOST
    receiver.server.shutdown()
    receiver.server.server_close()
    assert len(receiver.received) == 1 and json.loads(receiver.received[0][1])["request_id"] == busy[0]


def test_a_pending_webhook_retry_survives_a_restart_and_arrives_once(tmp_path: Path) -> None:
    """A fal delivery whose first attempt got a 500, the server stopped and started again on its state:
    the retry falls due at its time, is sent once (background sender and flush alike), and is signed."""
    receiver = Receiver()
    receiver.statuses = [500]
    flags = ("--clock", "virtual", "--no-rate-limits", "--allow-fetch")
    try:
        with serve_process(tmp_path, *flags) as (_, base, _b), MockControl(base) as control:
            url = f"{SUBMIT}?fal_webhook={quote(receiver.url)}"
            request_id = httpx.post(f"{base}{url}", json={"video_url": SAMPLE}, headers=FAL).json()["request_id"]
            control.advance_clock(60)
            deadline = time.monotonic() + 60
            while not [d for d in control.list_webhooks(job_id=request_id) if d["attempts"]]:
                assert time.monotonic() < deadline, control.list_webhooks()
                time.sleep(0.05)  # the job's work in the server's threads, then the background sender's attempt
            (before,) = control.list_webhooks(job_id=request_id)
            assert [a["status"] for a in before["attempts"]] == [500] and not before["delivered"]
        with serve_process(tmp_path, *flags) as (_, base, _b), MockControl(base) as control:
            (after,) = control.list_webhooks(job_id=request_id)
            assert after["id"] == before["id"] and after["due_at"] == before["due_at"] and not after["in_flight"]
            control.advance_clock(max(0.0, after["due_at"] - control.get_clock()["now"]) + 1)
            control.flush_webhooks()  # waits for the attempt the background sender may have started
            control.flush_webhooks()
            (done,) = control.list_webhooks(job_id=request_id)
            assert done["delivered"] and [a["status"] for a in done["attempts"]] == [500, 200]
            assert len(receiver.received) == 2
            headers, body = receiver.received[1]
            jwks = httpx.get(f"{base}/fal/rest/.well-known/jwks.json").json()
            signed = (headers["x-fal-webhook-user-id"], headers["x-fal-webhook-timestamp"], body)
            assert verify(jwks, request_id, *signed, headers["x-fal-webhook-signature"])
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.mark.anyio
async def test_health_reports_what_the_state_dir_holds(
    client: httpx.AsyncClient, product: tuple[bytes, object], tmp_path: Path
) -> None:
    """The in-process app's state dir is tmp_path (tests/server/conftest.py): health's figures, once
    walked, are its files, the cut-out among them; the call that started the walk answered at once."""
    r = await client.post(
        "/pixelcut/v1/remove-background",
        json={"image_url": data_url(product[0], "image/png")},
        headers={"X-API-KEY": "sk_disk"},
    )
    assert r.status_code == 200
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    outputs = [p for p in files if p.parent.parent.name == "media"]
    assert len(outputs) == 1
    state_dir = await _state_dir_walked(client)
    assert state_dir["files"] == len(files) and state_dir["bytes"] == sum(p.stat().st_size for p in files)
    assert state_dir["bytes"] >= outputs[0].stat().st_size > 0


async def _state_dir_walked(client: httpx.AsyncClient) -> dict[str, Any]:
    """Health's state dir figures once a walk has ended. Health never waits for a walk (it is the
    readiness probe; 100,000 outputs took 0.3 s to walk): the first call starts one and answers
    null, a later call has the figures."""
    first = (await client.get("/__mock/health")).json()
    assert first["status"] == "ok" and first["state_dir"] is None
    for _ in range(1000):
        await asyncio.sleep(0.01)  # the walk, in a thread
        state_dir: dict[str, Any] | None = (await client.get("/__mock/health")).json()["state_dir"]
        if state_dir is not None:
            return state_dir
    raise AssertionError("health gave no state dir figures in 10 s")


class _HeldInput:
    """Serves the sample video to the mock's fetch only once the test lets it (`release`); `asked` is set
    when the fetch arrived, so the test knows the job's work is under way in the worker that took it."""

    def __init__(self, video: bytes) -> None:
        self.asked, self.release = threading.Event(), threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                held.asked.set()
                held.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(video)))
                self.end_headers()
                self.wfile.write(video)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/held.mp4"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow  # a `serve --workers 2` start and a worker paused past its lease
def test_a_worker_paused_past_its_lease_leaves_the_survivors_ending_alone(tmp_path: Path) -> None:
    """SIGSTOP (not kill) the worker running a fal job with a webhook: the other ends it as lost and
    announces it. When the paused worker goes on and its work finishes, that ending stands: one ERROR
    webhook in all, fal's runner_disconnected result, the credits back once (a late result sent a
    second webhook and left the job a 500 with no error)."""
    flags = ("--workers", "2", "--clock", "virtual", "--no-rate-limits", "--lease-seconds", "1", "--allow-fetch")
    receiver = Receiver()
    with serve_process(tmp_path, *flags) as (_, base, _b):
        video = httpx.get(f"{base}/__mock/samples/tiny.mp4").content
        held = _HeldInput(video)
        try:
            with httpx.Client(base_url=base, headers=FAL, timeout=30) as http:
                worker = http.get("/__mock/health").json()["pid"]  # one connection: one worker
                url = f"{SUBMIT}?fal_webhook={quote(receiver.url)}"
                request_id = http.post(url, json={"video_url": held.url}).json()["request_id"]
                with MockControl(base) as control:
                    balance = control.get_account("fal", "fal-durable")["balance"] + 0.022  # the hold, back
                assert held.asked.wait(30), "the job's work never fetched its input"
                os.kill(worker, signal.SIGSTOP)
            try:
                with MockControl(base) as control:  # new connections: the old one was the paused worker's
                    control.advance_clock(60)
                    deadline = time.monotonic() + 30
                    while not [d for d in control.list_webhooks(job_id=request_id) if d["delivered"]]:
                        assert time.monotonic() < deadline, control.list_webhooks()
                        time.sleep(0.1)  # the lease lapsing (1 s), the survivor's sweep and its sender
            finally:
                os.kill(worker, signal.SIGCONT)
            outputs = set((tmp_path / "media").glob("??/*"))
            held.release.set()
            deadline = time.monotonic() + 30
            while set((tmp_path / "media").glob("??/*")) == outputs:
                assert time.monotonic() < deadline, "the paused worker's work never ended"
                time.sleep(0.05)  # its work, going on: the fetch answered, the cut-out saved
            time.sleep(1.0)  # what it did after saving (a late result scheduled its webhook within ms)
            with MockControl(base) as control:
                control.advance_clock(60)
                control.flush_webhooks()
                (delivery,) = control.list_webhooks(job_id=request_id)
                assert delivery["payload"]["status"] == "ERROR" and delivery["delivered"]
                assert control.get_account("fal", "fal-durable")["balance"] == pytest.approx(balance)
            with httpx.Client(base_url=base, headers=FAL) as fresh:
                result = fresh.get(f"{SUBMIT}/requests/{request_id}")
                assert (result.status_code, result.json()["error_type"]) == LOST
        finally:
            held.close()
    receiver.server.shutdown()
    receiver.server.server_close()
    assert len(receiver.received) == 1
