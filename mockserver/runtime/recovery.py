"""Start-up after a crash: no job left running without a worker, no file without its record.

A job's work lives in the process that accepted it (its input may have been an upload held in
memory), so work lost with a killed process cannot be redone. Every job whose work had not
finished ends in the *errored* state, which each provider words as its own server error (fal
COMPLETED with a 500 result, Pixazo ERROR, Pixelcut and PixelAPI failed), and is refunded where
the provider refunds errors. Output files written but never recorded (the crash fell between the
two) are removed, by a durable store only (a memory store would take every file for unrecorded).
Runs once, in the serving process, before any worker starts.

Where several processes serve one store (Redis replicas, ``serve --workers N`` on SQLite) one of
them can die while the others go on: each process holds a lease on the jobs it runs (``Leases``,
on the real clock) and sweeps in the background (`keep_leases`) for jobs whose lease lapsed, the
same code on both stores.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from mockserver.core.jobs import State
from mockserver.runtime.mock import Mock

log = logging.getLogger("cutout_mock")
LOST = {"code": "unexpected_error", "message": "The service restarted before the job finished; submit it again"}


@dataclass
class Recovered:
    ended: list[str] = field(default_factory=list)  # job ids ended as errored
    removed_files: int = 0


def recover(mock: Mock, *, files: bool = True) -> Recovered:
    """End every job whose work is lost; with `files`, remove output files nobody recorded.

    With leases (several processes on one store), others run jobs too: a job is lost only when no
    live process holds its lease, and the process that claims it first is the only one that ends it.
    """
    report = Recovered()
    for job in mock.store.unfinished_jobs():
        if mock.jobs.runs_here(job.provider, job.id):
            continue  # its work runs here: no claim to try (one Redis round trip per job and sweep)
        if mock.leases is not None and not mock.leases.claim(job.provider, job.id):
            continue  # a live replica runs it
        # refunded where the provider refunds errors; None: its work finished after the list was read
        ended = mock.jobs.end(job, State.ERRORED, dict(LOST), lost=True)
        if mock.leases is not None:
            mock.leases.release(job.provider, job.id)
        if ended is not None:
            report.ended.append(job.id)
    if files and sweeps_here(mock):  # files younger than a lease may be a replica's
        report.removed_files = mock.media.remove_unrecorded(0 if mock.leases is None else mock.leases.seconds)
    return report


OWNER_FILE = ".store"  # in the media folder: the store whose records name its files


def store_identity(store: str) -> str:
    """`--store` as the media folder's owner mark: ``sqlite``, or a Redis URL's host, port, database and
    prefix (never its password, which the mark would put on disk)."""
    if store in ("sqlite", "memory"):
        return store
    url = urlsplit(store)
    prefix = parse_qs(url.query).get("prefix", [""])[0]
    return f"{url.scheme}://{url.hostname}:{url.port or 6379}{url.path or '/0'}?prefix={prefix}"


def sweeps_here(mock: Mock) -> bool:
    """Whether this store may delete the media folder's unrecorded files: only the store whose records
    name them. A file no record of *this* store names may be another store's (a SQLite state dir later
    served from Redis, or the reverse): deleting it broke that store's result URLs when it came back
    (200, then 404). The folder's first sweeping store marks it (``media/.store``; an unmarked folder
    beside a SQLite database is SQLite's); any other store leaves its files alone. A memory store
    never sweeps: it starts with no records, so every file would look unrecorded."""
    if mock.settings.store == "memory":
        return False
    marker, own = mock.media.root / OWNER_FILE, store_identity(mock.settings.store)
    try:
        owner = marker.read_text().strip()
    except FileNotFoundError:
        owner = "sqlite" if (mock.media.root.parent / "cutout-mock.db").exists() else own
        marker.write_text(owner + "\n")
    if owner != own:
        log.warning("the output files in %s are %s's: unrecorded ones are left alone", mock.media.root, owner)
        return False
    return True


async def remove_unrecorded_later(mock: Mock, started: float, delay: float = 10.0) -> None:
    """`serve`'s start-up leaves the look at every output file to this background task: `delay`
    seconds after start-up, off the event loop and a folder at a time, files last changed before the
    process started (and a lease earlier, when replicas may be writing) that no record names are
    deleted. A state dir of 100,000 outputs took seconds to scan, and scanning it while the server
    started slowed the start-up as much."""
    if not sweeps_here(mock):
        return  # a memory store (its records died with the last process), or another store's files
    await asyncio.sleep(delay)
    before = started - (mock.leases.seconds if mock.leases is not None else 0)
    removed = await asyncio.to_thread(mock.media.remove_unrecorded, before=before, pause=0.005)
    if removed:
        log.warning("removed %d output files no record names (written before a crash)", removed)


async def keep_leases(mock: Mock) -> None:
    """Several processes on one store: renew this process's leases every third of a lease, and end the
    jobs of processes that died (their leases lapsed)."""
    assert mock.leases is not None
    while True:
        await asyncio.sleep(mock.leases.seconds / 3)
        mock.jobs.renew_leases()
        ended = recover(mock, files=False).ended
        if ended:
            log.warning("ended %d jobs whose process stopped: %s", len(ended), ", ".join(ended))
