"""Scenario documents are checked whole, each section by the checks of the endpoint it stands for,
before anything is applied: a document refused with 422 has changed nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from contracts._inprocess import BASE_URL, InProcessMock
from contracts.control import MockControl, MockControlError
from mockserver.app import create_app
from mockserver.control import scenario
from mockserver.control.actions import ControlError
from mockserver.settings import Settings

# The example scenario.py's docstring gave before this test: its fault names `queue_status`, which
# is no operation of fal's spec (fal-queue-status is). Refused with 422 after the seed, the clock,
# the limits and the account were already applied.
DOCSTRING_EXAMPLE = """
seed: 7
clock: {freeze: true, advance: 10}
rate_limits: [{enabled: true}, {provider: pixelcut, requests: 2, window: 1}]
accounts: [{provider: pixelapi, key: sk_low, balance: 5, plan: starter}]
faults: [{provider: fal, operation: queue_status, action: status, status: 503, times: 2}]
"""
FAL = {"Authorization": "Key fal-scenario"}
SUBMIT = "/fal/queue/pixelcut/video-background-removal"


@pytest.fixture
def mocks(tmp_path: Path) -> Iterator[tuple[InProcessMock, InProcessMock]]:
    """Two mocks alike: one is sent the scenario, the other is left alone to compare with."""
    pair = tuple(InProcessMock(Settings.for_tests(state_dir=tmp_path / name)) for name in ("sent", "untouched"))
    yield pair  # type: ignore[misc]
    for mock in pair:
        mock.close()


def _state(mock: InProcessMock) -> dict[str, Any]:
    with MockControl(BASE_URL, transport=mock.transport) as control, httpx.Client(transport=mock.transport) as http:
        job = http.post(f"{BASE_URL}{SUBMIT}", json={"video_url": "https://x/mock-stuck.mp4"}, headers=FAL).json()
        return {
            "clock": control.get_clock(),
            "accounts": [a for a in control.list_accounts() if a["key"] != "fal-scenario"],
            "rate_limits": control.get_rate_limits(),
            "faults": control.list_faults()["rules"],
            "next_id": job["request_id"],  # the seed: both hand out the same ids unless one was re-seeded
        }


def test_the_docstrings_old_example_is_refused_and_changes_nothing(
    mocks: tuple[InProcessMock, InProcessMock],
) -> None:
    sent, untouched = mocks
    with MockControl(BASE_URL, transport=sent.transport) as control, pytest.raises(MockControlError) as refused:
        control.load_scenario(yaml.safe_load(DOCSTRING_EXAMPLE))
    assert _state(sent) == _state(untouched)
    assert refused.value.status == 422 and "faults: no operation 'queue_status'" in refused.value.detail


def test_a_refused_scenario_file_stops_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DOCSTRING_EXAMPLE)
    with pytest.raises(ControlError, match="queue_status"):
        InProcessMock(Settings.for_tests(state_dir=tmp_path, scenario_file=bad))


def test_the_docstrings_example_applies(tmp_path: Path) -> None:
    """The example as scenario.py's docstring gives it now (each section beside its endpoint) is a good one."""
    example = scenario.__doc__.split("::", 1)[1].split("\n\n")[1]
    mock = InProcessMock(Settings.for_tests(state_dir=tmp_path))
    try:
        with MockControl(BASE_URL, transport=mock.transport) as control:
            done = control.load_scenario(yaml.safe_load(example))
        assert done["seed"] == 7 and done["clock"]["clock"] == "virtual"
        assert done["accounts"][0]["balance"] == 5 and done["faults"][0]["operation"] == "fal-queue-status"
    finally:
        mock.close()


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"seed": "7"}, 'seed: send {"seed": <integer>}'),
        ({"clock": {"advance": -1}}, "clock: advance must be a number >= 0"),
        ({"clock": {"freeze": "yes"}}, "clock: freeze must be true or false"),
        ({"rate_limits": [{"provider": "pixelcut", "requests": 0}]}, "rate_limits: requests must be a number >= 1"),
        ({"accounts": [{"provider": "pixelapi", "key": "k", "credits": 5}]}, "accounts: unknown fields: credits"),
        ({"accounts": [{"provider": "nope", "key": "k"}]}, "no provider 'nope'"),
        ({"faults": [{"action": "status", "status": 503, "colour": "red"}]}, "faults: unknown fields: colour"),
        (
            {"faults": [{"provider": "fal", "operation": "pixelapi-upscale", "action": "fail"}]},
            "faults: no operation",
        ),
        # Only the spec says a rule's key is a string (the rule would never match): checked all the same.
        ({"faults": [{"action": "status", "status": 503, "key": 7}]}, "faults: body.key: value is not a valid string"),
    ],
)
def test_each_section_is_checked_as_its_endpoint_checks(tmp_path: Path, section: dict[str, Any], problem: str) -> None:
    """As a file at start-up reads it (no HTTP schema in front): every check refuses before anything
    is applied, so the seed, clock and account given beside the bad section are not applied either."""
    mock = create_app(Settings.for_tests(state_dir=tmp_path)).state.mock
    before, next_id = mock.clock.now(), create_app(Settings.for_tests(state_dir=tmp_path)).state.mock.ids.uuid4()
    document = {
        "seed": 3,
        "clock": {"advance": 60},
        "accounts": [{"provider": "pixazo", "key": "pz-first", "balance": 1}],
        **section,
    }
    with pytest.raises(ControlError) as refused:
        scenario.apply(mock, document)
    assert refused.value.status == 422 and problem in refused.value.detail, refused.value.detail
    assert mock.store.list_accounts() == [] and mock.clock.now() == before and mock.ids.uuid4() == next_id
