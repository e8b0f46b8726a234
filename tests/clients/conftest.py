"""The official clients against a live mock on 127.0.0.1: fal-client (Python) and @fal-ai/client (node).

The server runs with progression by polls, so a client that polls (or watches the status stream)
sees its request queued, running, then done, with no clock to move. @fal-ai/client comes from npm
into benchmarks/out/npm (not committed; installed once per machine); without node or npm the JS tests
are skipped, except under CUTOUT_MOCK_REQUIRE_NODE=1 (CI), where that fails the run.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockserver.app import create_app
from mockserver.settings import Settings
from tests.server.live import running

ROOT = Path(__file__).resolve().parents[2]
NPM_DIR = ROOT / "benchmarks" / "out" / "npm"
FAL_JS = "@fal-ai/client@^1.10"  # the major the fal docs show; the newest of it


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings.for_tests(state_dir=tmp_path_factory.mktemp("state"), progression="polls")
    with running(create_app(settings)) as url:
        yield url


@pytest.fixture
def fal_urls(base_url: str) -> Iterator[str]:
    """fal-client's module URLs on the mock (recipe B of NOTES §2.6: its hosts are https-only
    constants), restored afterwards; garbage collected so its leaked sockets are reported here."""
    import fal_client.client as fal

    saved = (fal.QUEUE_URL_FORMAT, fal.RUN_URL_FORMAT, fal.REST_URL, fal.CDN_URL)
    fal.QUEUE_URL_FORMAT, fal.RUN_URL_FORMAT = f"{base_url}/fal/queue/", f"{base_url}/fal/run/"
    fal.REST_URL, fal.CDN_URL = f"{base_url}/fal/rest", f"{base_url}/fal/cdn"
    try:
        yield base_url
    finally:
        fal.QUEUE_URL_FORMAT, fal.RUN_URL_FORMAT, fal.REST_URL, fal.CDN_URL = saved
        gc.collect()


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """node_modules holding @fal-ai/client from npm (installed on first use)."""
    required = os.environ.get("CUTOUT_MOCK_REQUIRE_NODE") == "1"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if required:
            pytest.fail("CUTOUT_MOCK_REQUIRE_NODE=1 but node/npm is missing")
        pytest.skip("node and npm are needed for the JS client's tests")
    modules = NPM_DIR / "node_modules"
    if not (modules / "@fal-ai" / "client" / "package.json").is_file():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        command = [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(NPM_DIR), FAL_JS]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"npm install {FAL_JS} failed: {done.stderr[-2000:]}"
    return modules
