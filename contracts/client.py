"""Verify a *client*: a team's own polling code, run against the mock under generated scenarios.

    def run(base_url: str, api_key: str):          # or `async def`
        ... submit, poll, return the output URL (or bytes); raise when the job did not succeed

    verify_client(run, "pixelapi")

`base_url` is the provider's base on a mock at a real 127.0.0.1 port (fal: its queue), so any HTTP
library works; httpx clients that call the real hosts (``https://queue.fal.run``: fal-client as it
is) reach the same mock. Each Hypothesis example resets the mock, sets one ``Scenario`` up, runs
the client once, and judges the run with the client checks (``@client_check``, in order):

- ``respects_retry_after``: after a 429, the next request waits what Retry-After asked;
- ``polls_no_faster_than_the_minimum``: status polls at least ``min_poll_interval`` apart;
- ``ends``: within ``max_calls`` requests, ``max_wait`` seconds of mock time and ``timeout``
  seconds of real time;
- ``raises_when_the_job_failed`` and ``returns_the_output``: the output exactly when the job
  completed, an exception otherwise.

Time is the mock's: while the client runs, ``time.sleep`` and ``asyncio.sleep`` in its thread, in
threads it starts and in work it hands to thread pools move the mock's frozen clock instead of
waiting (``contracts/_mocktime.py``), so a 5-minute queue takes no real time and intervals are
measured exactly. A wait the kit cannot follow (``threading.Event.wait``, timers) shows as real
time between requests while the mock clock stood still: the verifier then raises
``ClientNotFollowed`` saying so, never a contract failure. A failure shrinks to the simplest
scenario and prints a replay of the requests.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts._asgi import RewriteJson
from contracts._inprocess import intercept
from contracts._live import LiveServer
from contracts._mocktime import MockTime
from contracts.checks import CheckFailed
from contracts.control import MockControl
from contracts.flows import FLOWS
from contracts.scenarios import Scenario, essential, scenarios
from mockserver.settings import Settings

ClientRun = Callable[[str, str], Any]

MIN_POLL_INTERVAL = 0.25  # seconds; catches a loop that does not wait, passes any client that polls every 1-5 s
MAX_CALLS = 1500  # a client polling every 0.25 s through the longest scenario (a 300 s queue) needs ~1,250
MAX_WAIT = 3600.0  # mock seconds; the longest scenario ends within ~10 minutes of waiting


class ClientContractError(AssertionError):
    """The client broke a property; the message holds the check, the scenario and a replay of its requests."""


class ClientNotFollowed(AssertionError):
    """The client waits in a way the kit cannot put on the mock's clock, so its pacing cannot be judged."""


class CannotFollow(CheckFailed):
    """Raised by a client check that cannot judge: the client waited in real time, not on the mock's clock."""


class ClientHung(Exception):
    """Raised inside the client when it runs past its budget of calls or mock time."""


@dataclass
class Budget:
    max_calls: int
    max_mock_seconds: float
    calls: int = 0
    slept: float = 0.0
    exceeded: str | None = None
    extra_fields: bool = False
    sleeps: list[float] = field(default_factory=list)
    arrivals: list[tuple[str, str, str, float]] = field(default_factory=list)  # method, host, path, real time


