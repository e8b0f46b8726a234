"""Running the app for real: uvicorn on the main port, plus one port per ``--expose``d surface."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import socket
import sys
import time
from dataclasses import fields
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from mockserver.app import create_app, surfaces
from mockserver.control import scenario as scenario_file
from mockserver.control.lock import needs_token, new_token
from mockserver.core.statedir import StateDirLock
from mockserver.providers import PROVIDERS
from mockserver.runtime.mock import Mock
from mockserver.runtime.recovery import Recovered, recover
from mockserver.settings import Settings, env_name, env_text
from mockserver.web.hosts import SurfaceMount
from mockserver.web.tls import self_signed
from mockserver.web.wire import ServerConfig


def base_urls(settings: Settings) -> list[tuple[str, str]]:
    main = f"http://{settings.host}:{settings.port}"
    rows = [(f"{p.name} {name}", f"{main}{s.prefix}") for p in PROVIDERS for name, s in p.surfaces.items()]
    scheme = "https" if settings.tls else "http"
    rows += [(f"{name} (exposed)", f"{scheme}://{settings.host}:{port}") for name, port in settings.expose.items()]
    return [*rows, ("dashboard", f"{main}/__mock/ui"), ("control plane", f"{main}/__mock")]


def state_dir_lock(settings: Settings) -> contextlib.AbstractContextManager[object]:
    """The state dir's lock: exclusive for SQLite (its database lives there) and memory (its outputs do,
    and its reset empties the media folder: beside another mock it deleted that mock's outputs); shared
    for Redis replicas, which share a state dir by design (leases decide who ends a job)."""
    return StateDirLock(settings.resolved_state_dir(), shared=settings.store not in ("sqlite", "memory"))


def serve(settings: Settings) -> None:
    """Listen first (a port in use stops here, before the state is touched), then build and run the app."""
    started = time.perf_counter()
    if settings.workers > 1:
        _check_workers(settings)
    sockets = _listen_all(settings)
    settings.public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
    generated = lock_control(settings)
    try:
        with state_dir_lock(settings):  # a second mock that would harm this state dir's stops here
            if settings.workers > 1:
                serve_workers(settings, started, sockets[0], generated)
            else:
                _serve_one(settings, started, sockets, generated)
    finally:
        for sock in sockets:
            sock.close()


class CannotListen(Exception):
    """A port this server cannot listen on; the message is one line for the user."""


def listen(host: str, port: int, what: str = "", hint: str = "--port or CUTOUT_MOCK_PORT") -> socket.socket:
    """A socket bound to host:port (as uvicorn binds one); port 0 takes any free port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as problem:
        sock.close()
        if problem.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"port {port}{what} is in use on {host}: stop what listens there, "
                f"or choose another port with {hint} (0 takes any free port)"
            ) from None
        raise CannotListen(f"cannot listen on {host}:{port}{what}: {problem.strerror or problem}") from None
    return sock


def _listen_all(settings: Settings) -> list[socket.socket]:
    """The main socket, then one per exposed surface; ports given as 0 are replaced by those chosen."""
    sockets = [listen(settings.host, settings.port)]
    try:
        for name, port in settings.expose.items():
            sockets.append(listen(settings.host, port, f" (--expose {name}={port})", "--expose"))
    except CannotListen:
        for sock in sockets:
            sock.close()
        raise
    settings.port = sockets[0].getsockname()[1]
    settings.expose = {name: sock.getsockname()[1] for name, sock in zip(settings.expose, sockets[1:], strict=True)}
    return sockets


def _serve_one(settings: Settings, started: float, sockets: list[socket.socket], generated: str | None = None) -> None:
    app = create_app(settings)
    recovered = recover(app.state.mock, files=False)  # the output files: in the background (app.py)
    known = surfaces()
    read_timeout = settings.read_timeout  # ServerConfig: header size and read time bounded (web/wire.py)
    configs = [
        ServerConfig(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            read_timeout=read_timeout,
        )
    ]
    tls: dict[str, Any] = {}
    if settings.tls and settings.expose:
        hosts = sorted({s.host for p in PROVIDERS for s in p.surfaces.values()})
        cert, key = self_signed(settings.resolved_state_dir() / "tls", hosts)
        tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    for name, port in settings.expose.items():
        mounted = SurfaceMount(app, known[name], control=settings.expose_control)
        configs.append(
            ServerConfig(
                mounted,
                host=settings.host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                read_timeout=read_timeout,
                **tls,
            )
        )
    servers = [uvicorn.Server(c) for c in configs]

    async def run_all() -> None:
        tasks = [asyncio.create_task(s.serve(sockets=[sock])) for s, sock in zip(servers, sockets, strict=True)]
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.01)
        if all(s.started for s in servers):
            _print_banner(settings, time.perf_counter() - started, tls.get("ssl_certfile"), recovered, generated)
        await asyncio.gather(*tasks)

    # The loop uvicorn would choose itself (uvloop when installed): plain asyncio.run() would give
    # the default loop, which measured less than half the throughput.
    # Ctrl+C: uvicorn shuts down (lifespan included), then re-raises SIGINT, which asyncio.Runner
    # turns into KeyboardInterrupt: quiet, as uvicorn.run and serve_workers are (it was a traceback).
    gc.freeze()
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=configs[0].get_loop_factory()) as runner:
        runner.run(run_all())


