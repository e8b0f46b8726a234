"""`cutout-mock verify server`: passes the mock for every provider, catches every broken server by name."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts._live import LiveServer
from mockserver.cli import main
from mockserver.settings import Settings
from tests.apps.servers import BROKEN

PROVIDERS = ("pixelcut", "fal", "pixazo", "pixelapi")


def _settings(tmp_path: Path) -> Settings:
    """Jobs end on the third poll, and limits run on real time so a verifier that waits can go on."""
    return Settings.for_tests(state_dir=tmp_path, clock="real", progression="polls", rate_limits=True, port=0)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with LiveServer(_settings(tmp_path_factory.mktemp("good"))) as server:
        yield server.url


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_mock_passes_every_check(good: str, provider: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "server", "--provider", provider, "--base-url", f"{good}/{provider}", "--no-schemathesis"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("PASS") == 8 and "all checks passed" in out


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_server_is_caught_by_its_check(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = BROKEN[name]
    with LiveServer(_settings(tmp_path), wrap=broken.build) as server:
        base = f"{server.url}/{broken.provider}"
        code = main(["verify", "server", "--provider", broken.provider, "--base-url", base, "--no-schemathesis"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"FAIL  {broken.caught_by}" in out, out


@pytest.mark.slow
@pytest.mark.parametrize("provider", PROVIDERS)
def test_full_verification_with_schemathesis_and_junit(
    good: str, provider: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "report.xml"
    args = ["verify", "server", "--provider", provider, "--base-url", f"{good}/{provider}", "--max-examples", "5"]
    code = main([*args, "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 0, out
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "9" and suite.get("failures") == "0"
    assert (tmp_path / "report-schemathesis.xml").exists()


def test_an_unreachable_server_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "server", "--provider", "fal", "--base-url", "http://127.0.0.1:9/fal", "--no-schemathesis"])
    assert code == 1 and "FAIL  reachable" in capsys.readouterr().out
