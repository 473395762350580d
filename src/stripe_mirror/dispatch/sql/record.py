"""The inbox's recording statement: insert an event or count its redelivery, and return the
row's state after the write; bounded by RECORD_TIMEOUT (docs/operations.md). Its bulk variant
(``record_many``) writes many events the same way, for catch-up."""

from __future__ import annotations

from functools import cache, partial
from typing import Any

import orjson
from django.db import connections, transaction

from ... import prepared
from ...db import cursor as statement_cursor
from ...models import InboxEvent, Status
from . import prepared_record

#: Columns written by the insert from parameters, in order (``record``'s ``params``).
RECORD_COLUMNS = (
    "stripe_id",
    "kind",
    "type",
    "api_version",
    "created",
    "livemode",
    "account",
    "endpoint",
    "object_id",
    "object_type",
    "body",
    "received_at",
    "last_received_at",
    "status",
    "next_attempt_at",
)
#: Columns every new row starts with, as SQL literals: constants need no parameter (nor the
#: field's preparation: JSON encoding for ``completed_handlers``).
_CONSTANTS = {
    "delivery_count": "1",
    "attempts": "0",
    "last_error": "''",
    "completed_handlers": "'[]'",
}
#: A redelivery of an event in one of these states makes it due again.
_REVIVED = (Status.FAILED.value, Status.DEAD.value)
#: Rows per statement of ``record_many``: 15 parameters a row stays under every database's
#: bound on parameters (SQLite's is 32,766), and 100 bodies of a few KB under MariaDB's
#: max_allowed_packet.
ROWS_PER_STATEMENT = 100


def record(alias: str, params: list[Any], timeout: float | None) -> tuple[int, str, int]:
    """Insert the event (``params``: the prepared values of ``RECORD_COLUMNS``) or count a
    redelivery; returns the row's (id, status, delivery count) after the write. ``timeout``
    (RECORD_TIMEOUT) bounds a record made outside a transaction."""
    connection = connections[alias]
    if timeout is None or connection.in_atomic_block:
        row = _upsert(connection, _upsert_sql(connection.vendor), params)
    elif connection.vendor == "postgresql":
        row = _bounded_pg_upsert(connection, alias, params, max(1, round(timeout * 1000)))
    elif connection.vendor == "mysql":
        row = _upsert(connection, _MYSQL_TIMEOUT + _upsert_sql("mysql"), [timeout, *params])
    else:  # SQLite: the connection's busy timeout (OPTIONS "timeout") bounds the wait
        row = _upsert(connection, _upsert_sql(connection.vendor), params)
    pk, status, delivery_count = row
    return pk, status, delivery_count


def record_many(alias: str, rows: list[list[Any]]) -> list[tuple[int, str, str, int]]:
    """``record`` for many events (each of ``rows``: the prepared values of ``RECORD_COLUMNS``;
    no event id twice), ``ROWS_PER_STATEMENT`` a statement, in the caller's transaction (not
    bounded by RECORD_TIMEOUT: no webhook waits for it); returns each row's (id, event id,
    status, delivery count) after the write, in no particular order."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        document = _as_json(rows)
        if document is not None:
            with statement_cursor(connection) as cursor:
                cursor.execute(_pg_json_upsert(), [document])
                return [(pk, str(sid), status, count) for pk, sid, status, count in cursor]
    found: list[tuple[int, str, str, int]] = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start : start + ROWS_PER_STATEMENT]
        sql = _upsert_sql(connection.vendor, len(part), returning=_RETURNING_MANY)
        with statement_cursor(connection) as cursor:
            cursor.execute(sql, [value for row in part for value in row])
            found.extend((pk, str(sid), status, count) for pk, sid, status, count in cursor)
    return found


def _as_json(rows: list[list[Any]]) -> str | None:
    """The rows as one JSON array of objects keyed by column, the constants included: what
    ``json_populate_recordset`` reads. None when a value has no JSON form (then each is bound)."""
    constants = {"delivery_count": 1, "attempts": 0, "last_error": "", "completed_handlers": []}
    try:
        records = [{**dict(zip(RECORD_COLUMNS, row, strict=True)), **constants} for row in rows]
        return orjson.dumps(records).decode()
    except TypeError:
        return None


@cache
def _pg_json_upsert() -> str:
    """``record_many`` on PostgreSQL: the rows from one JSON document, so that neither psycopg
    nor PostgreSQL parses a VALUES list of 15 parameters a row; in the document's order."""
    table = InboxEvent._meta.db_table
    columns = ", ".join(f'r."{c}"' for c in (*RECORD_COLUMNS, *_CONSTANTS))
    source = (
        f'SELECT {columns} FROM json_populate_recordset(NULL::"{table}", %s::json) '  # noqa: S608
        "WITH ORDINALITY AS r ORDER BY r.ordinality"
    )
    return _standard_upsert(table, source, _RETURNING_MANY)


def _upsert(connection: Any, sql: str, params: list[Any], *, text: bool = False) -> tuple[Any, ...]:
    with statement_cursor(connection, text=text) as cursor:
        cursor.execute(sql, params)
        # The bounded PostgreSQL statement list: psycopg 3 is on the SET's result, the row is
        # the last one's (psycopg 2 is on the last already).
        while cursor.description is None and cursor.nextset():
            pass
        row: tuple[Any, ...] = cursor.fetchone()
    return row


