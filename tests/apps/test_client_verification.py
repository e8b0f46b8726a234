"""The client verifier passes every good sample client and catches every broken one by name."""

from __future__ import annotations

import pytest

from contracts import CheckFailed, ClientContractError, ClientNotFollowed, client_check, verify_client
from contracts.client import CLIENT_CHECKS, ClientTrace
from contracts.scenarios import essential
from tests.apps.clients import BROKEN, GOOD, fal_client_with_timeout, pixelcut_waits_on_an_event


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_clients_pass(name: str) -> None:
    sample = GOOD[name]
    verify_client(sample.run, sample.provider, max_examples=12)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_clients_are_caught(name: str) -> None:
    sample = BROKEN[name]
    with pytest.raises(ClientContractError) as caught:
        verify_client(sample.run, sample.provider, max_examples=12)
    report = str(caught.value)
    assert sample.caught_as in report, report
    assert "scenario:" in report and "replay:" in report


ALL_BUT_RETRY_AFTER = [name for name in CLIENT_CHECKS if name != "respects_retry_after"]


def test_checks_are_registered_and_selected_by_name() -> None:
    """A client that retries a 429 after 0.5 s whatever Retry-After says passes every other check."""
    sample = BROKEN["pixelapi_ignores_retry_after"]
    verify_client(sample.run, sample.provider, max_examples=12, checks=ALL_BUT_RETRY_AFTER)
    with pytest.raises(ValueError, match="no client check nope"):
        verify_client(sample.run, sample.provider, checks=["nope"])


def test_a_registered_check_of_ones_own_runs_on_every_example() -> None:
    seen: list[str] = []

    @client_check
    def returns_a_string(trace: ClientTrace) -> None:
        seen.append(trace.scenario.describe())
        if trace.ended and trace.error is None and not isinstance(trace.result, str):
            raise CheckFailed(f"returned {type(trace.result).__name__}")

    try:
        sample = GOOD["pixelapi_good"]
        verify_client(sample.run, sample.provider, max_examples=3, checks=["returns_a_string"])
    finally:
        del CLIENT_CHECKS["returns_a_string"]
    assert len(seen) >= len(essential("pixelapi"))


def test_fal_client_with_client_timeout_is_judged_on_the_mock_clock() -> None:
    """fal-client's client_timeout polls in a pool thread of fal-client's own: those sleeps move the mock's
    clock, so its pacing passes (no "polled 0s after the previous poll"). What it does break is named truly:
    it retries a 429 on its own backoff from 0.1 s, whatever Retry-After asked."""
    pacing_and_outcomes = ["polls_no_faster_than_the_minimum", "ends", "raises_when_the_job_failed"]
    verify_client(fal_client_with_timeout, "fal", max_examples=12, checks=pacing_and_outcomes)
    with pytest.raises(ClientContractError) as caught:
        verify_client(fal_client_with_timeout, "fal", max_examples=12)
    report = str(caught.value)
    assert "ignored Retry-After: 7s asked" in report and "check: respects_retry_after" in report, report


def test_a_wait_the_kit_cannot_follow_is_said_not_blamed() -> None:
    """threading.Event.wait runs in real time: polls 0 s apart on the mock's clock but 0.3 s apart in
    real time are the kit's blind spot, reported as such, never as a client polling too fast."""
    with pytest.raises(ClientNotFollowed) as caught:
        verify_client(pixelcut_waits_on_an_event, "pixelcut", max_examples=1, timeout=3)
    report = str(caught.value)
    assert "cannot judge this client's waits" in report and "threading.Event.wait" in report, report


def test_the_old_budget_called_a_client_polling_every_second_unbounded() -> None:
    """The longest scenario queues 300 s: ~320 polls at one a second. The defaults pass that client
    (GOOD's pixazo_every_second); the old budget of 60 requests failed it."""
    with pytest.raises(ClientContractError, match="unbounded: more than 60 requests"):
        verify_client(GOOD["pixazo_every_second"].run, "pixazo", max_examples=1, max_calls=60)
