"""The one request pipeline every provider operation runs through, read top to bottom.

    gate -> auth -> limit -> validate -> fault -> handler

``endpoint()`` builds, for one operation of a provider's spec, the function Starlette awaits. Each
step may refuse; every refusal, and every failure below the handler, comes back in the provider's
own error shape, so nothing becomes a bare 500 or a traceback:

1. **gate**: the provider's check before auth (PixelAPI's CDN turns away library user agents);
2. **auth**: the key from where the provider reads it, its account (created on first use);
3. **limit**: a token from the key's bucket, the provider's rate headers on every answer, its 429;
4. **validate**: query and header parameters, then the body, read within its bounds (size, read time,
   JSON depth and values: ``web/bodies.py``) and checked against the spec;
5. **fault**: the ``X-Mock-Scenario`` header or the first matching ``/__mock/faults`` rule: an error
   answer now, a delay, a malformed body, or a job shaped through the view (fail, error, stuck...);
6. **handler**: parse -> runtime -> serialise (``providers/<name>/handlers.py``).

A status poll runs exactly these steps and no others: no wrapper per request, no await but the
handler's (a body is read only for operations that take one).
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.core.accounts import NotEnoughCredits
from mockserver.core.faults import Rule, RuleError, scenario
from mockserver.core.ratelimit import Decision
from mockserver.engine.errors import InvalidOption, MediaError
from mockserver.providers.base import Provider, View, Vocabulary
from mockserver.runtime.mock import Mock
from mockserver.web.bodies import BadBody, read_body
from mockserver.web.front import STORE_ERROR
from mockserver.web.http import ApiError, content_disposition, header
from mockserver.web.journal import note_response
from mockserver.web.routing import Endpoint
from mockserver.web.spec import Operation, Validator, parameter_errors

log = logging.getLogger("cutout_mock")


def endpoint(mock: Mock, provider: Provider, op: Operation, validator: Validator) -> Endpoint:
    handler, words = provider.handlers[op.operation_id], provider.vocabulary
    json_schema = op.bodies.get("application/json")
    multipart = "multipart/form-data" in op.bodies
    raw_body = bool(op.bodies) and not ({"application/json", "multipart/form-data"} & set(op.bodies))
    limited = op.operation_id not in words.unlimited  # fal's status polls are never refused

    async def run(request: Request) -> Response:
        view = View(request, mock, words)
        request.scope["cutout.operation"] = op.operation_id  # for the journal
        try:
            if STORE_ERROR in request.scope:  # the store cannot be reached (web/front.py): the provider's 500
                raise request.scope[STORE_ERROR]
            refused = words.gate(request)  # 1. gate
            if refused is not None:
                raise refused
            if op.secured:  # 2. auth
                view.account = mock.accounts.authenticate(words.name, words.api_key(request), words.starting_balance)
                if view.account is None:
                    raise words.unauthorized(request)
                request.scope["cutout.key"] = view.account.key
                if limited:
                    _limit(mock, view)  # 3. limit
            if op.parameters:  # 4. validate (parsing an empty query string cost a poll ~8 %)
                errors = parameter_errors(validator, op.parameters, request.query_params, request.headers)
                if errors:
                    raise words.invalid(errors)
            if op.bodies and not raw_body:  # a raw body (an upload) is streamed by its handler, never held whole
                view.body = await read_body(
                    request,
                    allow_multipart=multipart,
                    max_bytes=words.max_body,
                    timeout=mock.settings.read_timeout,
                )
                if view.body.content_type == "application/json" and json_schema is not None:
                    errors = validator.errors(view.body.fields, json_schema)
                    if errors:
                        raise words.invalid(errors)
            early = await _fault(mock, view)  # 5. fault
            response = early if early is not None else await handler(view)  # 6. handler
        except ApiError as error:
            response = error.response()
        except BadBody as problem:
            refusal = words.bad_body(problem)
            refusal.headers.update(problem.headers)  # too large or too slow: the connection is closed
            response = refusal.response()
        except InvalidOption as problem:
            response = words.invalid_option(problem).response()
        except MediaError as error:
            response = words.media_error(error).response()
        except NotEnoughCredits as short:
            response = words.insufficient_credits(short.needed, short.balance).response()
        except Exception:
            log.exception("%s %s failed", words.name, op.operation_id)
            response = words.internal().response()
        extra = {**view.extra_headers, **words.response_headers(view)}
        if extra:
            response.headers.update(extra)
        return response

    run.__name__ = op.operation_id
    return run


def _limit(mock: Mock, view: View) -> None:
    """Take a token for the key; a refusal is the provider's 429 with Retry-After."""
    if not mock.limiter.enabled or view.account is None:
        return
    words = view.vocabulary
    limit = mock.limiter.overrides.get(words.name) or words.rate_limit(view.account)
    decision = mock.limiter.take(words.name, view.account.key, limit)
    view.extra_headers.update(words.rate_headers(decision))
    if not decision.allowed:
        refusal = words.rate_limited(decision)
        refusal.headers["Retry-After"] = str(decision.retry_after)
        raise refusal


