"""Verify a *client*: a team's own polling code, run against the mock under generated scenarios.

    def run(base_url: str, api_key: str):          # or `async def`; base_url as the real one
                                                    # (fal: the queue, https://queue.fal.run)
        ... submit, poll, return the output URL (or bytes); raise when the job did not succeed

    verify_client(run, "pixelapi")

Each Hypothesis example configures a fresh mock (on a real 127.0.0.1 port, so any HTTP library
works) with one ``Scenario``, runs the client once, and checks its properties:

- returns the output exactly when the job completed, and raises when it did not;
- respects Retry-After; never polls faster than ``min_poll_interval``;
- makes at most ``max_calls`` requests and ends (no hang).

Time is the mock's: while the client runs, ``time.sleep`` and ``asyncio.sleep`` in its thread move
the mock's frozen clock instead of waiting, so a 5-minute queue takes no real time and intervals
are measured exactly. A failure shrinks to the simplest scenario and prints a replay of the requests.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.asgi import RewriteJson
from contracts.control import MockControl
from contracts.flows import FLOWS
from contracts.live import LiveServer
from contracts.scenarios import Scenario, essential, scenarios
from mockserver.settings import Settings

ClientRun = Callable[[str, str], Any]


class ClientContractError(AssertionError):
    """The client broke a property; the message holds the scenario and a replay of its requests."""


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


class Guard:
    """ASGI layer in front of the mock: counts the client's calls, stops it past its budget, and
    adds unknown fields to JSON objects when the scenario asks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._with_unknown_fields = RewriteJson(app, _add_unknown_field)
        self.budget = Budget(60, 7200.0)

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
        await (self._with_unknown_fields if budget.extra_fields else self.app)(scope, receive, send)


