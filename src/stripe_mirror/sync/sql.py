"""Stage 5: the statements on mirrored rows (read one locked, INSERT, UPDATE), and their
vendor branches (PostgreSQL, MariaDB, SQLite). The sync's other modules run no SQL of their
own; the payment links' statements are in ``links/sql.py``.

The generic writes (``update``, ``save_fields``) are the foundation's (``stripe_mirror.db``),
shared with the inbox, and re-exported here so that the sync has one place to call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, TypeVar

import orjson
from django.db import connections, models, router

from ..db import cursor as statement_cursor
from ..db import equals, prepare, save_fields, update

__all__ = [
    "insert_many",
    "insert_new",
    "locked_row",
    "mark_missing",
    "present",
    "save_fields",
    "update",
]

M = TypeVar("M", bound=models.Model)


def locked_row(
    model: type[M],
    key: Mapping[str, Any],
    *,
    exclude: tuple[str, ...] = (),
    using: str | None = None,
) -> M | None:
    """The row of ``model`` whose fields equal ``key`` (a unique key), locked until the end of
    the transaction (``SELECT ... FOR UPDATE`` where the database has row locks), or None.
    The ``exclude`` fields are not read (deferred, loaded if accessed)."""
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    names = tuple(key)
    with statement_cursor(connection) as cursor:
        cursor.execute(_select_sql(model, names, exclude, alias), list(key.values()))
        found = cursor.fetchone()
    if found is None:
        return None
    attnames, converters = _readers(model, exclude, alias)
    values = list(found)
    for index, expression, steps in converters:
        for convert in steps:
            values[index] = convert(values[index], expression, connection)
    return model.from_db(alias, attnames, values)


@cache
def _readers(
    model: type[models.Model], exclude: tuple[str, ...], alias: str
) -> tuple[list[str], list[tuple[int, Any, list[Any]]]]:
    """The attribute names a row is read into, and the converters each raw value goes through
    (the database backend's, then the field's: what the ORM applies to query results)."""
    connection = connections[alias]
    fields = [f for f in model._meta.concrete_fields if f.attname not in exclude]
    converters = []
    for index, field in enumerate(fields):
        expression = field.get_col(model._meta.db_table)
        steps = [
            *connection.ops.get_db_converters(expression),
            *expression.get_db_converters(connection),
        ]
        if steps:
            converters.append((index, expression, steps))
    return [f.attname for f in fields], converters


@cache
def _select_sql(
    model: type[models.Model], key: tuple[str, ...], exclude: tuple[str, ...], alias: str
) -> str:
    connection = connections[alias]
    quote = connection.ops.quote_name
    column = {f.attname: str(f.column) for f in model._meta.concrete_fields}
    columns = ", ".join(quote(c) for name, c in column.items() if name not in exclude)
    where = " AND ".join(equals(connection, quote(column[name]), name) for name in key)
    has_lock = connection.features.has_select_for_update
    lock = f" {connection.ops.for_update_sql()}" if has_lock else ""
    return f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE {where}{lock}"  # noqa: S608


def present(
    model: type[models.Model], column: str, values: Sequence[str], *, account: str, livemode: bool
) -> set[str]:
    """Which of ``values`` (not empty) rows of ``model`` of the scope hold in ``column`` (an
    attribute name): one statement text per count of values (the ORM's compiling cost more)."""
    alias = router.db_for_write(model)  # in the transaction writing the rows
    sql = _present_sql(model, column, len(values), alias)
    with statement_cursor(connections[alias]) as cursor:
        cursor.execute(sql, [*values, account, livemode])
        return {value for (value,) in cursor.fetchall()}


@lru_cache(maxsize=64)
def _present_sql(model: type[models.Model], column: str, count: int, alias: str) -> str:
    connection = connections[alias]
    quote = connection.ops.quote_name
    name = {f.attname: quote(str(f.column)) for f in model._meta.concrete_fields}
    marks = ", ".join(["%s"] * count)
    scope = f"{equals(connection, name['account'], 'account')} AND {name['livemode']} = %s"
    table = quote(model._meta.db_table)
    return f"SELECT {name[column]} FROM {table} WHERE {name[column]} IN ({marks}) AND {scope}"  # noqa: S608


def mark_missing(
    model: type[models.Model],
    parent: tuple[str, Sequence[str]],
    keep: Sequence[str],
    *,
    account: str,
    livemode: bool,
    when: Any,
) -> None:
    """Mark deleted (at ``when``) the live rows of ``model`` whose ``parent`` column (an
    attribute name, and parent ids) names one of the parents, written by events of ``when``
    or older, whose ``stripe_id`` is not in ``keep``: children missing from complete lists.
    One statement text per count of parents and kept ids (the ORM compiled this UPDATE for
    every invoice event: a tenth of the default path's CPU)."""
    column, parent_ids = parent
    if not parent_ids:
        return
    alias = router.db_for_write(model)
    connection = connections[alias]
    moment = prepare(model._meta.get_field("deleted_at"), when, connection)
    params = [True, moment, *parent_ids, account, livemode, False, moment, *keep]
    sql = _mark_missing_sql(model, column, len(parent_ids), len(keep), alias)
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, params)


