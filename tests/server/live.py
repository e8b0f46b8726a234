"""A real uvicorn server on 127.0.0.1 in a thread, for tests that need a socket."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` on a free port; yields its base URL and stops it cleanly afterwards.

    The asyncio loop, not uvloop: closing uvloop while clients still hold keep-alive connections
    (fal-client leaks its clients) raised at loop close and leaked into later tests. The lifespan
    runs, as under `serve`, so the mock closes its own outgoing clients on the way out.
    """
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", loop="asyncio", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        gc.collect()
