"""Checks a provider server must pass, as plain functions over a recorded ``Trace``.

Each check has one signature, ``check(trace) -> None``, raises ``CheckFailed`` with what it saw,
and is registered with ``@check`` so the verifier, the JUnit report and a user's own checks all
list the same way (schemathesis's shape). Add your own with ``@check`` in your code before calling
``verify_server``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from contracts.flows import Flow


class CheckFailed(AssertionError):
    """A contract the server broke; the message says what was expected and what came back."""


@dataclass
class Trace:
    """What one verification run saw of a server, kept for the checks to read."""

    flow: Flow
    base_url: str
    submit: httpx.Response
    statuses: list[str | None] = field(default_factory=list)  # each poll's status word
    polls: list[httpx.Response] = field(default_factory=list)
    after_terminal: list[httpx.Response] = field(default_factory=list)  # extra polls once it ended
    poll_url: str | None = None
    result: httpx.Response | None = None
    media: httpx.Response | None = None
    second_submit: httpx.Response | None = None
    unauthenticated: httpx.Response | None = None
    invalid: httpx.Response | None = None
    responses: list[httpx.Response] = field(default_factory=list)  # every response, in order


Check = Callable[[Trace], None]
CHECKS: dict[str, Check] = {}


def check(function: Check) -> Check:
    """Register a check under its function name."""
    CHECKS[function.__name__] = function
    return function


def json_object(response: httpx.Response | None) -> dict[str, Any]:
    """The response's JSON object, or {} (no response, not JSON, or not an object)."""
    try:
        body = response.json() if response is not None else None
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


@check
def polling_url_resolves(trace: Trace) -> None:
    """The submit is accepted and the polling URL it gives answers 2xx."""
    if trace.submit.status_code != trace.flow.submit_status:
        raise CheckFailed(f"submit answered {trace.submit.status_code}, expected {trace.flow.submit_status}")
    if not trace.poll_url:
        raise CheckFailed("the submit response has no polling URL")
    if not trace.polls or not 200 <= trace.polls[0].status_code < 300:  # fal answers 202 until done
        status = trace.polls[0].status_code if trace.polls else "nothing"
        raise CheckFailed(f"the polling URL {trace.poll_url} answered {status}")


@check
def status_moves_forward(trace: Trace) -> None:
    """Status words are the provider's own and never go back (queued, running, done)."""
    ranks = [trace.flow.rank(word) for word in trace.statuses]
    if -1 in ranks:
        word = trace.statuses[ranks.index(-1)]
        raise CheckFailed(f"status {word!r} is not one of the provider's words {trace.flow.order}")
    for i in range(1, len(ranks)):
        if ranks[i] < ranks[i - 1]:
            raise CheckFailed(f"status went back from {trace.statuses[i - 1]!r} to {trace.statuses[i]!r}")
    if not trace.statuses or not trace.flow.terminal(trace.statuses[-1]):
        raise CheckFailed(f"the job never ended: {trace.statuses}")


@check
def terminal_is_stable(trace: Trace) -> None:
    """Once a job has ended, later polls say the same thing."""
    if not trace.polls:
        raise CheckFailed("no polls")
    final = json_object(trace.polls[-1])
    for response in trace.after_terminal:
        again = json_object(response)
        if response.status_code != trace.polls[-1].status_code or again != final:
            raise CheckFailed(f"a finished job changed: {final} then {again}")


@check
def media_downloads_and_decodes(trace: Trace) -> None:
    """A completed job's output downloads, has a promised type, decodes, and carries alpha."""
    if trace.media is None:
        raise CheckFailed("the completed job gave no output URL")
    if trace.media.status_code != 200:
        raise CheckFailed(f"the output URL answered {trace.media.status_code}")
    content_type = trace.media.headers.get("content-type", "").split(";")[0]
    if content_type not in trace.flow.media_types:
        raise CheckFailed(f"output is {content_type!r}, expected one of {sorted(trace.flow.media_types)}")
    data = trace.media.content
    if content_type.startswith("image/"):
        _check_image(data)
    else:
        _check_video(data, content_type)


def _check_image(data: bytes) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as problem:
        raise CheckFailed(f"the output image does not decode: {problem}") from None
    if image.mode != "RGBA":
        raise CheckFailed(f"a cut-out has alpha; the output image is {image.mode}")
    low, high = cast(tuple[int, int], image.getchannel("A").getextrema())  # one band: (min, max)
    if not (low < 128 < high):
        raise CheckFailed(f"the alpha is flat ({low}..{high}): no cut-out")


def _check_video(data: bytes, content_type: str) -> None:
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            frame = next(container.decode(stream), None)
            alpha = stream.metadata.get("alpha_mode") == "1" or "a" in (stream.codec_context.pix_fmt or "")
            codec = stream.codec_context.name
    except (av.FFmpegError, IndexError, StopIteration) as problem:
        raise CheckFailed(f"the output video does not decode: {problem}") from None
    if frame is None:
        raise CheckFailed("the output video has no frames")
    if content_type == "video/webm" and not alpha:
        raise CheckFailed(f"a transparent WebM must carry alpha (codec {codec}, no alpha_mode)")


@check
def error_bodies_have_the_provider_shape(trace: Trace) -> None:
    """An invalid request is refused with a 4xx in the provider's own error shape."""
    response = trace.invalid
    if response is None or not 400 <= response.status_code < 500:
        raise CheckFailed(f"an invalid submit answered {response.status_code if response else 'nothing'}")
    missing = trace.flow.error_keys - set(json_object(response))
    if missing:
        raise CheckFailed(f"the error body {response.text[:200]!r} lacks {sorted(missing)}")


@check
def auth_is_enforced(trace: Trace) -> None:
    """A request without a key is refused (401/403) in the provider's shape, and starts no job."""
    response = trace.unauthenticated
    if response is None or response.status_code not in (401, 403):
        raise CheckFailed(f"a submit without a key answered {response.status_code if response else 'nothing'}")
    if trace.flow.job_id(json_object(response)):
        raise CheckFailed("a submit without a key got a job id")


@check
def rate_limit_headers_are_consistent(trace: Trace) -> None:
    """X-RateLimit-* headers are whole numbers with Remaining within the limit; a 429 has Retry-After."""
    for response in trace.responses:
        if response.status_code == 429 and not response.headers.get("retry-after", "").isdigit():
            raise CheckFailed("a 429 without a Retry-After in whole seconds")
        remaining, limit = response.headers.get("x-ratelimit-remaining"), response.headers.get("x-ratelimit-limit")
        if remaining is None:
            continue
        if not remaining.isdigit() or (limit is not None and (not limit.isdigit() or int(remaining) > int(limit))):
            raise CheckFailed(f"X-RateLimit-Remaining {remaining!r} with limit {limit!r}")
        reset = response.headers.get("x-ratelimit-reset", "")
        if not reset.isdigit():
            raise CheckFailed(f"X-RateLimit-Reset {reset!r} is not epoch seconds")


@check
def ids_are_unique(trace: Trace) -> None:
    """Two submits get two different job ids."""
    first, second = trace.flow.job_id(json_object(trace.submit)), trace.flow.job_id(json_object(trace.second_submit))
    if not first or not second:
        raise CheckFailed("a submit gave no job id")
    if first == second:
        raise CheckFailed(f"two submits got the same id {first!r}")
