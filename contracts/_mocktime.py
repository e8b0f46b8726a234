"""Mock time for a client under verification: its sleeps move the mock's frozen clock.

While installed, ``time.sleep`` and ``asyncio.sleep`` are replaced process-wide. A sleep moves the
mock's clock when it runs on the client's side:

- the thread the verifier runs the client in;
- any thread started from the client's side (``threading.Thread.start``), and what those start;
- work the client's side hands to any thread pool (``ThreadPoolExecutor.submit``: so
  ``loop.run_in_executor``, ``asyncio.to_thread``, and a library's own long-lived pool such as the
  one fal-client waits on for ``client_timeout``).

Every other sleep in the process (the mock server's own loop, other servers, other tests) waits
for real, as it would. What it cannot follow: waits other than these two functions
(``threading.Event.wait``, a ``Condition``, ``select``, loop timers, a ``sleep`` bound by
``from time import sleep`` before the run, anyio's and trio's sleeps). Those take real time and
leave the mock's clock where it was; the verifier compares both clocks and says so rather than
blaming the client. Sleeps in several client threads at once add up on the mock's clock.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_MARK = "_cutout_mock_time"  # attribute on a Thread started from the client's side


class MockTime:
    """Installed with ``with``; `advance(seconds)` is called for each of the client's sleeps."""

    def __init__(self, advance: Callable[[float], None]) -> None:
        self._advance = advance
        self._token = object()  # this installation's: a thread marked by an earlier run is not the client's
        self._local = threading.local()
        self._restore: list[tuple[Any, str, Any]] = []

    def on_client_side(self) -> bool:
        return (
            getattr(self._local, "token", None) is self._token
            or getattr(threading.current_thread(), _MARK, None) is self._token
        )

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `function` here as the client's side (its sleeps move the mock's clock)."""
        before = getattr(self._local, "token", None)
        self._local.token = self._token
        try:
            return function(*args, **kwargs)
        finally:
            self._local.token = before

    def __enter__(self) -> MockTime:
        real_sleep, real_async_sleep = time.sleep, asyncio.sleep
        real_start, real_submit = threading.Thread.start, ThreadPoolExecutor.submit
        ours = self

        def sleep(seconds: float) -> None:
            if not ours.on_client_side():
                return real_sleep(seconds)
            ours._advance(seconds)

        async def async_sleep(delay: float, result: Any = None) -> Any:
            if not ours.on_client_side():
                return await real_async_sleep(delay, result)
            ours._advance(delay)
            return await real_async_sleep(0, result)

        def start(thread: threading.Thread) -> None:
            if ours.on_client_side():
                setattr(thread, _MARK, ours._token)
            real_start(thread)

        def submit(executor: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            if ours.on_client_side():
                fn = functools.partial(ours.call, fn)
            return real_submit(executor, fn, *args, **kwargs)

        self._restore = [
            (time, "sleep", real_sleep),
            (asyncio, "sleep", real_async_sleep),
            (threading.Thread, "start", real_start),
            (ThreadPoolExecutor, "submit", real_submit),
        ]
        time.sleep, asyncio.sleep = sleep, async_sleep  # type: ignore[assignment]
        threading.Thread.start = start  # type: ignore[method-assign,assignment]
        ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore = []
