"""The control plane at /__mock: HTTP over ``actions``, routed from ``openapi/control.yaml``.

Like the providers, the spec is the source of truth: each operationId has one handler here, and
the two lists must match at start-up. Handlers only translate: read the query or JSON body, call
an action, answer JSON (``{"detail": ...}`` with the action's status when it refuses).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mockserver.control import actions, redact, scenario
from mockserver.control.actions import ControlError
from mockserver.control.lock import ControlLock
from mockserver.core.backends.base import PAGE_MAX, PAGE_SIZE, SCAN_BUDGET, JournalQuery
from mockserver.runtime.mock import Mock
from mockserver.runtime.samples import sample
from mockserver.web.bodies import BadBody, parse_json, read_bytes
from mockserver.web.front import STORE_ERROR
from mockserver.web.http import JsonResponse
from mockserver.web.spec import Operation, Validator, load_spec, operations, parameter_errors

ControlHandler = Callable[[Mock, Request], Awaitable[Any]]
MAX_CONTROL_BODY = 1 << 20


BODY = "cutout.control_body"  # scope key: the body, read once within the limits by the endpoint


async def _read(request: Request, timeout: float) -> None:
    """Read the body once, refused (BadBody) as soon as it passes 1 MiB or takes over `timeout` s."""
    request.scope[BODY] = await read_bytes(request, max_bytes=MAX_CONTROL_BODY, timeout=timeout)


async def _json(request: Request) -> Any:
    """The body read by the endpoint as JSON (``{}`` when empty); BadBody when it is not JSON within
    the bounds every body has (depth, values, finite numbers)."""
    raw: bytes = request.scope.get(BODY, b"")
    return parse_json(raw) if raw.strip() else {}


def _body_refusal(problem: BadBody) -> Response:
    """A body the control plane cannot use: 413 over 1 MiB, 408 too slow, 422 otherwise."""
    if problem.kind == "too_large":
        status, detail = 413, "control requests are at most 1 MiB"
    else:
        status, detail = (408 if problem.kind == "timeout" else 422), problem.detail
    return JsonResponse({"detail": detail}, status, headers=problem.headers or None)


def _revealed(request: Request) -> bool:
    """``?reveal=credentials``: keys, tokens and signatures shown as recorded (else ``redact``ed)."""
    return request.query_params.get("reveal") == redact.REVEAL


def _param(request: Request, name: str) -> str:
    return request.path_params[name]


async def health(mock: Mock, request: Request) -> Any:
    """Ready, the clock, the answering process, and the state dir's size as last measured (null until
    the first walk, which the first call starts, has ended: core/disk.py)."""
    disk = mock.disk.current()
    state_dir = None if disk is None else {"bytes": disk.bytes, "files": disk.files, "measured_at": disk.measured_at}
    clock = {"clock": mock.clock.kind, "now": mock.clock.now()}
    return {"status": "ok", **clock, "pid": os.getpid(), "state_dir": state_dir}


async def list_providers(mock: Mock, request: Request) -> Any:
    return actions.providers(mock, str(request.base_url))


async def get_sample(mock: Mock, request: Request) -> Any:
    found = sample(_param(request, "name"))
    if found is None:
        raise ControlError(404, "no such sample; use a name ending in .png .jpg .webp .mp4 .mov .webm .mkv .gif")
    data, content_type = found
    return Response(data, media_type=content_type)


async def reset(mock: Mock, request: Request) -> Any:
    return await actions.reset(mock)


async def set_seed(mock: Mock, request: Request) -> Any:
    return actions.set_seed(mock, await _json(request))


async def load_scenario(mock: Mock, request: Request) -> Any:
    return scenario.apply(mock, await _json(request))


async def get_clock(mock: Mock, request: Request) -> Any:
    return actions.clock(mock)


async def advance_clock(mock: Mock, request: Request) -> Any:
    return actions.advance_clock(mock, await _json(request))


async def freeze_clock(mock: Mock, request: Request) -> Any:
    return actions.freeze_clock(mock)


async def run_clock(mock: Mock, request: Request) -> Any:
    return actions.run_clock(mock, await _json(request))


CURSOR_MAX = 2**63 - 1  # a cursor is a row id or an entry number: a 64-bit signed integer in SQLite


def _page(request: Request) -> tuple[int, int | None]:
    """A listing's ``limit`` (1..PAGE_MAX, PAGE_SIZE when absent) and ``cursor`` (a page's next_cursor)."""
    q = request.query_params
    limit, cursor = q.get("limit", str(PAGE_SIZE)), q.get("cursor")
    if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= PAGE_MAX:  # "²": isdigit, not int
        raise ControlError(422, f"limit must be an integer from 1 to {PAGE_MAX}")
    if cursor is not None and not (cursor.isdigit() and int(cursor) <= CURSOR_MAX):  # SQLite refused it: a 500
        raise ControlError(422, "cursor must be a next_cursor this listing returned")
    return int(limit), None if cursor is None else int(cursor)


CHUNK = 25  # jobs or entries a listing reads between turns of the event loop (each turn ~1 ms)


async def list_jobs(mock: Mock, request: Request) -> Any:
    """A page of jobs, oldest first: ?provider= &key= &state= &limit= &cursor= &reveal=credentials.

    Built CHUNK jobs at a time with a turn of the event loop between, so a page of 1000 never holds a
    status poll up for more than one chunk; with `state`, at most SCAN_BUDGET jobs are looked at."""
    q = request.query_params
    limit, cursor = _page(request)
    jobs: list[dict[str, Any]] = []
    for _ in range(SCAN_BUDGET // (4 * CHUNK)):
        page = actions.list_jobs(
            mock, q.get("provider"), q.get("key"), q.get("state"), min(CHUNK, limit - len(jobs)), cursor, 4 * CHUNK
        )
        jobs += page["jobs"] if _revealed(request) else [redact.job(j) for j in page["jobs"]]
        cursor = None if page["next_cursor"] is None else int(page["next_cursor"])
        if cursor is None or len(jobs) >= limit:
            break
        await asyncio.sleep(0)  # polls waiting meanwhile are answered now
    return {"jobs": jobs, "next_cursor": None if cursor is None else str(cursor)}


async def get_job(mock: Mock, request: Request) -> Any:
    """One job with its input and result; its webhook URL and input cleaned as the journal's (?reveal=)."""
    job = actions.get_job(mock, _param(request, "provider"), _param(request, "job_id"))
    shown = {**actions.job_summary(mock, job), "input": job.input, "result": job.result}
    return shown if _revealed(request) else redact.job(shown)


