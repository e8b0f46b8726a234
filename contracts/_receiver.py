"""A real webhook endpoint on 127.0.0.1 that records every delivery and answers as scripted.

    with WebhookReceiver() as hooks:
        submit(..., webhook_url=hooks.url)
        hooks.respond_with(500, 500)        # the next two deliveries fail, then 200 again
        ...
        [delivery] = hooks.deliveries
        delivery.json()["status"]

A plain threaded HTTP server, not an asyncio one: it answers whichever loop or thread the mock
delivers from, and never waits on the test's own event loop.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._statuses: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    def respond_with(self, *statuses: int) -> None:
        """Answer the next deliveries with these statuses, in order (then 200)."""
        with self._lock:
            self._statuses.extend(statuses)

    def clear(self) -> None:
        with self._lock:
            self.deliveries.clear()
            self._statuses.clear()

    def _next_status(self, delivery: Delivery) -> int:
        with self._lock:
            self.deliveries.append(delivery)
            return self._statuses.pop(0) if self._statuses else 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver._next_status(Delivery(self.path, headers, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
