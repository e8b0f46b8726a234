"""What every provider is made of, and what a handler sees of its request.

A provider is a vocabulary and a table of handlers (moto's shape). ``vocabulary.py`` holds all that
the provider does differently, on one `Vocabulary` object: its words (status names, error bodies),
its URL shapes, and every hook the pipeline and the runtime call (where the key is read, what is
refused before auth, rate limits and their headers, prices, the refund policy, the webhook's payload
and signature). ``handlers.py`` parses a request, acts through the runtime and serialises the answer;
``routes.py`` maps the spec's operationIds to handlers. A handler sees its request as a `View`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from mockserver.core.accounts import FramePrice
from mockserver.core.backends.base import Account, Store
from mockserver.core.jobs import REFUNDED, Job, JobView, MediaRef, State
from mockserver.core.ratelimit import Decision, Limit
from mockserver.core.signing import Signer
from mockserver.core.webhooks import Headers
from mockserver.engine import inputs
from mockserver.engine.errors import FetchError, InvalidOption, MediaError
from mockserver.runtime.catalogue import Surface
from mockserver.runtime.jobs import Webhook, Work
from mockserver.runtime.mock import Mock
from mockserver.web.bodies import MAX_BODY, BadBody, Body
from mockserver.web.http import ApiError


class Vocabulary(ABC):
    """A provider's words and hooks, subclassed once per provider; the defaults are what most do."""

    name: str  # also its spec (openapi/<name>.yaml) and its path prefix (/<name>)
    surfaces: Mapping[str, Surface]  # by the name ``--expose <provider>-<surface>`` uses
    media_surface: str  # the surface its outputs are served on
    media_route: str  # their path there: {media_id}, and {filename} or {ext}
    starting_balance: float  # what a new key starts with
    result_ttl: float  # seconds an output is kept
    refund_on: tuple[State, ...] = REFUNDED  # outcomes whose credits come back (stored on each job)
    video_price: FramePrice | None = None  # one block held at submit, the rest billed on the frames
    max_body: int = MAX_BODY
    webhook_retries: tuple[float, ...] | None = None  # None: it sends no webhooks; else the retry delays
    unlimited: frozenset[str] = frozenset()  # operationIds never rate-limited (fal's status polls)
    proxy: tuple[str, str, str] | None = None  # a client-side proxy door (fal): path, target header, own auth
    cors_exposed: tuple[str, ...] | None = None  # CORS on its surfaces, exposing these headers; None: none
    plans: tuple[str, ...] = ()  # the plans a key can be on (control plane); empty: any word

    @property
    def prefix(self) -> str:
        return "/" + self.name

    # --- a request: its key, what is refused before auth, its limit, headers on every answer ------

    @abstractmethod
    def api_key(self, request: Request) -> str | None: ...

    def gate(self, request: Request) -> ApiError | None:
        """A refusal before auth (PixelAPI's CDN turns away HTTP libraries' default agents)."""
        return None

    def rate_limit(self, account: Account) -> Limit:
        return Limit(10, 1.0)

    def rate_headers(self, decision: Decision) -> dict[str, str]:
        return {}

    def response_headers(self, view: View) -> dict[str, str]:
        return {}

    def output_ttl(self, view: View) -> float:
        """Seconds this request's output files are kept (fal: its X-Fal-Object-Lifecycle-Preference)."""
        return self.result_ttl

    def video_price_for(self, view: View) -> FramePrice | None:
        """The video price of this request (settings may change it); `video_price` by default."""
        return self.video_price

    # --- URLs and webhooks -----------------------------------------------------------------------

    def media_path(self, ref: MediaRef) -> str:
        """An output's path under the media surface: `media_route` filled in for it (the file name
        percent-encoded: a name taken from a non-ASCII input URL stays a URI)."""
        name = quote(ref.filename, safe="")
        return self.media_route.format(media_id=ref.id, filename=name, ext=name.rsplit(".", 1)[-1])

    def webhook_payload(self, links: Links, job: Job) -> dict[str, Any]:
        """The body announcing a finished job (providers with `webhook_retries`)."""
        raise NotImplementedError(f"{self.name} sends no webhooks")

    def webhook_headers(self, signer: Signer, job: Job) -> Headers | None:
        return None

    def balance_set(self, store: Store, key: str, now: float) -> None:
        """The control plane set `key`'s balance at `now` (epoch seconds, mock clock); a provider
        with a periodic reset counts it as this period's (PixelAPI's monthly allotment)."""
        return  # most providers have no periodic reset

    def status_word(self, state: State) -> str:
        """The word its status endpoint answers for `state` (the dashboard shows jobs in it)."""
        return state.value

    # --- words: how each failure looks on the provider's wire -------------------------------------

    @abstractmethod
    def unauthorized(self, request: Request) -> ApiError: ...

    @abstractmethod
    def not_found(self, what: str) -> ApiError: ...

    @abstractmethod
    def bad_body(self, problem: BadBody) -> ApiError: ...

    @abstractmethod
    def invalid(self, errors: list[dict[str, Any]]) -> ApiError: ...

    @abstractmethod
    def media_error(self, error: MediaError) -> ApiError: ...

    def invalid_option(self, problem: InvalidOption) -> ApiError:
        """An option the request asked for that cannot be honoured (its field named)."""
        return self.media_error(problem)

    @abstractmethod
    def insufficient_credits(self, needed: float, balance: float) -> ApiError: ...

    @abstractmethod
    def internal(self) -> ApiError: ...

    @abstractmethod
    def media_expired(self) -> ApiError: ...

    @abstractmethod
    def rate_limited(self, decision: Decision) -> ApiError: ...

    def fault_status(self, status: int, request: Request) -> ApiError | None:
        """A status fault's answer where the provider documents its own for that status and the
        request's operation (Pixazo's 403, PixelAPI's try-on 503 ``gpu_out_of_memory``); None: the
        common wording (its credits error for 402/403, its 429, its 500...)."""
        return None

    def unknown_path(self, path: str) -> ApiError:
        """An unknown `path` (the part after the provider's prefix): its 404 unless it documents more."""
        return self.not_found("resource")