def _add_unknown_field(scope: Scope, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return status, {**body, "x_added_later": {"note": "a field this client never saw"}}


@contextmanager
def _mock_time(control: MockControl, budget: Budget, thread_id: int) -> Iterator[None]:
    """In the client's thread, sleeping moves the mock's clock; elsewhere sleep is untouched."""
    real_sleep, real_async_sleep = time.sleep, asyncio.sleep

    def advance(seconds: float) -> None:
        seconds = max(float(seconds), 0.0)
        budget.sleeps.append(seconds)
        budget.slept += seconds
        if budget.slept > budget.max_mock_seconds:
            budget.exceeded = budget.exceeded or f"still waiting after {budget.max_mock_seconds:g}s of mock time"
            raise ClientHung(budget.exceeded)
        if budget.exceeded:
            raise ClientHung(budget.exceeded)
        control.advance_clock(seconds)

    def sleep(seconds: float) -> None:
        if threading.get_ident() != thread_id:
            return real_sleep(seconds)
        advance(seconds)

    async def async_sleep(seconds: float, result: Any = None) -> Any:
        if threading.get_ident() != thread_id:
            return await real_async_sleep(seconds, result)
        advance(seconds)
        return await real_async_sleep(0, result)

    time.sleep, asyncio.sleep = sleep, async_sleep  # type: ignore[assignment]
    try:
        yield
    finally:
        time.sleep, asyncio.sleep = real_sleep, real_async_sleep  # type: ignore[assignment]


@dataclass
class Run:
    result: Any = None
    error: BaseException | None = None
    finished: bool = False


class ClientVerifier:
    """One mock server for a whole verification; each example resets it."""

    def __init__(
        self,
        provider: str,
        *,
        api_key: str = "cutout-client",
        min_poll_interval: float = 0.25,
        max_calls: int = 60,
        timeout: float = 30.0,
    ) -> None:
        self.provider, self.api_key = provider, api_key
        self.min_poll_interval, self.max_calls, self.timeout = min_poll_interval, max_calls, timeout
        self._state = tempfile.TemporaryDirectory(prefix="cutout-client-")
        settings_ = Settings.for_tests(state_dir=Path(self._state.name), port=0)
        self._guard: Guard | None = None
        self.server = LiveServer(settings_, wrap=self._wrap)
        self.control = MockControl(self.server.url)
        provider_info = next(p for p in self.control.list_providers() if p["name"] == provider)
        self.base_url = provider_info["surfaces"][0]["mock_base_url"]

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
        budget = self._guard.budget = Budget(self.max_calls, 7200.0, extra_fields=scenario.extra_fields)
        outcome = self._run(run, budget)
        journal = self.control.get_journal(provider=self.provider, limit=10_000)
        self._judge(scenario, outcome, budget, journal)

    def _run(self, run: ClientRun, budget: Budget) -> Run:
        outcome = Run()

        def target() -> None:
            try:
                with _mock_time(self.control, budget, threading.get_ident()):
                    value = run(self.base_url, self.api_key)
                    if inspect.isawaitable(value):
                        value = asyncio.run(_await(value))
                outcome.result = value
            except BaseException as error:  # the client's own exception is data here
                outcome.error = error
            finally:
                outcome.finished = True

        thread = threading.Thread(target=target, name="cutout-client-under-test", daemon=True)
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            budget.exceeded = budget.exceeded or f"no answer after {self.timeout:g}s of real time"
        return outcome

    def _judge(self, scenario: Scenario, outcome: Run, budget: Budget, journal: list[dict[str, Any]]) -> None:
        def fail(problem: str) -> None:
            raise ClientContractError(f"{problem}\n  scenario: {scenario.describe()}\n{_replay(journal)}")

        _check_retry_after(journal, fail)  # the precise diagnoses first: a tight loop is also unbounded
        _check_poll_interval(journal, scenario.flow.poll_operations, self.min_poll_interval, fail)
        if budget.exceeded or not outcome.finished:
            fail(f"unbounded: {budget.exceeded or 'did not finish'}")
        if isinstance(outcome.error, ClientHung):
            fail(f"unbounded: {outcome.error}")
        if not scenario.should_succeed:
            if outcome.error is None:
                fail(f"returned {outcome.result!r:.200} for a job that did not succeed; it should raise")
            return
        if outcome.error is not None:
            fail(f"raised {outcome.error.__class__.__name__}: {outcome.error} for a job that succeeded")
        expected = self._output_url(journal)
        if expected is None:
            fail("the client never saw the job complete")
        elif expected not in repr(outcome.result) and not self._same_media(outcome.result, expected):
            fail(f"returned {outcome.result!r:.200}, not the output {expected}")

    def _output_url(self, journal: list[dict[str, Any]]) -> str | None:
        """The output URL of the client's job, read back from the mock once faults are cleared."""
        flow = FLOWS[self.provider]
        submits = [e for e in journal if e["operation"] == flow.submit_operation and e["status"] < 300]
        if not submits:
            return None
        body = json.loads(submits[-1]["response_body"] or "{}")
        self.control.clear_faults()
        assert self._guard is not None
        self._guard.budget = Budget(10**6, 10**9)
        poll_url = flow.poll_url(body, self.base_url)
        if not poll_url:
            return None
        with httpx.Client(headers=flow.headers(self.api_key), timeout=30) as http:
            status = http.get(poll_url).json()
            if flow.result_url is not None and (url := flow.result_url(status)):
                status = http.get(url).json()
        return flow.output_url(status)

    @staticmethod
    def _same_media(result: Any, url: str) -> bool:
        return isinstance(result, bytes | bytearray) and httpx.get(url).content == bytes(result)


async def _await(value: Any) -> Any:
    return await value


def _retry_after(entry: dict[str, Any]) -> int | None:
    value = entry["response_headers"].get("retry-after")
    return int(value) if value and value.isdigit() else None


def _check_retry_after(journal: list[dict[str, Any]], fail: Callable[[str], None]) -> None:
    for entry, following in itertools.pairwise(journal):
        wait = _retry_after(entry)
        if entry["status"] == 429 and wait is not None and following["at"] - entry["at"] < wait - 1e-6:
            gap = following["at"] - entry["at"]
            fail(f"ignored Retry-After: {wait}s asked, next request after {gap:g}s ({following['path']})")


def _check_poll_interval(
    journal: list[dict[str, Any]], operations: tuple[str, ...], minimum: float, fail: Callable[[str], None]
) -> None:
    polls = [e for e in journal if e["operation"] in operations[:1]]
    for before, after in itertools.pairwise(polls):
        if after["at"] - before["at"] < minimum - 1e-9:
            fail(f"polled {after['at'] - before['at']:g}s after the previous poll (minimum {minimum:g}s)")


def _replay(journal: list[dict[str, Any]]) -> str:
    start = journal[0]["at"] if journal else 0.0
    lines = [f"  t+{e['at'] - start:8.2f}s  {e['method']:6} {e['path']} -> {e['status']}" for e in journal[:40]]
    more = f"\n  ... {len(journal) - 40} more" if len(journal) > 40 else ""
    return "  replay:\n" + "\n".join(lines) + more


def verify_client(
    run: ClientRun,
    provider: str,
    *,
    max_examples: int = 20,
    min_poll_interval: float = 0.25,
    max_calls: int = 60,
    timeout: float = 30.0,
    api_key: str = "cutout-client",
) -> None:
    """Run `run(base_url, api_key)` under generated scenarios; raises ``ClientContractError`` with
    the smallest scenario that breaks a property (and a replay of its requests)."""
    verifier = ClientVerifier(
        provider, api_key=api_key, min_poll_interval=min_poll_interval, max_calls=max_calls, timeout=timeout
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
