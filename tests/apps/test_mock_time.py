"""Mock time follows the client's sleeps wherever the client sleeps, and nobody else's."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from contracts._mocktime import MockTime


def test_sleeps_on_the_clients_side_move_the_clock_and_take_no_time() -> None:
    advanced: list[float] = []
    outside = ThreadPoolExecutor(max_workers=1)  # a pool made before the run, as fal-client's module-level one
    outside.submit(lambda: None).result()

    def client() -> None:
        time.sleep(5)
        worker = threading.Thread(target=time.sleep, args=(7,))
        worker.start()
        worker.join()
        outside.submit(time.sleep, 11).result()
        asyncio.run(asyncio.sleep(13))
        asyncio.run(asyncio.to_thread(time.sleep, 17))

    started = time.monotonic()
    with MockTime(advanced.append) as mock_time:
        mock_time.call(client)
    outside.shutdown()
    assert advanced == [5, 7, 11, 13, 17]
    assert time.monotonic() - started < 5


def test_sleeps_elsewhere_are_real_and_leave_the_clock_alone() -> None:
    advanced: list[float] = []
    slept = threading.Event()

    def server() -> None:  # started outside the client's side, like the mock's own loop thread
        time.sleep(0.05)
        asyncio.run(asyncio.sleep(0.05))
        slept.set()

    with MockTime(advanced.append):
        started = time.monotonic()
        thread = threading.Thread(target=server)
        thread.start()
        thread.join()
        elapsed = time.monotonic() - started
    assert slept.is_set() and advanced == [] and elapsed >= 0.1


def test_everything_is_put_back_after_the_run() -> None:
    originals = (time.sleep, asyncio.sleep, threading.Thread.start, ThreadPoolExecutor.submit)
    with MockTime(lambda seconds: None):
        assert time.sleep is not originals[0]
    assert (time.sleep, asyncio.sleep, threading.Thread.start, ThreadPoolExecutor.submit) == originals
