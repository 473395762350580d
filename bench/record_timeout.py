"""What RECORD_TIMEOUT costs the recording on PostgreSQL (docs/benchmarks.md): ``inbox.record``
in a loop, without and with the bound, and the bound as first written (a transaction of its
own with a ``set_config`` statement), taken in turn over several rounds.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a database of yours, migrated> \\
    PYTHONPATH=src:.:example python -m bench.record_timeout [--rounds 11] [--no-sync]

Rows are added to the database's inbox (4 KB events). ``--no-sync`` sets this session's
``synchronous_commit`` off, so that the commit's disk flush does not hide the round trips.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from stripe_mirror.dispatch import inbox  # noqa: E402
from stripe_mirror.dispatch.sql import record as record_sql  # noqa: E402
from stripe_mirror.testing import build_event, encode  # noqa: E402
from stripe_mirror.verification import envelope  # noqa: E402

Items = list[tuple[envelope.Envelope, bytes]]


def events(count: int) -> Items:
    obj = {"id": "cus_bench", "object": "customer", "pad": "x" * 4000}
    bodies = [encode(build_event("customer.updated", obj)) for _ in range(count)]
    return [(envelope.parse(body), body) for body in bodies]


def in_a_transaction(items: Items) -> None:
    """The bound as first written: BEGIN, set_config, the upsert, COMMIT."""
    for parsed, body in items:
        values = inbox._row_values(parsed, "default", body.decode(), timezone.now())
        params = [
            values[name] if field is None else field.get_db_prep_save(values[name], connection)
            for name, field in inbox._preparation()
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(record_sql._PG_TIMEOUTS, ["5000", "5000"])
            cursor.execute(record_sql._upsert_sql("postgresql"), params)


def recorded(items: Items, timeout: Any) -> None:
    with override_settings(STRIPE_MIRROR={**settings.STRIPE_MIRROR, "RECORD_TIMEOUT": timeout}):
        for parsed, body in items:
            inbox.record(parsed, "default", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--events", type=int, default=400, help="records per variant and round")
    parser.add_argument("--no-sync", action="store_true")
    opts = parser.parse_args()
    assert connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL database"
    if opts.no_sync:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
    variants = {
        "off": lambda items: recorded(items, None),
        "on (one message)": lambda items: recorded(items, 5),
        "on (own transaction)": in_a_transaction,
    }
    micros: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(opts.rounds):
        for name, run in variants.items():
            items = events(opts.events)
            started = time.perf_counter()
            run(items)
            micros[name].append((time.perf_counter() - started) / len(items) * 1e6)
    for name, values in micros.items():
        print(
            f"{name:22} µs per record: median {statistics.median(values):6.0f}  "
            f"best {min(values):6.0f}"
        )


if __name__ == "__main__":
    main()
