"""Faults and scenarios: one rule model, three ways in (DESIGN §5).

A rule matches requests (provider, operation, key, a header, a body substring) and does one thing:
answer with a status in the provider's own shape, add latency, send a malformed body, or shape the
job the request creates (stuck in the queue, failed, errored, blocked). Rules come from the control
plane (``/__mock/faults``), from the ``X-Mock-Scenario`` header of one request (a named scenario), or
from magic inputs: an input URL or prompt containing ``mock-fail`` (and friends) shapes its job.
``times`` bounds how often a rule fires; ``probability`` draws from a seeded generator. The rule list
is kept by a storage backend (``backends.base.Faults``); choosing the rule that fires is `pick`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

REQUEST_ACTIONS = frozenset({"status", "latency", "malformed"})
JOB_ACTIONS = frozenset({"stuck", "fail", "error", "block", "queue"})  # `delay` on these: extra queue wait
MAX_DELAY = 30.0  # real seconds a request may be held
MAX_QUEUE_WAIT = 86_400.0  # mock-clock seconds a job may be kept queued

# Named scenarios for the X-Mock-Scenario header: each is a one-request rule.
SCENARIOS: dict[str, dict[str, Any]] = {
    "unauthorized": {"action": "status", "status": 401},
    "insufficient-credits": {"action": "status", "status": 402},
    "not-found": {"action": "status", "status": 404},
    "rate-limited": {"action": "status", "status": 429},
    "server-error": {"action": "status", "status": 500},
    "unavailable": {"action": "status", "status": 503},
    "timeout": {"action": "status", "status": 504},
    "slow": {"action": "latency", "delay": 2.0},
    "malformed": {"action": "malformed"},
    "stuck": {"action": "stuck"},
    "fail": {"action": "fail"},
    "error": {"action": "error"},
    "blocked": {"action": "block"},
}
# Magic inputs: a string field of the request containing the word shapes its job.
MAGIC_INPUTS = {"mock-fail": "fail", "mock-error": "error", "mock-stuck": "stuck", "mock-blocked": "block"}


class RuleError(ValueError):
    """A rule that cannot be used; the message says why."""


@dataclass
class Rule:
    action: str
    id: str = ""
    provider: str | None = None
    operation: str | None = None
    key: str | None = None
    header: dict[str, str] = field(default_factory=dict)  # name -> substring of the value
    body_contains: str | None = None
    status: int | None = None
    body: Any = None  # replaces the provider's own body for `status`
    delay: float = 0.0  # request actions: latency; job actions: seconds more in the queue
    retry_after: int | None = None  # Retry-After of a status fault (429 default 1)
    times: int | None = None  # None: every time
    probability: float = 1.0
    fired: int = 0

    @classmethod
    def from_request(cls, data: Any) -> Rule:
        if not isinstance(data, Mapping):
            raise RuleError("a rule is a JSON object")
        known = {f for f in cls.__dataclass_fields__ if f not in ("id", "fired")}
        unknown = set(data) - known
        if unknown:
            raise RuleError(f"unknown fields: {', '.join(sorted(unknown))}")
        try:
            rule = cls(**dict(data))
        except TypeError as exc:
            raise RuleError(str(exc)) from None
        rule.check()
        return rule

    def check(self) -> None:
        if self.action not in REQUEST_ACTIONS | JOB_ACTIONS:
            raise RuleError(f"action must be one of {', '.join(sorted(REQUEST_ACTIONS | JOB_ACTIONS))}")
        if self.action == "status" and not (isinstance(self.status, int) and 400 <= self.status <= 599):
            raise RuleError("action 'status' needs a status from 400 to 599")
        limit = MAX_QUEUE_WAIT if self.shapes_job else MAX_DELAY
        if isinstance(self.delay, bool) or not isinstance(self.delay, int | float) or not 0 <= self.delay <= limit:
            raise RuleError(f"delay must be from 0 to {limit:g} seconds")
        if self.retry_after is not None and (not isinstance(self.retry_after, int) or self.retry_after < 0):
            raise RuleError("retry_after must be a whole number of seconds")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise RuleError("times must be a positive integer")
        if not isinstance(self.probability, int | float) or not 0 <= self.probability <= 1:
            raise RuleError("probability must be from 0 to 1")
        if not isinstance(self.header, dict):
            raise RuleError("header must be an object of name -> substring")

    @property
    def spent(self) -> bool:
        """Fired as many times as it may."""
        return self.times is not None and self.fired >= self.times

    @property
    def shapes_job(self) -> bool:
        return self.action in JOB_ACTIONS

    def matches(self, provider: str, operation: str, key: str | None, headers: Mapping[str, str], body: str) -> bool:
        return (
            (self.provider is None or self.provider == provider)
            and (self.operation is None or self.operation == operation)
            and (self.key is None or self.key == key)
            and all(value in headers.get(name.lower(), "") for name, value in self.header.items())
            and (self.body_contains is None or self.body_contains in body)
        )


def pick(
    rules: Iterable[Rule],
    draw: random.Random,
    provider: str,
    operation: str,
    key: str | None,
    headers: Mapping[str, str],
    body: str,
) -> Rule | None:
    """The first rule, in order, with times left that matches the request and wins its draw."""
    for rule in rules:
        if rule.spent:
            continue
        if not rule.matches(provider, operation, key, headers, body):
            continue
        if rule.probability < 1 and draw.random() >= rule.probability:
            continue
        return rule
    return None


def scenario(name: str) -> Rule:
    """The one-request rule of an ``X-Mock-Scenario`` name."""
    if name not in SCENARIOS:
        raise RuleError(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
    return Rule(**SCENARIOS[name])


def magic_action(values: Any) -> str | None:
    """The job action a magic word in any string of the request asks for, if any."""
    if isinstance(values, str):
        return next((action for word, action in MAGIC_INPUTS.items() if word in values), None)
    if isinstance(values, Mapping):
        values = list(values.values())
    if isinstance(values, list):
        return next((a for v in values if (a := magic_action(v)) is not None), None)
    return None
