"""The fake's HTTP side: a ThreadingHTTPServer on 127.0.0.1 in a thread of the test process.

Every request is checked as Stripe checks it (``Authorization: Bearer sk_...`` or Basic
auth with the key as user name; ``Stripe-Account`` or ``Stripe-Context`` naming a connected
account the key may act for), delayed by ``latency``, possibly answered by an injected fault,
replayed when its ``Idempotency-Key`` was seen, and logged.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

from . import errors, query
from .routes import Call, Routes
from .store import Scope


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]  # lower-case names
    status: int

    @property
    def account(self) -> str | None:
        return self.headers.get("stripe-account") or self.headers.get("stripe-context")

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("stripe-version")


@dataclass
class Fault:
    remaining: int
    status: int
    should_retry: bool | None
    path: str | None  # only requests whose path starts with this

    def error(self) -> errors.ApiError:
        if self.status == 429:
            return errors.rate_limited(self.should_retry)
        return errors.server_error(self.status, self.should_retry)


class Front:
    """Checks, delays, faults, idempotency and the log, around ``Routes``."""

    def __init__(self, routes: Routes, api_keys: tuple[str, ...]) -> None:
        self.routes = routes
        self.api_keys = api_keys
        self.latency = 0.0
        self.lock = threading.Lock()
        self.log: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self._replays: dict[tuple[Scope, str], tuple[str, int, dict[str, Any]]] = {}

    def respond(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.latency:
            time.sleep(self.latency)
        parts = urlsplit(target)
        params: dict[str, Any] = {}
        try:
            params = query.decode(body.decode() if method == "POST" else parts.query)
            status, extra, answer = self._checked(method, parts.path, params, headers, body)
        except query.BadParameter as exc:
            status, extra, answer = 400, {}, errors.invalid(exc.param, str(exc)).body()
        except errors.ApiError as exc:
            status, extra = exc.status, exc.headers
            answer = exc.body(v2=parts.path.startswith("/v2/"))
        with self.lock:
            self.log.append(LoggedRequest(method, parts.path, params, dict(headers), status))
        return status, extra, answer

    def _checked(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        key = self._api_key(headers)
        scope = Scope(key.startswith(("sk_live_", "rk_live_")), _account(headers))
        if not self.routes.ops.check_account(scope):
            raise errors.account_invalid(key, scope.account or "")
        self._fault(path)
        replay_key = headers.get("idempotency-key") if method == "POST" else None
        if replay_key is None:
            return 200, {}, self.routes.answer(Call(method, path, params, scope))
        with self.routes.store.lock:  # one at a time, so that a replay sees the first answer
            seen = self._replays.get((scope, replay_key))
            if seen is not None:
                if seen[0] != f"{path}?{body!r}":
                    raise errors.ApiError(
                        400,
                        "Keys for idempotent requests can only be used "
                        "with the same parameters they were first used with.",
                        type="idempotency_error",
                    )
                return seen[1], {"Idempotent-Replayed": "true"}, seen[2]
            answer = self.routes.answer(Call(method, path, params, scope))
            self._replays[(scope, replay_key)] = (f"{path}?{body!r}", 200, answer)
            return 200, {}, answer

    def _api_key(self, headers: Mapping[str, str]) -> str:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme == "Basic":
            try:
                credentials = base64.b64decode(credentials).decode().partition(":")[0]
            except ValueError:
                credentials = ""
        elif scheme != "Bearer":
            credentials = ""
        if not credentials:
            raise errors.missing_key()
        if credentials not in self.api_keys:
            raise errors.invalid_key(credentials)
        return credentials

    def _fault(self, path: str) -> None:
        with self.lock:
            for fault in self.faults:
                if fault.remaining and (fault.path is None or path.startswith(fault.path)):
                    fault.remaining -= 1
                    raise fault.error()


def _account(headers: Mapping[str, str]) -> str | None:
    # A Stripe-Context may name a chain of accounts ("acct_platform/acct_connected").
    context = headers.get("stripe-context", "").rsplit("/", 1)[-1]
    return headers.get("stripe-account") or context or None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session expects
    disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, extra, answer = self.server.front.respond(self.command, self.path, headers, body)
        payload = orjson.dumps(answer)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", "req_" + secrets.token_hex(7))
        if "stripe-version" in headers:
            self.send_header("Stripe-Version", headers["stripe-version"])
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is the front's


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, front: Front) -> None:
        self.front = front
        super().__init__(("127.0.0.1", 0), _Handler)


def serve(front: Front) -> tuple[_Server, threading.Thread]:
    server = _Server(front)
    # A short poll interval: stopping the server (every test's teardown) waits for one.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="fake-stripe", daemon=True
    )
    thread.start()
    return server, thread
