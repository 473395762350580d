"""The statements of processing: SQLite's claim (its write lock), a batch's outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson
from django.db import connections

from ... import db as rowsql
from ...models import InboxEvent, Status
from . import columns as _columns

#: The columns an outcome writes (``outcome.finish``, ``save_processed``).
OUTCOME_FIELDS = (
    *("attempts", "completed_handlers", "duration_ms", "status"),
    *("next_attempt_at", "last_error", "processed_at"),
)


def take_write_lock(alias: str) -> None:
    """SQLite has no row locks: take the database write lock at the start of the transaction,
    so that a concurrent processor waits for it instead of reading a stale status."""
    connection = connections[alias]
    if connection.vendor == "sqlite":
        table = InboxEvent._meta.db_table
        with rowsql.cursor(connection) as cursor:
            cursor.execute(f'UPDATE "{table}" SET "attempts" = "attempts" WHERE 0')  # noqa: S608


def save_processed(rows: Sequence[InboxEvent], alias: str) -> None:
    """Write the outcome of a batch's processed events: on PostgreSQL one UPDATE from arrays
    (four parameters); elsewhere one UPDATE per distinct list of completed handlers
    (usually a few per batch) instead of one per event."""
    if not rows:
        return
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with rowsql.cursor(connection) as cursor:
            cursor.execute(
                _processed_sql_pg(alias),
                [
                    [row.pk for row in rows],
                    [row.duration_ms for row in rows],
                    [row.processed_at for row in rows],
                    [orjson.dumps(row.completed_handlers).decode() for row in rows],
                ],
            )
        return
    groups: dict[tuple[str, ...], list[InboxEvent]] = {}
    for row in rows:
        groups.setdefault(tuple(row.completed_handlers), []).append(row)
    for completed, group in groups.items():
        field = InboxEvent._meta.get_field
        params: list[Any] = [
            rowsql.prepare(field("completed_handlers"), list(completed), connection),
        ]
        for row in group:
            params.extend((row.pk, row.duration_ms))
        for row in group:
            when = field("processed_at").get_db_prep_save(row.processed_at, connection)  # type: ignore[union-attr]
            params.extend((row.pk, when))
        params.extend(row.pk for row in group)
        with rowsql.cursor(connection) as cursor:
            cursor.execute(_processed_sql(alias, len(group)), params)


@lru_cache(maxsize=8)
def _processed_sql_pg(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    column = _columns(alias, OUTCOME_FIELDS)
    return (
        f"UPDATE {quote(InboxEvent._meta.db_table)} AS t SET "  # noqa: S608
        f"{column['status']} = '{Status.PROCESSED.value}', "
        f"{column['attempts']} = t.{column['attempts']} + 1, "
        f"{column['next_attempt_at']} = NULL, {column['last_error']} = '', "
        f"{column['completed_handlers']} = v.completed::jsonb, "
        f"{column['duration_ms']} = v.duration, {column['processed_at']} = v.processed "
        "FROM unnest(%s::bigint[], %s::float8[], %s::timestamptz[], %s::text[]) "
        "AS v(id, duration, processed, completed) "
        f"WHERE t.{quote('id')} = v.id"
    )


@lru_cache(maxsize=512)
def _processed_sql(alias: str, count: int) -> str:
    quote = connections[alias].ops.quote_name
    column = _columns(alias, OUTCOME_FIELDS)
    pk = quote("id")
    cases = " ".join(["WHEN %s THEN %s"] * count)
    return (
        f"UPDATE {quote(InboxEvent._meta.db_table)} SET "  # noqa: S608
        f"{column['status']} = '{Status.PROCESSED.value}', "
        f"{column['attempts']} = {column['attempts']} + 1, "
        f"{column['next_attempt_at']} = NULL, {column['last_error']} = '', "
        f"{column['completed_handlers']} = %s, "
        f"{column['duration_ms']} = CASE {pk} {cases} END, "
        f"{column['processed_at']} = CASE {pk} {cases} END "
        f"WHERE {pk} IN ({', '.join(['%s'] * count)})"
    )