def _bounded_pg_upsert(
    connection: Any, alias: str, params: list[Any], milliseconds: int
) -> tuple[Any, ...]:
    """The upsert under lock_timeout and statement_timeout, set for its transaction only."""
    if connection.settings_dict["OPTIONS"].get("server_side_binding") is not True:
        # Client-side binding (Django's default) sends a statement list in one message, which
        # PostgreSQL runs as one implicit transaction: SET LOCAL holds for the INSERT, and it
        # costs no round trip (nor a BEGIN and a COMMIT).
        if prepared.enabled(connection) and prepared_record.steady():
            whole = _pg_bounded_sql(milliseconds)
            return prepared_record.upsert(
                connection,
                params,
                milliseconds,
                sql=_upsert_sql("postgresql"),
                whole=whole,
                run=partial(_upsert, text=True),
            )
        return _upsert(connection, _pg_bounded_sql(milliseconds), params, text=True)
    # Server-side binding takes one statement per execute: a transaction of our own.
    with transaction.atomic(using=alias), statement_cursor(connection) as cursor:
        cursor.execute(_PG_TIMEOUTS, [str(milliseconds), str(milliseconds)])
        return _upsert(connection, _upsert_sql("postgresql"), params)


#: RECORD_TIMEOUT on PostgreSQL: how long the record may wait for a lock, and run, in
#: milliseconds, for its transaction only. Under server-side binding, in a transaction of its
#: own (``set_config(..., true)`` is ``SET LOCAL``: one round trip for both, plus BEGIN and
#: COMMIT); otherwise, ahead of the upsert in the same message (``_pg_bounded_sql``).
_PG_TIMEOUTS = (
    "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)"
)
#: RECORD_TIMEOUT on MariaDB, in (fractional) seconds, a prefix of the statement itself: no
#: round trip. max_statement_time interrupts row lock and metadata lock waits too (error
#: 1969); innodb_lock_wait_timeout would bound only the former, in whole seconds.
_MYSQL_TIMEOUT = "SET STATEMENT max_statement_time = %s FOR "


@cache
def _pg_bounded_sql(milliseconds: int) -> str:
    return (
        f"SET LOCAL lock_timeout = {milliseconds:d}; "
        f"SET LOCAL statement_timeout = {milliseconds:d}; " + _upsert_sql("postgresql")
    )


#: What the upsert returns: the row's state (``record``), and its event id (``record_many``).
_RETURNING = ("id", "status", "delivery_count")
_RETURNING_MANY = ("id", "stripe_id", "status", "delivery_count")


@cache
def _upsert_sql(vendor: str, rows: int = 1, returning: tuple[str, ...] = _RETURNING) -> str:
    table = InboxEvent._meta.db_table
    marks = ", ".join(["%s"] * len(RECORD_COLUMNS) + list(_CONSTANTS.values()))
    values = "VALUES " + ", ".join([f"({marks})"] * rows)
    if vendor == "mysql":
        return _mysql_upsert(table, values, returning)
    if vendor in ("postgresql", "sqlite"):
        return _standard_upsert(table, values, returning)
    raise NotImplementedError(f"stripe_mirror does not support the {vendor!r} database backend")


def _standard_upsert(table: str, values: str, returning: tuple[str, ...]) -> str:
    """INSERT ... ON CONFLICT DO UPDATE ... RETURNING (PostgreSQL, SQLite >= 3.35); ``values``
    is the rows' source: ``VALUES (...)``, or a ``SELECT``."""
    cols = ", ".join(f'"{c}"' for c in (*RECORD_COLUMNS, *_CONSTANTS))
    revived = ", ".join(f"'{s}'" for s in _REVIVED)
    old = f'"{table}"'
    return (
        f'INSERT INTO "{table}" ({cols}) {values} '  # constants only
        f'ON CONFLICT ("stripe_id") DO UPDATE SET '
        f'"delivery_count" = {old}."delivery_count" + 1, '
        f'"last_received_at" = EXCLUDED."last_received_at", '
        f'"next_attempt_at" = CASE WHEN {old}."status" IN ({revived}) '
        f'THEN EXCLUDED."next_attempt_at" ELSE {old}."next_attempt_at" END, '
        f'"status" = CASE WHEN {old}."status" IN ({revived}) '
        f"THEN '{Status.PENDING.value}' ELSE {old}.\"status\" END "
        "RETURNING " + ", ".join(f'"{c}"' for c in returning)
    )


def _mysql_upsert(table: str, values: str, returning: tuple[str, ...]) -> str:
    """INSERT ... ON DUPLICATE KEY UPDATE ... RETURNING (MariaDB >= 10.5).

    MySQL evaluates the assignments left to right, each seeing the previous ones, so
    ``next_attempt_at`` is set while ``status`` still holds the old value.
    """
    cols = ", ".join(f"`{c}`" for c in (*RECORD_COLUMNS, *_CONSTANTS))
    revived = ", ".join(f"'{s}'" for s in _REVIVED)
    return (
        f"INSERT INTO `{table}` ({cols}) {values} "  # constants only
        f"ON DUPLICATE KEY UPDATE "
        f"`delivery_count` = `delivery_count` + 1, "
        f"`last_received_at` = VALUES(`last_received_at`), "
        f"`next_attempt_at` = IF(`status` IN ({revived}), "
        f"VALUES(`next_attempt_at`), `next_attempt_at`), "
        f"`status` = IF(`status` IN ({revived}), '{Status.PENDING.value}', `status`) "
        "RETURNING " + ", ".join(f"`{c}`" for c in returning)
    )
