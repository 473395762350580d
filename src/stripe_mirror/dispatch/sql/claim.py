"""The claim of one event, the statement every processed event starts with.

What ``InboxEvent.objects.select_for_update(skip_locked=True).filter(...).first()`` says, as
one statement text per database built once: compiling that queryset cost more CPU than the
database spent answering it (a fifth of the default path's, measured: docs/benchmarks.md).
The row is built as the ORM builds it (``Model.from_db`` and each column's converters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connections
from django.db.models import Field

from ...db import cursor as statement_cursor
from ...events import EventKind
from ...models import DUE_STATUSES, InboxEvent

Converter = Callable[[Any, Any, Any], Any]


def claim_due_v1(alias: str, pk: int, now: datetime) -> InboxEvent | None:
    """The event ``pk``, locked (skipping it when another transaction holds it), if it is due
    and not a thin event. SQLite: the caller holds the database's write lock."""
    connection = connections[alias]
    sql, fields = _claim_sql(alias)
    params: list[Any] = [pk, *(s.value for s in DUE_STATUSES), EventKind.THIN.value]
    params.append(connection.ops.adapt_datetimefield_value(now))
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    if found is None:
        return None
    values = list(found)
    for index, col, converters in _converters(alias):
        for converter in converters:
            values[index] = converter(values[index], col, connection)
    return InboxEvent.from_db(alias, [f.attname for f in fields], values)


@lru_cache(maxsize=8)
def _converters(alias: str) -> tuple[tuple[int, Any, Sequence[Converter]], ...]:
    """The columns whose values the ORM converts when it reads them (JSON, on some databases
    datetimes and booleans), with their converters."""
    connection = connections[alias]
    found = []
    for index, field in enumerate(_claim_sql(alias)[1]):
        col = field.get_col(InboxEvent._meta.db_table)
        converters = (*connection.ops.get_db_converters(col), *field.get_db_converters(connection))
        if converters:
            found.append((index, col, converters))
    return tuple(found)


@lru_cache(maxsize=8)
def _claim_sql(alias: str) -> tuple[str, tuple[Field[Any, Any], ...]]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = tuple(f for f in InboxEvent._meta.concrete_fields if isinstance(f, Field))
    names = ", ".join(quote(str(f.column)) for f in fields)
    meta = InboxEvent._meta
    skip_locked = connection.features.has_select_for_update_skip_locked
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    statuses = ", ".join(["%s"] * len(DUE_STATUSES))
    pk, status, kind, due = (_column(n, quote) for n in ("id", "status", "kind", "next_attempt_at"))
    sql = (
        f"SELECT {names} FROM {quote(meta.db_table)}"  # noqa: S608 - names from the model
        f" WHERE {pk} = %s AND {status} IN ({statuses})"
        f" AND {kind} <> %s AND {due} <= %s{lock}"
    )
    return sql, fields


def _column(name: str, quote: Callable[[str], str]) -> str:
    field = InboxEvent._meta.get_field(name)
    assert isinstance(field, Field)
    return quote(str(field.column))
