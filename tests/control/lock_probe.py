"""Run inside a loopback-only network namespace (test_lock.py): `cutout-mock serve --host 0.0.0.0`
listens on every interface of a namespace that has nothing but its own loopback and 10.9.8.7, so
nothing outside can reach it. Prints one JSON line: the banner, and what /__mock answered."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time

import httpx

from tests.server.live import read_banner

SERVE = [sys.executable, "-m", "mockserver.cli", "serve", "--host", "0.0.0.0", "--port", "0", "--store", "memory"]


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def main() -> None:
    with tempfile.TemporaryDirectory() as state:
        server = subprocess.Popen(
            [*SERVE, "--state-dir", state, *sys.argv[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            try:
                banner = read_banner(server)
            except RuntimeError as exited:
                raise SystemExit(str(exited)) from None
            port = re.search(r"control plane\s+http://0\.0\.0\.0:(\d+)/__mock", banner)
            token = re.search(r"control token: (\S+)", banner)
            assert port, banner
            deadline = time.monotonic() + 60  # with --workers the banner comes before the workers listen
            while not _ready(f"http://127.0.0.1:{port.group(1)}/__mock/health"):
                assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
            answers: dict[str, int] = {}
            for where in ("127.0.0.1", "10.9.8.7"):
                base = f"http://{where}:{port.group(1)}/__mock"
                answers[f"{where} health"] = httpx.get(f"{base}/health", timeout=10).status_code
                answers[f"{where} no token"] = httpx.get(f"{base}/clock", timeout=10).status_code
                wrong = {"Authorization": "Bearer not-the-token"}
                answers[f"{where} wrong token"] = httpx.get(f"{base}/clock", headers=wrong, timeout=10).status_code
                if token:
                    right = {"Authorization": f"Bearer {token.group(1)}"}
                    answers[f"{where} token"] = httpx.get(f"{base}/clock", headers=right, timeout=10).status_code
        finally:
            server.terminate()
            server.wait(20)
            if server.stdout:
                server.stdout.close()
    print(json.dumps({"banner": banner, "token": token.group(1) if token else None, "answers": answers}))


if __name__ == "__main__":
    main()
