"""Real servers on 127.0.0.1 for tests that need a socket: uvicorn in a thread, or `serve` in a process."""

from __future__ import annotations

import collections
import contextlib
import gc
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` on a free port; yields its base URL and stops it cleanly afterwards.

    The asyncio loop, not uvloop: closing uvloop while clients still hold keep-alive connections
    (fal-client leaks its clients) raised at loop close and leaked into later tests. The lifespan
    runs, as under `serve`, so the mock closes its own outgoing clients on the way out.
    """
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", loop="asyncio", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        gc.collect()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_process(binary: str, port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A redis-server of our own on 127.0.0.1:`port` (nothing saved), once it answers PING."""
    import redis

    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen([*command, "--dir", str(folder)], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(500):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.01)
    client.close()
    return server


def serve_command(port: int, state: Path) -> list[str]:
    """`cutout-mock serve` on `port` with its state in `state`, as this interpreter runs it."""
    return [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(port), "--state-dir", str(state)]


def wait_healthy(server: subprocess.Popen[Any], base: str, seconds: float = 60) -> None:
    """Until `base`'s /__mock/health answers 200; fails if `server` exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/__mock/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)


def read_banner(server: subprocess.Popen[str], until: str = "control plane") -> str:
    """What `serve` printed up to and including the line holding `until` (the banner's last line by
    default); RuntimeError with what it printed if it exits first."""
    banner = ""
    while until not in banner:
        line = server.stdout.readline() if server.stdout else ""
        if not line:
            raise RuntimeError(f"serve exited: {banner}")
        banner += line
    return banner


def _drain(server: subprocess.Popen[str], tail: collections.deque[str]) -> None:
    with contextlib.suppress(ValueError, OSError):  # the pipe closed when the server was stopped
        for line in server.stdout or ():
            tail.append(line)


@contextmanager
def serve_process(state: Path, *flags: str) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`cutout-mock serve` in a process of its own on a free port (memory store unless flags say).

    Yields the process, its base URL and its banner, once the banner is out and health answers (with
    several workers the banner comes before they listen). Stopped and its pipe closed afterwards.
    """
    port = free_port()
    server = subprocess.Popen(
        [*serve_command(port, state), *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    drain: threading.Thread | None = None
    try:
        banner = read_banner(server)
        wait_healthy(server, base)
        # Keep reading what it prints (into a bounded tail): a pipe nobody reads fills at 64 KiB and then
        # blocks the server on its next log line, which looks like a hang in whatever test comes next.
        drain = threading.Thread(target=_drain, args=(server, collections.deque(maxlen=200)), daemon=True)
        drain.start()
        yield server, base, banner
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(20)
        if drain is not None:
            drain.join(10)  # it ends at the pipe's end (closing it under a reading thread would wait too)
        if server.stdout and (drain is None or not drain.is_alive()):
            server.stdout.close()
