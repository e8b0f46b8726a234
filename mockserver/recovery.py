"""Start-up after a crash: no job left running without a worker, no file without its record.

A job's work lives in the process that accepted it (its input may have been an upload held in
memory), so work lost with a killed process cannot be redone. Every job whose work had not
finished ends in the *errored* state, which each provider words as its own server error (fal
COMPLETED with a 500 result, Pixazo ERROR, Pixelcut and PixelAPI failed), and is refunded where
the provider refunds errors. Output files written but never recorded (the crash fell between the
two) are removed. Runs once, in the serving process, before any worker starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.core.jobs import Job, State
from mockserver.providers import PROVIDERS
from mockserver.runtime import Mock

LOST = {"code": "unexpected_error", "message": "The service restarted before the job finished; submit it again"}


@dataclass
class Recovered:
    ended: list[str] = field(default_factory=list)  # job ids ended as errored
    removed_files: int = 0


def recover(mock: Mock) -> Recovered:
    report = Recovered()
    refunds = {p.name: State.ERRORED in p.refunded for p in PROVIDERS}
    now = mock.clock.now()

    def end(job: Job) -> None:
        if job.outcome is None:
            job.outcome, job.error, job.done_at = State.ERRORED, dict(LOST), now

    for job in mock.store.unfinished_jobs():
        mock.store.update_job(job.provider, job.id, end)
        if refunds.get(job.provider) and job.forced is not State.CANCELLED:
            mock.refund_job(job.provider, job.id)
        report.ended.append(job.id)
    report.removed_files = mock.media.remove_unrecorded()
    return report