class Guard:
    """ASGI layer in front of the mock: counts the client's calls (and when each came, in real time),
    stops it past its budget, and adds unknown fields to JSON objects when the scenario asks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._with_unknown_fields = RewriteJson(app, _add_unknown_field)
        self.budget = Budget(MAX_CALLS, MAX_WAIT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__mock"):
            return await self.app(scope, receive, send)
        budget = self.budget
        budget.calls += 1
        if budget.calls > budget.max_calls:
            budget.exceeded = budget.exceeded or f"more than {budget.max_calls} requests"
            body = json.dumps({"detail": "cutout-mock: call budget exceeded"}).encode()
            await send(
                {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json")]}
            )
            return await send({"type": "http.response.body", "body": body})
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").split(":")[0].lower()
        budget.arrivals.append((scope["method"], host, scope["path"], time.monotonic()))
        await (self._with_unknown_fields if budget.extra_fields else self.app)(scope, receive, send)


def _add_unknown_field(scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return status, {**body, "x_added_later": {"note": "a field this client never saw"}}


# --- what a run left, and the checks that read it ---------------------------------------------------


@dataclass
class ClientTrace:
    """One run of the client under one scenario, kept for the client checks to read."""

    scenario: Scenario
    journal: list[dict[str, Any]]  # its requests, oldest first: "at" on the mock's clock, "real" (monotonic) or None
    result: Any = None
    error: BaseException | None = None
    finished: bool = False
    exceeded: str | None = None  # why it was stopped (a budget), if it was
    min_poll_interval: float = MIN_POLL_INTERVAL
    idle: float = 0.0  # real seconds between its last request and the end of the run
    expected_outputs: Callable[[], list[str]] = list  # the job's output URL (on the mock's port and real host)
    same_media: Callable[[Any, str], bool] = lambda result, url: False

    @property
    def ended(self) -> bool:
        """It returned or raised by itself, within its budgets."""
        return self.finished and self.exceeded is None and not isinstance(self.error, ClientHung)


ClientCheck = Callable[[ClientTrace], None]
CLIENT_CHECKS: dict[str, ClientCheck] = {}


def client_check(function: ClientCheck) -> ClientCheck:
    """Register a client check under its function name; checks run in the order registered."""
    CLIENT_CHECKS[function.__name__] = function
    return function


def _waited(before: dict[str, Any], after: dict[str, Any]) -> tuple[float, float | None]:
    """The gap between two requests on the mock's clock and in real time (None when unknown)."""
    real = after["real"] - before["real"] if before.get("real") is not None and after.get("real") is not None else None
    return after["at"] - before["at"], real


def _judge_gaps(findings: list[tuple[str, float | None, float]]) -> None:
    """Each finding is (what it did, real gap, needed), for a gap too short on the mock's clock. Blame
    the client only where real time agrees it came back too soon; where only the mock's clock says
    so, the client waited in a way the kit could not follow: say that."""
    for problem, real_gap, needed in findings:
        if real_gap is None or real_gap < needed - 1e-3:
            raise CheckFailed(problem)
    if findings:
        problem, real_gap, _ = findings[0]
        raise CannotFollow(
            f"cannot judge this client's waits: by the mock's clock it {problem}, but {real_gap:.2f}s of real "
            "time passed between those requests. The kit moves mock time for time.sleep and asyncio.sleep "
            "in the client's threads and thread pools; this client waits some other way (threading.Event.wait, "
            "a timer, a sleep bound before the run), which runs in real time. Make it wait with time.sleep or "
            "asyncio.sleep to have its pacing checked."
        )


@client_check
def respects_retry_after(trace: ClientTrace) -> None:
    """After a 429 with Retry-After, the next request waits at least that long."""
    findings = []
    for entry, following in itertools.pairwise(trace.journal):
        wait = _retry_after(entry)
        if entry["status"] != 429 or wait is None:
            continue
        gap, real = _waited(entry, following)
        if gap < wait - 1e-6:
            problem = f"ignored Retry-After: {wait}s asked, next request after {gap:g}s ({following['path']})"
            findings.append((problem, real, float(wait)))
    _judge_gaps(findings)


@client_check
def polls_no_faster_than_the_minimum(trace: ClientTrace) -> None:
    """Status polls are at least ``min_poll_interval`` apart (the wait after a 429 is
    ``respects_retry_after``'s to judge)."""
    minimum = trace.min_poll_interval
    polls = [e for e in trace.journal if e["operation"] in trace.scenario.flow.poll_operations[:1]]
    findings = []
    for before, after in itertools.pairwise(polls):
        if before["status"] == 429:
            continue
        gap, real = _waited(before, after)
        if gap < minimum - 1e-9:
            findings.append((f"polled {gap:g}s after the previous poll (minimum {minimum:g}s)", real, minimum))
    _judge_gaps(findings)


