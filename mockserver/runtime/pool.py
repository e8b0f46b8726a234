"""The engine's processes: media work where it cannot hold the event loop or the GIL that answers polls.

``EnginePool(processes, engine)`` runs a function on plain values (bytes, arrays, paths, the
engine's dataclasses) in one of `processes` worker processes and awaits its result; with 0
processes it runs in a thread of the serving process instead (the in-process path: tests, the
pytest plugin, the kit's in-process mock; no process is started). Decisions, measured on the
project's 2-core machine (`make bench`, "Engine off the server" table):

- **Processes, not threads.** The engine's numpy and OpenCV work holds the GIL between native
  calls, so 4 Pixelcut image requests in threads ran at one request's speed and made a status
  poll wait behind them. In a pool sized to the cores (`serve`'s default) they use every core
  and a poll answers in about a millisecond.
- **forkserver, engine preloaded.** Workers fork from a clean server process that imported the
  engine once (no threads of the server are copied); each loads its engine's model in its
  initializer, runs native libraries on one thread (the pool supplies the parallelism) and lowers
  its own priority (``nice`` 5) so the serving process is scheduled first when a poll arrives.
  numpy's OpenBLAS sets its threads when it loads, so the fork server imports
  ``mockserver.engine.onethread`` before numpy: with a BLAS thread per core spinning beside each
  worker, a cut-out cost 150 ms of CPU instead of 60 and 4 image requests ran no faster than 1.
  Servers measured in turn beside 4 image clients, on the shared machine at load ~6: a poll's p99
  24 / 9.5 / 16.5 ms and 6.9 / 7.6 / 5.8 images a second with workers at nice 0 / 5 / 10 (an
  earlier pair: 53 ms at nice 0, 14 ms at nice 10, the same 5.6 images a second). Much lower and
  the engine starves beside other busy processes; at 0 the polls wait behind it.
- **What crosses is small.** Functions travel by name; an engine from ``get_segmenter`` travels as
  its name and is that process's own instance on the other side (an ONNX session cannot be pickled).
- **Errors cross as themselves.** An exception raised by the work (``NoForeground``,
  ``InvalidOption`` with its field, ``TryOnError`` with its code) is re-made in the caller with
  its class, arguments and attributes, so providers word it as if it had been raised in-process.
- **A crash fails only the work it was running.** A worker that dies (killed, out of memory, a
  fault in native code) breaks the executor; the calls it was running raise ``EngineCrashed`` and
  the pool is rebuilt, so the next call runs. A call submitted to a pool that broke while idle ran
  nowhere: it is resubmitted to the new pool once.
- **Bounded queue.** At most ``processes * backlog`` calls are handed to the executor; further
  callers wait on the event loop (no pickled copy of their inputs piles up in the pool's queues).
- **Threads for tests.** A pool's first call costs 1-2 s (the fork server's imports, a worker, its
  model; measured 1.3-2.3 s against 0.15 s for the call itself), so `Settings()` and the test and
  kit settings keep 0 processes; only `serve` defaults to one per core. As with any
  multiprocessing code, a script of yours that builds a pooled mock needs the
  ``if __name__ == "__main__":`` guard (each worker imports the main module).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from mockserver.engine.auto import AutoSegmenter
from mockserver.engine.classic import ClassicSegmenter
from mockserver.engine.neural import OnnxSegmenter
from mockserver.engine.segment import get_segmenter

log = logging.getLogger("cutout_mock")

P = ParamSpec("P")
T = TypeVar("T")

# Imported once by the fork server, so a new worker (at start, or after a crash) starts warm;
# onethread first, so numpy's BLAS loads single-threaded.
PRELOAD = [
    "mockserver.engine.onethread",
    "mockserver.engine.segment",
    "mockserver.engine.matting",
    "mockserver.engine.compose",
    "mockserver.engine.inputs",
    "mockserver.engine.video",
    "mockserver.engine.imageops",
]
NICE = 5  # worker priority below the server's: a poll's millisecond is scheduled before the engine's work
BACKLOG = 2  # calls handed to the executor per process beyond those running


class EngineCrashed(RuntimeError):
    """The process running a piece of work died before it answered (killed, out of memory, a crash
    in native code). The work is lost; the pool has been rebuilt for the next call."""


# --- crossing the boundary ---------------------------------------------------------------------


def _engine_by_name(engine: Any) -> Any:
    """An engine from ``get_segmenter`` pickles as its name (the worker's own instance on the other
    side); any other engine object pickles as usual."""
    try:
        if get_segmenter(engine.name) is engine:
            return get_segmenter, (engine.name,)
    except (ValueError, FileNotFoundError):
        pass
    return engine.__reduce_ex__(pickle.DEFAULT_PROTOCOL)


for _kind in (AutoSegmenter, ClassicSegmenter, OnnxSegmenter):
    ForkingPickler.register(_kind, _engine_by_name)


Failure = tuple[type[BaseException], tuple[Any, ...], dict[str, Any], str]


def _portable(problem: Exception) -> Failure:
    """An exception as (class, args, attributes, traceback text): it crosses even when its
    ``__init__`` does not take its own ``args`` back (pickle's default would fail in the caller)."""
    failure: Failure = (type(problem), problem.args, dict(vars(problem)), traceback.format_exc())
    try:
        pickle.dumps(failure)
    except Exception:
        failure = (RuntimeError, (f"{type(problem).__name__}: {problem}",), {}, failure[3])
    return failure


def _remade(failure: Failure) -> BaseException:
    kind, args, attributes, _ = failure
    problem = kind.__new__(kind, *args)
    problem.args = args
    problem.__dict__.update(attributes)
    return problem


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """In a worker: (True, result) or (False, the failure made portable)."""
    try:
        return True, fn(*args, **kwargs)
    except Exception as problem:
        return False, _portable(problem)


def _start_worker(engine: str, nice: int, server: int) -> None:
    """A worker's initializer: it ends with the server, runs at a lower priority and one thread per
    native library, and loads its engine."""
    import cv2

    threading.Thread(target=_orphaned, args=(server,), daemon=True).start()
    if nice:
        os.nice(nice)
    cv2.setNumThreads(1)  # the pool is sized to the cores: threads inside each worker would fight
    loaded = get_segmenter(engine)
    if isinstance(loaded, AutoSegmenter):
        loaded.neural  # noqa: B018 - load the model now, not on the first photo


def _orphaned(server: int) -> None:
    """A worker whose server was killed outright (SIGKILL, the OOM killer) is never told to stop: it
    holds its own end of the task queue's pipe, and the fork server stays while a worker holds its
    "alive" pipe. So each worker looks for its server every second and exits once it is gone."""
    while True:
        time.sleep(1.0)
        if _gone(server):
            os._exit(0)


def _gone(pid: int) -> bool:
    """Whether process `pid` has ended. An ended process its parent has not reaped yet (a zombie)
    counts as gone: a harness reading serve's stdout to its end before it waits (``communicate()``)
    reaps it only once every holder of the pipe, these workers included, has closed it, so a worker
    waiting for the pid to vanish kept that harness waiting for ever (Linux's /proc tells a zombie;
    elsewhere only a reaped server is seen as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # the pid was reused by another user's process
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :][:1] in ("Z", "X")  # the state follows "(command) "


def _warm() -> int:
    return os.getpid()


# --- the pool ----------------------------------------------------------------------------------


class EnginePool:
    """Media work off the serving process: `processes` workers (0: a thread of this process)."""

    def __init__(self, processes: int, engine: str = "auto", *, backlog: int = BACKLOG, nice: int = NICE) -> None:
        self.processes, self.engine, self.nice = processes, engine, nice
        self.crashes = 0  # workers lost since start (each rebuilt the pool)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._slots = asyncio.Semaphore(max(1, processes * (1 + backlog)))

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` in a worker (or a thread with 0 processes); its result, or its
        exception re-raised here as the same class. Raises EngineCrashed if the worker died."""
        if self.processes == 0:
            return await asyncio.to_thread(fn, *args, **kwargs)
        async with self._slots:
            executor = None
            try:
                # Submitting may start a worker (at first, or after a crash): off the loop.
                executor, future = await asyncio.to_thread(self._submit, fn, args, kwargs)
                ok, value = await asyncio.wrap_future(future)
            except BrokenProcessPool:
                if executor is not None:
                    self._rebuild(executor)
                raise EngineCrashed("the engine's process stopped while working on this input") from None
        if ok:
            return value
        raise _remade(value)

    def _submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[ProcessPoolExecutor, Future[tuple[bool, Any]]]:
        executor = self._current()
        try:
            return executor, executor.submit(_call, fn, args, kwargs)
        except BrokenProcessPool:  # broke while idle: nothing of this call ran anywhere
            executor = self._rebuild(executor)
            return executor, executor.submit(_call, fn, args, kwargs)

    def start(self) -> None:
        """Start every worker now (each loads its engine) from a thread, without waiting: `serve`
        calls this so neither its start nor its first requests wait for the fork server's imports."""
        if self.processes:
            threading.Thread(target=self._start_all, name="engine-pool-start", daemon=True).start()

    def _start_all(self) -> None:
        executor = self._current()
        with contextlib.suppress(RuntimeError):  # closed meanwhile (a short-lived app)
            for _ in range(self.processes):
                executor.submit(_warm)

    def pids(self) -> list[int]:
        """The workers' process ids (empty with 0 processes or before the first call)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        return sorted(processes)

    def close(self, *, wait: float = 2.0) -> None:
        """Stop the workers (work not yet started is dropped, work running is abandoned), waiting at
        most `wait` seconds for them to end. `serve` ends by re-raising the signal that stopped it,
        so no exit handler of the executor runs: a worker not stopped here lived on (holding the
        server's stdout and stderr) until its orphan watch noticed, and the fork server with it."""
        with self._lock:
            executor, self._executor, self._closed = self._executor, None, True
        if executor is None:
            return
        workers = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            with contextlib.suppress(Exception):  # already ended
                worker.terminate()
        deadline = time.monotonic() + wait
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.join(max(0.0, deadline - time.monotonic()))

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine pool is closed")
            if self._executor is None:
                self._executor = self._make()
            return self._executor

    def _rebuild(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """A fresh executor in place of `broken` (once, however many callers saw it break)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine pool is closed")
            if self._executor is broken or self._executor is None:
                self.crashes += 1
                log.warning("an engine process stopped; starting a new pool of %d", self.processes)
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = self._make()
            return self._executor

    def _make(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        start = (self.engine, self.nice, os.getpid())
        return ProcessPoolExecutor(self.processes, mp_context=context, initializer=_start_worker, initargs=start)
