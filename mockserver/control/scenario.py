"""Scenario files: a whole set-up of the mock in one JSON or YAML document.

Loaded at start-up (``cutout-mock serve --scenario FILE``) or posted to ``/__mock/scenario``, so a
mock started by another process (CI, docker) comes up with its faults, limits, accounts and clock
already in place. Every section is what a control-plane endpoint sets, applied in this order::

    seed: 7                                     # POST /__mock/seed
    clock: {freeze: true, advance: 10}          # POST /__mock/clock/freeze, /__mock/clock (or {run: true, speed: 10})
    rate_limits: [{enabled: true}, {provider: pixelcut, requests: 2, window: 1}]      # POST /__mock/ratelimits
    accounts: [{provider: pixelapi, key: sk_low, balance: 5, plan: starter}]          # PUT /__mock/accounts/...
    faults: [{provider: fal, operation: fal-queue-status, action: status, status: 503, times: 2}]  # POST /__mock/faults
    prices: {pixelapi: pages, pixelcut_video_credits: 2}  # POST /__mock/prices

The whole document is checked first, each section by the same checks as the endpoint it stands for
(its body against openapi/control.yaml, then the action's own), so a document refused with 422
has changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mockserver.control import actions
from mockserver.control.actions import ControlError
from mockserver.runtime.catalogue import Served
from mockserver.runtime.mock import Mock

SECTIONS = ("seed", "clock", "rate_limits", "accounts", "faults", "prices")
CLOCK_FIELDS = {"freeze", "run", "speed", "advance"}
T = TypeVar("T")


def read(path: Path) -> Any:
    """A scenario file's document (YAML is a superset of JSON, so one parser reads both)."""
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as problem:
        raise ControlError(422, f"{path}: {problem}") from None


def _objects(value: Any, section: str) -> list[Mapping[str, Any]]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, Mapping) for item in items):
        raise ControlError(422, f"{section}: an object or a list of objects")
    return items


def _as_endpoint(section: str, operation_id: str, body: Any, parse: Callable[[Any], T]) -> T:
    """`body` through the checks of the endpoint `operation_id`: its action's parsing (whose words are
    the plainer, so they speak first) and its spec."""
    try:
        value = parse(body)
        actions.check_body(operation_id, body)
        return value
    except ControlError as problem:
        raise ControlError(problem.status, f"{section}: {problem.detail}") from None


def _clock(section: Any) -> dict[str, Any]:
    if not isinstance(section, Mapping) or set(section) - CLOCK_FIELDS:
        raise ControlError(422, f"clock: an object of {', '.join(sorted(CLOCK_FIELDS))}")
    for name in ("freeze", "run"):
        if not isinstance(section.get(name, False), bool):
            raise ControlError(422, f"clock: {name} must be true or false")
    run = section.get("run", False) or "speed" in section
    speed = {"speed": section["speed"]} if "speed" in section else {}
    advance = {"advance": section.get("advance", 0)}
    return {
        "freeze": section.get("freeze", False),
        "run": run,
        "speed": _as_endpoint("clock", "run_clock", speed, actions.run_speed) if run else None,
        "advance": _as_endpoint("clock", "advance_clock", advance, actions.advance_seconds),
    }


def _account(mock: Mock, item: Mapping[str, Any]) -> tuple[Served, str, float | None, str | None]:
    if not isinstance(item.get("provider"), str) or not isinstance(item.get("key"), str):
        raise ControlError(422, "accounts: each needs a provider and a key")
    owner = actions.provider(mock, item["provider"], 422)
    body = {k: v for k, v in item.items() if k not in ("provider", "key")}
    balance, plan = _as_endpoint("accounts", "put_account", body, actions.account_fields)
    return owner, item["key"], balance, plan


def check(mock: Mock, document: Any) -> dict[str, Any]:
    """The document's sections, each checked as its endpoint checks it, as the values to apply."""
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ControlError(422, "a scenario is an object with any of: " + ", ".join(SECTIONS))
    unknown = set(document) - set(SECTIONS)
    if unknown:
        raise ControlError(422, f"unknown sections: {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    sections: dict[str, Any] = {}
    if "seed" in document:
        sections["seed"] = _as_endpoint("seed", "set_seed", {"seed": document["seed"]}, actions.seed_field)
    if "clock" in document:
        sections["clock"] = _clock(document["clock"])
    limits = partial(actions.rate_limit_fields, mock)
    sections["rate_limits"] = [
        _as_endpoint("rate_limits", "set_rate_limits", item, limits)
        for item in _objects(document.get("rate_limits", []), "rate_limits")
    ]
    sections["accounts"] = [_account(mock, item) for item in _objects(document.get("accounts", []), "accounts")]
    rule = partial(actions.fault_rule, mock)
    sections["faults"] = [
        _as_endpoint("faults", "add_fault", item, rule) for item in _objects(document.get("faults", []), "faults")
    ]
    if "prices" in document:
        sections["prices"] = _as_endpoint("prices", "set_prices", document["prices"], actions.price_fields)
    return sections


def apply(mock: Mock, document: Any) -> dict[str, Any]:
    """Apply a scenario once all of it is checked (nothing below can refuse); what was set, per section."""
    sections = check(mock, document)
    done: dict[str, Any] = {}
    if "seed" in sections:
        mock.reseed(sections["seed"])
        done["seed"] = sections["seed"]
    if "clock" in sections:
        clock = sections["clock"]
        if clock["freeze"]:
            mock.clock.freeze()
        if clock["run"]:
            mock.clock.run(clock["speed"])
        mock.clock.advance(clock["advance"])
        done["clock"] = actions.clock(mock)
    for enabled, name, limit in sections["rate_limits"]:
        mock.limiter.configure(enabled, name, limit)
        done["rate_limits"] = actions.rate_limits(mock)
    done["accounts"] = [actions.save_account(mock, *account) for account in sections["accounts"]]
    done["faults"] = [asdict(mock.faults.add(rule)) for rule in sections["faults"]]
    if "prices" in sections:
        actions.apply_prices(mock, sections["prices"])
        done["prices"] = actions.prices(mock)
    return done
