"""The client verifier passes every good sample client and catches every broken one by name."""

from __future__ import annotations

import pytest

from contracts.client import ClientContractError, verify_client
from tests.apps.clients import BROKEN, GOOD


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
