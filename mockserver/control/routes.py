"""The control plane at /__mock (this issue: health, samples, clock, reset, jobs).

The full plane (faults, accounts, webhooks, journal) and its own spec come with the realism issue.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mockserver.core.clock import VirtualClock
from mockserver.runtime import Mock
from mockserver.samples import sample


def control_routes(mock: Mock) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "clock": mock.clock.kind, "now": mock.clock.now()})

    async def samples(request: Request) -> Response:
        found = sample(request.path_params["name"])
        if found is None:
            return JSONResponse(
                {"detail": "no such sample; use a name ending in .png .jpg .webp .mp4 .mov .webm .mkv .gif"}, 404
            )
        data, content_type = found
        return Response(data, media_type=content_type)

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            if not isinstance(mock.clock, VirtualClock):
                return JSONResponse({"detail": "the clock is real; start with --clock virtual to move it"}, 409)
            try:
                body = await request.json()
                seconds = float(body.get("advance", 0))
                mock.clock.advance(seconds)
            except (ValueError, TypeError, AttributeError):
                return JSONResponse({"detail": 'send {"advance": <seconds >= 0>}'}, 422)
        return JSONResponse({"clock": mock.clock.kind, "now": mock.clock.now()})

    async def reset(request: Request) -> Response:
        await mock.drain()
        mock.store.reset()
        mock.media.clear()
        return JSONResponse({"reset": True})

    async def jobs(request: Request) -> Response:
        provider = request.query_params.get("provider")
        now = mock.clock.now()
        listed = [
            {
                "id": j.id,
                "provider": j.provider,
                "operation": j.operation,
                "state": j.visible_state(now),
                "owner": j.owner,
            }
            for j in mock.store.list_jobs(provider)
        ]
        return JSONResponse({"jobs": listed})

    return [
        Route("/__mock/health", health),
        Route("/__mock/samples/{name}", samples),
        Route("/__mock/clock", clock, methods=["GET", "POST"]),
        Route("/__mock/reset", reset, methods=["POST"]),
        Route("/__mock/jobs", jobs),
    ]
