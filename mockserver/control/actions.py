"""What the control plane can do to a running mock, as plain functions over plain data.

The HTTP routes (``routes.py``) and scenario files (``scenario.py``) both use these, so a scenario
file and a sequence of ``/__mock`` calls mean exactly the same thing. Each function takes the mock
and JSON-shaped input, returns JSON-shaped output, and raises ``ControlError`` (status + detail)
for input it cannot use; nothing is changed when it raises. What an endpoint checks is its own
function (``check_body`` for its spec, ``*_field(s)``/``fault_rule`` for the rest), so a scenario
checks a whole document by the same rules before it applies any of it. Jobs change only through the
runtime (``mock.jobs``), and providers are known from ``mock.served``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from mockserver.core.backends.base import PAGE_SIZE, SCAN_BUDGET, Account
from mockserver.core.clock import LATEST, MAX_SPEED
from mockserver.core.faults import MAGIC_INPUTS, SCENARIOS, Rule, RuleError
from mockserver.core.jobs import Job, State
from mockserver.core.ratelimit import Limit
from mockserver.runtime.catalogue import Served
from mockserver.runtime.mock import Mock
from mockserver.web.spec import Operation, Validator, load_spec, operations

FORCEABLE = tuple(s.value for s in State)


class ControlError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def refusal(errors: list[dict[str, Any]]) -> ControlError:
    """The spec's first complaint as a 422 (``body.seed: value is not a valid integer``)."""
    first = errors[0]
    return ControlError(422, f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}")


@functools.cache
def _control_spec() -> tuple[Validator, dict[str, Operation]]:
    spec = load_spec("control")
    return Validator(spec), {op.operation_id: op for op in operations(spec)}


def check_body(operation_id: str, body: Any) -> None:
    """Refuse a JSON body openapi/control.yaml does not allow for `operation_id`: what its endpoint
    checks before any action runs, and what each section of a scenario is checked by."""
    validator, ops = _control_spec()
    schema = ops[operation_id].bodies.get("application/json")
    errors = validator.errors(body, schema) if schema is not None else []
    if errors:
        raise refusal(errors)


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ControlError(422, f"{what}: send a JSON object")
    return data


def number_field(data: Mapping[str, Any], name: str, *, minimum: float = 0.0) -> float:
    """``data[name]`` as a float no smaller than `minimum` (booleans are not numbers here)."""
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ControlError(422, f"{name} must be a number >= {minimum:g}")
    return float(value)


def provider(mock: Mock, name: Any, status: int = 404) -> Served:
    """The named provider; unknown is 404 in a path or query, 422 (pass it) in a body."""
    if name not in mock.served:
        raise ControlError(status, f"no provider {name!r}; one of {', '.join(mock.served)}")
    return mock.served[name]


# --- state ---------------------------------------------------------------------------------------


async def reset(mock: Mock) -> dict[str, Any]:
    """Forget every job, account, output, limit, rule, delivery and journal entry."""
    await mock.jobs.drain()
    mock.jobs.forget()
    mock.store.reset()
    mock.media.clear()
    mock.limiter.reset_policy()
    mock.journal.clear()
    mock.faults.clear()
    mock.webhooks.clear()
    mock.reseed(mock.settings.seed)
    apply_prices(mock, mock.start_prices)
    return {"reset": True}


def providers(mock: Mock, base_url: str) -> dict[str, Any]:
    """Each provider's surfaces: the real host, and where this mock serves it."""
    return {
        "providers": [
            {
                "name": p.name,
                "surfaces": [
                    {"name": name, "host": s.host, "prefix": s.prefix, "mock_base_url": base_url.rstrip("/") + s.prefix}
                    for name, s in p.surfaces.items()
                ],
            }
            for p in mock.served.values()
        ]
    }


def seed_field(data: Any) -> int:
    seed = _object(data, "seed").get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ControlError(422, 'send {"seed": <integer>}')
    return seed


