"""Running the app for real: uvicorn on the main port, plus one port per ``--expose``d surface."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from dataclasses import fields

import uvicorn

from mockserver.app import create_app, surfaces
from mockserver.control import scenario as scenario_file
from mockserver.middleware import SurfaceMount
from mockserver.providers import PROVIDERS
from mockserver.recovery import Recovered, recover
from mockserver.runtime import Mock
from mockserver.settings import Settings
from mockserver.tls import self_signed


def base_urls(settings: Settings) -> list[tuple[str, str]]:
    main = f"http://{settings.host}:{settings.port}"
    rows = [(f"{p.name} {name}", f"{main}{s.prefix}") for p in PROVIDERS for name, s in p.surfaces.items()]
    scheme = "https" if settings.tls else "http"
    rows += [(f"{name} (exposed)", f"{scheme}://{settings.host}:{port}") for name, port in settings.expose.items()]
    return [*rows, ("control plane", f"{main}/__mock")]


def serve(settings: Settings) -> None:
    started = time.perf_counter()
    settings.public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
    if settings.workers > 1:
        serve_workers(settings, started)
        return
    app = create_app(settings)
    recovered = recover(app.state.mock)
    known = surfaces()
    configs = [uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)]
    tls: dict[str, str] = {}
    if settings.tls and settings.expose:
        hosts = sorted({s.host for p in PROVIDERS for s in p.surfaces.values()})
        cert, key = self_signed(settings.resolved_state_dir() / "tls", hosts)
        tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    for name, port in settings.expose.items():
        mounted = SurfaceMount(app, known[name])
        configs.append(
            uvicorn.Config(
                mounted, host=settings.host, port=port, log_level="warning", access_log=False, lifespan="off", **tls
            )
        )
    servers = [uvicorn.Server(c) for c in configs]

    async def run_all() -> None:
        tasks = [asyncio.create_task(s.serve()) for s in servers]
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.01)
        if all(s.started for s in servers):
            _print_banner(settings, time.perf_counter() - started, tls.get("ssl_certfile"), recovered)
        await asyncio.gather(*tasks)

    # The loop uvicorn would choose itself (uvloop when installed): plain asyncio.run() would give
    # the default loop, which measured less than half the throughput.
    gc.freeze()
    with asyncio.Runner(loop_factory=configs[0].get_loop_factory()) as runner:
        runner.run(run_all())


class WorkersError(ValueError):
    """A --workers set-up that cannot share its state."""


def serve_workers(settings: Settings, started: float) -> None:
    """Several processes on one port (uvicorn's workers), sharing state through SQLite or Redis.

    This process prepares the state once (scenario, crash recovery, the published clock) and then
    supervises the workers; each builds its app from the same settings, passed in the environment.
    """
    if settings.store == "memory":
        raise WorkersError("--workers needs a shared store: --store sqlite (one machine) or a redis:// URL")
    if settings.expose or settings.tls:
        raise WorkersError("--workers serves the main port only (no --expose or --tls)")
    mock = Mock(settings)
    if settings.scenario_file is not None:
        scenario_file.apply(mock, scenario_file.read(settings.scenario_file))
    recovered = recover(mock)
    assert mock.controls is not None
    mock.controls.publish()
    mock.store.close()
    for field in fields(Settings):
        value = getattr(settings, field.name)
        if field.name in ("expose", "scenario_file") or value is None:
            continue
        os.environ[f"CUTOUT_MOCK_{field.name.upper()}"] = str(value)
    _print_banner(settings, time.perf_counter() - started, None, recovered)
    uvicorn.run(
        "mockserver.app:worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        access_log=False,
    )


def _print_banner(settings: Settings, seconds: float, cert: str | None, recovered: Recovered) -> None:
    workers = f", workers: {settings.workers}" if settings.workers > 1 else ""
    store = settings.store.split("?")[0]
    lines = [f"cutout-mock ready in {seconds:.2f} s (store: {store}, clock: {settings.clock}{workers})"]
    if recovered.ended or recovered.removed_files:
        lines.append(
            f"  recovered: {len(recovered.ended)} unfinished jobs ended as errored, "
            f"{recovered.removed_files} unrecorded files removed"
        )
    lines += [f"  {name:<22} {url}" for name, url in base_urls(settings)]
    if cert:
        lines.append(f"  TLS: export SSL_CERT_FILE={cert}")
    print("\n".join(lines), flush=True, file=sys.stdout)
