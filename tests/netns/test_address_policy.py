"""The address policy, proven by the socket layer in a loopback-only network namespace.

`unshare -n` (root) gives the probe a network namespace with nothing but its own loopback device;
the forbidden addresses are added to that device, each with a listening trap (policy_probe.py), so
nothing can leave the machine and a refused connection is one no trap ever accepted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = (
    "ip link set lo up && ip addr add 169.254.169.254/32 dev lo && ip addr add 10.1.2.3/32 dev lo"
    ' && ip -6 addr add fd00:ec2::254/128 dev lo nodad && exec "$@"'
)


def _namespaces_work() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_work(), reason="needs root, unshare and ip (CI runs as root)")


def _probe(*flags: str) -> dict[str, Any]:
    command = ["unshare", "-n", "sh", "-c", SETUP, "sh", sys.executable, "-m", "tests.netns.policy_probe", *flags]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def strict() -> dict[str, Any]:
    return _probe()


@pytest.fixture(scope="module")
def allowing() -> dict[str, Any]:
    return _probe("--allow-fetch")


FORBIDDEN_ALWAYS = [
    "metadata",
    "metadata-octal",
    "metadata-decimal",
    "metadata-mapped",
    "metadata-v6",
    "metadata-name",
    "mapped-name",
    "both-name",
    "redirect-metadata",
    "redirect-mapped",
    "rebind-second",
]
PRIVATE = ["private", "private-name", "redirect-private"]


def test_no_forbidden_address_is_ever_connected(strict: dict[str, Any]) -> None:
    assert strict["seen"] == {"metadata": 0, "private": 0, "metadata6": 0}


@pytest.mark.parametrize("probe", FORBIDDEN_ALWAYS + PRIVATE)
def test_input_urls_and_redirects_get_the_providers_error(strict: dict[str, Any], probe: str) -> None:
    answer = strict["results"][probe]
    assert answer["status"] == 400 and answer["code"] == "invalid_parameter", answer


def test_allowed_addresses_and_the_first_answer_of_a_rebinding_name_work(strict: dict[str, Any]) -> None:
    for probe in ("allowed", "rebind-first", "data-url"):
        assert strict["results"][probe]["status"] == 200, probe


def test_webhooks_are_held_to_the_same_policy(strict: dict[str, Any]) -> None:
    for probe in ("webhook-metadata", "webhook-private", "webhook-control"):
        [attempt] = strict["results"][probe]["attempts"]
        assert str(attempt).startswith("ForbiddenAddress"), (probe, attempt)
    assert strict["results"]["jobs-after-control-webhook"] == 3, "a webhook reached /__mock/reset"


def test_allow_fetch_opens_private_ranges_only(allowing: dict[str, Any]) -> None:
    """The positive control: the private trap is reachable, so its silence above is the policy's."""
    assert allowing["seen"]["private"] >= 4
    assert allowing["seen"]["metadata"] == 0 and allowing["seen"]["metadata6"] == 0
    for probe in PRIVATE:
        assert allowing["results"][probe]["status"] == 200, probe
    assert allowing["results"]["webhook-private"]["attempts"] == [200]
    for probe in FORBIDDEN_ALWAYS:
        assert allowing["results"][probe]["status"] == 400, probe
