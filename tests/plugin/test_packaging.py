"""The plugin as installed: it works after a plain ``pip install cutout-mock`` and costs pytest nothing
at start-up (loading it imports none of the mock's heavy modules)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("cv2", "av", "numpy", "uvicorn", "onnxruntime", "mockserver.app")

USER_TEST = """
import httpx


def test_a_user_test(cutout_mock):
    headers = {"Authorization": "Bearer k", "User-Agent": "user/1.0"}
    assert httpx.get("https://api.pixelapi.dev/v1/models", headers=headers).status_code == 200
    [entry] = cutout_mock.control.get_journal()
    assert entry["path"] == "/pixelapi/v1/models"
"""


def _run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=900)


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    script = f"import sys, contracts, contracts.pytest_plugin; print([m for m in {HEAVY!r} if m in sys.modules])"
    done = _run(sys.executable, "-c", script)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.slow
def test_a_plain_install_runs_the_plugin_and_names_the_extra_where_it_is_needed(tmp_path: Path) -> None:
    """A fresh venv (not sharing this one's packages) with `pip install cutout-mock` and pytest only."""
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv).returncode == 0
    python = venv / "bin" / "python"
    installed = _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", ROOT, "pytest")
    assert installed.returncode == 0, installed.stderr[-3000:]
    missing = _run(python, "-c", "import hypothesis")
    assert missing.returncode != 0, "a plain install must not bring the kit extra"

    (tmp_path / "test_user.py").write_text(USER_TEST)
    run = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py", cwd=tmp_path)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]

    verifier = _run(python, "-c", "import contracts; contracts.verify_client")
    assert "contracts.verify_client needs hypothesis: pip install 'cutout-mock[kit]'" in verifier.stderr
    command = _run(venv / "bin" / "cutout-mock", "verify", "server", "--provider", "fal", "--base-url", "http://x/fal")
    assert command.returncode == 2 and command.stderr.count("\n") == 1, command.stderr
    assert "pip install 'cutout-mock[kit]'" in command.stderr
