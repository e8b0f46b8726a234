"""What the dashboard's pages show of a job, as plain data (read-only: nothing here changes the mock).

A job is shown in its provider's own status word (``Vocabulary.status_word``), with its timeline on
the mock clock (submitted, running, its ending, each webhook attempt), its input media (the URL the
client sent), its outputs (paths on this mock's media surface) and its credits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from mockserver.control import redact
from mockserver.core.jobs import Job, Progression, State
from mockserver.engine.codecs import read_rgba
from mockserver.engine.compose import encode_png
from mockserver.providers.base import Vocabulary
from mockserver.runtime.mock import Mock
from mockserver.runtime.samples import SAMPLE_HOSTS
from mockserver.web.spec import Validator, load_spec

INPUT_FIELDS = ("image_url", "video_url", "input_image_url", "url", "image")  # where submits carry their media
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".m4v")
PLAYABLE = ("video/webm", "video/mp4")  # what a browser's <video> plays; other videos get a poster


@dataclass(frozen=True)
class Event:
    """One step of a job's life: what, when (mock-clock epoch seconds), and whether it has happened."""

    label: str
    at: float
    reached: bool
    detail: str = ""


@dataclass(frozen=True)
class Media:
    """A picture or clip to show: its URL and how (``image``, ``video``, ``poster``, or ``expired``:
    an output past its expiry, whose URL answers 410, so the page says so instead of a broken image)."""

    url: str
    kind: str
    content_type: str = ""
    name: str = ""
    size: int = 0
    expires_at: float | None = None  # mock-clock epoch seconds (outputs only)


@dataclass(frozen=True)
class JobRow:
    """A job as the list shows it."""

    provider: str
    id: str
    operation: str
    owner: str
    state: str  # the mock's state (queued, running, succeeded, ...)
    word: str  # the provider's word for it (IN_QUEUE, pending, PROCESSING, ...)
    created_at: float
    charged: float
    refunded: float
    polls: int
    webhook_url: str | None
    error: dict[str, str] | None

    @property
    def terminal(self) -> bool:
        return State(self.state).terminal


@dataclass(frozen=True)
class JobDetail:
    """A job as its own page shows it."""

    row: JobRow
    timeline: list[Event]
    inputs: list[Media]
    outputs: list[Media]
    refund_on: tuple[str, ...]
    input_fields: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)


def row(job: Job, words: Vocabulary, now: float) -> JobRow:
    state = job.visible_state(now)
    return JobRow(
        provider=job.provider,
        id=job.id,
        operation=job.operation,
        owner=job.owner,
        state=state.value,
        word=words.status_word(state),
        created_at=job.created_at,
        charged=job.charged,
        refunded=job.refunded,
        polls=job.polls,
        webhook_url=redact.url(job.webhook_url) if job.webhook_url else None,  # as /__mock/webhooks shows it
        error=job.error,
    )


SHOWN_JOBS = 500  # the jobs page lists the newest this many (/__mock/jobs pages through all of them)


def job_rows(mock: Mock, words: Mapping[str, Vocabulary], provider: str | None = None) -> tuple[list[JobRow], int]:
    """The newest SHOWN_JOBS jobs (of `provider`, if given), newest first, and how many there are."""
    now = mock.clock.now()
    jobs = mock.store.list_jobs(provider if provider in words else None, None)
    newest = sorted(jobs, key=lambda j: j.created_at, reverse=True)[:SHOWN_JOBS]
    return [row(j, words[j.provider], now) for j in newest], len(jobs)


FINGERPRINT_CHUNK = 200  # jobs read between two turns of the event loop


async def fingerprint(mock: Mock) -> tuple[Any, ...]:
    """What changes when a page should redraw: each job's visible state and credits, and the deliveries.

    Jobs are read a page of ``FINGERPRINT_CHUNK`` at a time with a turn of the event loop between, as
    the control plane's listings are: read at once, 30,000 jobs held the loop, and every status poll
    waiting on it, for up to half a second a tick while a dashboard page was open.
    """
    now = mock.clock.now()
    jobs: list[tuple[Any, ...]] = []
    cursor: int | None = None
    while True:
        placed, cursor = mock.store.page_jobs(None, None, cursor, FINGERPRINT_CHUNK)
        jobs.extend((j.id, j.visible_state(now).value, j.charged, j.polls) for _, j in placed)
        if cursor is None:
            break
        await asyncio.sleep(0)
    listed = await asyncio.to_thread(mock.webhooks.listed)  # grows with the jobs: read off the loop
    deliveries = tuple((d["id"], len(d["attempts"]), d["delivered"]) for d in listed)
    return tuple(jobs), deliveries


