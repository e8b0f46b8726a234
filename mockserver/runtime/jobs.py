"""A job's whole life in one place: submitted, run, charged, ended, refunded, announced.

1. **Submit.** The hold is taken from the owner's balance (``NotEnoughCredits`` when it does not
   cover it), a fault or magic input may script the outcome or keep the job queued, the job is
   stored (leased first on a shared Redis, so no replica takes it for lost) and its work starts: in
   the background (``serve``) or before ``submit`` returns (tests, the sync endpoints).
2. **Run.** The work fetches its input, runs the engine and saves its outputs off the event loop;
   its result is written in one update, so a job never shows success before its outputs exist. A
   refused input fails the job; a bug in the work errors it instead of leaving it running.
3. **Charge.** A cost known only after the work (video frames) is taken up to the balance.
4. **Refund.** Exactly once (``charged`` is zeroed in the same update), for the outcomes the job's
   refund policy names. The policy is stored on the job at submit, so ending needs no provider.
5. **End.** From outside its work (its owner cancels it, the control plane forces it, or its work is
   lost with a process): ``end()``, the one place that happens.
6. **Announce.** A job submitted with a webhook has it scheduled when the work is done, due when the
   job shows its end; an ending that comes before the delivery is sent restates it.

What a job looks like on a provider's wire is the provider's business: the runtime stores plain
jobs, and the webhook's payload and headers are functions the provider hands over at submit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mockserver.core.accounts import Accounts
from mockserver.core.backends.base import Leases, Store
from mockserver.core.clock import Clock
from mockserver.core.faults import magic_action
from mockserver.core.jobs import Job, MediaRef, Progression, State
from mockserver.core.webhooks import Webhooks
from mockserver.engine.errors import MediaError
from mockserver.settings import Settings

log = logging.getLogger("cutout_mock")


@dataclass
class WorkResult:
    """What a job's work produced; `outcome` is succeeded / failed / errored / blocked."""

    outcome: State
    outputs: list[MediaRef] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None


Work = Callable[[Job], Awaitable[WorkResult]]


@dataclass(frozen=True)
class Webhook:
    """How a job's end is announced, handed over by its provider at submit: where to, the body for
    the job as it ends, the retry delays. The headers are the provider's too, computed per attempt
    (fal's signature) from the stored job, so any process can send them (``Mock.webhook_headers``)."""

    url: str
    payload: Callable[[Job], dict[str, Any]]
    retries: tuple[float, ...] = ()


SCRIPTED = {
    "fail": (State.FAILED, "invalid_parameter", "The job failed (mock scenario 'fail')"),
    "error": (State.ERRORED, "unexpected_error", "The job errored (mock scenario 'error')"),
    "block": (
        State.BLOCKED,
        "content_filter_error",
        "The job was blocked by the content filter (mock scenario 'blocked')",
    ),
}


def scripted(action: str) -> Work:
    """Work that ends the job the way a fault or magic input asked, without touching the engine."""
    state, code, message = SCRIPTED[action]

    async def work(job: Job) -> WorkResult:
        return WorkResult(state, error={"code": code, "message": message})

    return work


