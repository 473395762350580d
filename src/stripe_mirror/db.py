"""Foundation: what the inbox & dispatch (stage 3) and the sync (stage 5) must share.

- ``equals``: how the sync and the links compare the ``account`` column (never through the
  index on it alone).
- ``lock_order``: the one order in which every transaction takes row locks on the rows of
  Stripe objects, so that a worker's batch and a link pass wait for each other instead of
  deadlocking.
- ``cursor``: the cursor the library's own statements run on, one per connection, made
  once and used again (Django makes a new one for each ``connection.cursor()``, which cost
  more CPU than running a small statement: docs/benchmarks.md).
- ``update``, ``save_fields`` and ``prepare``: write a row's fields without building the
  statement with the ORM each time. The processor and the sync write a row or two for every
  event; the ORM spends about half a millisecond compiling each such statement, more than
  the database takes to run it. The statement text is kept per (model, columns, database)
  and values go through the fields' own ``pre_save`` and ``get_db_prep_save``, as
  ``Model.save()`` does; JSON is encoded with orjson (several times faster than the standard
  library for a Stripe object). Unlike ``save()``, no ``pre_save``/``post_save`` signals are
  sent (docs/mirror.md: react to changes with event handlers).

Imports only Django and the models' fields: nothing of any stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

import orjson
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

from . import prepared, session_cursor

T = TypeVar("T")

#: Attribute of a database connection: its cursor for the library's statements, with the
#: driver connection and the query-logging state it was made for.
_CURSOR = "_stripe_mirror_cursor"
#: The same, for the cursor that binds on the server (``prepared.py``).
_BOUND = "_stripe_mirror_bound_cursor"


def _checked(connection: BaseDatabaseWrapper) -> bool:
    return bool(getattr(connection, "health_check_done", True))


@contextmanager
def cursor(connection: BaseDatabaseWrapper, *, text: bool = False) -> Iterator[Any]:
    """A cursor of ``connection`` (Django's ``CursorWrapper``, whose ``execute`` translates
    errors and checks the transaction as always) for statements whose results are read at
    once, inside the ``with``: the one made for this connection before, unless the
    connection was made again (closed, reconnected), query logging was switched on or off
    since (``CaptureQueriesContext``, ``DEBUG``), or the connection is due its health check
    (``CONN_HEALTH_CHECKS``, at a request's first statement); then a new one. Unlike
    ``connection.cursor()``, it is not closed on leaving (nor ever: it goes with its driver
    connection). On PostgreSQL it binds on the server and prepares (``prepared.py``);
    ``text``: a statement list sent as one text (bound on the client, as Django binds)."""
    bound = not text and prepared.enabled(connection)
    attribute = _BOUND if bound else _CURSOR
    made = getattr(connection, attribute, None)
    driver = connection.connection
    if (
        made is None
        or driver is None
        or made[0] is not driver
        or made[1] != connection.queries_logged
        # CONN_HEALTH_CHECKS: the first cursor of a request checks the connection first.
        or (getattr(connection, "health_check_enabled", False) and not _checked(connection))
    ):
        wrapper = session_cursor.bound_cursor(connection) if bound else connection.cursor()
        made = (connection.connection, connection.queries_logged, wrapper)
        setattr(connection, attribute, made)
    yield made[2]


def run_each(
    connection: BaseDatabaseWrapper, statements: list[tuple[str, list[Any]]]
) -> list[list[tuple[Any, ...]]]:
    """Run ``statements`` in order in the current transaction and return each one's rows: on
    PostgreSQL (``SessionCursor``) all in one message, one round trip; elsewhere, or with
    execute wrappers (each statement then goes through them), one by one. Logged queries
    (``DEBUG``, ``CaptureQueriesContext``) do not list a message's statements."""
    assert connection.in_atomic_block, "run_each runs in a transaction"
    with cursor(connection) as statement:
        inner = statement.cursor
        if hasattr(inner, "execute_each") and not connection.execute_wrappers:
            connection.validate_no_broken_transaction()
            with connection.wrap_database_errors:
                found: list[list[tuple[Any, ...]]] = inner.execute_each(statements)
                return found
        found = []
        for sql, params in statements:
            statement.execute(sql, params)
            found.append(list(statement.fetchall()))
        return found


def _nothing(item: object) -> tuple[()]:
    return ()


def lock_order(
    items: Iterable[T],
    object_of: Callable[[T], tuple[str, str]],
    *,
    then: Callable[[T], Any] = _nothing,
) -> list[T]:
    """``items`` in the order in which rows of Stripe objects are locked: by object type
    (``"charge"`` < ``"invoice"`` < ``"payment_intent"``), then by object id, both in code
    point order (Python's string order; SQL statements locking by id sort with a binary
    collation to match), then by ``then`` among the items of one object.

    Every transaction that locks more than one such row takes its locks in this order: a
    worker's batch (``processing._lock_order``) and a pass recomputing payment links
    (``sync.links``). Two of them may then wait for each other, but never deadlock (a
    deadlock costs both a second before the database notices it)."""
    return sorted(items, key=lambda item: (*object_of(item), then(item)))


def save_fields(
    row: models.Model, fields: Iterable[str], *, using: str | None = None, ending: bool = False
) -> None:
    """Write the given fields of ``row`` (attribute names; ``auto_now`` fields are refreshed
    as ``save()`` does); ``ending`` as ``update``'s."""
    meta = type(row)._meta
    values = {}
    for name in fields:
        field = meta.get_field(name)
        values[field.attname] = field.pre_save(row, False)  # type: ignore[union-attr]
    update(type(row), row.pk, values, using=using, ending=ending)


def update(
    model: type[models.Model],
    pk: Any,
    values: Mapping[str, Any],
    *,
    using: str | None = None,
    ending: bool = False,
) -> None:
    """UPDATE the row ``pk`` of ``model`` with ``values`` (attribute name -> Python value).

    ``ending``: the caller runs nothing else in its transaction, whose atomic block it leaves
    next. Where that block is the outermost one (``_may_end``), the UPDATE carries the
    ``COMMIT`` in its message (``SessionCursor``), one round trip less; Django's commit on
    leaving the block then finds nothing to commit, and runs the ``on_commit`` callbacks."""
    if not values:
        return
    alias = using or router.db_for_write(model)
    connection = connections[alias]
    names = tuple(values)
    fields = _fields(model, names)
    params = [prepare(f, values[f.attname], connection) for f in fields]
    params.append(pk)
    sql = _sql(model, names, connection.vendor, alias)
    with cursor(connection) as statement:
        if ending and _may_end(connection, statement.cursor):
            connection.validate_no_broken_transaction()
            with connection.wrap_database_errors:
                statement.cursor.execute(sql, params, commit=True)
            return
        statement.execute(sql, params)


def _may_end(connection: BaseDatabaseWrapper, inner: Any) -> bool:
    """Whether a statement may commit the transaction it runs in: on a ``SessionCursor``, in
    the outermost atomic block (not in a site's transaction or a test's, nor under a
    savepoint), with nothing to roll back, and no execute wrapper or query log that would
    miss the ``COMMIT``."""
    return (
        isinstance(inner, session_cursor.SessionCursor)
        and connection.in_atomic_block
        and connection.commit_on_exit
        and len(connection.atomic_blocks) == 1
        and not connection.savepoint_ids
        and not connection.needs_rollback
        and not connection.execute_wrappers
        and not connection.queries_logged
    )


def prepare(field: Any, value: Any, connection: BaseDatabaseWrapper) -> Any:
    """``field.get_db_prep_save(value)``, with JSON encoded by orjson where the field has no
    encoder of its own (values orjson cannot encode fall back to the field)."""
    if value is not None and type(field) is models.JSONField and field.encoder is None:
        try:
            text = orjson.dumps(value).decode()
        except TypeError:
            return field.get_db_prep_save(value, connection)
        if connection.vendor == "postgresql":
            driver = getattr(getattr(connection, "Database", None), "__name__", "")
            if driver != "psycopg":  # psycopg2 has its own JSON adapter
                return field.get_db_prep_save(value, connection)
            from psycopg.types.json import Jsonb

            return Jsonb(value, dumps=lambda _: text)
        return text
    return field.get_db_prep_save(value, connection)


def equals(connection: BaseDatabaseWrapper, column: str, attname: str) -> str:
    """``column = %s``; for the ``account`` column, on PostgreSQL, compared under the "C"
    collation (the same equality): then the index on ``account`` alone cannot serve it. A
    planner without statistics (a new table, autovacuum off) costs that index the same as
    the key's and may pick it, which in a one-account mirror reads every row of the table:
    one full read per event. The key's index (``stripe_id`` first) or a parent's stays."""
    if attname == "account" and connection.vendor == "postgresql":
        return f'{column} COLLATE "C" = %s'
    return f"{column} = %s"


@cache
def _fields(model: type[models.Model], attnames: tuple[str, ...]) -> tuple[Any, ...]:
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    return tuple(by_attname[name] for name in attnames)


@cache
def _sql(model: type[models.Model], attnames: tuple[str, ...], vendor: str, alias: str) -> str:
    quote = connections[alias].ops.quote_name
    fields = _fields(model, attnames)
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    pk = model._meta.pk
    assert pk is not None
    assert pk.column is not None
    table = quote(model._meta.db_table)
    return f"UPDATE {table} SET {assignments} WHERE {quote(pk.column)} = %s"  # noqa: S608 (identifiers only)