@lru_cache(maxsize=256)
def _mark_missing_sql(
    model: type[models.Model], parent: str, parents: int, kept: int, alias: str
) -> str:
    connection = connections[alias]
    quote = connection.ops.quote_name
    column = {f.attname: quote(str(f.column)) for f in model._meta.concrete_fields}
    marks = ", ".join(["%s"] * parents)
    where = (
        f"{column[parent]} IN ({marks}) AND {equals(connection, column['account'], 'account')}"
        f" AND {column['livemode']} = %s AND {column['deleted']} = %s"
        f" AND {column['event_created']} <= %s"
    )
    if kept:
        where += f" AND NOT ({column['stripe_id']} IN ({', '.join(['%s'] * kept)}))"
    table = quote(model._meta.db_table)
    sets = f"{column['deleted']} = %s, {column['deleted_at']} = %s"
    return f"UPDATE {table} SET {sets} WHERE {where}"  # noqa: S608 (identifiers only)


def insert_new(row: models.Model, *, using: str | None = None) -> bool | None:
    """INSERT ``row`` unless a row with the same unique key exists (``ON CONFLICT DO
    NOTHING``): True if inserted (``row.pk`` is set), False if not. None on databases without
    that statement and ``RETURNING`` (MySQL, MariaDB): the caller saves with the ORM."""
    model = type(row)
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor not in ("postgresql", "sqlite"):
        return None
    fields = _insert_fields(model)
    params = [prepare(f, f.pre_save(row, True), connection) for f in fields]
    with statement_cursor(connection) as cursor:
        cursor.execute(_insert_sql(model, alias), params)
        inserted = cursor.fetchone()
    if inserted is None:
        return False
    row.pk = inserted[0]
    row._state.adding = False
    row._state.db = alias
    return True


def insert_many(rows: list[M], *, using: str | None = None) -> list[M] | None:
    """INSERT ``rows`` (of one model) in one statement, skipping those whose unique key
    exists (``ON CONFLICT DO NOTHING``): the rows inserted, their ``pk`` set. None on
    databases without that statement and ``RETURNING`` (MySQL, MariaDB)."""
    if not rows:
        return []
    model = type(rows[0])
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor not in ("postgresql", "sqlite"):
        return None
    document = _as_json(rows, connection) if connection.vendor == "postgresql" else None
    with statement_cursor(connection) as cursor:
        if document is not None:
            cursor.execute(_insert_json_sql(model, alias), [document])
        else:
            fields = _insert_fields(model)
            params = [prepare(f, f.pre_save(row, True), connection) for row in rows for f in fields]
            cursor.execute(_insert_many_sql(model, alias, len(rows)), params)
        returned = cursor.fetchall()
    return _inserted(rows, returned, alias)


def _inserted(rows: list[M], returned: list[tuple[Any, Any]], alias: str) -> list[M]:
    # Rows of one listing page: one account, mode and type, so their ids are their keys.
    by_id = {getattr(row, "stripe_id", None): row for row in rows}
    inserted = []
    for pk, stripe_id in returned:
        row = by_id[stripe_id]
        row.pk = pk
        row._state.adding = False
        row._state.db = alias
        inserted.append(row)
    return inserted


@cache
def _insert_many_sql(model: type[models.Model], alias: str, count: int) -> str:
    head, _, _ = _insert_sql(model, alias).partition(" VALUES ")
    values = "(" + ", ".join(["%s"] * len(_insert_fields(model))) + ")"
    return f"{head} VALUES {', '.join([values] * count)} {_returning_keys(model, alias)}"


def _as_json(rows: Sequence[models.Model], connection: Any) -> str | None:
    """``rows`` as one JSON array of objects keyed by column, the values as the fields
    prepare them (JSON fields' as they are): the text ``json_populate_recordset`` reads. None
    when a value has no JSON form that PostgreSQL would read back the same (a duration,
    bytes, a JSON field with an encoder of its own): the caller binds each value instead."""
    fields = _insert_fields(type(rows[0]))
    if any(type(f) is not models.JSONField and isinstance(f, models.JSONField) for f in fields):
        return None
    if any(type(f) is models.JSONField and f.encoder is not None for f in fields):
        return None
    records = []
    for row in rows:
        record = {}
        for f in fields:
            value = f.pre_save(row, True)
            if type(f) is not models.JSONField:
                value = f.get_db_prep_save(value, connection)
            record[f.column] = value
        records.append(record)
    try:
        return orjson.dumps(records, default=_decimal).decode()
    except TypeError:
        return None


def _decimal(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)  # numeric's text form: read back exactly
    raise TypeError(type(value).__name__)


@cache
def _insert_json_sql(model: type[models.Model], alias: str) -> str:
    # The page's rows as one JSON document: the statement's text is the same for every page,
    # so neither psycopg nor PostgreSQL parses a 44-parameters-a-row VALUES list each time.
    quote = connections[alias].ops.quote_name
    head, _, _ = _insert_sql(model, alias).partition(" VALUES ")
    columns = ", ".join(quote(f.column) for f in _insert_fields(model))
    table = quote(model._meta.db_table)
    return (
        f"{head} SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s::json) "  # noqa: S608
        f"{_returning_keys(model, alias)}"
    )


def _returning_keys(model: type[models.Model], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    pk = model._meta.pk
    assert pk is not None
    assert pk.column is not None
    return f"ON CONFLICT DO NOTHING RETURNING {quote(pk.column)}, {quote('stripe_id')}"


@cache
def _insert_fields(model: type[models.Model]) -> tuple[Any, ...]:
    return tuple(f for f in model._meta.concrete_fields if f is not model._meta.pk)


@cache
def _insert_sql(model: type[models.Model], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    fields = _insert_fields(model)
    columns = ", ".join(quote(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    pk = model._meta.pk
    assert pk is not None
    assert pk.column is not None
    table = quote(model._meta.db_table)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT DO NOTHING RETURNING {quote(pk.column)}"
    )
