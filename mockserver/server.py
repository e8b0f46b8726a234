"""Running the app for real: uvicorn on the main port, plus one port per ``--expose``d surface."""

from __future__ import annotations

import asyncio
import sys
import time

import uvicorn

from mockserver.app import create_app, surfaces
from mockserver.middleware import SurfaceMount
from mockserver.providers import PROVIDERS
from mockserver.recovery import Recovered, recover
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
    with asyncio.Runner(loop_factory=configs[0].get_loop_factory()) as runner:
        runner.run(run_all())


def _print_banner(settings: Settings, seconds: float, cert: str | None, recovered: Recovered) -> None:
    lines = [f"cutout-mock ready in {seconds:.2f} s (store: {settings.store}, clock: {settings.clock})"]
    if recovered.ended or recovered.removed_files:
        lines.append(
            f"  recovered: {len(recovered.ended)} unfinished jobs ended as errored, "
            f"{recovered.removed_files} unrecorded files removed"
        )
    lines += [f"  {name:<22} {url}" for name, url in base_urls(settings)]
    if cert:
        lines.append(f"  TLS: export SSL_CERT_FILE={cert}")
    print("\n".join(lines), flush=True, file=sys.stdout)