class Jobs:
    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        clock: Clock,
        webhooks: Webhooks,
        leases: Leases | None,
        settings: Settings,
        webhook_of: Callable[[Job], Webhook | None] = lambda job: None,
    ) -> None:
        self.store, self.accounts, self.clock, self.webhooks, self.leases = store, accounts, clock, webhooks, leases
        self._webhook_of = webhook_of  # a job's webhook rebuilt from the stored job by its provider
        self.settings = settings  # work and progression are read per job: a session may change them
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: set[tuple[str, str]] = set()  # (provider, id) of jobs whose work runs in this process
        # What a job's webhook says, kept by the process that took the job (the payload is the provider's
        # function, with the links of the submit); another process rebuilds it (`webhook_of`); the
        # deliveries are in the store.
        self._announce: dict[tuple[str, str], Webhook] = {}

    # --- 1. submit ------------------------------------------------------------------------------

    async def submit(
        self,
        job: Job,
        work: Work,
        *,
        action: str | None = None,
        webhook: Webhook | None = None,
        inline: bool | None = None,
    ) -> Job:
        """Charge the job's hold (``job.charged``), store it and start its work; the job as stored.

        `action` is a fault's job action (fail, error, block, stuck); without one, a magic input may
        name it. `inline` (default: the ``work`` setting) runs the work before returning.
        """
        self.accounts.take(job.provider, job.owner, job.charged)  # NotEnoughCredits: nothing stored
        try:
            action = action or magic_action(job.input)
            if action in SCRIPTED:
                work = scripted(action)
            job.progression = Progression.MANUAL if action == "stuck" else Progression(self.settings.progression)
            if webhook is not None:
                self._announce[job.provider, job.id] = webhook
            if self.leases is not None:  # held before the job is seen, so no other replica takes it for lost
                self.leases.claim(job.provider, job.id)
            self._running.add((job.provider, job.id))
            self.store.put_job(job)
        except BaseException:  # refused before the job exists: the hold goes back in the same decision
            self._forget(job)
            self.accounts.refund(job.provider, job.owner, job.charged)
            raise
        if inline or (inline is None and self.settings.work == "inline"):
            await self._run(job, work)
            return self.store.get_job(job.provider, job.id) or job
        task = asyncio.get_running_loop().create_task(self._run(job, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def _forget(self, job: Job) -> None:
        """Undo what submit noted of a job that was never stored."""
        self._announce.pop((job.provider, job.id), None)
        self._running.discard((job.provider, job.id))
        if self.leases is not None:
            self.leases.release(job.provider, job.id)

    # --- 2. run ---------------------------------------------------------------------------------

    async def _run(self, job: Job, work: Work) -> None:
        refused = False  # an input the engine refused is never billed, whatever the provider's policy
        try:
            result = await work(job)
        except MediaError as problem:
            refused, result = True, WorkResult(State.FAILED, error={"code": problem.code, "message": problem.message})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in the work must end the job, not leave it running forever
            log.exception("job %s errored", job.id)
            message = str(exc) or exc.__class__.__name__
            result = WorkResult(State.ERRORED, error={"code": "internal_error", "message": message})
        if refused or result.outcome in job.refund_on:
            self.refund(job)
        ended_elsewhere = False

        def finish(stored: Job) -> None:
            nonlocal ended_elsewhere
            # Only another process gives a job whose work runs here an outcome: its owner cancelled it
            # there, or its lease sweep ended it as lost (this one stalled past its lease: SIGSTOP, a
            # debugger), refunded and announced. That ending stands: a late result dropped its error.
            ended_elsewhere = stored.outcome is not None
            if not ended_elsewhere:
                stored.outcome, stored.outputs, stored.result = result.outcome, result.outputs, result.result
                stored.error, stored.done_at = result.error, self.clock.now()

        stored = self.store.update_job(job.provider, job.id, finish)
        self._running.discard((job.provider, job.id))
        if self.leases is not None:
            self.leases.release(job.provider, job.id)
        if stored is not None and not (ended_elsewhere and self.webhooks.listed(stored.provider, stored.id)):
            self._schedule(stored)  # (a lost ending was announced by the sweep: a second webhook, never)

    # --- 3. charge ------------------------------------------------------------------------------

    def charge(self, job: Job, amount: float) -> float:
        """Bill a job more once its real cost is known, up to what the balance holds; what was taken.
        A job another process already ended (lost, and refunded) is not billed again."""
        stored = self.store.get_job(job.provider, job.id)
        if stored is not None and stored.outcome is not None:
            return 0.0
        taken = self.accounts.charge_up_to(job.provider, job.owner, amount)
        if taken:

            def add(stored: Job) -> None:
                stored.charged = round(stored.charged + taken, 6)

            self.store.update_job(job.provider, job.id, add)
        return taken

    # --- 4. refund ------------------------------------------------------------------------------

    def refund(self, job: Job) -> float:
        """Give back what a job was charged, exactly once (a cancel, an unbilled outcome, an ending)."""
        taken: list[float] = []

        def zero(stored: Job) -> None:
            taken.append(stored.charged)
            stored.refunded += stored.charged
            stored.charged = 0.0

        stored = self.store.update_job(job.provider, job.id, zero)
        if stored is None or not taken or not taken[0]:
            return 0.0
        self.accounts.refund(job.provider, stored.owner, taken[0])
        return taken[0]

    # --- 5. end ---------------------------------------------------------------------------------

    def end(
        self, job: Job, state: State, error: dict[str, str] | None = None, *, again: bool = False, lost: bool = False
    ) -> Job | None:
        """End `job` now as `state`, from outside its work; the stored job if it ended, else None.

        The one way a job ends other than by its work: its owner cancels it, the control plane forces
        it (``again``: even a job that has ended), or crash recovery finds its work lost. From now on
        it shows `state` (a job already showing an ending keeps it, unless ``again``) and carries
        `error` unless it has one. A job with no outcome whose work does not run in this process
        (recovery's case) gets `state` as its outcome too, so no sweep finds it unfinished again;
        work still running here records its own outcome, which no longer changes what is shown. The
        credits come back if the job's policy refunds `state`, and a webhook not yet sent carries
        the new ending; `lost` (recovery: the work died with its process, which would have announced
        the ending) schedules the job's webhook from here if nothing was scheduled yet.
        """
        now, ended = self.clock.now(), []

        def change(stored: Job) -> None:
            if lost and stored.outcome is not None:
                return  # its work ended after the sweep listed it (and let go of the lease as it did)
            if again or not stored.visible_state(now).terminal:
                stored.forced, stored.forced_at = state, now
                ended.append(stored)
            if stored.outcome is None and not self.runs_here(stored.provider, stored.id):
                stored.outcome, stored.done_at = state, now
            if stored.error is None:
                stored.error = error

        stored = self.store.update_job(job.provider, job.id, change)
        if stored is None or not ended:
            return None
        if state in stored.refund_on:
            self.refund(stored)
        if lost and not self.webhooks.listed(stored.provider, stored.id):
            self._schedule(stored)
        else:
            self._restate(stored)
        return stored

    def hold(self, job: Job, state: State) -> Job | None:
        """Keep a job showing `state` (queued or running) until it is released or ended."""
        now = self.clock.now()

        def change(stored: Job) -> None:
            stored.forced, stored.forced_at = state, now

        return self._changed(self.store.update_job(job.provider, job.id, change))

    def release(self, job: Job) -> Job | None:
        """Let a held or ended job follow its progression again (a manual one starts its queue now)."""
        now = self.clock.now()

        def change(stored: Job) -> None:
            stored.forced, stored.forced_at = None, None
            if stored.progression is Progression.MANUAL:
                stored.progression, stored.created_at = Progression.TIMED, now

        return self._changed(self.store.update_job(job.provider, job.id, change))

    def _changed(self, stored: Job | None) -> Job | None:
        if stored is not None:
            self._restate(stored)
        return stored

    # --- 6. announce ----------------------------------------------------------------------------

    def _webhook(self, job: Job) -> Webhook | None:
        return self._announce.get((job.provider, job.id)) or self._webhook_of(job)

    def _schedule(self, job: Job) -> None:
        """The work is done: the job's webhook falls due when its visible state turns terminal."""
        webhook = self._webhook(job)
        if webhook is None or job.webhook_url is None:
            return
        payload, due_at = webhook.payload(job), job.finished_at()
        self.webhooks.schedule(job.provider, job.id, webhook.url, payload, due_at, webhook.retries)

    def _restate(self, job: Job) -> None:
        """The job's ending changed: a delivery not yet sent carries the new ending and falls due with it."""
        webhook = self._webhook(job)
        if webhook is not None:
            self.webhooks.restate(job.provider, job.id, webhook.payload(job), job.finished_at())

    # --- reading, and the work in this process ---------------------------------------------------

    def poll(self, provider: str, job_id: str, owner: str) -> Job | None:
        """The owner's job as a status poll sees it (another key's job is None, as if absent).

        Under the polls progression the poll is counted, since the count drives the job; timed jobs
        follow the clock and a poll is a pure read (a write per poll halved SQLite's throughput).
        """
        if self.settings.progression == "polls":
            job = self.store.poll_job(provider, job_id, owner)
        else:
            job = self.store.get_job(provider, job_id)
        return job if job is not None and job.owner == owner else None

    def get(self, provider: str, job_id: str, owner: str) -> Job | None:
        """The owner's job, read without counting a poll (a cancel, a stream's own rereads)."""
        job = self.store.get_job(provider, job_id)
        return job if job is not None and job.owner == owner else None

    def runs_here(self, provider: str, job_id: str) -> bool:
        """Whether this process runs the job's work now (and, on Redis, holds its lease)."""
        return (provider, job_id) in self._running

    def renew_leases(self) -> None:
        """Tell the other replicas this process still runs its jobs."""
        if self.leases is not None:
            self.leases.renew(sorted(self._running))

    async def drain(self) -> None:
        """Wait until every background job's work is done (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def forget(self) -> None:
        """After a reset: no job left to announce."""
        self._announce.clear()

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
