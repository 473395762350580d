"""Real servers and management commands in subprocesses, against the current test database.

What the concurrency and durability tests prove (several server processes, a process killed
mid-transaction) cannot happen inside the pytest process. Each child gets the environment
that points it at the test database (``child_env``); every process started here is killed
by process group when the test or session that started it ends, whatever happened.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import pytest
from django.db import connection

from stripe_mirror.testing import build_event, encode, signed_headers

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "example" / "manage.py"
SECRET = "whsec_test_primary"
#: Sync workers of the gunicorn server: several processes handling requests at once.
GUNICORN_WORKERS = 4

T = TypeVar("T")
_started: set[subprocess.Popen[bytes]] = set()


# --- environment -------------------------------------------------------------------------


def database_env() -> dict[str, str]:
    """The variables that make tests.settings (in a child) use the current test database."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        if connection.is_in_memory_db():
            pytest.skip(
                "SQLite with an in-memory test database: a child process cannot open it "
                "(set SQLITE_TEST_PATH to a file to run this test on SQLite)"
            )
        return {"SQLITE_PATH": str(settings["NAME"])}
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[connection.vendor]
    user = quote(settings["USER"] or "", safe="")
    password = quote(settings["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    host = settings["HOST"] or "127.0.0.1"
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return {"DATABASE_URL": f"{scheme}://{credentials}{host}{port}/{settings['NAME']}"}


def child_env(database: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """An environment for a child process of this test run: this worktree's code, the test
    settings and (by default) the current test database."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLITE_PATH")}
    env.update(database if database is not None else database_env())
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=os.pathsep.join(str(p) for p in (ROOT / "src", ROOT, ROOT / "example")),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def steered_event(event_type: str = "customer.updated", **metadata: str) -> dict[str, Any]:
    """An event whose object's metadata steers the test handlers (tests/testapp):
    test_behaviour, flag_file, started_file."""
    return build_event(event_type, {"id": "cus_1", "object": "customer", "metadata": metadata})


# --- processes ---------------------------------------------------------------------------


class Process:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        descriptor, name = tempfile.mkstemp(prefix="sm-child-", suffix=".log")
        os.close(descriptor)
        self.log = Path(name)
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _started.add(self.popen)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process itself (not its group)."""
        self.popen.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"{self} still running after {timeout} s:\n{self.output()}"
            ) from None

    def stop(self) -> None:
        """Kill the whole process group (gunicorn's workers too); idempotent."""
        _kill_group(self.popen)
        _started.discard(self.popen)
        self.log.unlink(missing_ok=True)

    def __str__(self) -> str:
        return f"process {self.pid} ({' '.join(map(str, self.popen.args[:4]))} ...)"  # type: ignore[index]


def _kill_group(popen: subprocess.Popen[bytes]) -> None:
    # Until the leader is reaped its id still names its group (gunicorn's workers are in it
    # too); once reaped, the id may belong to someone else, so it is left alone.
    if popen.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
    popen.wait(10)


@atexit.register
def _kill_leftovers() -> None:  # a session interrupted before its finalizers ran
    for popen in list(_started):
        _kill_group(popen)


def manage(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``example/manage.py <args>`` to completion in a child process."""
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=dict(env if env is not None else child_env()),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_manage(*args: str, env: Mapping[str, str] | None = None) -> Process:
    """Start ``example/manage.py <args>`` in the background."""
    return Process([sys.executable, str(MANAGE), *args], env if env is not None else child_env())


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# --- HTTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(url: str, method: str = "GET", body: bytes = b"", headers: Any = None) -> Response:
    """One HTTP request on a fresh connection. Raises OSError (or http.client's errors)
    when the server does not answer, e.g. because the process handling it died."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        conn.request(method, parts.path, body=body, headers=dict(headers or {}))
        answer = conn.getresponse()
        return Response(answer.status, answer.read())
    finally:
        conn.close()


def post_event(
    base_url: str, event: Mapping[str, Any] | bytes, *, secret: str = SECRET
) -> Response:
    """Sign ``event`` and POST it to the "default" webhook endpoint of a running server."""
    body = encode(event)
    headers = {"Content-Type": "application/json", **signed_headers(body, secret)}
    return request(f"{base_url}/stripe/webhook/default/", "POST", body, headers)


def concurrently(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run the calls in as many threads, released together; their results in order.
    The first exception any of them raised is re-raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server(Process):
    """The example site (with the test settings) under gunicorn, sync workers."""

    def __init__(self, env: Mapping[str, str], workers: int = GUNICORN_WORKERS) -> None:
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            # Load the app once and fork: workers (and a worker that replaces a crashed
            # one) are up at once.
            "--preload",
            "--graceful-timeout",
            "2",
            "example_site.wsgi:application",
        ]
        super().__init__(argv, env)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.popen.poll() is not None:
                output = self.output()
                self.stop()
                raise AssertionError(f"the server exited at start:\n{output}")
            try:
                # A GET is answered 405 by the webhook view without touching the database.
                request(f"{self.url}/stripe/webhook/default/")
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"the server did not answer within {timeout} s") from None
                time.sleep(0.05)
            else:
                return

    def post(self, event: Mapping[str, Any] | bytes, *, secret: str = SECRET) -> Response:
        return post_event(self.url, event, secret=secret)


@contextlib.contextmanager
def server(
    env: Mapping[str, str] | None = None, workers: int = GUNICORN_WORKERS
) -> Iterator[Server]:
    """A gunicorn server for the duration of a ``with`` block."""
    running = Server(env if env is not None else child_env(), workers)
    try:
        yield running
    finally:
        running.stop()


def lose_connection() -> None:
    """End this thread's database connection from the server's side (PostgreSQL, MariaDB),
    as a server restart or a network cut would: its next statement fails."""
    kill = {
        "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend(%s)"),
        "mysql": ("SELECT CONNECTION_ID()", "KILL %s"),
    }[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(kill[0])
        [(session,)] = cursor.fetchall()

    def terminate() -> None:
        with connection.cursor() as cursor:  # the other thread's own connection
            cursor.execute(kill[1], [session])

    in_other_connection(terminate)


def in_other_connection(func: Callable[[], T]) -> T:
    """Run ``func`` in a new thread, hence on a new database connection: it sees only what
    has been committed."""
    from django.db import connections

    results: list[Any] = []

    def run() -> None:
        try:
            results.append(func())
        except BaseException as exc:
            results.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if isinstance(results[0], BaseException):
        raise results[0]
    value: T = results[0]
    return value


def table_locked(table: str) -> contextlib.AbstractContextManager[None]:
    """Another session holds an exclusive lock on ``table`` for the ``with`` block, as a
    migration or a long maintenance statement would: PostgreSQL ``LOCK TABLE ... IN ACCESS
    EXCLUSIVE MODE`` in a transaction, MariaDB ``LOCK TABLES ... WRITE``."""
    if connection.vendor == "mysql":
        return _held_by_another_session(f"LOCK TABLES `{table}` WRITE", [], "UNLOCK TABLES")
    return _held_by_another_session(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE', [])


def row_locked(table: str, pk: int) -> contextlib.AbstractContextManager[None]:
    """Another session holds the row ``pk`` of ``table`` locked (``SELECT ... FOR UPDATE``,
    as a worker claiming it does) for the ``with`` block."""
    quoted = connection.ops.quote_name(table)
    return _held_by_another_session(f"SELECT id FROM {quoted} WHERE id = %s FOR UPDATE", [pk])


@contextlib.contextmanager
def _held_by_another_session(sql: str, params: list[Any], unlock: str = "") -> Iterator[None]:
    """Run ``sql`` in a new thread's connection, in a transaction (or, with ``unlock``, in
    autocommit, then ``unlock``), and keep it open until the ``with`` block ends."""
    from django.db import connections, transaction

    locked, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def hold() -> None:
        try:
            held = contextlib.nullcontext() if unlock else transaction.atomic()
            with held, connections["default"].cursor() as cursor:
                cursor.execute(sql, params)
                locked.set()
                release.wait(60)
                if unlock:
                    cursor.execute(unlock)
        except BaseException as exc:
            failure.append(exc)
            locked.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(30)
    if failure:
        raise failure[0]
    try:
        yield
    finally:
        release.set()
        thread.join(30)