def set_seed(mock: Mock, data: Any) -> dict[str, Any]:
    """Re-seed ids and fault probabilities: the same seed gives the same ids from here on."""
    seed = seed_field(data)
    mock.reseed(seed)
    return {"seed": seed}


# --- clock ---------------------------------------------------------------------------------------


def clock(mock: Mock) -> dict[str, Any]:
    return {"clock": mock.clock.kind, "now": mock.clock.now(), "speed": mock.clock.speed}


def _known(data: Mapping[str, Any], fields: set[str]) -> Mapping[str, Any]:
    """`data` if it names only `fields`: a misspelt field (``advance_seconds``) is a 422, not a no-op."""
    unknown = set(data) - fields
    if unknown:
        raise ControlError(422, f"unknown fields: {', '.join(sorted(unknown))}; one of {', '.join(sorted(fields))}")
    return data


def advance_seconds(data: Any) -> float:
    data = _known(_object(data, "clock"), {"advance", "to"})
    seconds = number_field(data, "advance") if "advance" in data else 0.0
    if seconds > LATEST:
        raise ControlError(422, f"advance must be at most {LATEST:.0f} seconds")
    return seconds


def advance_clock(mock: Mock, data: Any) -> dict[str, Any]:
    """Jump forward by ``advance`` seconds or to the epoch time ``to`` (never back, never past year 9999)."""
    data = _known(_object(data, "clock"), {"advance", "to"})
    now = mock.clock.now()
    seconds = number_field(data, "to") - now if "to" in data else advance_seconds(data)
    if seconds < 0:
        raise ControlError(422, "a clock cannot go back")
    if now + seconds > LATEST:
        raise ControlError(422, "the clock cannot pass 9999-12-31T23:59:59Z (epoch 253402300799)")
    mock.clock.advance(seconds)
    mock.media.purge_expired()  # outputs the jump expired leave the disk now, as they would on a schedule
    return clock(mock)


def freeze_clock(mock: Mock) -> dict[str, Any]:
    mock.clock.freeze()
    return clock(mock)


def run_speed(data: Any) -> float | None:
    data = _known(_object(data or {}, "clock"), {"speed"})
    if "speed" not in data:
        return None
    speed = number_field(data, "speed", minimum=1e-3)
    if speed > MAX_SPEED:
        raise ControlError(422, f"speed must be at most {MAX_SPEED:g}")
    return speed


def run_clock(mock: Mock, data: Any) -> dict[str, Any]:
    """Let time run from where it stands, at ``speed`` if given."""
    mock.clock.run(run_speed(data))
    return clock(mock)


# --- jobs ----------------------------------------------------------------------------------------


def job_summary(mock: Mock, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "provider": job.provider,
        "operation": job.operation,
        "state": job.visible_state(mock.clock.now()),
        "owner": job.owner,
        "created_at": job.created_at,
        "charged": job.charged,
        "refunded": job.refunded,
        "polls": job.polls,
        "webhook_url": job.webhook_url,
        "error": job.error,
        "outputs": [ref.filename for ref in job.outputs],
    }


def list_jobs(
    mock: Mock,
    provider_name: str | None,
    key: str | None,
    state: str | None,
    limit: int = PAGE_SIZE,
    cursor: int | None = None,
    budget: int = SCAN_BUDGET,
) -> dict[str, Any]:
    """One page of jobs in the order they were stored, and the cursor of the next (None: the last page).

    The state is the job's visible state at the clock's now, known only once read: with `state`,
    the store is read a page at a time until `limit` jobs are in that state or `budget` jobs were
    looked at, so a page may come back short (its cursor still goes on).
    """
    if provider_name is not None:
        provider(mock, provider_name)
    found: list[dict[str, Any]] = []
    scanned = 0
    while True:
        placed, following = mock.store.page_jobs(provider_name, key, cursor, limit)
        scanned += len(placed)
        for place, job in placed:
            summary = job_summary(mock, job)
            if state is None or summary["state"] == state:
                found.append(summary)
                if len(found) == limit:  # the next page starts after this job (none: it was the last)
                    last = place == placed[-1][0] and following is None
                    return {"jobs": found, "next_cursor": None if last else str(place)}
        cursor = following
        if cursor is None or scanned >= budget:
            return {"jobs": found, "next_cursor": None if cursor is None else str(cursor)}


