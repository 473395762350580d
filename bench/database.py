"""The benchmark's PostgreSQL database: re-created for each run, counted, watched."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

#: Server settings printed with the results: what durability and commit speed depend on.
SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "full_page_writes",
    "commit_delay",
    "shared_buffers",
    "default_toast_compression",
)


def _conninfo(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def fresh(url: str) -> None:
    """DROP and CREATE the database (which must be the benchmark's own)."""
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        ident = sql.Identifier(name(url))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


def execute(url: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        cursor = conn.execute(statement, params)  # type: ignore[call-overload]
        return cursor.fetchall() if cursor.description else []


def settings(url: str) -> dict[str, str]:
    return {
        setting: str(execute(url, "SELECT current_setting(%s)", (setting,))[0][0])
        for setting in SETTINGS
    }


def count(url: str, table: str) -> int:
    return int(execute(url, f"SELECT count(*) FROM {table}")[0][0])


def inbox_statuses(url: str) -> dict[str, int]:
    rows = execute(url, "SELECT status, count(*) FROM stripe_mirror_inbox GROUP BY status")
    return {status: int(n) for status, n in rows}


def processed_span(url: str) -> tuple[int, float]:
    """How many inbox events are processed, and the seconds between the first and the last."""
    ((done, first, last),) = execute(
        url,
        "SELECT count(*), min(processed_at), max(processed_at) FROM stripe_mirror_inbox "
        "WHERE status = 'processed'",
    )
    return int(done), (last - first).total_seconds() if done > 1 else 0.0


def backends(url: str) -> list[int]:
    """Process ids of the PostgreSQL backends serving connections to the database."""
    rows = execute(
        url,
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name(url),),
    )
    return [int(pid) for (pid,) in rows]


def postmaster(url: str) -> int:
    """The PostgreSQL server's main process (the parent of a backend), when on this machine."""
    from . import procs

    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        return procs.parent(conn.info.backend_pid)  # while the backend is alive


def due(url: str) -> int:
    """Inbox events waiting to be processed (pending, or failed and due again)."""
    rows = execute(
        url,
        "SELECT count(*) FROM stripe_mirror_inbox WHERE status IN ('pending', 'failed') "
        "AND next_attempt_at <= now()",
    )
    return int(rows[0][0])


def lag(url: str) -> dict[str, Any]:
    """Processed events, the seconds from the first recorded to the last processed, and the
    percentiles of each event's wait from recorded (first delivery) to processed, in ms."""
    ((done, first, last, p50, p90, p99, worst),) = execute(
        url,
        "WITH waits AS (SELECT received_at, processed_at, "
        "1000 * extract(epoch FROM processed_at - received_at) AS ms "
        "FROM stripe_mirror_inbox WHERE status = 'processed') "
        "SELECT count(*), min(received_at), max(processed_at), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), "
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY ms), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) FROM waits",
    )
    return {
        "processed": int(done),
        "span_s": (last - first).total_seconds() if done > 1 else 0.0,
        **{
            k: round(float(v), 1)
            for k, v in zip(("p50", "p90", "p99", "max"), (p50, p90, p99, worst), strict=True)
        },
    }


def deadlocks(url: str) -> int:
    """Deadlocks PostgreSQL detected in the database (it is created afresh for each run)."""
    rows = execute(url, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    return int(rows[0][0])
