"""Server figures: `serve` start-up time, status-poll throughput against the bare stack and Prism
on every store, and what a large state costs (100,000 jobs and output files, a full journal).

Load comes from wrk (Debian package) in its own process, on loopback only, bounded to a few seconds
per run. Mock and bare Starlette run with the same uvicorn settings, one after the other; Prism 5
(`make bench` installs it from npm into benchmarks/out/prism) serves our Pixelcut spec, quiet. The
Redis rows use a redis-server of their own (Debian package) on a free port; Redis's own
`INFO commandstats` counts its commands per poll (those run inside scripts included) and
`INFO cpu` its CPU time, shown beside the mock process's own (from /proc).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
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


def fund(base: str) -> None:
    """Credits for every image a run can send (a key starts with Pixelcut's free 100)."""
    httpx.put(f"{base}/__mock/accounts/pixelcut/{KEY['X-API-KEY']}", json={"balance": 10_000_000}).raise_for_status()


PIDS: dict[int, int] = {}  # port -> pid of the server process the bench started on it


@contextmanager
def server(command: list[str], port: int, ready_path: str) -> Iterator[float]:
    """Start a server process; yields the seconds it took to answer `ready_path`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PIDS[port] = process.pid
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


def wrk(url: str, headers: dict[str, str], seconds: int = 5, warm: bool = True) -> tuple[float, float]:
    rps, p99, _ = wrk_run(url, headers, seconds, warm)
    return rps, p99


def wrk_run(url: str, headers: dict[str, str], seconds: int = 5, warm: bool = True) -> tuple[float, float, int]:
    """(requests/s, p99 ms, requests) of one wrk run at c=32 (after a 1 s warm-up when `warm`);
    RuntimeError when any answer was not 2xx or 3xx."""
    args = ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if warm:
        subprocess.run([*args[:4], "-d1s", url], capture_output=True, check=True)
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if refused:  # a rate of refusals is no figure of the poll path (every run here expects 200s)
        raise RuntimeError(f"wrk {url}: {refused.group(1)} answers were not 2xx or 3xx")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, float(p99.group(1)) * scale, requests  # type: ignore[union-attr]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def redis_server() -> Iterator[str | None]:
    """A redis-server of the bench's own on a free port (no persistence); None when not installed."""
    if shutil.which("redis-server") is None:
        yield None
        return
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def redis_counters(url: str) -> tuple[int, float]:
    """(commands Redis has run, those inside scripts included; its CPU seconds) from INFO."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats, cpu = client.info("commandstats"), client.info("cpu")
    finally:
        client.close()
    calls = sum(int(v["calls"]) for k, v in stats.items() if not k.startswith("cmdstat_info"))
    return calls, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def _targets(stack: ExitStack, redis_url: str | None = None) -> list[tuple[str, str, dict[str, str]]]:
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
    stores: list[tuple[str, tuple[str, ...]]] = [("memory", ()), ("sqlite", ()), ("memory", ("--journal-size", "0"))]
    if redis_url is not None:
        stores.append((redis_url, ()))
    for store, extra in stores:
        port, state = free_port(), stack.enter_context(tempfile.TemporaryDirectory())
        stack.enter_context(server(mock_command(port, store, state, *extra), port, "/__mock/health"))
        job = httpx.post(
            f"http://127.0.0.1:{port}/pixelcut/v1/video/remove-background",
            json={"video_url": "https://example.com/v.mp4"},
            headers=KEY,
            timeout=60,
        ).json()["job_id"]
        label = f"cutout-mock, {'redis' if store == redis_url else store} store" + (", journal off" if extra else "")
        targets.append((label, f"http://127.0.0.1:{port}/pixelcut{STATUS}/{job}", KEY))
    return targets


def status_poll(rounds: int = 5) -> Table:
    """Each server loaded in turn, for several rounds; medians per server.

    Interleaved because this machine's speed drifts over seconds: one server measured after
    another would fold that drift into the ratio. Per poll: the server process's CPU time, and for
    Redis the commands Redis ran and its own CPU time (INFO), over the same runs.
    """
    if shutil.which("wrk") is None:
        return ["note"], [["wrk not installed: apt-get install wrk"]]
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server())
        targets = _targets(stack, redis_url)
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in targets}
        cpu: dict[str, list[float]] = {label: [] for label, _, _ in targets}
        commands: list[float] = []
        redis_cpu: list[float] = []
        for round_ in range(rounds):
            for label, url, headers in targets:
                pid = PIDS.get(int(url.split(":")[2].split("/")[0]))
                is_redis = label.startswith("cutout-mock, redis")
                before = cpu_seconds(pid) if pid and "Prism" not in label else None  # Prism: node, its own split
                counted = redis_counters(redis_url) if is_redis and redis_url else None
                rps, p99, requests = wrk_run(url, headers, seconds=3, warm=round_ == 0)
                runs[label].append((rps, p99))
                if before is not None and pid:
                    cpu[label].append((cpu_seconds(pid) - before) / requests * 1e6)
                if counted is not None and redis_url:
                    calls, seconds = redis_counters(redis_url)
                    commands.append((calls - counted[0]) / requests)
                    redis_cpu.append((seconds - counted[1]) / requests * 1e6)
    rps = {label: statistics.median(r for r, _ in found) for label, found in runs.items()}
    p99 = {label: statistics.median(p for _, p in found) for label, found in runs.items()}
    bare, prism = rps["bare Starlette (same stack)"], rps.get("Prism 5 (our Pixelcut spec, static)")
    rows = []
    for label in runs:
        is_redis = label.startswith("cutout-mock, redis")
        rows.append(
            [
                label,
                f"{rps[label]:,.0f}",
                f"{p99[label]:.2f}",
                f"{rps[label] / bare:.2f}",
                f"{rps[label] / prism:.2f}" if prism else "Prism not installed",
                f"{statistics.median(cpu[label]):.0f}" if cpu[label] else "",
                f"{statistics.median(commands):.2f}" if is_redis and commands else "",
                f"{statistics.median(redis_cpu):.0f}" if is_redis and redis_cpu else "",
            ]
        )
    if redis_url is None:
        rows.append(["cutout-mock, redis store", "redis-server not installed", "", "", "", "", "", ""])
    header = [
        f"server (GET job status, c=32, median of {rounds} x 3 s, wrk)",
        "req/s",
        "p99 ms",
        "x bare",
        "x Prism",
        "server CPU us/poll",
        "Redis cmds/poll",
        "Redis CPU us/poll",
    ]
    return header, rows


# --- a large state: 100,000 jobs and output files, a full journal ---------------------------------

GROWTH_JOBS = 100_000


def fill_state(state: Path, jobs: int = GROWTH_JOBS) -> str:
    """A state dir as a long-used `serve` leaves it: `jobs` finished Pixelcut jobs in the SQLite store,
    each with an output file on disk and its record (half of them expired). Written straight into
    the database (the schema made by the store itself); the id of one job, for status polls."""
    from mockserver.core.backends.sqlite import SqliteStore
    from mockserver.core.jobs import Job, MediaRef, State

    db_path = state / "cutout-mock.db"
    SqliteStore(db_path).close()
    now = time.time()
    template = Job("job-0", "pixelcut", "video", "sk_bench", now, {"video_url": "https://example.com/v.mp4"})
    template.outcome, template.done_at = State.SUCCEEDED, now
    media_root = state / "media"
    jobs_rows, media_rows = [], []
    for n in range(jobs):
        media_id = hashlib.md5(str(n).encode()).hexdigest()  # spread over the 256 folders, as real ids are
        expires = now + (-60 if n % 2 else 3600)
        ref = MediaRef(media_id, f"{n}.webm", "video/webm", 16, expires)
        template.id, template.outputs = f"job-{n}", [ref]
        jobs_rows.append(("pixelcut", template.id, "sk_bench", now + n * 1e-3, 0, json.dumps(template.to_dict())))
        media_rows.append((media_id, "pixelcut", json.dumps(ref.__dict__), expires))
        folder = media_root / media_id[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / media_id).write_bytes(b"0123456789abcdef")
    with sqlite3.connect(db_path) as db:
        db.executemany(
            "INSERT INTO jobs (provider, id, owner, created_at, polls, data) VALUES (?,?,?,?,?,?)", jobs_rows
        )
        db.executemany("INSERT INTO media (id, provider, data, expires_at) VALUES (?,?,?,?)", media_rows)
    return f"job-{jobs - 1}"


def _timed_get(url: str, runs: int = 15) -> float:
    """Median ms of GET `url` over `runs` (loopback, one connection)."""
    times = []
    with httpx.Client(timeout=60) as client:
        for _ in range(runs):
            started = time.perf_counter()
            answer = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
    return statistics.median(times)


def _lister(base: str, stop: threading.Event, pages: list[int]) -> None:
    """The control plane's listing in a loop: every page of jobs (default size), then again."""
    with httpx.Client(timeout=60) as client:
        cursor = None
        while not stop.is_set():
            page = client.get(f"{base}/__mock/jobs", params={"cursor": cursor} if cursor else None).json()
            pages.append(len(page["jobs"]))
            cursor = page["next_cursor"]


def growth() -> Table:
    """SQLite `serve` on a state of 100,000 jobs and output files with a full journal: start-up, a
    page of jobs and of the journal, and a status poll's p99 alone and while the control plane lists."""
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as empty:
        state = Path(folder)
        started = time.perf_counter()
        job = fill_state(state)
        filled = time.perf_counter() - started
        starts: dict[str, list[float]] = {folder: [], empty: []}
        for _ in range(3):  # interleaved, as the machine's speed drifts
            for state_dir, found in starts.items():
                port = free_port()
                with server(mock_command(port, "sqlite", state_dir), port, "/__mock/health") as seconds:
                    found.append(seconds)
        full, bare = statistics.median(starts[folder]), statistics.median(starts[empty])
        rows.append(["start-up (process start -> /__mock/health), empty state dir", f"{bare * 1000:.0f}", "median"])
        rows.append(
            [
                f"start-up, {GROWTH_JOBS:,} jobs and output files (state written in {filled:.0f} s)",
                f"{full * 1000:.0f}",
                f"median of 3; {full / bare:.2f} x the empty state dir's",
            ]
        )
        port = free_port()
        with server(mock_command(port, "sqlite", folder), port, "/__mock/health"):
            base = f"http://127.0.0.1:{port}"
            poll = f"{base}/pixelcut{STATUS}/{job}"
            wrk_run(poll, KEY, seconds=2)  # fills the journal (10,000 entries)
            last = httpx.get(f"{base}/__mock/jobs", params={"limit": 1000}).json()["next_cursor"]
            deep = int(last) + GROWTH_JOBS - 1100
            pages = {
                "a page of jobs (default 100)": f"{base}/__mock/jobs",
                "a page of 1,000 jobs": f"{base}/__mock/jobs?limit=1000",
                f"a page of jobs {GROWTH_JOBS - 1000:,} deep (cursor)": f"{base}/__mock/jobs?cursor={deep}",
                "a page of one key's jobs": f"{base}/__mock/jobs?provider=pixelcut&key=sk_bench",
                "a page of the journal (default 100)": f"{base}/__mock/journal",
                "a page of 1,000 journal entries": f"{base}/__mock/journal?limit=1000",
            }
            for label, url in pages.items():
                rows.append([label, f"{_timed_get(url):.1f}", "median of 15, client-side"])
            _, alone, _ = wrk_run(poll, KEY, seconds=3, warm=False)
            stop, listed = threading.Event(), []
            lister = threading.Thread(target=_lister, args=(base, stop, listed), daemon=True)
            lister.start()
            try:
                _, busy, _ = wrk_run(poll, KEY, seconds=3, warm=False)
            finally:
                stop.set()
                lister.join(60)
            rows.append(["status poll p99 alone (c=32)", f"{alone:.2f}", ""])
            rows.append(
                [
                    f"status poll p99 while the control plane lists jobs ({len(listed)} pages in 3 s)",
                    f"{busy:.2f}",
                    f"{busy / alone:.2f} x alone",
                ]
            )
    return ["SQLite store, 100,000 jobs + full journal", "ms", "note"], rows


def run() -> list[tuple[str, Table]]:
    return [
        ("Server: start-up", startup()),
        ("Server: status-poll throughput (loopback; wrk and server share the 2 cores)", status_poll()),
        ("Server: a large state (nothing that grows blocks a poll)", growth()),
    ]