def timeline(job: Job, words: Vocabulary, now: float, deliveries: list[dict[str, Any]]) -> list[Event]:
    """Submitted (queued), running, the ending and each webhook attempt, in mock-clock order."""
    state = job.visible_state(now)
    events = [Event(words.status_word(State.QUEUED), job.created_at, True, "submitted")]
    if job.progression is Progression.POLLS and job.forced_at is None:  # moved by polls, not by the clock
        if state is not State.QUEUED:
            events.append(Event(words.status_word(State.RUNNING), job.created_at, True, "running: its 2nd poll"))
        if state.terminal:
            events.append(Event(words.status_word(state), job.created_at, True, f"{state.value}: its 3rd poll"))
        return _with_deliveries(events, deliveries)
    ran = state is State.RUNNING or (state.terminal and (job.forced_at is None or job.forced_at >= job.started_at()))
    if ran:
        events.append(Event(words.status_word(State.RUNNING), job.started_at(), True, "running"))
    if state.terminal:
        events.append(Event(words.status_word(state), job.finished_at(), True, state.value))
    return _with_deliveries(events, deliveries)


def _with_deliveries(events: list[Event], deliveries: list[dict[str, Any]]) -> list[Event]:
    """`events` with each delivery's attempts (and its next due time), in mock-clock order (stable:
    the steps of a job moved by polls keep their order)."""
    for delivery in deliveries:
        for attempt in delivery["attempts"]:
            answer = attempt["status"] if attempt["status"] is not None else (attempt["error"] or "no answer")
            what = "webhook replay" if attempt.get("replay") else "webhook attempt"
            events.append(Event(what, attempt["at"], True, f"{delivery['url']} answered {answer}"))
        if not delivery["delivered"] and not delivery["gave_up"]:
            events.append(Event("webhook due", delivery["due_at"], False, delivery["url"]))
    return sorted(events, key=lambda e: e.at)


def _kind_of(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    return "video" if path.endswith(VIDEO_EXTENSIONS) or path.startswith("data:video/") else "image"


def shown_url(url: str) -> str:
    """Where a browser can load `url`: a documented example host (which the mock answers with a
    generated sample, ``runtime/samples.py``) becomes the same sample from ``/__mock/samples``."""
    parsed = urlsplit(url)
    if parsed.hostname in SAMPLE_HOSTS:
        return "/__mock/samples/" + PurePosixPath(parsed.path).name
    return url


def inputs(job: Job) -> list[Media]:
    """The media the client sent, by URL (an uploaded file is not kept after its job ran)."""
    found = []
    for name in INPUT_FIELDS:
        value = job.input.get(name)
        if isinstance(value, str) and value.startswith(("http://", "https://", "data:image/", "data:video/")):
            found.append(Media(shown_url(value), _kind_of(value), name=name))
    return found


def outputs(job: Job, words: Vocabulary, now: float) -> list[Media]:
    """The job's output files at their paths on this mock (the provider's media surface); one past
    its expiry at `now` (mock clock, as ``core/media.py`` decides it) is ``expired``."""
    prefix = words.surfaces[words.media_surface].prefix
    shown = []
    for ref in job.outputs:
        kind = "video" if ref.content_type in PLAYABLE else "poster"
        kind = "image" if ref.content_type.startswith("image/") else kind
        kind = "expired" if now >= ref.expires_at else kind
        url = prefix + words.media_path(ref)
        shown.append(Media(url, kind, ref.content_type, ref.filename, ref.size, ref.expires_at))
    return shown


def detail(mock: Mock, words: Vocabulary, job: Job) -> JobDetail:
    now = mock.clock.now()
    shown = row(job, words, now)
    deliveries = [redact.delivery(d) for d in mock.webhooks.listed(job.provider, job.id)]
    return JobDetail(
        row=shown,
        timeline=timeline(job, words, now, deliveries),
        inputs=inputs(job),
        outputs=outputs(job, words, now) if shown.state == State.SUCCEEDED else [],  # what its client can see
        refund_on=tuple(job.refund_on),
        input_fields=redact.fields(  # as /__mock/jobs shows it
            {k: v for k, v in job.input.items() if not (isinstance(v, str) and v.startswith("data:"))}
        ),
        result=job.result,
    )


def documented_errors(provider: str) -> dict[str, list[tuple[int, str]]]:
    """Each operation's documented error statuses with their descriptions, from the provider's own
    spec (``openapi/<provider>.yaml``): what the fault form offers for that operation."""
    spec = load_spec(provider)
    resolver = Validator(spec)
    found: dict[str, list[tuple[int, str]]] = {}
    for item in spec.get("paths", {}).values():
        for method, op in item.items():
            if not isinstance(op, dict) or "operationId" not in op or method == "parameters":
                continue
            errors = []
            for status, answer in op.get("responses", {}).items():
                if str(status).isdigit() and int(status) >= 400:
                    described = resolver.resolve(answer).get("description", "")
                    errors.append((int(status), " ".join(str(described).split())[:120]))
            found[op["operationId"]] = sorted(errors)
    return found


def poster_png(path: Path) -> bytes | None:
    """A video's first frame as PNG, alpha kept (ProRes 4444, VP9, GIF): the poster of an output a
    browser cannot play. None when the file has no frame it can decode. Blocking: run in a thread."""
    try:
        frames = read_rgba(path)
        first = next(frames, None)
        frames.close()
    except Exception:  # a file PyAV cannot read has no poster; the page says so instead
        return None
    return None if first is None else encode_png(first)
