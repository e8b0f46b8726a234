"""Server figures: `serve` start-up time, and status-poll throughput against the bare stack and Prism.

Load comes from wrk (Debian package) in its own process, on loopback only, bounded to a few seconds
per run. Mock and bare Starlette run with the same uvicorn settings, one after the other; Prism 5
(`make bench` installs it from npm into benchmarks/out/prism) serves our Pixelcut spec, quiet.
"""

from __future__ import annotations

import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

Table = tuple[list[str], list[list[str]]]
KEY = {"X-API-KEY": "sk_bench"}
PRISM = Path(__file__).with_name("out") / "prism" / "node_modules" / ".bin" / "prism"
SPEC = Path(__file__).parents[1] / "openapi" / "pixelcut.yaml"
STATUS = "/v1/video/remove-background/job"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(command: list[str], port: int, ready_path: str) -> Iterator[float]:
    """Start a server process; yields the seconds it took to answer `ready_path`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = started + 30
        while time.perf_counter() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=0.5).status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.01)
        yield time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(10)


def mock_command(port: int, store: str, state: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mockserver.cli",
        "serve",
        "--port",
        str(port),
        "--store",
        store,
        "--state-dir",
        state,
        "--clock",
        "virtual",
        "--seed",
        "1",
        "--no-rate-limits",  # the figure is the poll path, not 429s
        *extra,
    ]


def startup(runs: int = 5) -> Table:
    times = []
    for _ in range(runs):
        port = free_port()
        with (
            tempfile.TemporaryDirectory() as state,
            server(mock_command(port, "sqlite", state), port, "/__mock/health") as seconds,
        ):
            times.append(seconds)
    return ["measure", "median s", "max s", "runs"], [
        ["process start -> /__mock/health 200", f"{statistics.median(times):.2f}", f"{max(times):.2f}", str(runs)]
    ]


def wrk(url: str, headers: dict[str, str], seconds: int = 5) -> tuple[float, float]:
    args = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    subprocess.run([*args[:4], "-d1s", url], capture_output=True, check=True)  # warm-up
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]  # type: ignore[union-attr]
    return rps, float(p99.group(1)) * scale  # type: ignore[union-attr]


def _targets(stack: ExitStack) -> list[tuple[str, str, dict[str, str]]]:
    """Every server of the comparison, started and left idle: (label, status URL, headers)."""
    port = free_port()
    bare = [sys.executable, "-m", "uvicorn", "benchmarks.bare_app:app", "--port", str(port), "--no-access-log"]
    stack.enter_context(server([*bare, "--log-level", "warning"], port, f"/pixelcut{STATUS}/x"))
    targets = [("bare Starlette (same stack)", f"http://127.0.0.1:{port}/pixelcut{STATUS}/x", {})]
    if PRISM.exists():
        port = free_port()
        prism = [str(PRISM), "mock", str(SPEC), "--port", str(port), "--host", "127.0.0.1", "--verboseLevel", "silent"]
        stack.enter_context(server(prism, port, f"{STATUS}/x"))
        targets.append(("Prism 5 (our Pixelcut spec, static)", f"http://127.0.0.1:{port}{STATUS}/x", KEY))
    for store, extra in (("memory", ()), ("sqlite", ()), ("memory", ("--journal-size", "0"))):
        port, state = free_port(), stack.enter_context(tempfile.TemporaryDirectory())
        stack.enter_context(server(mock_command(port, store, state, *extra), port, "/__mock/health"))
        job = httpx.post(
            f"http://127.0.0.1:{port}/pixelcut/v1/video/remove-background",
            json={"video_url": "https://example.com/v.mp4"},
            headers=KEY,
            timeout=60,
        ).json()["job_id"]
        label = f"cutout-mock, {store} store" + (", journal off" if extra else "")
        targets.append((label, f"http://127.0.0.1:{port}/pixelcut{STATUS}/{job}", KEY))
    return targets


def status_poll(rounds: int = 5) -> Table:
    """Each server loaded in turn, for several rounds; medians per server.

    Interleaved because this machine's speed drifts over seconds: one server measured after
    another would fold that drift into the ratio.
    """
    if shutil.which("wrk") is None:
        return ["note"], [["wrk not installed: apt-get install wrk"]]
    with ExitStack() as stack:
        targets = _targets(stack)
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in targets}
        for _ in range(rounds):
            for label, url, headers in targets:
                runs[label].append(wrk(url, headers, seconds=3))
    rps = {label: statistics.median(r for r, _ in found) for label, found in runs.items()}
    p99 = {label: statistics.median(p for _, p in found) for label, found in runs.items()}
    bare, prism = rps["bare Starlette (same stack)"], rps.get("Prism 5 (our Pixelcut spec, static)")
    rows = [
        [
            label,
            f"{rps[label]:,.0f}",
            f"{p99[label]:.2f}",
            f"{rps[label] / bare:.2f}",
            f"{rps[label] / prism:.2f}" if prism else "Prism not installed",
        ]
        for label in runs
    ]
    header = [f"server (GET job status, c=32, median of {rounds} x 3 s, wrk)", "req/s", "p99 ms", "x bare", "x Prism"]
    return header, rows


def run() -> list[tuple[str, Table]]:
    return [
        ("Server: start-up", startup()),
        ("Server: status-poll throughput (loopback; wrk and server share the 2 cores)", status_poll()),
    ]
