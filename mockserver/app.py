"""``create_app(settings)``: one Starlette app serving every provider, their media and /__mock.

Composition only. Routes come from each provider's OpenAPI spec (operationId -> handler; a spec
operation without a handler, or a handler without an operation, stops the app from starting), each
endpoint built by the request pipeline (mockserver/pipeline.py). The runtime learns which providers
it serves; the front door (web/front.py) puts the shared controls, the doors (real hosts, fal's
proxy, CORS) and the journal before every provider's router.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from mockserver import pipeline
from mockserver.control import scenario as scenario_file
from mockserver.control.routes import control_routes
from mockserver.dashboard.routes import dashboard_routes
from mockserver.providers import PROVIDERS
from mockserver.providers.base import Provider
from mockserver.runtime.mock import Mock
from mockserver.runtime.recovery import keep_leases, remove_unrecorded_later
from mockserver.runtime.supervisor import end_with_parent
from mockserver.settings import Settings
from mockserver.web.front import Front, FrontedApp
from mockserver.web.hosts import HostDoor, ProxyDoor
from mockserver.web.journal import JournalRecorder
from mockserver.web.routing import Endpoint, Endpoints, ProviderRouter, not_allowed, not_found
from mockserver.web.spec import Validator, load_spec, operations


def check_handlers(provider: Provider) -> None:
    """The spec and the handler table must name the same operations."""
    declared = {op.operation_id for op in operations(load_spec(provider.name))}
    handled = set(provider.handlers)
    if declared != handled:
        raise RuntimeError(
            f"{provider.name}: spec operations without handler {sorted(declared - handled)}, "
            f"handlers without operation {sorted(handled - declared)}"
        )


def provider_router(mock: Mock, provider: Provider) -> ProviderRouter:
    """Every path of the provider's spec, each operation's endpoint built by the pipeline, and its
    media files; any other path under its prefix answers the provider's own 404."""
    check_handlers(provider)
    spec = load_spec(provider.name)
    validator = Validator(spec)
    words = provider.vocabulary
    by_path: dict[str, dict[str, Endpoint]] = {}
    for op in operations(spec):
        by_path.setdefault(words.prefix + op.path, {})[op.method] = pipeline.endpoint(mock, provider, op, validator)
    # One Endpoints per path, dispatching on the method, so a 405 lists every method in ``Allow``. The
    # media path may be a spec path too (fal's upload PUT): its GET is the CDN's, served but unlisted.
    media = words.surfaces[words.media_surface].prefix + words.media_route
    served = {"GET": pipeline.media_endpoint(mock, words)}
    paths = {path: Endpoints(methods, unlisted=served if path == media else None) for path, methods in by_path.items()}
    paths.setdefault(media, Endpoints(served))
    return ProviderRouter(paths, pipeline.not_found_as(words))


def surfaces() -> dict[str, str]:
    """Every surface by its ``--expose`` name (``fal-queue``, ``pixelcut-api``...) -> path prefix."""
    return {f"{p.name}-{name}": s.prefix for p in PROVIDERS for name, s in p.surfaces.items()}


def worker_app() -> Starlette:
    """The app of one worker process under ``serve --workers N`` (settings from the environment);
    the worker ends with its supervisor, even one killed outright (runtime/supervisor.py)."""
    end_with_parent()
    return create_app(Settings.from_env())


def create_app(settings: Settings | None = None, *, mock: Mock | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    mock = mock or Mock(settings)
    mock.serve(PROVIDERS)
    if settings.scenario_file is not None:  # a bad file stops the start with ControlError's detail
        scenario_file.apply(mock, scenario_file.read(settings.scenario_file))
    if mock.controls is not None:
        mock.controls.adopt()
    routers = {p.vocabulary.prefix.strip("/"): provider_router(mock, p) for p in PROVIDERS}

    started = time.time()  # output files older than this and unrecorded are a crash's leftovers

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        background = []
        if settings.work == "background":
            mock.pool.start()  # the engine's processes load their models now, not on the first request
            background.append(asyncio.create_task(mock.webhooks.run()))
            background.append(asyncio.create_task(mock.purge_media()))  # 5 s after start-up, then every minute
            background.append(asyncio.create_task(remove_unrecorded_later(mock, started)))  # not before listening
            if mock.leases is not None:
                background.append(asyncio.create_task(keep_leases(mock)))
        yield
        for task in background:
            task.cancel()
        await mock.aclose()

    host_prefixes = {h: s.prefix for p in PROVIDERS for s in p.surfaces.values() for h in (s.host, *s.aliases)}
    provider_prefixes = {p.vocabulary.prefix: p.name for p in PROVIDERS}
    journal = (
        functools.partial(JournalRecorder, journal=mock.journal, clock=mock.clock, prefixes=provider_prefixes)
        if settings.journal_size
        else None
    )
    proxies, cors = [], []
    for provider in PROVIDERS:
        words = provider.vocabulary
        if words.cors_exposed is not None:  # fal: a browser app may call its surfaces directly
            cors.append((words.prefix + "/", words.cors_exposed))
        if words.proxy is not None:  # fal.config({proxyUrl}): the target URL in a header
            own = {h: s.prefix for s in words.surfaces.values() for h in (s.host, *s.aliases)}
            path, target_header, key = words.proxy
            proxies.append(ProxyDoor(path, target_header, own, key))
    front = functools.partial(
        Front,
        routers=routers,
        hosts=HostDoor(host_prefixes),
        proxies=proxies,
        cors=cors,
        journal=journal,
        controls=mock.controls,
    )
    # The control plane and the dashboard: Starlette's router and exception handlers. Provider paths
    # never reach them: the front door hands those to the provider's router (web/front.py).
    app = FrontedApp(
        front=front,
        routes=[*control_routes(mock), *dashboard_routes(mock, PROVIDERS)],
        exception_handlers={404: not_found, 405: not_allowed},
        lifespan=lifespan,
    )
    app.state.mock = mock
    mock.bind(app, set(host_prefixes))
    return app