def get_job(mock: Mock, provider_name: str, job_id: str) -> Job:
    job = mock.store.get_job(provider(mock, provider_name).name, job_id)
    if job is None:
        raise ControlError(404, "no such job")
    return job


def force_job(mock: Mock, provider_name: str, job_id: str, data: Any) -> dict[str, Any]:
    """Move a job now: ``queued``/``running`` hold it there, a terminal state ends it (credits
    refunded as the provider does), ``release`` lets it follow its progression again.

    ``succeeded`` needs the job's work to be done (its outputs must exist).
    """
    provider(mock, provider_name)
    target = _object(data, "state").get("state")
    if target not in (*FORCEABLE, "release"):
        raise ControlError(422, f"state must be one of {', '.join((*FORCEABLE, 'release'))}")
    job = get_job(mock, provider_name, job_id)
    if target == "release":
        moved = mock.jobs.release(job)
    elif not State(target).terminal:
        moved = mock.jobs.hold(job, State(target))
    elif target == State.SUCCEEDED and job.outcome is not State.SUCCEEDED:
        raise ControlError(409, "the job's work has not succeeded; it has no outputs to show")
    else:
        error = {"code": f"mock_{target}", "message": f"The job was {target} from the control plane"}
        moved = mock.jobs.end(job, State(target), None if target == State.SUCCEEDED else error, again=True)
    return job_summary(mock, mock.store.get_job(job.provider, job_id) or moved or job)


# --- accounts ------------------------------------------------------------------------------------


def list_accounts(mock: Mock, provider_name: str | None) -> dict[str, Any]:
    if provider_name is not None:
        provider(mock, provider_name)
    return {"accounts": [asdict(a) for a in mock.store.list_accounts(provider_name)]}


def get_account(mock: Mock, provider_name: str, key: str) -> dict[str, Any]:
    account = mock.store.get_account(provider(mock, provider_name).name, key)
    if account is None:
        raise ControlError(404, "no such account (a key gets one on its first request)")
    return asdict(account)


def account_fields(data: Any) -> tuple[float | None, str | None]:
    """The balance and plan a request sets (None: keep)."""
    data = _object(data or {}, "account")
    unknown = set(data) - {"balance", "plan"}
    if unknown:
        raise ControlError(422, f"unknown fields: {', '.join(sorted(unknown))}")
    plan = data.get("plan")
    if plan is not None and not isinstance(plan, str):
        raise ControlError(422, "plan must be a string")
    return (number_field(data, "balance") if "balance" in data else None), plan


def save_account(mock: Mock, owner: Served, key: str, balance: float | None, plan: str | None) -> dict[str, Any]:
    """Set `key`'s balance and plan (None: keep); 422 for a plan the provider does not have. A balance
    set counts as the current period's reset (PixelAPI's month: its allotment does not overwrite it)."""
    if plan is not None and owner.plans and plan not in owner.plans:
        raise ControlError(422, f"unknown {owner.name} plan {plan!r}: one of {', '.join(owner.plans)}")
    current = mock.store.get_account(owner.name, key) or Account(owner.name, key, owner.starting_balance)
    account = Account(owner.name, key, current.balance if balance is None else balance, plan or current.plan)
    mock.store.put_account(account)
    if balance is not None:
        owner.balance_set(mock.store, key, mock.clock.now())
    mock.limiter.reset()  # a new plan takes effect at once
    return asdict(account)


def put_account(mock: Mock, provider_name: str, key: str, data: Any) -> dict[str, Any]:
    """Create the key (strict auth then accepts it) or change its balance and plan."""
    owner = provider(mock, provider_name)
    return save_account(mock, owner, key, *account_fields(data))


