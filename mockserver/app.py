"""``create_app(settings)``: one Starlette app serving every provider, their media and /__mock.

Routes come from each provider's OpenAPI spec (operationId -> handler); a spec operation without a
handler, or a handler without an operation, stops the app from starting. Every endpoint runs inside
one wrapper that authenticates, reads and validates the body against the spec, and turns every
failure into the provider's own error shape: nothing becomes a bare 500 or a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from mockserver.control import scenario as scenario_file
from mockserver.control.routes import control_routes
from mockserver.core.faults import Rule, RuleError, scenario
from mockserver.engine.errors import MediaError
from mockserver.providers import PROVIDERS
from mockserver.providers.base import Context, Provider, fault_error
from mockserver.runtime.mock import Mock
from mockserver.runtime.recovery import keep_leases
from mockserver.settings import Settings
from mockserver.web.bodies import BadBody, read_body
from mockserver.web.controls import SyncControls
from mockserver.web.hosts import HostRouting
from mockserver.web.http import ApiError, JsonResponse, header
from mockserver.web.journal import JournalRecorder, note_response
from mockserver.web.routing import Endpoint, Endpoints, ProviderRouter, SegmentRouter
from mockserver.web.spec import Operation, Validator, load_spec, operations, parameter_errors

log = logging.getLogger("cutout_mock")


def check_handlers(provider: Provider) -> None:
    """The spec and the handler table must name the same operations."""
    declared = {op.operation_id for op in operations(load_spec(provider.spec))}
    handled = set(provider.handlers)
    if declared != handled:
        raise RuntimeError(
            f"{provider.name}: spec operations without handler {sorted(declared - handled)}, "
            f"handlers without operation {sorted(handled - declared)}"
        )


def _endpoint(mock: Mock, provider: Provider, op: Operation, validator: Validator) -> Endpoint:
    handler = provider.handlers[op.operation_id]
    vocabulary = provider.vocabulary
    json_schema = op.bodies.get("application/json")
    raw_body = bool(op.bodies) and not ({"application/json", "multipart/form-data"} & set(op.bodies))

    async def endpoint(request: Request) -> Response:
        ctx = Context(request, mock, provider, op)
        request.scope["cutout.operation"] = op.operation_id  # for the journal
        try:
            refused = provider.gate(request)
            if refused is not None:
                raise refused
            if op.secured:
                key = provider.api_key(request)
                ctx.account = mock.accounts.authenticate(provider.name, key, provider.starting_balance)
                if ctx.account is None:
                    raise vocabulary.unauthorized(request)
                request.scope["cutout.key"] = ctx.account.key
                _limit(mock, ctx)
            if op.parameters:  # parsing the query string of a request that has none cost a poll ~8 %
                errors = parameter_errors(validator, op.parameters, request.query_params, request.headers)
                if errors:
                    raise vocabulary.invalid(errors)
            if op.bodies:
                ctx.body = await read_body(
                    request,
                    allow_multipart="multipart/form-data" in op.bodies,
                    raw=raw_body,
                    max_bytes=provider.max_body,
                )
                if ctx.body.content_type == "application/json" and json_schema is not None:
                    errors = validator.errors(ctx.body.fields, json_schema)
                    if errors:
                        raise vocabulary.invalid(errors)
            early = await _apply_fault(mock, ctx)
            response = early if early is not None else await handler(ctx)
        except ApiError as error:
            response = error.response()
        except BadBody as problem:
            response = vocabulary.bad_body(problem).response()
        except MediaError as error:
            response = vocabulary.media_error(error).response()
        except Exception:
            log.exception("%s %s failed", provider.name, op.operation_id)
            response = vocabulary.internal().response()
        extra = {**ctx.extra_headers, **provider.response_headers(ctx)}
        if extra:
            response.headers.update(extra)
        return response

    endpoint.__name__ = op.operation_id
    return endpoint


def _limit(mock: Mock, ctx: Context) -> None:
    """Take a token for the key; a refusal is the provider's 429 with Retry-After."""
    if not mock.limiter.enabled or ctx.account is None:
        return
    provider = ctx.provider
    limit = mock.limiter.overrides.get(provider.name) or provider.rate_limit(ctx.account)
    decision = mock.limiter.take(provider.name, ctx.account.key, limit)
    ctx.extra_headers.update(provider.rate_headers(decision))
    if not decision.allowed:
        refusal = provider.vocabulary.rate_limited(decision)
        refusal.headers["Retry-After"] = str(decision.retry_after)
        raise refusal


