"""What the state dir holds on disk (database, its WAL, media files, keys), for ``/__mock/health``.

Measured by walking the directory (``os.scandir``: one ``stat`` per file, no reading) off the event
loop, and kept for `max_age` seconds of real time, so a health check polled often walks the tree at
most once per `max_age`. The walk is bounded by what it counts: expired outputs are purged on a
schedule (``MediaStore.purge_expired``), so the tree stays as large as the unexpired outputs.

Nobody waits for a walk: health is the readiness probe, and a state dir of 100,000 outputs took
0.3 s to walk (more on a loaded machine), which the first probe after start-up waited for. A
caller gets the figure last measured (none before the first walk has ended) while a newer one is
taken in the background.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Usage:
    bytes: int  # the files' sizes (st_size), not the blocks they take
    files: int
    measured_at: float  # real clock (time.time())


def measure(root: Path) -> Usage:
    """Every regular file under `root`, however deep (links are not followed)."""
    total = count = 0
    pending = [str(root)]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue  # removed while walking (a purge, a reset), or not ours to read
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                        count += 1
                except FileNotFoundError:
                    continue
    return Usage(total, count, time.time())


class DiskUsage:
    """The state dir's size as last measured; a walk (in a thread, one at a time) starts when that
    figure is older than `max_age` seconds, or missing."""

    def __init__(self, root: Path, max_age: float = 5.0) -> None:
        self.root, self.max_age = root, max_age
        self._last: Usage | None = None
        self._walk: asyncio.Task[None] | None = None

    def current(self) -> Usage | None:
        """The last figure, None before the first walk has ended; starts a new walk when it is
        missing or stale and none is under way. Returns at once (call it on the event loop)."""
        last = self._last
        stale = last is None or time.time() - last.measured_at >= self.max_age
        if stale and (self._walk is None or self._walk.done()):
            self._walk = asyncio.create_task(self._measure())
        return last

    async def _measure(self) -> None:
        self._last = await asyncio.to_thread(measure, self.root)
