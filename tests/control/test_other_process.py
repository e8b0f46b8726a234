"""The same controls over a real port, on a mock started by another process (`cutout-mock serve`)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.control import MockControl, MockControlError

SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
FAL = {"Authorization": "Key fal-low"}
STATUS = "/fal/queue/pixelcut/video-background-removal/requests/nope/status"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "mockserver.cli", "serve", "--state-dir", str(tmp_path), "--store", "memory", *flags]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    flags = ("--port", str(port), "--clock", "virtual", "--scenario", str(SCENARIOS / "flaky-fal.yaml"))
    with subprocess.Popen(_serve(tmp_path, *flags), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as server:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/__mock/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else "exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        try:
            yield base
        finally:
            server.terminate()
            server.wait(10)


def test_scenario_flags_and_control_plane_across_processes(served: str) -> None:
    with MockControl(served) as control, httpx.Client(base_url=served) as http:
        assert [http.get(STATUS, headers=FAL).status_code for _ in range(3)] == [503, 503, 404]  # from the file
        before = control.get_clock()
        assert before["clock"] == "virtual"
        assert control.advance_clock(90)["now"] == before["now"] + 90
        control.add_fault("status", provider="fal", operation="fal-queue-status", status=500, times=2)
        assert [http.get(STATUS, headers=FAL).status_code for _ in range(3)] == [500, 500, 404]
        assert len(control.get_journal(provider="fal", path="/status")) == 6
        with pytest.raises(MockControlError):
            control.force_job("fal", "nope", "failed")


def test_a_bad_scenario_file_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults: [{action: explode}]\n")
    done = subprocess.run(
        _serve(tmp_path, "--port", str(_free_port()), "--scenario", str(bad)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "scenario: faults: action must be one of" in done.stderr
