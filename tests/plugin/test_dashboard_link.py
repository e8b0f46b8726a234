"""A failed test that used ``cutout_server`` names the mock's dashboard and journal in its report."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SOURCE = """
import httpx


def test_passes(cutout_server):
    assert cutout_server.dashboard_url == cutout_server.url + "/__mock/ui"
    assert httpx.get(cutout_server.dashboard_url + "/jobs").status_code == 200


def test_fails(cutout_server):
    assert False, "the client misbehaved"


def test_fails_without_the_server():
    assert False
"""


def test_a_failing_test_names_the_dashboard(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=SOURCE)
    result = pytester.runpytest_inprocess("-q")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*- cutout-mock -*",
            "dashboard: http://127.0.0.1:*/__mock/ui",
            "journal: http://127.0.0.1:*/__mock/ui/journal",
        ]
    )
    assert result.stdout.str().count("dashboard: http") == 1  # not for the test without the fixture