def delete_account(mock: Mock, provider_name: str, key: str) -> None:
    if not mock.store.delete_account(provider(mock, provider_name).name, key):
        raise ControlError(404, "no such account")


# --- faults and limits ---------------------------------------------------------------------------


def faults(mock: Mock) -> dict[str, Any]:
    return {"rules": mock.faults.listed(), "scenarios": sorted(SCENARIOS), "magic_inputs": MAGIC_INPUTS}


def fault_rule(mock: Mock, data: Any) -> Rule:
    """A rule the mock can fire: a provider it serves, an operation of that provider's spec."""
    try:
        rule = Rule.from_request(data)
    except RuleError as problem:
        raise ControlError(422, str(problem)) from None
    if rule.provider is not None:
        provider(mock, rule.provider, 422)
    if rule.operation is not None:
        served = [provider(mock, rule.provider)] if rule.provider else mock.served.values()
        known = frozenset().union(*(p.operations for p in served))
        if rule.operation not in known:
            raise ControlError(422, f"no operation {rule.operation!r}; one of {', '.join(sorted(known))}")
    return rule


def add_fault(mock: Mock, data: Any) -> dict[str, Any]:
    return asdict(mock.faults.add(fault_rule(mock, data)))


def rate_limits(mock: Mock) -> dict[str, Any]:
    overrides = {name: {"requests": lim.requests, "window": lim.window} for name, lim in mock.limiter.overrides.items()}
    return {"enabled": mock.limiter.enabled, "overrides": overrides}


def rate_limit_fields(mock: Mock, data: Any) -> tuple[bool | None, str | None, Limit | None]:
    """``{"enabled": bool}`` and/or ``{"provider", "requests", "window"}`` (an override of its limit)."""
    data = _object(data, "rate limits")
    enabled = data.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise ControlError(422, "enabled must be true or false")
    if "provider" not in data:
        return enabled, None, None
    provider(mock, data["provider"], 422)
    if "requests" not in data:
        raise ControlError(422, "an override needs requests (and window, default 1 s)")
    requests = number_field(data, "requests", minimum=1)
    window = number_field(data, "window", minimum=1e-3) if "window" in data else 1.0
    if requests != int(requests):
        raise ControlError(422, "requests must be a whole number")
    return enabled, data["provider"], Limit(int(requests), window)


def set_rate_limits(mock: Mock, data: Any) -> dict[str, Any]:
    enabled, name, limit = rate_limit_fields(mock, data)
    mock.limiter.configure(enabled, name, limit)
    return rate_limits(mock)


# The price choices a control call or a scenario may make: body field -> the setting it sets.
PRICE_SETTINGS = {"pixelapi": "pixelapi_prices", "pixelcut_video_credits": "pixelcut_video_credits"}


def prices(mock: Mock) -> dict[str, Any]:
    return {field: getattr(mock.settings, setting) for field, setting in PRICE_SETTINGS.items()}


def price_fields(data: Any) -> dict[str, Any]:
    """``{"pixelapi": "table"|"pages", "pixelcut_video_credits": N >= 0}``, either or both: the settings to set."""
    data = _object(data, "prices")
    unknown = set(data) - set(PRICE_SETTINGS)
    if unknown:
        raise ControlError(422, f"unknown price fields: {', '.join(sorted(unknown))}")
    chosen: dict[str, Any] = {}
    if "pixelapi" in data:
        if data["pixelapi"] not in ("table", "pages"):
            raise ControlError(422, "pixelapi must be table or pages")
        chosen["pixelapi_prices"] = data["pixelapi"]
    if "pixelcut_video_credits" in data:
        chosen["pixelcut_video_credits"] = number_field(data, "pixelcut_video_credits")
    return chosen


def set_prices(mock: Mock, data: Any) -> dict[str, Any]:
    apply_prices(mock, price_fields(data))
    return prices(mock)


def apply_prices(mock: Mock, chosen: dict[str, Any]) -> None:
    """Set them on this process's settings (read per request); reset puts back serve's own."""
    for setting, value in chosen.items():
        setattr(mock.settings, setting, value)