def check_input_urls(fields: Mapping[str, Any]) -> None:
    """Every ``*_url`` field of a body checked as it will be fetched (length, characters, scheme, a numeric
    host only as a.b.c.d: ``inputs.clean_url``); InvalidOption naming the field, worded by the provider."""
    for name, value in fields.items():
        if name.endswith("_url") and isinstance(value, str) and value and not value.startswith("data:"):
            try:
                inputs.clean_url(value)
            except FetchError as problem:
                raise InvalidOption(problem.message, name) from None


Handler = Callable[["View"], Awaitable[Response]]


@dataclass(frozen=True)
class Provider:
    """A provider the app serves: its vocabulary and its handlers by operationId."""

    vocabulary: Vocabulary
    handlers: Mapping[str, Handler]

    @property
    def name(self) -> str:
        return self.vocabulary.name

    @property
    def surfaces(self) -> Mapping[str, Surface]:
        return self.vocabulary.surfaces

    @property
    def starting_balance(self) -> float:
        return self.vocabulary.starting_balance

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self.handlers)

    def webhook_headers(self, signer: Signer, job: Job) -> Headers | None:
        """The headers of each attempt to deliver `job`'s webhook (runtime/catalogue.py: Served)."""
        return self.vocabulary.webhook_headers(signer, job)

    @property
    def plans(self) -> tuple[str, ...]:
        return self.vocabulary.plans

    def balance_set(self, store: Store, key: str, now: float) -> None:
        """The control plane set `key`'s balance (runtime/catalogue.py: Served)."""
        self.vocabulary.balance_set(store, key, now)

    def webhook(self, job: Job) -> Webhook | None:
        """`job`'s webhook as its submit described it, from the job as stored (runtime/catalogue.py)."""
        return webhook_of(self.vocabulary, job)


def webhook_of(words: Vocabulary, job: Job) -> Webhook | None:
    """How a job's end is announced: to its webhook URL, in the provider's payload with the URLs of the
    submit's door (``Job.webhook_links``), retried at its delays; None when it asked for none."""
    if not job.webhook_url or words.webhook_retries is None or job.webhook_links is None:
        return None
    links = Links(words, job.webhook_links["bases"], job.webhook_links["base"])
    return Webhook(job.webhook_url, partial(words.webhook_payload, links), words.webhook_retries)


