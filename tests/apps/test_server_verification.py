"""`cutout-mock verify server`: passes the mock for every provider, catches every broken server by name."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from contracts import MockControl
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


class FakeSchemathesis:
    """Stands in for schemathesis's CLI: records its command line and what the mock's limits were."""

    def __init__(self, control_url: str) -> None:
        self.control_url, self.commands, self.limits_on = control_url, [], []

    def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        with MockControl(self.control_url) as control:
            self.limits_on.append(control.get_rate_limits()["enabled"])
        return subprocess.CompletedProcess(command, 0, "fake schemathesis: 0 failures", "")


@pytest.fixture
def fake_schemathesis(good: str, monkeypatch: pytest.MonkeyPatch) -> FakeSchemathesis:
    fake = FakeSchemathesis(good)
    monkeypatch.setattr("contracts.server.subprocess.run", fake)
    monkeypatch.setattr("contracts.server.schemathesis_executable", lambda: "schemathesis")
    return fake


def test_request_timeout_reaches_schemathesis(
    good: str, fake_schemathesis: FakeSchemathesis, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", "server", "--provider", "fal", "--base-url", f"{good}/fal", "--request-timeout", "42.5"]
    assert main(args) == 0, capsys.readouterr().out
    [command] = fake_schemathesis.commands
    assert command[command.index("--request-timeout") + 1] == "42.5"
    main(args[:-2])
    assert fake_schemathesis.commands[-1][fake_schemathesis.commands[-1].index("--request-timeout") + 1] == "60"


def test_against_a_cutout_mock_schemathesis_runs_without_its_limits_and_says_so(
    good: str, fake_schemathesis: FakeSchemathesis, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockControl(good) as control:
        assert control.get_rate_limits()["enabled"]
        assert main(["verify", "server", "--provider", "pixelapi", "--base-url", f"{good}/pixelapi"]) == 0
        out = capsys.readouterr().out
        assert fake_schemathesis.limits_on == [False]
        assert "NOTE  schemathesis ran with the rate limits of the cutout-mock at" in out
        assert control.get_rate_limits()["enabled"]  # switched back on
    assert main(["verify", "server", "--provider", "pixelapi", "--base-url", f"{good}/pixelapi", "--rate-limits"]) == 0
    assert fake_schemathesis.limits_on == [False, True] and "NOTE" not in capsys.readouterr().out


def test_without_schemathesis_installed_one_line_names_the_extra(
    good: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("contracts.server.schemathesis_executable", lambda: None)
    assert main(["verify", "server", "--provider", "fal", "--base-url", f"{good}/fal"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "pip install 'cutout-mock[kit]'" in line


def test_a_command_that_cannot_load_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = EntryPoint("verify", "contracts.no_such_module:register [kit]", "cutout_mock.commands")
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [broken] if group == broken.group else [])
    assert main(["verify", "server", "--provider", "fal", "--base-url", "http://127.0.0.1:9/fal"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("cutout-mock verify: unavailable") and "pip install 'cutout-mock[kit]'" in line


def test_the_server_cli_does_not_import_the_kit() -> None:
    """`verify` is registered through an entry point: importing the CLI (and building its parser)
    imports nothing of the kit but the registration."""
    script = (
        "import sys, mockserver.cli\n"
        "before = sorted(m for m in sys.modules if m.split('.')[0] == 'contracts')\n"
        "mockserver.cli.build_parser()\n"
        "after = sorted(m for m in sys.modules if m.split('.')[0] == 'contracts')\n"
        "print(before, after)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] ['contracts', 'contracts.cli']", done.stdout + done.stderr