@client_check
def ends(trace: ClientTrace) -> None:
    """It returns or raises within its budgets of requests, mock time and real time."""
    if trace.ended:
        return
    reason = trace.exceeded or (str(trace.error) if isinstance(trace.error, ClientHung) else "did not finish")
    if "real time" in reason and trace.idle > 1.0:
        reason += (
            f" (its last request was {trace.idle:.1f}s before: a hang, or a wait the kit cannot follow,"
            " such as threading.Event.wait or a timer, which runs in real time)"
        )
    raise CheckFailed(f"unbounded: {reason}")


@client_check
def raises_when_the_job_failed(trace: ClientTrace) -> None:
    """A job that did not succeed (failed, errored, blocked, refused for credits) makes it raise."""
    if trace.ended and not trace.scenario.should_succeed and trace.error is None:
        raise CheckFailed(f"returned {trace.result!r:.200} for a job that did not succeed; it should raise")


@client_check
def returns_the_output(trace: ClientTrace) -> None:
    """A job that completed makes it return the output (its URL, or its bytes)."""
    if not trace.ended or not trace.scenario.should_succeed:
        return
    if trace.error is not None:
        raise CheckFailed(f"raised {trace.error.__class__.__name__}: {trace.error} for a job that succeeded")
    expected = trace.expected_outputs()
    if not expected:
        raise CheckFailed("the client never saw the job complete")
    if not any(url in repr(trace.result) for url in expected) and not trace.same_media(trace.result, expected[0]):
        raise CheckFailed(f"returned {trace.result!r:.200}, not the output {expected[0]}")


# --- the verifier --------------------------------------------------------------------------------------


