"""`cutout-mock serve` as a process: the port from the environment, port 0, a port already in use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.server.live import free_port, read_banner

SERVE = [sys.executable, "-m", "mockserver.cli", "serve"]


@contextmanager
def _serving(flags: list[str], env: dict[str, str]) -> Iterator[str]:
    """Start serve, yield its banner once printed; stopped afterwards."""
    server = subprocess.Popen(
        [*SERVE, *flags], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield read_banner(server)
    finally:
        server.terminate()
        server.wait(20)
        if server.stdout:
            server.stdout.close()


def test_cutout_mock_port_in_the_environment_is_honoured(tmp_path: Path) -> None:
    port = free_port()
    env = {"CUTOUT_MOCK_PORT": str(port), "CUTOUT_MOCK_STORE": "memory", "CUTOUT_MOCK_STATE_DIR": str(tmp_path)}
    with _serving([], env) as banner:  # no flag at all: the environment alone
        assert f"http://127.0.0.1:{port}/__mock" in banner
        assert httpx.get(f"http://127.0.0.1:{port}/__mock/health", timeout=10).status_code == 200


def test_port_zero_serves_on_a_free_port_named_in_the_banner(tmp_path: Path) -> None:
    with _serving(["--port", "0", "--store", "memory", "--state-dir", str(tmp_path)], {}) as banner:
        control = next(line.split()[-1] for line in banner.splitlines() if "control plane" in line)
        assert not control.startswith("http://127.0.0.1:0/")
        assert httpx.get(f"{control}/health", timeout=10).status_code == 200


@pytest.mark.parametrize("where", ["--port", "--expose"])
def test_a_port_in_use_is_one_clear_line_and_exit_2(tmp_path: Path, where: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        flags = ["--port", str(port)] if where == "--port" else ["--port", "0", "--expose", f"fal-queue={port}"]
        done = subprocess.run(
            [*SERVE, *flags, "--state-dir", str(tmp_path / "state")], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"cutout-mock: port {port}") and "is in use on 127.0.0.1" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "state" / "cutout-mock.db").exists()  # stopped before it touched the state


def test_ctrl_c_stops_serve_quietly(tmp_path: Path) -> None:
    """SIGINT (Ctrl+C) shuts serve down and exits 0 with nothing on stderr (it printed a
    KeyboardInterrupt traceback: uvicorn re-raises the signal, asyncio.Runner turns it into one)."""
    port = free_port()
    flags = ["--port", str(port), "--store", "memory", "--state-dir", str(tmp_path), "--engine-processes", "0"]
    server = subprocess.Popen([*SERVE, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_banner(server)
        assert httpx.get(f"http://127.0.0.1:{port}/__mock/health", timeout=10).status_code == 200
        server.send_signal(signal.SIGINT)
        _, errors = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0 and "Traceback" not in errors, errors