class Links:
    """Absolute URLs on a provider's surfaces, through the door one request came in by.

    A request on a real host or an exposed port brings the bases of its door (``cutout.bases``); the
    provider's other surfaces then go through ``--public-url``. Otherwise every URL is on the
    request's own base. Kept by a job's webhook, so its payload names the URLs its submit would.
    """

    __slots__ = ("base", "bases", "vocabulary")  # made on most status polls: a plain class is cheapest

    def __init__(self, vocabulary: Vocabulary, bases: Mapping[str, str], base: str) -> None:
        self.vocabulary = vocabulary
        self.bases = bases  # surface prefix -> base URL
        self.base = base  # for the other surfaces, without the prefix

    @classmethod
    def of(cls, request: Request, vocabulary: Vocabulary, public_url: str | None) -> Links:
        bases: Mapping[str, str] = request.scope.get("cutout.bases", {})
        if "cutout.bases" in request.scope and public_url:
            return cls(vocabulary, bases, public_url.rstrip("/"))
        return cls(vocabulary, bases, str(request.base_url).rstrip("/"))

    def url(self, surface: str, path: str) -> str:
        prefix = self.vocabulary.surfaces[surface].prefix
        base = self.bases.get(prefix)
        return (base if base is not None else self.base + prefix) + path

    def media_url(self, ref: MediaRef) -> str:
        return self.url(self.vocabulary.media_surface, self.vocabulary.media_path(ref))


@dataclass
class View:
    """One request as its handler sees it: the request, its provider's vocabulary, its body and
    account (filled in by the pipeline), and the runtime it acts through."""

    request: Request
    mock: Mock
    vocabulary: Vocabulary
    body: Body | None = None
    account: Account | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    job_action: str | None = None  # a fault or scenario that shapes the job this request creates
    queue_wait: float = 0.0  # and the extra seconds it keeps the job queued
    _links: Links | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        assert self.account is not None, "handler of an unsecured operation asked for the key"
        return self.account.key

    def now(self) -> float:
        return self.mock.clock.now()

    def field(self, name: str, default: Any = None) -> Any:
        return (self.body.fields if self.body else {}).get(name, default)

    def links(self) -> Links:
        if self._links is None:
            self._links = Links.of(self.request, self.vocabulary, self.mock.settings.public_url)
        return self._links

    def url(self, surface: str, path: str) -> str:
        """Absolute URL on one of the provider's surfaces, through the same door the request used."""
        if "cutout.bases" in self.request.scope:
            return self.links().url(surface, path)
        # The usual door (a prefix on this server): Links' own rule, without making one on every poll.
        return str(self.request.base_url).rstrip("/") + self.vocabulary.surfaces[surface].prefix + path

    def media_url(self, ref: MediaRef) -> str:
        return self.links().media_url(ref)

    # --- jobs, through the runtime ----------------------------------------------------------------

    def charge(self, amount: float) -> None:
        """Take a request's cost now (NotEnoughCredits, worded by the pipeline, when short)."""
        self.mock.accounts.take(self.vocabulary.name, self.key, amount)

    def own_job(self, job_id: str) -> JobView:
        """The caller's job as it sees it now (a status poll); another key's job is not found, as if absent."""
        job = self.mock.jobs.poll(self.vocabulary.name, job_id, self.key)
        if job is None:
            raise self.vocabulary.not_found("job")
        return JobView(job, self.mock.clock.now())

    def seen(self, job: Job, *, final: bool = False) -> JobView:
        """A job as the caller sees it now (`final`: as it ends)."""
        return JobView(job, self.now(), final=final)

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
        """A job for this request's key, with the provider's refund policy and webhook, to the runtime.

        The body's input URLs are checked first (``check_input_urls``): no job, no hold for a bad one."""
        check_input_urls(self.body.fields if self.body else {})
        words = self.vocabulary
        job = Job(
            id=job_id,
            provider=words.name,
            operation=operation,
            owner=self.key,
            created_at=self.now(),
            input=job_input,
            queue_seconds=0.5 + self.queue_wait,
            run_seconds=run_seconds,
            charged=cost,
            webhook_url=webhook_url,
            refund_on=words.refund_on,
        )
        if webhook_url:
            links = self.links()
            job.webhook_links = {"base": links.base, "bases": dict(links.bases)}
        webhook = webhook_of(words, job)
        return await self.mock.jobs.submit(job, work, action=self.job_action, webhook=webhook, inline=inline)