class ClientVerifier:
    """One mock server for a whole verification; each example resets it."""

    def __init__(
        self,
        provider: str,
        *,
        api_key: str = "cutout-client",
        checks: list[str] | None = None,
        min_poll_interval: float = MIN_POLL_INTERVAL,
        max_calls: int = MAX_CALLS,
        max_wait: float = MAX_WAIT,
        timeout: float = 30.0,
    ) -> None:
        unknown = sorted(set(checks or ()) - set(CLIENT_CHECKS))
        if unknown:
            raise ValueError(f"no client check {', '.join(unknown)}; one of {', '.join(CLIENT_CHECKS)}")
        self.provider, self.api_key, self.checks = provider, api_key, checks
        self.min_poll_interval, self.max_calls, self.max_wait = min_poll_interval, max_calls, max_wait
        self.timeout = timeout
        self._state = tempfile.TemporaryDirectory(prefix="cutout-client-")
        settings_ = Settings.for_tests(state_dir=Path(self._state.name), port=0)
        self._guard: Guard | None = None
        self._clock = threading.Lock()
        self.server = LiveServer(settings_, wrap=self._wrap)
        self.control = MockControl(self.server.url)
        surfaces = [(p["name"], s) for p in self.control.list_providers() for s in p["surfaces"]]
        self.base_url = next(s["mock_base_url"] for name, s in surfaces if name == provider)
        self._prefixes = {s["host"]: s["prefix"] for _, s in surfaces}  # real host -> path on the mock

    def _wrap(self, app: ASGIApp) -> ASGIApp:
        self._guard = Guard(app)
        return self._guard

    def close(self) -> None:
        self.control.close()
        self.server.close()
        self._state.cleanup()

    # --- one example ------------------------------------------------------------------------------

    def check(self, run: ClientRun, scenario: Scenario) -> None:
        assert self._guard is not None
        self.control.reset()
        for rule in scenario.rules():
            self.control.add_fault(**rule)
        budget = Budget(self.max_calls, self.max_wait, extra_fields=scenario.extra_fields)
        self._guard.budget = budget
        trace = self._run(run, scenario, budget)
        trace.journal = self._with_real_times(self.control.get_journal(provider=self.provider, limit=10_000), budget)
        self._judge(trace)

    def _advance(self, budget: Budget, seconds: float) -> None:
        """One of the client's sleeps, on the mock's clock (stopping it past its budget)."""
        seconds = max(float(seconds), 0.0)
        with self._clock:
            budget.sleeps.append(seconds)
            budget.slept += seconds
            if budget.slept > budget.max_mock_seconds:
                budget.exceeded = budget.exceeded or f"still waiting after {budget.max_mock_seconds:g}s of mock time"
            if budget.exceeded:
                raise ClientHung(budget.exceeded)
            if seconds:
                self.control.advance_clock(seconds)

    def _run(self, run: ClientRun, scenario: Scenario, budget: Budget) -> ClientTrace:
        trace = ClientTrace(scenario, [], min_poll_interval=self.min_poll_interval)
        trace.expected_outputs, trace.same_media = self._outputs, _same_media
        mock_time = MockTime(lambda seconds: self._advance(budget, seconds))

        def client() -> Any:
            value = run(self.base_url, self.api_key)
            return asyncio.run(_await(value)) if inspect.isawaitable(value) else value

        def target() -> None:
            try:
                trace.result = mock_time.call(client)
            except BaseException as error:  # the client's own exception is data here
                trace.error = error
            finally:
                trace.finished = True

        with mock_time, intercept(self.server, set(self._prefixes)):
            thread = threading.Thread(target=target, name="cutout-client-under-test", daemon=True)
            thread.start()
            thread.join(self.timeout)
        if thread.is_alive():
            budget.exceeded = budget.exceeded or f"no answer after {self.timeout:g}s of real time"
        trace.exceeded = budget.exceeded
        trace.idle = time.monotonic() - budget.arrivals[-1][3] if budget.arrivals else self.timeout
        return trace

    def _with_real_times(self, journal: list[dict[str, Any]], budget: Budget) -> list[dict[str, Any]]:
        """Each journal entry with the real time it arrived ("real"), matched by method and path in order."""
        arrivals: dict[tuple[str, str], list[float]] = defaultdict(list)
        for method, host, path, real in budget.arrivals:
            arrivals[(method, self._prefixes.get(host, "") + path)].append(real)
        seen: dict[tuple[str, str], int] = defaultdict(int)
        for entry in journal:
            key = (entry["method"], entry["path"])
            times, index = arrivals.get(key, []), seen[key]
            seen[key] += 1
            entry["real"] = times[index] if index < len(times) else None
        return journal

    def _judge(self, trace: ClientTrace) -> None:
        for name, function in CLIENT_CHECKS.items():
            if self.checks and name not in self.checks:
                continue
            try:
                function(trace)
            except CannotFollow as problem:
                raise ClientNotFollowed(self._report(str(problem), name, trace)) from None
            except CheckFailed as problem:
                raise ClientContractError(self._report(str(problem), name, trace)) from None

    @staticmethod
    def _report(problem: str, name: str, trace: ClientTrace) -> str:
        return f"{problem}\n  check: {name}\n  scenario: {trace.scenario.describe()}\n{_replay(trace.journal)}"

    def _outputs(self) -> list[str]:
        """The output URL of the client's job, read back from the mock once faults are cleared: on
        this port, and on its real host (where an httpx client calling the real hosts saw it)."""
        flow = FLOWS[self.provider]
        journal = self.control.get_journal(provider=self.provider, limit=10_000)
        submits = [e for e in journal if e["operation"] == flow.submit_operation and e["status"] < 300]
        if not submits:
            return []
        body = json.loads(submits[-1]["response_body"] or "{}")
        self.control.clear_faults()
        assert self._guard is not None
        self._guard.budget = Budget(10**6, 10**9)
        poll_url = flow.poll_url(body, self.base_url)
        if not poll_url:
            return []
        with httpx.Client(headers=flow.headers(self.api_key), timeout=30) as http:
            status = http.get(self._on_this_port(poll_url)).json()
            if flow.result_url is not None and (url := flow.result_url(status)):
                status = http.get(self._on_this_port(url)).json()
        output = flow.output_url(status)
        return [output, *self._on_real_hosts(output)] if output else []

    def _on_this_port(self, url: str) -> str:
        """A URL on a real host (the client came in through one) as the same resource on this port."""
        parsed = httpx.URL(url)
        prefix = self._prefixes.get(parsed.host)
        if prefix is None:
            return url
        return str(parsed.copy_with(scheme="http", host="127.0.0.1", port=self.server.port, path=prefix + parsed.path))

    def _on_real_hosts(self, url: str) -> list[str]:
        """A URL on this port as the same resource on its surface's real host."""
        base = self.server.url
        return [
            f"https://{host}{url[len(base + prefix) :]}"
            for host, prefix in self._prefixes.items()
            if url.startswith(base + prefix + "/")
        ]