async def _fault(mock: Mock, view: View) -> Response | None:
    """The X-Mock-Scenario header or the first matching /__mock/faults rule, if any.

    Returns a response to send instead of the handler's, or None to go on (after latency, or with
    the job shaped through ``view.job_action``).
    """
    request, words = view.request, view.vocabulary
    name = header(request, "x-mock-scenario")
    if name:
        try:
            rule: Rule | None = scenario(name)
        except RuleError as problem:
            raise words.invalid(
                [{"loc": ["header", "X-Mock-Scenario"], "msg": str(problem), "type": "value_error"}]
            ) from None
    elif not mock.faults.has_rules():  # the common answer: the headers and body are not looked at
        return None
    else:
        body = json.dumps(view.body.fields, default=str) if view.body else ""
        key = view.account.key if view.account else None
        rule = mock.faults.fire(words.name, request.scope["cutout.operation"], key, request.headers, body)
    if rule is None:
        return None
    if rule.delay and not rule.shapes_job:  # a job action's delay is queue time on the mock's clock
        await asyncio.sleep(rule.delay)
    if rule.action == "status":
        raise fault_error(words, rule, request, mock.clock.now())
    if rule.action == "malformed":
        return Response(b'{"status": "COMPLETED", "result": {', media_type="application/json")
    if rule.shapes_job:
        view.job_action, view.queue_wait = rule.action, rule.delay
    return None


def fault_error(words: Vocabulary, rule: Rule, request: Request, now: float) -> ApiError:
    """A status fault in the provider's own shape (its credits error for 402/403, 429 with Retry-After)."""
    status = rule.status or 500
    if rule.body is not None:
        return ApiError(status, rule.body)
    own = words.fault_status(status, request)
    if own is not None:
        return own
    if status == 401:
        return words.unauthorized(request)
    if status in (402, 403):
        return words.insufficient_credits(0, 0)
    if status == 404:
        return words.not_found("job")
    if status == 429:
        wait = 1 if rule.retry_after is None else rule.retry_after
        refusal = words.rate_limited(Decision(False, 1, 0, now + wait, wait))
        refusal.headers["Retry-After"] = str(wait)
        return refusal
    error = (
        words.internal()
        if status >= 500
        else words.invalid([{"loc": ["body"], "msg": "mock fault", "type": "mock_fault"}])
    )
    error.status = status
    if rule.retry_after is not None:
        error.headers["Retry-After"] = str(rule.retry_after)
    return error


# --- what else a provider's prefix answers ---------------------------------------------------------


def media_endpoint(mock: Mock, words: Vocabulary) -> Endpoint:
    """A provider's output files: no auth (their URLs are the secret, as the real CDNs), the
    provider's 404 for an unknown one and its expired answer after the TTL."""

    async def media(request: Request) -> Response:
        stored = mock.media.find(request.path_params["media_id"])
        if stored is None or stored.provider != words.name:
            return words.not_found("file").response()
        if stored.expired(mock.clock.now()):
            return words.media_expired().response()
        ref = stored.ref
        return FileResponse(
            stored.path, media_type=ref.content_type, headers=file_headers(ref.filename, ref.content_type)
        )

    media.__name__ = f"{words.name}_media"
    return media


PASSIVE = ("image/", "video/", "audio/")  # shown, never run, by a browser (SVG aside: it can hold script)


def file_headers(filename: str, content_type: str) -> dict[str, str]:
    """Headers that keep a stored file a file: a client's upload is served with the type it gave,
    so anything a browser would render as a page or run (HTML, SVG, XML, scripts...) is an attachment
    in a CSP sandbox, never an inline page on the mock's origin; no type sniffing for any file."""
    kind = content_type.split(";")[0].strip().lower()
    passive = (kind.startswith(PASSIVE) and "svg" not in kind) or kind in ("application/octet-stream", "text/plain")
    disposition = content_disposition(filename, "inline" if passive else "attachment")
    headers = {"X-Content-Type-Options": "nosniff", "Content-Disposition": disposition}
    if not passive:
        headers["Content-Security-Policy"] = "sandbox"
    return headers


def not_found_as(words: Vocabulary) -> ASGIApp:
    """An unknown path under a provider's prefix answers 404 in that provider's own shape (or what
    it documents for that path: Pixazo's 400 ``Model not found``)."""

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].removeprefix(words.prefix)
        await note_response(scope, words.unknown_path(path).response())(scope, receive, send)

    return not_found