async def _apply_fault(mock: Mock, ctx: Context) -> Response | None:
    """The X-Mock-Scenario header or the first matching /__mock/faults rule, if any.

    Returns a response to send instead of the handler's, or None to go on (after latency, or with
    the job shaped through ``ctx.job_action``).
    """
    request, provider = ctx.request, ctx.provider
    name = header(request, "x-mock-scenario")
    if name:
        try:
            rule: Rule | None = scenario(name)
        except RuleError as problem:
            raise provider.vocabulary.invalid(
                [{"loc": ["header", "X-Mock-Scenario"], "msg": str(problem), "type": "value_error"}]
            ) from None
    else:
        body = json.dumps(ctx.body.fields, default=str) if ctx.body else ""
        key = ctx.account.key if ctx.account else None
        rule = mock.faults.fire(provider.name, request.scope["cutout.operation"], key, request.headers, body)
    if rule is None:
        return None
    if rule.delay and not rule.shapes_job:  # a job action's delay is queue time on the mock's clock
        await asyncio.sleep(rule.delay)
    if rule.action == "status":
        raise fault_error(provider, rule, request, mock.clock.now())
    if rule.action == "malformed":
        return Response(b'{"status": "COMPLETED", "result": {', media_type="application/json")
    if rule.shapes_job:
        ctx.job_action, ctx.queue_wait = rule.action, rule.delay
    return None


def _media_endpoint(mock: Mock, provider: Provider) -> Endpoint:
    async def media(request: Request) -> Response:
        stored = mock.media.find(request.path_params["media_id"])
        if stored is None or stored.provider != provider.name:
            return provider.vocabulary.not_found("file").response()
        if stored.expired(mock.clock.now()):
            return provider.vocabulary.media_expired().response()
        return FileResponse(
            stored.path,
            media_type=stored.ref.content_type,
            headers={"Content-Disposition": f'inline; filename="{stored.ref.filename}"'},
        )

    media.__name__ = f"{provider.name}_media"
    return media


def provider_routes(mock: Mock, provider: Provider) -> list[Route]:
    check_handlers(provider)
    spec = load_spec(provider.spec)
    validator = Validator(spec)
    by_path: dict[str, dict[str, Any]] = {}
    for op in operations(spec):
        by_path.setdefault(op.path, {})[op.method] = _endpoint(mock, provider, op, validator)
    # One route per path, dispatching on the method, so a 405 lists every method in ``Allow``.
    routes = [
        Route(provider.prefix + path, Endpoints(endpoints), methods=list(endpoints))
        for path, endpoints in by_path.items()
    ]
    media_prefix = provider.surfaces[provider.media_surface].prefix
    media = Endpoints({"GET": _media_endpoint(mock, provider)})
    routes.append(Route(media_prefix + provider.media_route, media, methods=["GET"]))
    return routes


def _not_found_as(provider: Provider) -> Any:
    """An unknown path under a provider's prefix answers 404 in that provider's own shape."""

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        await note_response(scope, provider.vocabulary.not_found("resource").response())(scope, receive, send)

    return not_found


def surfaces() -> dict[str, str]:
    """Every surface by its ``--expose`` name (``fal-queue``, ``pixelcut-api``...) -> path prefix."""
    return {f"{p.name}-{name}": s.prefix for p in PROVIDERS for name, s in p.surfaces.items()}


def worker_app() -> Starlette:
    """The app of one worker process under ``serve --workers N`` (settings from the environment)."""
    return create_app(Settings.from_env())


def create_app(settings: Settings | None = None, *, mock: Mock | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    mock = mock or Mock(settings)
    if settings.scenario_file is not None:  # a bad file stops the start with ControlError's detail
        scenario_file.apply(mock, scenario_file.read(settings.scenario_file))
    if mock.controls is not None:
        mock.controls.adopt()
    routers = {"__mock": Router(control_routes(mock))}
    for provider in PROVIDERS:
        routers[provider.prefix.strip("/")] = ProviderRouter(provider_routes(mock, provider), _not_found_as(provider))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        background = []
        if settings.work == "background":
            background.append(asyncio.create_task(mock.webhooks.run()))
            if mock.leases is not None:
                background.append(asyncio.create_task(keep_leases(mock)))
        yield
        for task in background:
            task.cancel()
        await mock.aclose()

    app = Starlette(exception_handlers={404: _not_found, 405: _not_allowed})
    app.router = SegmentRouter(routers, lifespan)  # the middleware stack is built from it on first call
    host_prefixes = {s.host: s.prefix for p in PROVIDERS for s in p.surfaces.values()}
    provider_prefixes = {p.prefix: p.name for p in PROVIDERS}
    if settings.journal_size:
        app.add_middleware(JournalRecorder, journal=mock.journal, clock=mock.clock, prefixes=provider_prefixes)
    app.add_middleware(HostRouting, host_prefixes=host_prefixes)  # the journal sees served paths
    if mock.controls is not None:
        app.add_middleware(SyncControls, controls=mock.controls)  # outermost: the clock is current
    app.state.mock = mock
    mock.bind(app, set(host_prefixes))
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return note_response(request.scope, JsonResponse({"detail": "Not Found"}, 404))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    """405 with the ``Allow`` header Starlette computed (RFC 9110 requires it)."""
    response = JsonResponse({"detail": "Method Not Allowed"}, 405, headers=getattr(exc, "headers", None))
    return note_response(request.scope, response)
