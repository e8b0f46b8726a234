"""Webhook delivery under `serve`'s background sender: each attempt sent once, and a dead receiver
delays nobody. The app runs on a real port with its lifespan (the sender loop); the clock is virtual."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from mockserver.app import create_app
from mockserver.settings import Settings
from tests.server.live import running

PIXAZO = {"Ocp-Apim-Subscription-Key": "pz-delivery"}
SUBMIT = "/pixazo/pixelcut-video-background-removal/v1/pixelcut-video-background-removal-request"
SAMPLE = "https://pub-582b7213209642b9b995c96c95a30381.r2.dev/Video.mp4"


class Receiver:
    """Counts POSTs; answers 200 after `delay` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.posts += 1
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mock_url(tmp_path: Path) -> Iterator[str]:
    app = create_app(Settings.for_tests(state_dir=tmp_path, work="background"))
    with running(app) as url:
        yield url


def _until(predicate: object, seconds: float) -> float:
    """Wait (bounded) for a background effect; the seconds it took."""
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - start < seconds, "timed out"
        time.sleep(0.02)
    return time.monotonic() - start


def _submit_and_finish(http: httpx.Client, hooks: list[str], expected: int | None = None) -> None:
    for hook in hooks:
        assert (
            http.post(SUBMIT, json={"video_url": SAMPLE}, headers={**PIXAZO, "X-Webhook-URL": hook}).status_code == 202
        )
    http.post("/__mock/clock", json={"advance": 60})  # past the jobs' queue and run time
    done = expected or len(hooks)
    _until(lambda: len(http.get("/__mock/jobs", params={"state": "succeeded"}).json()["jobs"]) == done, 60)


def test_flush_during_a_slow_delivery_sends_it_once(mock_url: str) -> None:
    slow = Receiver(delay=0.8)
    with httpx.Client(base_url=mock_url, timeout=30) as http:
        _submit_and_finish(http, [slow.url])
        _until(lambda: slow.posts == 1, 5)  # the background sender has it in flight
        assert http.post("/__mock/webhooks/flush").json()["attempted"] == 0  # nothing due that is not in flight
        [delivery] = http.get("/__mock/webhooks").json()["deliveries"]
    assert slow.posts == 1
    assert [a["status"] for a in delivery["attempts"]] == [200] and delivery["delivered"]
    slow.close()


def test_a_dead_receiver_delays_nobody(mock_url: str) -> None:
    dead = socket.socket()  # accepts connections (the backlog) and never answers
    dead.bind(("127.0.0.1", 0))
    dead.listen(8)
    live = Receiver()
    with httpx.Client(base_url=mock_url, timeout=30) as http:
        _submit_and_finish(http, [f"http://127.0.0.1:{dead.getsockname()[1]}/hook"])
        _until(lambda: http.get("/__mock/webhooks").json()["deliveries"][0]["in_flight"], 5)
        started = time.monotonic()  # the dead receiver holds its attempt (up to 15 s) from here
        _submit_and_finish(http, [live.url], expected=2)
        _until(lambda: live.posts == 1, 10)
        took = time.monotonic() - started
        deliveries = http.get("/__mock/webhooks").json()["deliveries"]
    assert took < 8, f"the live receiver waited {took:.1f} s behind the dead one (attempt timeout 15 s)"
    assert [d["delivered"] for d in deliveries] == [False, True]
    live.close()
    dead.close()
