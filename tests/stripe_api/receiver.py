"""A webhook receiver for tests: records every POST it gets and answers 200."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.received:
            self.server.deliveries.append(Delivery(self.path, headers, body))
            self.server.received.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    deliveries: list[Delivery]
    received: threading.Condition


class WebhookReceiver:
    """``with WebhookReceiver() as receiver:`` POST to ``receiver.url``; ``wait_for(n)``."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.deliveries = []
        self._server.received = threading.Condition()
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    @property
    def deliveries(self) -> list[Delivery]:
        with self._server.received:
            return list(self._server.deliveries)

    def wait_for(
        self, count: int, timeout: float = 15, matching: Callable[[Delivery], bool] | None = None
    ) -> list[Delivery]:
        """The first ``count`` deliveries (those ``matching``), once they arrived
        (AssertionError after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._server.received:
            while len(found := self._matching(matching)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} webhooks in {timeout} s")
                self._server.received.wait(left)
            return found[:count]

    def _matching(self, matching: Callable[[Delivery], bool] | None) -> list[Delivery]:
        return [d for d in self._server.deliveries if matching is None or matching(d)]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
