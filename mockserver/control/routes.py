"""The control plane at /__mock (this issue: health, samples, clock, reset, jobs).

The full plane (faults, accounts, webhooks, journal) and its own spec come with the realism issue.
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mockserver.core.clock import VirtualClock
from mockserver.core.faults import MAGIC_INPUTS, SCENARIOS, Rule, RuleError
from mockserver.core.ratelimit import Limit
from mockserver.providers import PROVIDERS
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
        mock.limiter.reset()
        mock.journal.clear()
        mock.faults.clear()
        mock.webhooks.clear()
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

    async def ratelimits(request: Request) -> Response:
        """GET the state; POST {"enabled": bool} and/or {"provider", "requests", "window"} to override."""
        if request.method == "POST":
            try:
                body = await request.json()
                if "enabled" in body:
                    mock.rate_limits_on = bool(body["enabled"])
                if "provider" in body:
                    if body["provider"] not in {p.name for p in PROVIDERS}:
                        raise ValueError("unknown provider")
                    mock.limit_overrides[body["provider"]] = Limit(
                        int(body["requests"]), float(body.get("window", 1.0))
                    )
                    mock.limiter.reset()
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                return JSONResponse(
                    {"detail": f'send {{"enabled": true}} or {{"provider", "requests", "window"}}: {exc}'}, 422
                )
        overrides = {
            name: {"requests": lim.requests, "window": lim.window} for name, lim in mock.limit_overrides.items()
        }
        return JSONResponse({"enabled": mock.rate_limits_on, "overrides": overrides})

    async def journal(request: Request) -> Response:
        """Requests and responses, oldest first: ?provider= &key= &path= (substring) &method= &limit=."""
        q = request.query_params
        limit = q.get("limit", "100")
        if not limit.isdigit():
            return JSONResponse({"detail": "limit must be a positive integer"}, 422)
        entries = mock.journal.query(
            provider=q.get("provider"), key=q.get("key"), path=q.get("path"), method=q.get("method"), limit=int(limit)
        )
        return JSONResponse({"entries": entries})

    async def faults(request: Request) -> Response:
        """GET the rules; POST one rule (see core/faults.Rule); DELETE them all."""
        if request.method == "POST":
            try:
                rule = mock.faults.add(Rule.from_request(await request.json()))
            except (RuleError, ValueError) as problem:
                return JSONResponse({"detail": str(problem)}, 422)
            return JSONResponse(asdict(rule), 201)
        if request.method == "DELETE":
            mock.faults.clear()
        return JSONResponse(
            {"rules": mock.faults.listed(), "scenarios": sorted(SCENARIOS), "magic_inputs": MAGIC_INPUTS}
        )

    async def fault(request: Request) -> Response:
        if mock.faults.remove(request.path_params["rule_id"]):
            return Response(status_code=204)
        return JSONResponse({"detail": "no such rule"}, 404)

    async def webhooks(request: Request) -> Response:
        """Deliveries with every attempt: ?provider= &job_id=."""
        q = request.query_params
        return JSONResponse({"deliveries": mock.webhooks.listed(q.get("provider"), q.get("job_id"))})

    async def flush(request: Request) -> Response:
        """Attempt every delivery due now (after moving a virtual clock), and wait for the answers."""
        return JSONResponse({"attempted": await mock.webhooks.deliver_due()})

    async def replay(request: Request) -> Response:
        delivery = await mock.webhooks.replay(request.path_params["delivery_id"])
        if delivery is None:
            return JSONResponse({"detail": "no such delivery"}, 404)
        return JSONResponse(delivery.summary())

    return [
        Route("/__mock/webhooks", webhooks),
        Route("/__mock/webhooks/flush", flush, methods=["POST"]),
        Route("/__mock/webhooks/{delivery_id}/replay", replay, methods=["POST"]),
        Route("/__mock/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/__mock/faults/{rule_id}", fault, methods=["DELETE"]),
        Route("/__mock/journal", journal),
        Route("/__mock/ratelimits", ratelimits, methods=["GET", "POST"]),
        Route("/__mock/health", health),
        Route("/__mock/samples/{name}", samples),
        Route("/__mock/clock", clock, methods=["GET", "POST"]),
        Route("/__mock/reset", reset, methods=["POST"]),
        Route("/__mock/jobs", jobs),
    ]
