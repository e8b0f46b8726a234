"""A worker of ``serve --workers N`` ends with the process that supervises it.

uvicorn's supervisor stops its workers when it is told to stop (SIGTERM, Ctrl+C), but a supervisor
killed outright (SIGKILL, the OOM killer) tells them nothing: they are adopted by init and go on
serving the port, holding the state dir and serve's stdout and stderr (a harness reading those to
their end waited for ever), each with its engine's processes. Measured before this watch: after
``kill -9`` of ``serve --workers 2``, both workers and their engine pools were still running.
"""

from __future__ import annotations

import os
import signal
import threading
import time

CHECK = 1.0  # seconds between looks at the parent
GRACE = 10.0  # seconds the orphaned worker's own shutdown may take before it exits outright


def end_with_parent() -> None:
    """Watch, from a daemon thread of this worker, for its parent to change (the supervisor died and
    the worker was adopted); then stop this worker as SIGTERM does (its shutdown closes the engine
    pool), and exit outright if that has not ended it within GRACE seconds."""
    parent = os.getppid()
    threading.Thread(target=_watch, args=(parent,), name="end-with-parent", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(CHECK)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE)
    os._exit(1)
