"""Inbox sizing: bytes per event on PostgreSQL, with bodies and once retention stripped them.

    python -m bench.inbox_size [--scenarios 1500] [--database-url postgres://.../sm_size]

Re-creates the database (it is DROPPED), records the mirror benchmark's realistic stream
(bench/mirror.py: Stripe-sized bodies, a mix of types) through ``inbox.record``, marks it
processed, and prints ``pg_total_relation_size`` of the inbox (table, TOAST and indexes) per
row; then strips every body (``ops.prune.strip_bodies``), runs VACUUM FULL, and prints it
again. docs/operations.md (Sizing) quotes its figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta

from . import database, mirror


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/stripe_mirror_size"
    )
    opts = parser.parse_args(argv)
    database.fresh(opts.database_url)
    os.environ.update(mirror.environment(opts.database_url))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from stripe_mirror.models import InboxEvent
    from stripe_mirror.ops.prune import strip_bodies

    call_command("migrate", verbosity=0)
    stream = mirror.prepare(
        argparse.Namespace(
            seed=opts.seed, scenarios=opts.scenarios, pad=True, order="time", duplicates=0.0
        )
    )
    mirror.record(stream)
    InboxEvent.objects.update(status="processed", next_attempt_at=None, processed_at=timezone.now())
    rows = InboxEvent.objects.count()
    connection.close()
    measure(opts.database_url, rows, f"with bodies (mean body {stream.mean_body} bytes)")
    strip_bodies(timezone.now() + timedelta(days=1), batch_size=5000)
    connection.close()
    measure(opts.database_url, rows, "bodies stripped")


def measure(url: str, rows: int, what: str) -> None:
    """VACUUM FULL then the inbox's size (table, TOAST, indexes), on a connection of its own
    once Django's is closed (a snapshot left open would keep the old row versions)."""
    import psycopg

    sizes = []
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as c:
        # A transaction open anywhere on the server (another test run) can hold the old row
        # versions through one VACUUM FULL: the smallest of a few is the table's own size.
        for _ in range(5):
            c.execute("VACUUM FULL ANALYZE stripe_mirror_inbox")
            row = c.execute("SELECT pg_total_relation_size('stripe_mirror_inbox')").fetchone()
            sizes.append(int(row[0]) if row else 0)
            time.sleep(2)
    total = min(sizes)
    print(f"{rows} events, {what}: {total / rows:.0f} bytes/event ({total / 1e6:.1f} MB)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