async def force_job(mock: Mock, request: Request) -> Any:
    body = await _json(request)
    return actions.force_job(mock, _param(request, "provider"), _param(request, "job_id"), body)


async def list_accounts(mock: Mock, request: Request) -> Any:
    return actions.list_accounts(mock, request.query_params.get("provider"))


async def get_account(mock: Mock, request: Request) -> Any:
    return actions.get_account(mock, _param(request, "provider"), _param(request, "key"))


async def put_account(mock: Mock, request: Request) -> Any:
    return actions.put_account(mock, _param(request, "provider"), _param(request, "key"), await _json(request))


async def delete_account(mock: Mock, request: Request) -> Any:
    actions.delete_account(mock, _param(request, "provider"), _param(request, "key"))
    return Response(status_code=204)


async def list_faults(mock: Mock, request: Request) -> Any:
    return actions.faults(mock)


async def add_fault(mock: Mock, request: Request) -> Any:
    return JsonResponse(actions.add_fault(mock, await _json(request)), 201)


async def clear_faults(mock: Mock, request: Request) -> Any:
    mock.faults.clear()
    return actions.faults(mock)


async def delete_fault(mock: Mock, request: Request) -> Any:
    if not mock.faults.remove(_param(request, "rule_id")):
        raise ControlError(404, "no such rule")
    return Response(status_code=204)


async def get_rate_limits(mock: Mock, request: Request) -> Any:
    return actions.rate_limits(mock)


async def set_rate_limits(mock: Mock, request: Request) -> Any:
    return actions.set_rate_limits(mock, await _json(request))


async def get_prices(mock: Mock, request: Request) -> Any:
    return actions.prices(mock)


async def set_prices(mock: Mock, request: Request) -> Any:
    return actions.set_prices(mock, await _json(request))


