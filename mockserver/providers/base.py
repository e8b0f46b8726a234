"""What every provider is made of, and what they share, written once.

A provider is data plus three small modules (moto's shape): ``vocabulary.py`` (its words: status
names, error bodies, URL shapes), ``handlers.py`` (parse -> core -> serialise) and ``routes.py``
(operationId -> handler). The app registers its routes from its OpenAPI spec. Shared here: the
request context, absolute URL building per surface, auth, charging, and submitting jobs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from mockserver.core.accounts import FramePrice
from mockserver.core.backends.base import Account
from mockserver.core.faults import Rule, magic_action
from mockserver.core.jobs import Job, MediaRef, Progression, State
from mockserver.core.ratelimit import Decision, Limit
from mockserver.core.webhooks import Headers
from mockserver.engine.errors import MediaError
from mockserver.runtime.mock import Mock, Work, WorkResult
from mockserver.web.bodies import MAX_BODY, BadBody, Body
from mockserver.web.http import ApiError
from mockserver.web.spec import Operation


@dataclass(frozen=True)
class Surface:
    """One base URL of a provider: its mock path prefix and the real host it stands for."""

    prefix: str  # e.g. "/fal/queue"
    host: str  # e.g. "queue.fal.run"


class Vocabulary(Protocol):
    """A provider's words: how each outcome and each failure looks on its wire."""

    def unauthorized(self, request: Request) -> ApiError: ...
    def not_found(self, what: str) -> ApiError: ...
    def bad_body(self, problem: BadBody) -> ApiError: ...
    def invalid(self, errors: list[dict[str, Any]]) -> ApiError: ...
    def media_error(self, error: MediaError) -> ApiError: ...
    def insufficient_credits(self, needed: float, balance: float) -> ApiError: ...
    def internal(self) -> ApiError: ...
    def media_expired(self) -> ApiError: ...
    def rate_limited(self, decision: Decision) -> ApiError: ...


Handler = Callable[["Context"], Awaitable[Response]]


@dataclass
class Provider:
    name: str
    spec: str  # file name in openapi/ without .yaml
    prefix: str  # where the spec's paths are mounted, e.g. "/pixelcut"
    surfaces: dict[str, Surface]
    vocabulary: Vocabulary
    handlers: Mapping[str, Handler]
    api_key: Callable[[Request], str | None]  # where this provider reads the key from
    starting_balance: float
    media_surface: str
    media_route: str  # path under the media surface, with a {media_id} parameter
    media_path: Callable[[MediaRef], str]
    refunded: frozenset[State] = frozenset({State.FAILED, State.ERRORED, State.BLOCKED, State.CANCELLED})
    response_headers: Callable[[Context], dict[str, str]] = field(default=lambda ctx: {})
    video_price: FramePrice | None = None  # one block held at submit, the rest billed on success
    max_body: int = MAX_BODY
    gate: Callable[[Request], ApiError | None] = field(default=lambda request: None)  # runs before auth
    rate_limit: Callable[[Account], Limit] = field(default=lambda account: Limit(10, 1.0))
    rate_headers: Callable[[Decision], dict[str, str]] = field(default=lambda decision: {})  # on every response
    # Webhooks: the payload for a finished job (None: the provider sends none), the delays between
    # retries, and headers computed per attempt (fal's signature).
    webhook_payload: Callable[[Context, Job], dict[str, Any]] | None = None
    webhook_retries: tuple[float, ...] = ()
    webhook_headers: Callable[[Context, Job], Headers | None] = field(default=lambda ctx, job: None)