class WorkersError(ValueError):
    """A --workers set-up that cannot share its state."""


def _check_workers(settings: Settings) -> None:
    if settings.store == "memory":
        raise WorkersError("--workers needs a shared store: --store sqlite (one machine) or a redis:// URL")
    if settings.expose or settings.tls:
        raise WorkersError("--workers serves the main port only (no --expose or --tls)")


def serve_workers(settings: Settings, started: float, sock: socket.socket, generated: str | None = None) -> None:
    """Several processes on one port (uvicorn's workers, on the socket bound here), sharing state through
    SQLite or Redis.

    This process prepares the state once (scenario, crash recovery, the published clock) and then
    supervises the workers; each builds its app from the same settings, passed in the environment.
    """
    _check_workers(settings)
    mock = Mock(settings)
    if settings.scenario_file is not None:
        scenario_file.apply(mock, scenario_file.read(settings.scenario_file))
    recovered = recover(mock, files=False)  # the output files: each worker, in the background (app.py)
    assert mock.controls is not None
    mock.controls.publish()
    mock.store.close()
    for field in fields(Settings):
        value = getattr(settings, field.name)
        if field.name in ("expose", "scenario_file") or value is None:
            continue
        os.environ[env_name(field.name)] = env_text(value)
    _print_banner(settings, time.perf_counter() - started, None, recovered, generated)
    config = ServerConfig(
        "mockserver.app:worker_app",
        read_timeout=settings.read_timeout,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        access_log=False,
    )
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl+C stops the workers quietly
        Multiprocess(config, sockets=[sock]).run()


def lock_control(settings: Settings) -> str | None:
    """A control token for a mock listening beyond this machine (``--host`` not loopback) that was
    given none: generated here, so /__mock is never open to the network by accident. The new
    token, or None when one was given or none is needed."""
    if settings.control_token or not needs_token(settings.host):
        return None
    settings.control_token = new_token()
    return settings.control_token


def control_lines(settings: Settings, generated: str | None) -> list[str]:
    """The banner's lines about /__mock's lock: a token serve `generated` with its warning, or a note."""
    lines = []
    if generated:
        lines += [
            f"  WARNING: listening on {settings.host}, beyond this machine: /__mock (jobs, accounts, the journal)",
            "  needs this token; anyone who has it controls the mock (give your own with --control-token)",
            f"  control token: {settings.control_token}",
            f"    curl -H 'Authorization: Bearer {settings.control_token}' http://{settings.host}:{settings.port}/__mock/jobs",
            f"    dashboard: http://{settings.host}:{settings.port}/__mock/ui?token={settings.control_token}",
        ]
    elif settings.control_token:
        lines.append("  /__mock needs 'Authorization: Bearer <the --control-token given>'")
    if settings.expose and settings.expose_control:
        lines.append("  /__mock is served on the exposed ports too (--expose-control)")
    return lines


def _print_banner(
    settings: Settings, seconds: float, cert: str | None, recovered: Recovered, generated: str | None = None
) -> None:
    workers = f", workers: {settings.workers}" if settings.workers > 1 else ""
    store = settings.store.split("?")[0]
    lines = [f"cutout-mock ready in {seconds:.2f} s (store: {store}, clock: {settings.clock}{workers})"]
    if recovered.ended or recovered.removed_files:
        lines.append(
            f"  recovered: {len(recovered.ended)} unfinished jobs ended as errored, "
            f"{recovered.removed_files} unrecorded files removed"
        )
    lines += control_lines(settings, generated)  # before the URLs: the last line names the control plane
    lines += [f"  {name:<22} {url}" for name, url in base_urls(settings)]
    if cert:
        lines.append(f"  TLS: export SSL_CERT_FILE={cert}")
    print("\n".join(lines), flush=True, file=sys.stdout)
