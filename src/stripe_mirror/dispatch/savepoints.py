"""Stage 3e: a user handler's own savepoint, taken only when the handler uses the database.

Each user handler runs so that, when it fails, its database writes and its ``on_commit``
callbacks are undone while the mirror sync and the other handlers keep theirs: what
``transaction.atomic()`` around the handler gives. But many handlers never touch the
database (they log, or hand work to a queue in ``on_commit``), and for them the
``SAVEPOINT`` / ``RELEASE SAVEPOINT`` pair is two round trips per event for nothing: with
three such handlers, half the statements a worker sends. ``HandlerSavepoint`` creates the
savepoint just before the handler's first statement through Django (an execute wrapper on
the connection), and otherwise behaves as ``atomic()`` does around it:

- the handler raises: its writes are rolled back to the savepoint (if it made one), and the
  ``on_commit`` callbacks it registered are dropped;
- the handler leaves the transaction marked for rollback (``transaction.set_rollback(True)``,
  or a database error it caught in an ``atomic(savepoint=False)`` block): the same, without
  an error, as ``atomic()`` does;
- otherwise the savepoint is released.

Statements a handler sends around Django (a raw driver connection) are not seen: they would
run without a savepoint of their own.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from django.db import connections


class HandlerSavepoint:
    """``with HandlerSavepoint(alias): handler(event)`` (see the module's docstring)."""

    __slots__ = ("_connection", "_mark", "_sid", "_started")

    def __init__(self, alias: str) -> None:
        self._connection = connections[alias]
        self._sid: str | None = None
        self._started = False
        self._mark = 0

    def __enter__(self) -> HandlerSavepoint:
        connection = self._connection
        self._mark = len(connection.run_on_commit)
        connection.execute_wrappers.append(self._before_statement)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection = self._connection
        connection.execute_wrappers.remove(self._before_statement)
        if exc_type is None and not connection.needs_rollback:
            if self._sid is not None:
                connection.savepoint_commit(self._sid)
            return
        connection.needs_rollback = False  # this block is where the rollback happens
        if self._sid is not None:
            connection.savepoint_rollback(self._sid)
        del connection.run_on_commit[self._mark :]

    @property
    def used_database(self) -> bool:
        """Whether the handler sent a statement (and so has a savepoint)."""
        return self._started

    def _before_statement(
        self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]
    ) -> Any:
        if not self._started:
            self._started = True  # before: creating the savepoint runs a statement too
            self._sid = self._connection.savepoint()
        return execute(sql, params, many, context)
