"""The dashboard's routes under /__mock/ui: pages (Jinja2), the live parts they redraw, an event
stream saying when to redraw, and the static files (CSS, JS). Mounted beside the control plane's
routes, outside the provider paths and with no middleware, so a status poll never meets it.

Pages: ``/__mock/ui`` (jobs), ``/__mock/ui/jobs/{provider}/{job_id}``, ``/__mock/ui/journal``,
``/__mock/ui/webhooks``, ``/__mock/ui/controls``. ``?part=live`` answers only a page's live region
(HTML). ``/__mock/ui/events`` is a server-sent event stream: one ``change`` event whenever a job's
visible state, credits or polls or a webhook delivery changed, checked every ``TICK`` seconds; each
stream ends after ``STREAM_SECONDS`` (the browser reconnects), so a stopping server never waits long.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import html
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mockserver.control.lock import ControlLock
from mockserver.core.faults import MAGIC_INPUTS, SCENARIOS
from mockserver.core.jobs import State
from mockserver.dashboard import views
from mockserver.dashboard.gate import Gate
from mockserver.providers.base import Provider, Vocabulary
from mockserver.runtime.mock import Mock

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

HERE = Path(__file__).parent
BASE = "/__mock/ui"
Handler = Callable[[Request], Awaitable[Response]]
TICK = 0.5  # seconds between looks at the mock for the event stream
STREAM_SECONDS = 5.0  # one event stream's length; EventSource reconnects after `retry`
FAULT_ACTIONS = ("status", "latency", "malformed", "stuck", "fail", "error", "block", "queue")
# No page may be framed by another site (a click there would press Reset). No script-src: the
# data shown is escaped, and Playwright's wait_for_function (the browser tests) needs eval.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}
FAULT_STATUSES = (400, 401, 402, 403, 404, 413, 415, 422, 429, 500, 502, 503, 504)


def clock_time(at: float | None) -> str:
    """Mock-clock epoch seconds as ``2026-11-29 21:14:03.250`` (UTC)."""
    if at is None:
        return ""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def make_templates() -> Jinja2Templates:
    """The pages' Jinja2 environment. Jinja2 is imported here, on the first page shown, not while
    `serve` starts (it took ~30 ms of a start-up that shows no page)."""
    from starlette.templating import Jinja2Templates

    found = Jinja2Templates(directory=HERE / "templates")
    found.env.filters["clock"] = clock_time
    found.env.globals["base"] = BASE
    return found


class Pages:
    """The dashboard's handlers over one mock and the providers it serves (for their words)."""

    def __init__(self, mock: Mock, providers: list[Provider]) -> None:
        self.mock = mock
        self.words: Mapping[str, Vocabulary] = {p.name: p.vocabulary for p in providers}
        self.operations = {p.name: sorted(p.operations) for p in providers}
        self.documented = {p.name: views.documented_errors(p.name) for p in providers}  # read once
        hosts = [s.host for p in providers for s in p.surfaces.values()]
        self.gate = Gate(ControlLock.for_mock(mock.settings, hosts), BASE)  # the control plane's own rules

    @functools.cached_property
    def templates(self) -> Jinja2Templates:
        return make_templates()

    def _page(self, request: Request, name: str, **context: Any) -> Response:
        clock = self.mock.clock
        token = self.gate.token(request) if self.gate.lock.token else None  # for the page's API calls
        context = {"providers": list(self.words), "now": clock.now(), "clock": clock.kind, "token": token, **context}
        if request.query_params.get("part") == "live":
            name = name.replace(".html", "_live.html")
        return self.templates.TemplateResponse(request, name, context)

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{BASE}/jobs", 302)

    async def jobs(self, request: Request) -> Response:
        provider = request.query_params.get("provider") or None
        rows, total = await asyncio.to_thread(views.job_rows, self.mock, self.words, provider)
        return self._page(request, "jobs.html", page="jobs", rows=rows, total=total, provider=provider)

    async def job(self, request: Request) -> Response:
        provider, job_id = request.path_params["provider"], request.path_params["job_id"]
        job = self.mock.store.get_job(provider, job_id) if provider in self.words else None
        if job is None:
            named = f"No job {job_id!r} of {provider!r}."  # from the URL: escaped, or a link could run script
            return HTMLResponse(f"<!doctype html><title>No such job</title><p>{html.escape(named)}", 404)
        shown = views.detail(self.mock, self.words[provider], job)
        return self._page(request, "job.html", page="jobs", job=shown)

    async def poster(self, request: Request) -> Response:
        """The first frame of a succeeded job's output `index` as PNG (its page's poster)."""
        provider, job_id = request.path_params["provider"], request.path_params["job_id"]
        job = self.mock.store.get_job(provider, job_id) if provider in self.words else None
        index = request.path_params["index"]
        if job is None or job.visible_state(self.mock.clock.now()) is not State.SUCCEEDED or index >= len(job.outputs):
            return Response("no such output", 404, media_type="text/plain")
        stored = self.mock.media.find(job.outputs[index].id)
        if stored is None or not stored.path.is_file():
            return Response("the output has expired", 410, media_type="text/plain")
        data = await asyncio.to_thread(views.poster_png, stored.path)
        if data is None:
            return Response("no frame could be decoded", 422, media_type="text/plain")
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    async def journal(self, request: Request) -> Response:
        return self._page(request, "journal.html", page="journal", query=dict(request.query_params))

    async def webhooks(self, request: Request) -> Response:
        return self._page(request, "webhooks.html", page="webhooks")

    async def controls(self, request: Request) -> Response:
        return self._page(
            request,
            "controls.html",
            page="controls",
            operations=self.operations,
            actions=FAULT_ACTIONS,
            statuses=FAULT_STATUSES,
            scenarios=sorted(SCENARIOS),
            scenario_rules=SCENARIOS,
            documented=self.documented,
            magic_inputs=MAGIC_INPUTS,
        )

    async def events(self, request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            yield "retry: 500\n\n"
            loop = asyncio.get_running_loop()
            began = loop.time()
            last = await views.fingerprint(self.mock)
            cost = loop.time() - began
            ends = loop.time() + STREAM_SECONDS
            while loop.time() < ends and not await request.is_disconnected():
                # A look every TICK, or less often when a look is costly (a large state): at most a
                # third of the loop's time goes to an open page.
                await asyncio.sleep(max(TICK, 2 * cost))
                began = loop.time()
                now = await views.fingerprint(self.mock)
                cost = loop.time() - began
                if now != last:
                    last = now
                    yield "event: change\ndata: {}\n\n"
            yield "event: bye\ndata: {}\n\n"

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


def dashboard_routes(mock: Mock, providers: list[Provider]) -> list[BaseRoute]:
    """The dashboard's routes, full paths under /__mock/ui (the /__mock router holds them). Every
    page and the event stream pass the control plane's lock first; the static files hold no data."""
    pages = Pages(mock, providers)

    def gated(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            answer = pages.gate.refusal(request) or await handler(request)
            answer.headers.update(PAGE_HEADERS)
            return answer

        return endpoint

    return [
        Route(BASE, gated(pages.home), methods=["GET"]),
        Route(f"{BASE}/jobs", gated(pages.jobs), methods=["GET"]),
        Route(f"{BASE}/jobs/{{provider}}/{{job_id}}", gated(pages.job), methods=["GET"]),
        Route(f"{BASE}/poster/{{provider}}/{{job_id}}/{{index:int}}.png", gated(pages.poster), methods=["GET"]),
        Route(f"{BASE}/journal", gated(pages.journal), methods=["GET"]),
        Route(f"{BASE}/webhooks", gated(pages.webhooks), methods=["GET"]),
        Route(f"{BASE}/controls", gated(pages.controls), methods=["GET"]),
        Route(f"{BASE}/events", gated(pages.events), methods=["GET"]),
        Mount(f"{BASE}/static", StaticFiles(directory=HERE / "static"), name="dashboard-static"),
    ]
