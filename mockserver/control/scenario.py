"""Scenario files: a whole set-up of the mock in one JSON or YAML document.

Loaded at start-up (``cutout-mock serve --scenario FILE``) or posted to ``/__mock/scenario``, so a
mock started by another process (CI, docker) comes up with its faults, limits, accounts and clock
already in place. Every section maps to control-plane actions, applied in this order::

    seed: 7
    clock: {freeze: true, advance: 10}          # or {run: true, speed: 10}
    rate_limits: [{enabled: true}, {provider: pixelcut, requests: 2, window: 1}]
    accounts: [{provider: pixelapi, key: sk_low, balance: 5, plan: starter}]
    faults: [{provider: fal, operation: queue_status, action: status, status: 503, times: 2}]

The whole document is checked before anything is applied, so a bad file changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mockserver.control import actions
from mockserver.control.actions import ControlError
from mockserver.core.faults import Rule, RuleError
from mockserver.runtime.mock import Mock

SECTIONS = ("seed", "clock", "rate_limits", "accounts", "faults")
CLOCK_FIELDS = {"freeze", "run", "speed", "advance"}


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


def check(mock: Mock, document: Any) -> dict[str, Any]:
    """The document's sections, every value checked; lists where a section may hold several."""
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ControlError(422, "a scenario is an object with any of: " + ", ".join(SECTIONS))
    unknown = set(document) - set(SECTIONS)
    if unknown:
        raise ControlError(422, f"unknown sections: {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    sections: dict[str, Any] = {}
    if "seed" in document:
        if isinstance(document["seed"], bool) or not isinstance(document["seed"], int):
            raise ControlError(422, "seed: an integer")
        sections["seed"] = document["seed"]
    if "clock" in document:
        clock = document["clock"]
        if not isinstance(clock, Mapping) or set(clock) - CLOCK_FIELDS:
            raise ControlError(422, f"clock: an object of {', '.join(sorted(CLOCK_FIELDS))}")
        for name, minimum in (("advance", 0.0), ("speed", 1e-3)):
            if name in clock:
                actions.number_field(clock, name, minimum=minimum)
        sections["clock"] = clock
    sections["rate_limits"] = _objects(document.get("rate_limits", []), "rate_limits")
    for item in sections["rate_limits"]:
        actions.rate_limit_fields(mock, item)
    sections["accounts"] = _objects(document.get("accounts", []), "accounts")
    for item in sections["accounts"]:
        if not isinstance(item.get("provider"), str) or not isinstance(item.get("key"), str):
            raise ControlError(422, "accounts: each needs a provider and a key")
        actions.provider(mock, item["provider"], 422)
        actions.account_fields({k: v for k, v in item.items() if k not in ("provider", "key")})
    sections["faults"] = _objects(document.get("faults", []), "faults")
    for item in sections["faults"]:
        try:
            Rule.from_request(item)
        except RuleError as problem:
            raise ControlError(422, f"faults: {problem}") from None
    return sections


def apply(mock: Mock, document: Any) -> dict[str, Any]:
    """Apply a scenario after checking all of it; what was set, per section."""
    sections = check(mock, document)
    done: dict[str, Any] = {}
    if "seed" in sections:
        done["seed"] = actions.set_seed(mock, {"seed": sections["seed"]})["seed"]
    if "clock" in sections:
        clock = sections["clock"]
        if clock.get("freeze"):
            actions.freeze_clock(mock)
        if clock.get("run") or "speed" in clock:
            actions.run_clock(mock, {"speed": clock["speed"]} if "speed" in clock else {})
        done["clock"] = actions.advance_clock(mock, {"advance": clock.get("advance", 0)})
    for item in sections["rate_limits"]:
        done["rate_limits"] = actions.set_rate_limits(mock, item)
    done["accounts"] = [
        actions.put_account(mock, item["provider"], item["key"], {k: item[k] for k in ("balance", "plan") if k in item})
        for item in sections["accounts"]
    ]
    done["faults"] = [actions.add_fault(mock, item) for item in sections["faults"]]
    return done
