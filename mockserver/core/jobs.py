"""One job model for every provider (DESIGN §4).

``queued -> running -> succeeded | failed | errored | cancelled | blocked``. Each provider's
vocabulary maps these to its own words. What a client *sees* is derived, never stored: it follows
the clock (timed progression) or the number of polls, and a job never shows a terminal success
before the engine's real work has produced its output (``outcome`` is set by the worker).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ERRORED = "errored"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"

    @property
    def terminal(self) -> bool:
        return self not in (State.QUEUED, State.RUNNING)


class Progression(StrEnum):
    TIMED = "timed"  # queued for queue_seconds, then running for run_seconds
    POLLS = "polls"  # queued for the first poll, running for the next, then done
    MANUAL = "manual"  # stays queued until the control plane moves it


# The outcomes most providers give the credits back for; a provider may name others (Pixazo: errored
# and cancelled only). Stored on each job at submit, so ending a job needs no provider.
REFUNDED = (State.FAILED, State.ERRORED, State.BLOCKED, State.CANCELLED)


@dataclass
class MediaRef:
    """An output file in the media store."""

    id: str
    filename: str
    content_type: str
    size: int
    expires_at: float


@dataclass
class Job:
    id: str
    provider: str
    operation: str
    owner: str  # the API key that submitted it; other keys never see the job
    created_at: float
    input: dict[str, Any]
    queue_seconds: float = 0.5
    run_seconds: float = 1.0
    progression: Progression = Progression.TIMED
    outcome: State | None = None  # set when the work is done: succeeded / failed / errored / blocked
    outputs: list[MediaRef] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)  # provider-shaped extras of a success
    error: dict[str, str] | None = None  # {"code": ..., "message": ...}
    forced: State | None = None  # cancel, or a transition forced from the control plane
    forced_at: float | None = None
    done_at: float | None = None  # when the work finished (wall of the mock's clock)
    polls: int = 0
    webhook_url: str | None = None
    # The door its submit came in by ({"base": ..., "bases": {prefix: base}}), kept with a webhook so
    # any process (after a restart, another worker) words its payload with the URLs the submit would.
    webhook_links: dict[str, Any] | None = None
    charged: float = 0.0
    refunded: float = 0.0  # credits given back (Jobs.refund moves them here from `charged`)
    refund_on: tuple[str, ...] = REFUNDED  # the states (their values) whose credits come back

    def visible_state(self, now: float) -> State:
        if self.forced is not None:
            return self.forced
        if self.progression is Progression.MANUAL:
            return State.QUEUED
        if self.progression is Progression.POLLS:
            stage = State.QUEUED if self.polls <= 1 else State.RUNNING
            if self.polls >= 3 and self.outcome is not None:
                return self.outcome
            return stage
        elapsed = now - self.created_at
        if elapsed < self.queue_seconds:
            return State.QUEUED
        if elapsed < self.queue_seconds + self.run_seconds or self.outcome is None:
            return State.RUNNING
        return self.outcome

    def final_state(self) -> State:
        """The terminal state once the job is over, whatever the clock says (webhook payloads, sync runs)."""
        return self.forced or self.outcome or State.ERRORED

    def started_at(self) -> float:
        return self.created_at + self.queue_seconds

    def finished_at(self) -> float:
        """When the visible state turned terminal (for completed_at fields and URL expiry)."""
        if self.forced_at is not None:
            return self.forced_at
        planned = self.created_at + self.queue_seconds + self.run_seconds
        return max(planned, self.done_at or planned)

    def queue_position(self, now: float) -> int:
        """Position shown while queued: counts down to 0 as the queue time passes."""
        remaining = self.created_at + self.queue_seconds - now
        return max(0, int(remaining / max(self.queue_seconds, 1e-9) * 3))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON. Written out by hand: ``dataclasses.asdict`` deep-copies recursively
        and was most of the cost of a status poll."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["outputs"] = [dict(vars(ref)) for ref in self.outputs]
        return data

    def copy(self) -> Job:
        """A copy safe to change: fields are replaced, never mutated in place, so shallow will do.

        Copies ``__dict__`` directly; ``dataclasses.replace`` runs ``__init__`` and cost a third of
        a status poll.
        """
        clone = object.__new__(Job)
        clone.__dict__.update(self.__dict__)
        clone.outputs = list(self.outputs)
        return clone

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        data = dict(data)
        data["progression"] = Progression(data["progression"])
        for key in ("outcome", "forced"):
            data[key] = State(data[key]) if data.get(key) else None
        data["outputs"] = [MediaRef(**m) for m in data.get("outputs", [])]
        if "refund_on" in data:  # a JSON list; jobs stored before the field take the default
            data["refund_on"] = tuple(data["refund_on"])
        return cls(**data)


ENDED_UNSUCCESSFUL = frozenset({State.FAILED, State.ERRORED, State.CANCELLED, State.BLOCKED})


class JobView:
    """A job as its owner sees it at one moment: the one view every provider's status body and webhook
    payload is worded from (`final`: as it ends, whatever the clock says). Made on every status poll,
    so its fields are computed once, here."""

    __slots__ = ("failed", "job", "now", "state", "succeeded")

    def __init__(self, job: Job, now: float, *, final: bool = False) -> None:
        self.job, self.now = job, now
        self.state = state = job.final_state() if final else job.visible_state(now)
        self.succeeded = state is State.SUCCEEDED
        self.failed = state in ENDED_UNSUCCESSFUL  # failed, errored, cancelled or blocked

    def message(self, default: str) -> str:
        """The error's message for people (the job's own, else `default`)."""
        return (self.job.error or {}).get("message", default)

    def code(self, default: str) -> str:
        return (self.job.error or {}).get("code", default)

    @property
    def updated_at(self) -> float:
        """When the visible state last changed."""
        job = self.job
        if self.state is State.QUEUED:
            return job.created_at
        return job.finished_at() if self.state.terminal else job.started_at()

    @property
    def seconds(self) -> float:
        """How long it ran (an ended job)."""
        return self.job.finished_at() - self.job.started_at()
