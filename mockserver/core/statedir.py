"""One serving mock per state directory: a lock, so a second one that would harm the first refuses to start.

Two `serve` processes on one SQLite state dir would each run crash recovery over the other's jobs
(ending them as errored) and delete each other's output files as unrecorded. A memory store writes its
outputs there too, and its ``/__mock/reset`` empties the media folder, so it may share the directory
with nobody either. Redis replicas share one by design (their records, in Redis, name every file).
`serve`'s own process takes ``<state dir>/serve.lock`` with ``flock`` before it touches any state,
exclusive (SQLite, memory) or shared (Redis), and holds it until it exits (the kernel drops it if the
process dies, so a killed mock never leaves a stale lock); its ``--workers`` share the directory
through it. A `serve` that cannot take its lock gets StateDirInUse, naming the pid.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

__all__ = ["StateDirInUse", "StateDirLock"]


class StateDirInUse(Exception):
    """Another cutout-mock serves from this state directory; the message is one line for the user."""


class StateDirLock:
    def __init__(self, state_dir: Path, *, shared: bool = False) -> None:
        self.path, self.shared = state_dir / "serve.lock", shared
        self._handle: IO[str] | None = None

    def acquire(self) -> StateDirLock:
        """Take the lock or raise StateDirInUse; the pid of the holder is written in the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StateDirInUse(
                f"state dir {self.path.parent} is in use by another cutout-mock (pid {holder}): "
                "stop it, or give this one its own --state-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None

    def __enter__(self) -> StateDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