@dataclass
class Context:
    """Everything a handler needs about one request."""

    request: Request
    mock: Mock
    provider: Provider
    operation: Operation | None = None  # None when the control plane acts on a provider's job
    body: Body | None = None
    account: Account | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    job_action: str | None = None  # a fault or scenario that shapes the job this request creates
    queue_wait: float = 0.0  # and the extra seconds it keeps the job queued

    @property
    def vocabulary(self) -> Vocabulary:
        return self.provider.vocabulary

    @property
    def key(self) -> str:
        assert self.account is not None, "handler of an unsecured operation asked for the key"
        return self.account.key

    def now(self) -> float:
        return self.mock.clock.now()

    def url(self, surface: str, path: str) -> str:
        """Absolute URL on one of the provider's surfaces, through the same door the request used."""
        prefix = self.provider.surfaces[surface].prefix
        bases: dict[str, str] = self.request.scope.get("cutout.bases", {})
        if prefix in bases:
            return bases[prefix] + path
        if "cutout.bases" in self.request.scope and self.mock.settings.public_url:
            return self.mock.settings.public_url.rstrip("/") + prefix + path
        return str(self.request.base_url).rstrip("/") + prefix + path

    def media_url(self, ref: MediaRef) -> str:
        return self.url(self.provider.media_surface, self.provider.media_path(ref))

    def field(self, name: str, default: Any = None) -> Any:
        return (self.body.fields if self.body else {}).get(name, default)

    # --- jobs ---------------------------------------------------------------------------------

    def charge(self, amount: float) -> None:
        """Take the operation's cost now; refused with the provider's credits error."""
        if amount <= 0:
            return
        balance = self.mock.accounts.charge(self.provider.name, self.key, amount)
        if balance is None:
            account = self.mock.store.get_account(self.provider.name, self.key)
            raise self.vocabulary.insufficient_credits(amount, account.balance if account else 0.0)

    async def submit(
        self,
        operation: str,
        job_input: dict[str, Any],
        work: Work,
        *,
        job_id: str,
        cost: float = 0.0,
        run_seconds: float = 1.0,
        webhook_url: str | None = None,
        inline: bool | None = None,
    ) -> Job:
        self.charge(cost)
        action = self.job_action or magic_action(job_input)
        if action in ("fail", "error", "block"):
            work = _scripted(action)
        job = Job(
            id=job_id,
            provider=self.provider.name,
            operation=operation,
            owner=self.key,
            created_at=self.now(),
            input=job_input,
            queue_seconds=0.5 + self.queue_wait,
            run_seconds=run_seconds,
            progression=Progression.MANUAL if action == "stuck" else Progression(self.mock.settings.progression),
            charged=cost,
            webhook_url=webhook_url,
        )
        on_done = self._webhook if webhook_url and self.provider.webhook_payload else None
        return await self.mock.start(job, self._refunding(work), inline=inline, on_done=on_done)

    def _webhook(self, job: Job) -> None:
        """Schedule the job's webhook, due when its visible state turns terminal."""
        provider = self.provider
        assert provider.webhook_payload is not None and job.webhook_url is not None
        payload = provider.webhook_payload(self, job)
        headers = provider.webhook_headers(self, job)
        self.mock.webhooks.schedule(
            provider.name, job.id, job.webhook_url, payload, job.finished_at(), provider.webhook_retries, headers
        )

    def _refunding(self, work: Work) -> Work:
        """Wrap work so that outcomes the provider does not bill give the credits back (once: a
        cancel may have given them back already)."""
        provider, mock = self.provider, self.mock

        async def run(job: Job) -> Any:
            try:
                result = await work(job)
            except MediaError:
                mock.refund_job(provider.name, job.id)
                raise
            if result.outcome in provider.refunded:
                mock.refund_job(provider.name, job.id)
            return result

        return run

    def job_changed(self, job: Job) -> None:
        """After a cancel or a forced transition: a webhook already scheduled carries the new ending."""
        provider = self.provider
        if job.webhook_url and provider.webhook_payload is not None:
            payload = provider.webhook_payload(self, job)
            self.mock.webhooks.restate(provider.name, job.id, payload, job.finished_at())

    def own_job(self, job_id: str) -> Job:
        """The caller's job (counting the poll under the polls progression); another key's job is
        not found, as if absent."""
        store = self.mock.store
        if self.mock.settings.progression == "polls":  # the count drives the job: write it
            job = store.poll_job(self.provider.name, job_id, self.key)
        else:  # timed jobs follow the clock; a poll is a pure read (a write per poll halved SQLite)
            job = store.get_job(self.provider.name, job_id)
        if job is None or job.owner != self.key:
            raise self.vocabulary.not_found("job")
        return job


_SCRIPTED = {
    "fail": (State.FAILED, "invalid_parameter", "The job failed (mock scenario 'fail')"),
    "error": (State.ERRORED, "unexpected_error", "The job errored (mock scenario 'error')"),
    "block": (
        State.BLOCKED,
        "content_filter_error",
        "The job was blocked by the content filter (mock scenario 'blocked')",
    ),
}


def _scripted(action: str) -> Work:
    """Work that ends the job the way a fault or magic input asked, without touching the engine."""
    state, code, message = _SCRIPTED[action]

    async def work(job: Job) -> WorkResult:
        return WorkResult(state, error={"code": code, "message": message})

    return work


def fault_error(provider: Provider, rule: Rule, request: Request, now: float) -> ApiError:
    """A status fault in the provider's own shape (its credits error for 402/403, 429 with Retry-After)."""
    vocabulary, status = provider.vocabulary, rule.status or 500
    if rule.body is not None:
        return ApiError(status, rule.body)
    if status == 401:
        return vocabulary.unauthorized(request)
    if status in (402, 403):
        return vocabulary.insufficient_credits(0, 0)
    if status == 404:
        return vocabulary.not_found("job")
    if status == 429:
        wait = 1 if rule.retry_after is None else rule.retry_after
        refusal = vocabulary.rate_limited(Decision(False, 1, 0, now + wait, wait))
        refusal.headers["Retry-After"] = str(wait)
        return refusal
    error = (
        vocabulary.internal()
        if status >= 500
        else vocabulary.invalid([{"loc": ["body"], "msg": "mock fault", "type": "mock_fault"}])
    )
    error.status = status
    if rule.retry_after is not None:
        error.headers["Retry-After"] = str(rule.retry_after)
    return error
