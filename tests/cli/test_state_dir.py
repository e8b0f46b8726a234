"""One serving mock per state dir: a second refuses with one line, and nothing of the first is lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.server.live import free_port, serve_command, serve_process


def _cut_out_a_sample(base: str) -> str:
    """A Pixelcut cut-out of the mock's own sample photo; its result URL."""
    sample = httpx.get(f"{base}/__mock/samples/product.jpg").content
    r = httpx.post(
        f"{base}/pixelcut/v1/remove-background",
        files={"image": ("p.jpg", sample, "image/jpeg")},
        headers={"X-API-KEY": "sk_lock"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["result_url"])


def test_a_second_serve_on_the_same_state_dir_refuses_and_deletes_nothing(tmp_path: Path) -> None:
    with serve_process(tmp_path, "--store", "sqlite") as (_, base, _banner):
        result = _cut_out_a_sample(base)
        command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", str(free_port())]
        done = subprocess.run(
            [*command, "--state-dir", str(tmp_path), "--store", "sqlite"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2
        assert f"state dir {tmp_path} is in use by another cutout-mock (pid" in done.stderr
        assert "Traceback" not in done.stderr
        assert httpx.get(result).status_code == 200, "the running mock's output was deleted"


def test_a_memory_store_never_shares_a_state_dir(tmp_path: Path) -> None:
    """A memory store's reset empties the media folder (it deleted a running SQLite mock's outputs), and a
    SQLite mock started beside a memory one would sweep the memory one's files as unrecorded: either
    order, the second refuses; Redis replicas take the lock shared, so they refuse beside either too."""
    command = serve_command(free_port(), tmp_path)
    for first, second in (
        ("sqlite", "memory"),
        ("memory", "sqlite"),
        ("memory", "memory"),
        ("sqlite", "redis://127.0.0.1:1/0"),
    ):
        with serve_process(tmp_path, "--store", first) as (_, base, _banner):
            result = _cut_out_a_sample(base)
            done = subprocess.run([*command, "--store", second], capture_output=True, text=True, timeout=60)
            assert done.returncode == 2, (first, second, done.stderr)
            assert f"state dir {tmp_path} is in use by another cutout-mock (pid" in done.stderr
            assert httpx.get(result).status_code == 200, "the running mock's output was deleted"


def test_a_memory_store_never_deletes_a_stopped_stores_files(tmp_path: Path) -> None:
    with serve_process(tmp_path, "--store", "sqlite") as (_, base, _banner):
        result_path = _cut_out_a_sample(base).split("/result/", 1)[1]
    files = sorted(p.name for p in (tmp_path / "media").glob("??/*"))
    assert files
    with serve_process(tmp_path, "--store", "memory") as (_, _base, banner):
        assert "unrecorded" not in banner
    assert sorted(p.name for p in (tmp_path / "media").glob("??/*")) == files
    with serve_process(tmp_path, "--store", "sqlite") as (_, base, _banner):
        assert httpx.get(f"{base}/pixelcut/assets/public/result/{result_path}").status_code == 200
