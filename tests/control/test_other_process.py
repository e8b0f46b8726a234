"""The same controls over a real port, on a mock started by another process (`cutout-mock serve`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.control import MockControl, MockControlError
from tests.server.live import free_port, serve_process

SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
FAL = {"Authorization": "Key fal-low"}
STATUS = "/fal/queue/pixelcut/video-background-removal/requests/nope/status"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    flags = ("--store", "memory", "--clock", "virtual", "--scenario", str(SCENARIOS / "flaky-fal.yaml"))
    with serve_process(tmp_path, *flags) as (_, base, _banner):
        yield base


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
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--state-dir", str(tmp_path), "--store", "memory"]
    done = subprocess.run(
        [*command, "--port", str(free_port()), "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "scenario: faults: action must be one of" in done.stderr
