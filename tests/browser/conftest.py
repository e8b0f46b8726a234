"""The dashboard in a real browser: Debian's Chromium driven by Playwright for Python.

Nothing is downloaded at run time: Playwright drives the system's Chromium (``executable_path``),
never a browser of its own (no ``playwright install``). Without Chromium or Playwright these tests
skip, saying so, except under ``CUTOUT_MOCK_REQUIRE_BROWSER=1`` (CI sets it, as it does
``CUTOUT_MOCK_REQUIRE_REDIS``), where a missing browser fails the run instead of hiding them.

One mock serves the module on a real 127.0.0.1 port (virtual clock, inline work, so a job moves
only when the clock does), reset before each test. ``CUTOUT_MOCK_SCREENSHOTS=1`` writes each
page's screenshot to ``tests/browser/screenshots/`` (the README shows them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver.app import create_app
from mockserver.settings import Settings
from tests.server.live import running

REQUIRED = os.environ.get("CUTOUT_MOCK_REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(__file__).parent / "screenshots"
CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")  # Debian's binary, then PATH
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> str | None:
    """The system Chromium: Debian's real binary (its /usr/bin/chromium is a wrapper script)."""
    for candidate in CANDIDATES:
        found = candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else shutil.which(candidate)
        if found:
            return found
    return None


def _missing(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"CUTOUT_MOCK_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(f"{why} (CI installs Debian's chromium and runs these)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module. Not for the session: Playwright's sync API keeps an event loop
    running in this thread while it is open, which would break every later asyncio test."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        _missing("no Chromium here (apt-get install chromium)")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start; a container's small
        # /dev/shm crashes its renderer, hence --disable-dev-shm-usage.
        args = ["--no-sandbox", "--disable-dev-shm-usage"]
        launched = playwright.chromium.launch(executable_path=executable, args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings.for_tests(state_dir=tmp_path_factory.mktemp("dashboard"))
    with running(create_app(settings)) as url:
        yield url


@pytest.fixture
def api(base_url: str) -> Iterator[httpx.Client]:
    """The control plane and the providers over HTTP, on a mock reset for this test."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        assert client.post("/__mock/reset", json={}).status_code == 200
        yield client


@pytest.fixture
def page(browser: Any, base_url: str, api: httpx.Client) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url, color_scheme="light")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page: Any, name: str) -> bytes:
    """The whole page as PNG bytes; written to screenshots/<name>.png under CUTOUT_MOCK_SCREENSHOTS=1."""
    data: bytes = page.screenshot(full_page=True)
    if os.environ.get("CUTOUT_MOCK_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(data)
    return data