def _same_media(result: Any, url: str) -> bool:
    return isinstance(result, bytes | bytearray) and httpx.get(url).content == bytes(result)


async def _await(value: Any) -> Any:
    return await value


def _retry_after(entry: dict[str, Any]) -> int | None:
    value = entry["response_headers"].get("retry-after")
    return int(value) if value and value.isdigit() else None


def _replay(journal: list[dict[str, Any]]) -> str:
    start = journal[0]["at"] if journal else 0.0
    lines = [f"  t+{e['at'] - start:8.2f}s  {e['method']:6} {e['path']} -> {e['status']}" for e in journal[:40]]
    more = f"\n  ... {len(journal) - 40} more" if len(journal) > 40 else ""
    return "  replay:\n" + "\n".join(lines) + more


def verify_client(
    run: ClientRun,
    provider: str,
    *,
    checks: list[str] | None = None,
    max_examples: int = 20,
    min_poll_interval: float = MIN_POLL_INTERVAL,
    max_calls: int = MAX_CALLS,
    max_wait: float = MAX_WAIT,
    timeout: float = 30.0,
    api_key: str = "cutout-client",
) -> None:
    """Run `run(base_url, api_key)` under generated scenarios; raises ``ClientContractError`` with
    the smallest scenario that breaks a property (and a replay of its requests).

    `checks` picks client checks by name (default: all, see ``CLIENT_CHECKS``). The defaults pass a
    client that polls every 1-5 s, or backs off, through every scenario (the longest: 300 s more in
    the queue, then up to three 429s with Retry-After up to 30 s and two 503s):

    - `min_poll_interval` 0.25 s: status polls closer than this fail (a loop that does not wait);
    - `max_calls` 1500: requests in one run (polling every 0.25 s through the 300 s queue takes
      ~1,250; a client polling every second ~320);
    - `max_wait` 3600 s of mock time (the scenarios end within ~10 minutes of waiting);
    - `timeout` 30 s of real time per run (the mock's clock makes waits free; this stops a hang).

    fal-client polls every 0.1 s unless told otherwise: give it ``interval=1`` (or pass
    ``min_poll_interval=0.1`` and a larger ``max_calls``). ``ClientNotFollowed`` means the client
    waits in a way the kit cannot put on the mock's clock (not ``time.sleep``/``asyncio.sleep``),
    so its pacing could not be judged.
    """
    verifier = ClientVerifier(
        provider,
        api_key=api_key,
        checks=checks,
        min_poll_interval=min_poll_interval,
        max_calls=max_calls,
        max_wait=max_wait,
        timeout=timeout,
    )

    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(scenario=scenarios(provider))
    def property_test(scenario: Scenario) -> None:
        verifier.check(run, scenario)

    for known in reversed(essential(provider)):  # hypothesis runs explicit examples first, in order
        property_test = example(scenario=known)(property_test)

    try:
        property_test()
    finally:
        verifier.close()
