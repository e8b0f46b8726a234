"""``create_app(settings)``: one Starlette app serving every provider, their media and /__mock.

Routes come from each provider's OpenAPI spec (operationId -> handler); a spec operation without a
handler, or a handler without an operation, stops the app from starting. Every endpoint runs inside
one wrapper that authenticates, reads and validates the body against the spec, and turns every
failure into the provider's own error shape: nothing becomes a bare 500 or a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.control.routes import control_routes
from mockserver.engine.errors import MediaError
from mockserver.http import ApiError, BadBody, read_body
from mockserver.providers import PROVIDERS
from mockserver.providers.base import Context, Provider
from mockserver.runtime import Mock
from mockserver.settings import Settings
from mockserver.spec import Operation, Validator, load_spec, operations, parameter_errors

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


def _endpoint(mock: Mock, provider: Provider, op: Operation, validator: Validator) -> Any:
    handler = provider.handlers[op.operation_id]
    vocabulary = provider.vocabulary
    json_schema = op.bodies.get("application/json")
    raw_body = bool(op.bodies) and not ({"application/json", "multipart/form-data"} & set(op.bodies))

    async def endpoint(request: Request) -> Response:
        ctx = Context(request, mock, provider, op)
        try:
            refused = provider.gate(request)
            if refused is not None:
                raise refused
            if op.secured:
                key = provider.api_key(request)
                ctx.account = mock.accounts.authenticate(provider.name, key, provider.starting_balance)
                if ctx.account is None:
                    raise vocabulary.unauthorized(request)
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
            response = await handler(ctx)
        except ApiError as error:
            response = error.response()
        except BadBody as problem:
            response = vocabulary.bad_body(problem).response()
        except MediaError as error:
            response = vocabulary.media_error(error).response()
        except Exception:
            log.exception("%s %s failed", provider.name, op.operation_id)
            response = vocabulary.internal().response()
        response.headers.update(ctx.extra_headers)
        response.headers.update(provider.response_headers(ctx))
        return response

    endpoint.__name__ = op.operation_id
    return endpoint


def _dispatch(endpoints: dict[str, Any]) -> Any:
    if len(endpoints) == 1:
        return next(iter(endpoints.values()))

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await endpoints[method](request)

    return dispatch


def _media_endpoint(mock: Mock, provider: Provider) -> Any:
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


def provider_routes(mock: Mock, provider: Provider) -> list[BaseRoute]:
    check_handlers(provider)
    spec = load_spec(provider.spec)
    validator = Validator(spec)
    by_path: dict[str, dict[str, Any]] = {}
    for op in operations(spec):
        by_path.setdefault(op.path, {})[op.method] = _endpoint(mock, provider, op, validator)
    # One route per path, dispatching on the method, so a 405 lists every method in ``Allow``.
    routes: list[BaseRoute] = [
        Route(provider.prefix + path, _dispatch(endpoints), methods=list(endpoints))
        for path, endpoints in by_path.items()
    ]
    media_prefix = provider.surfaces[provider.media_surface].prefix
    routes.append(Route(media_prefix + provider.media_route, _media_endpoint(mock, provider), methods=["GET", "HEAD"]))
    return routes


class HostRouting:
    """Requests to a real provider host (``queue.fal.run``) are served at that surface's prefix.

    This is what in-process interception (respx by real hostnames) and hosts-file or proxy setups
    use. URLs the mock returns then keep to the real hosts (``cutout.bases``).
    """

    def __init__(self, app: ASGIApp, host_prefixes: dict[str, str]) -> None:
        self.app, self.host_prefixes = app, host_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").split(":")[0].lower()
            prefix = self.host_prefixes.get(host)
            if prefix is not None:
                scheme = scope.get("scheme", "https")
                bases = {p: f"{scheme}://{h}" for h, p in self.host_prefixes.items()}
                scope = {**scope, "path": prefix + scope["path"], "raw_path": None, "cutout.bases": bases}
        await self.app(scope, receive, send)


class SurfaceMount:
    """One surface served at the root of a port of its own (``--expose fal-queue=8443``)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            base = f"{scope.get('scheme', 'http')}://{host}"
            path = scope["path"] if scope["path"].startswith("/__mock") else self.prefix + scope["path"]
            scope = {**scope, "path": path, "raw_path": None, "cutout.bases": {self.prefix: base}}
        await self.app(scope, receive, send)


def surfaces() -> dict[str, str]:
    """Every surface by its ``--expose`` name (``fal-queue``, ``pixelcut-api``...) -> path prefix."""
    return {f"{p.name}-{name}": s.prefix for p in PROVIDERS for name, s in p.surfaces.items()}


def create_app(settings: Settings | None = None, *, mock: Mock | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    mock = mock or Mock(settings)
    routes: list[BaseRoute] = list(control_routes(mock))
    for provider in PROVIDERS:
        routes += provider_routes(mock, provider)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await mock.aclose()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: _not_found, 405: _not_allowed})
    host_prefixes = {s.host: s.prefix for p in PROVIDERS for s in p.surfaces.values()}
    app.add_middleware(HostRouting, host_prefixes=host_prefixes)
    app.state.mock = mock
    mock.bind(app, set(host_prefixes))
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": "Not Found"}, 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    """405 with the ``Allow`` header Starlette computed (RFC 9110 requires it)."""
    return JSONResponse({"detail": "Method Not Allowed"}, 405, headers=getattr(exc, "headers", None))