async def get_journal(mock: Mock, request: Request) -> Any:
    """The newest `limit` requests that match, oldest first: ?provider= &key= &path= (substring) &method=
    &limit= &reveal=credentials (else keys, tokens and signatures show as fingerprints); ?cursor= (a
    page's next_cursor) goes on to older ones."""
    q = request.query_params
    limit, cursor = _page(request)
    query = JournalQuery(
        provider=q.get("provider"), key=q.get("key"), path=q.get("path"), method=q.get("method"), limit=limit
    )
    pages: list[list[dict[str, Any]]] = []
    got = 0
    for _ in range(SCAN_BUDGET // (4 * CHUNK)):  # CHUNK entries at a time, newest first, a loop turn between
        found, cursor = mock.journal.page(replace(query, limit=min(CHUNK, limit - got), before=cursor))
        pages.append(found if _revealed(request) else [redact.entry(e) for e in found])
        got += len(found)
        if cursor is None or got >= limit:
            break
        await asyncio.sleep(0)
    entries = [entry for page in reversed(pages) for entry in page]
    return {"entries": entries, "next_cursor": None if cursor is None else str(cursor)}


async def list_webhooks(mock: Mock, request: Request) -> Any:
    """Every delivery (of a provider, a job), read and redacted off the event loop: the list grows
    with the jobs that asked for webhooks, and a status poll must not wait on it."""
    q, revealed = request.query_params, _revealed(request)

    def listed() -> list[dict[str, Any]]:
        found = mock.webhooks.listed(q.get("provider"), q.get("job_id"))
        return found if revealed else [redact.delivery(d) for d in found]

    return {"deliveries": await asyncio.to_thread(listed)}


async def flush_webhooks(mock: Mock, request: Request) -> Any:
    """Attempt every delivery due now (after moving a frozen clock) and wait for the answers."""
    return {"attempted": await mock.webhooks.deliver_due()}


async def replay_webhook(mock: Mock, request: Request) -> Any:
    delivery = await mock.webhooks.replay(_param(request, "delivery_id"))
    if delivery is None:
        raise ControlError(404, "no such delivery")
    return delivery.summary()


async def get_openapi(mock: Mock, request: Request) -> Any:
    return load_spec("control")


HANDLERS: dict[str, ControlHandler] = {
    f.__name__: f
    for f in (
        health, list_providers, get_sample, reset, set_seed, load_scenario,
        get_clock, advance_clock, freeze_clock, run_clock,
        list_jobs, get_job, force_job, list_accounts, get_account, put_account, delete_account,
        list_faults, add_fault, clear_faults, delete_fault, get_rate_limits, set_rate_limits, get_prices, set_prices,
        get_journal, list_webhooks, flush_webhooks, replay_webhook, get_openapi,
    )
}  # fmt: skip


@dataclass(frozen=True)
class Contract:
    """What the spec allows an operation to receive: its query parameters and JSON body."""

    operation: Operation
    body_required: bool
    validator: Validator

    async def check(self, request: Request) -> None:
        """Refuse, before any action runs, a request the spec does not allow."""
        op = self.operation
        errors = parameter_errors(self.validator, op.parameters, request.query_params, request.headers)
        if errors:
            raise actions.refusal(errors)
        if "application/json" in op.bodies:
            if not request.scope.get(BODY, b"").strip():
                if self.body_required:
                    raise ControlError(422, "this operation needs a JSON body")
                return
            actions.check_body(op.operation_id, await _json(request))


def _endpoint(
    mock: Mock, handler: ControlHandler, contract: Contract, lock: ControlLock
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if STORE_ERROR in request.scope:  # the store cannot be reached (web/front.py): no answer here is true
            raise request.scope[STORE_ERROR]
        await mock.journal.settle()  # what this process recorded is in the shared journal before any control answer
        try:
            refused = lock.refusal(request)  # Host, Origin, token, JSON only: before anything is read
            if refused is not None:
                raise refused
            if "application/json" in contract.operation.bodies:
                await _read(request, mock.settings.read_timeout)
            await contract.check(request)
            answer = await handler(mock, request)
            if mock.controls is not None and request.method != "GET":
                mock.controls.publish()  # other workers take the clock and limits from here
        except ControlError as refusal:
            challenge = {"WWW-Authenticate": 'Bearer realm="cutout-mock"'} if refusal.status == 401 else None
            return JsonResponse({"detail": refusal.detail}, refusal.status, headers=challenge)
        except BadBody as problem:
            return _body_refusal(problem)
        return answer if isinstance(answer, Response) else JsonResponse(answer)

    return endpoint


def control_routes(mock: Mock) -> list[BaseRoute]:
    """One route per path of the control spec (a path's methods share it, so 405 carries Allow)."""
    spec = load_spec("control")
    validator = Validator(spec)
    by_path: dict[str, dict[str, Contract]] = {}
    for op in operations(spec):
        body = validator.resolve(spec["paths"][op.path][op.method.lower()].get("requestBody", {}))
        by_path.setdefault(op.path, {})[op.method] = Contract(op, bool(body.get("required")), validator)
    declared = {c.operation.operation_id for methods in by_path.values() for c in methods.values()}
    if declared != set(HANDLERS):
        raise RuntimeError(f"control spec and handlers differ: {sorted(declared ^ set(HANDLERS))}")
    hosts = [s.host for p in mock.served.values() for s in p.surfaces.values()]
    lock = ControlLock.for_mock(mock.settings, hosts)
    routes: list[BaseRoute] = []
    for path, contracts in by_path.items():
        endpoints = {m: _endpoint(mock, HANDLERS[c.operation.operation_id], c, lock) for m, c in contracts.items()}

        async def dispatch(request: Request, endpoints: dict[str, Any] = endpoints) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            return await endpoints[method](request)

        routes.append(Route(path, dispatch, methods=list(contracts)))
    return routes
