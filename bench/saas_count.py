"""Statements, round trips and commits per event, counted where they are sent: in one process,
at libpq's door. Run by bench/saas_run.py as a subprocess (it needs PSYCOPG_IMPL=python, set
before psycopg is imported, so that the calls into libpq can be counted):

    python -m bench.saas_count request FILE     post FILE's deliveries through the site's WSGI
                                                application (BENCH_MODE chooses the path)
    python -m bench.saas_count worker           stripe_mirror_worker --once, in this process

FILE holds the deliveries' bodies separated by \\x1e (JSON never contains a raw control
character). Prints one JSON line: messages sent to PostgreSQL by kind, round trips (each
message outside a pipeline waits for its answer; a pipeline's sync is one), the writes sent
outside a transaction (each commits, and waits for the WAL flush, by itself), and this
process's CPU seconds (inflated by psycopg's pure-Python implementation: not a CPU figure
to quote; the benchmark's own runs give those).
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

#: libpq calls that send one statement and wait for its answer (outside a pipeline).
SENDS = (
    "exec_",
    "exec_params",
    "exec_prepared",
    "prepare",
    "send_query",
    "send_query_params",
    "send_query_prepared",
    "send_prepare",
    "send_describe_prepared",
    "send_describe_portal",
)
counts: Counter[str] = Counter()
WRITES = {"INSERT", "UPDATE", "DELETE"}


def _kinds(command: Any) -> list[str]:
    """The statements of one message, by first word. A message may start with ``SET LOCAL
    ...;`` settings ahead of its statement (RECORD_TIMEOUT's upsert): those are split off;
    the rest is one statement (with client-side binding its values are inlined, so a
    semicolon further on may be inside a literal)."""
    if not isinstance(command, bytes | str):
        return ["prepared"]
    text = command.decode(errors="replace") if isinstance(command, bytes) else command
    kinds = []
    text = text.lstrip()
    while text[:4].upper() == "SET " and ";" in text:
        kinds.append("SET")
        text = text.split(";", 1)[1].lstrip()
    if text:
        kinds.append((text.split(None, 1) or ["?"])[0].upper())
    return kinds


def instrument() -> None:
    """Count every message psycopg hands libpq, by statement kind."""
    from psycopg.pq import pq_ctypes

    def counted(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            kinds = _kinds(args[0]) if args and "prepare" not in name else ["prepared"]
            counts.update(kinds)
            if self.transaction_status == 0 and set(kinds) & WRITES:  # idle: commits itself
                counts["~autocommit_writes"] += 1
            if self.pipeline_status == 0:  # outside a pipeline: one round trip each
                counts["~round_trips"] += 1
            return call(self, *args, **kwargs)

        return wrapper

    for name in SENDS:
        setattr(pq_ctypes.PGconn, name, counted(name, getattr(pq_ctypes.PGconn, name)))
    sync = pq_ctypes.PGconn.pipeline_sync

    def synced(self: Any) -> Any:
        counts["~round_trips"] += 1
        return sync(self)

    pq_ctypes.PGconn.pipeline_sync = synced  # type: ignore[method-assign]


def post_all(path: str) -> int:
    """Each delivery through the WSGI application, as a server would call it (the
    request_started signal, so the connection health check, included)."""
    from bench.saas import sign
    from bench.wsgi import application

    secret = os.environ["STRIPE_WEBHOOK_SECRET"]
    with open(path, "rb") as file:
        bodies = [b for b in file.read().split(b"\x1e") if b]
    now = int(time.time())
    for body in bodies:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/stripe/webhook/default/",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_STRIPE_SIGNATURE": sign(body, secret, now),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        answered: list[str] = []
        b"".join(application(environ, lambda status, *_, seen=answered: seen.append(status)))
        if not answered[0].startswith("2"):
            raise SystemExit(f"answered {answered[0]}")
    return len(bodies)


def main(argv: list[str]) -> int:
    if os.environ.get("PSYCOPG_IMPL") != "python":
        raise SystemExit("run with PSYCOPG_IMPL=python (bench/saas_run.py does)")
    instrument()
    import django

    django.setup()
    cpu = time.process_time()
    if argv[0] == "request":
        units = post_all(argv[1])
    else:
        from django.core.management import call_command

        units = 0
        call_command(
            "stripe_mirror_worker", "--once", "--batch-size", argv[1] if argv[1:] else "500"
        )
    cpu = time.process_time() - cpu
    print(orjson.dumps({"units": units, "counts": dict(counts), "cpu_s": cpu}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
