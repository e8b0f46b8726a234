"""pytest fixture set-up time, measured as a user meets it: a test file run by pytest with the plugin."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import pytest

Table = tuple[list[str], list[list[str]]]
TESTS = 40
SOURCE = """
import httpx

def test_in_process_{i}(cutout_mock):
    assert httpx.get("https://api.pixelapi.dev/v1/models").status_code in (401, 403)

def test_real_port_{i}(cutout_server):
    assert httpx.get(cutout_server.url + "/__mock/health").status_code == 200
"""


class SetupTimes:
    def __init__(self) -> None:
        self.by_fixture: dict[str, list[float]] = {"cutout_mock": [], "cutout_server": []}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup":
            fixture = "cutout_mock" if "in_process" in report.nodeid else "cutout_server"
            self.by_fixture[fixture].append(report.duration * 1000)


def fixture_setup() -> Table:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test_fixture_bench.py"
        path.write_text("".join(SOURCE.format(i=i) for i in range(TESTS)))
        times = SetupTimes()
        code = pytest.main(
            [str(path), "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", tmp], plugins=[times]
        )
    rows = []
    for fixture, values in times.by_fixture.items():
        first, rest = values[0], sorted(values[1:])
        p95 = rest[int(len(rest) * 0.95) - 1]
        rows.append(
            [
                fixture,
                f"{first:.0f}",
                f"{statistics.median(rest):.1f}",
                f"{p95:.1f}",
                "≤ 100" if fixture == "cutout_mock" else "—",
            ]
        )
    rows.append(["(pytest exit code)", str(int(code)), "", "", ""])
    return ["fixture", "first test ms (session start)", "median ms", "p95 ms", "target ms"], rows


def run() -> list[tuple[str, Table]]:
    return [("pytest plugin: fixture set-up per test", fixture_setup())]
