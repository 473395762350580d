"""Foundation: ``SessionCursor``, the cursor the library's own statements run on with
PostgreSQL and psycopg 3 (``prepared.py`` says when, and why).

Each statement text is prepared on the session by its first run there (``PREPARE``, in the
same message), then sent as ``EXECUTE name(values)``, its values written as psycopg's
client-side cursor writes them. A statement that opens a transaction carries its ``BEGIN``:
one round trip where psycopg sends two. Rows are loaded with the connection's own loaders.

Imports psycopg (lazily) and ``prepared`` only.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from . import prepared
from . import session_texts as texts


def bound_cursor(connection: BaseDatabaseWrapper) -> Any:
    """Django's cursor wrapper of ``connection`` (its error translation, query logging and
    execute wrappers) around a ``SessionCursor``."""
    from psycopg.adapt import AdaptersMap

    wrapper = connection.cursor()
    driver = connection.connection
    assert driver is not None
    adapters = AdaptersMap(wrapper.cursor.adapters)
    _timestamps(wrapper.cursor, adapters, driver)
    wrapper.cursor.close()
    wrapper.cursor = SessionCursor(driver, adapters)
    return wrapper


def _timestamps(made_by_django: Any, adapters: Any, driver: Any) -> None:
    """The ``timestamptz`` loader of ``adapters``: psycopg's own (in C with psycopg's binary
    or C implementation) where it gives what Django's gives, else Django's.

    Django loads ``timestamptz`` with a Python subclass of psycopg's Python loader that sets
    its time zone on each value (``BaseTzLoader``): about 5 % of the default path's CPU, for
    the few timestamps of each row read. psycopg's loader gives each value in the session's
    time zone, which Django sets to its own (UTC, or the database's ``TIME_ZONE``): the same
    value and ``tzinfo`` whenever that zone is the one Django's loader sets. Otherwise (naive
    datetimes with ``USE_TZ = False``) Django's loader stays, here as on Django's cursor."""
    import psycopg
    from psycopg.pq import Format

    oid = adapters.types["timestamptz"].oid
    django_loader = made_by_django.adapters.get_loader(oid, Format.TEXT)
    own = psycopg.adapters.get_loader(oid, Format.TEXT)
    zone = getattr(django_loader, "timezone", None)
    if own is not None and zone is not None and zone is driver.info.timezone:
        adapters.register_loader(oid, own)


#: At most this many texts are prepared on one session; more run as plain texts.
PREPARED_MAX = 256

#: The names prepared on each session (psycopg connection).
_SESSIONS: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()


class SessionCursor:
    """What Django's ``CursorWrapper`` needs of a driver cursor (``execute``, ``fetchone``,
    ``fetchall``, ``rowcount``, iteration), for the library's statements: each sent as one
    text, its values as literals (psycopg's own, as its client-side cursor writes them)."""

    def __init__(self, driver: Any, adapters: Any) -> None:
        from psycopg.adapt import Transformer

        self.connection = driver
        self.adapters = adapters
        self._tx = Transformer(self)
        self._names = _SESSIONS.setdefault(driver, set())
        self._rows: list[tuple[Any, ...]] = []
        self._at = 0
        self._result: Any = None
        self._last: tuple[texts.Plan, list[bytes]] = (texts.plan("", False), [])
        self.rowcount = -1

    def execute(
        self, query: str, params: Sequence[Any] | None = None, *, commit: bool = False
    ) -> SessionCursor:
        """Run ``query``; ``commit``: end the transaction with it, ``COMMIT`` in the same
        message (``db.update``'s ``ending``: its caller knows the transaction is done). A
        failed ``COMMIT`` (a deferred constraint) is raised as the statement's error."""
        plan = texts.plan(query, params is not None)
        values = [self._tx.as_literal(v) for v in params or ()]
        if len(values) != len(plan.pieces) - 1:
            import psycopg

            raise psycopg.ProgrammingError(
                f"the query has {len(plan.pieces) - 1} placeholders but {len(values)} "
                "parameters were passed"
            )
        self._last = (plan, values)
        with self.connection.lock:
            self._take(self._run(plan, values, commit=commit))
        return self

    def execute_each(
        self, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[tuple[Any, ...]]]:
        """Run ``statements`` in order, in one message (each prepared as ``execute`` does),
        and return each one's rows. Inside a transaction only (an error aborts it: nothing
        is run again here), so that they run in it, in that order."""
        from psycopg import errors

        parts: list[tuple[texts.Plan, list[bytes], bool]] = []
        for query, params in statements:
            plan = texts.plan(query, True)
            values = [self._tx.as_literal(v) for v in params]
            sending = plan.name not in self._names and not prepared._gave_up
            parts.append((plan, values, sending and len(self._names) < PREPARED_MAX))
        with self.connection.lock:
            sent = self._send_each(parts)
            answers = iter(sent)
            found: list[list[tuple[Any, ...]]] = []
            for plan, _, prepare in parts:
                if prepare and _ok(next(answers, None)):
                    self._names.add(plan.name)
                result = next(answers, None)
                if result is None or result.status == _FATAL_ERROR:
                    exc = errors.error_from_result(sent[-1], encoding=self.connection.info.encoding)
                    self._recovered(plan, exc, known=not prepare)  # the next attempt prepares
                    raise exc
                self._take(result)
                found.append(self.fetchall())
        return found

    def _send_each(self, parts: list[tuple[texts.Plan, list[bytes], bool]]) -> list[Any]:
        driver = self.connection
        pgconn = driver.pgconn
        message = []
        if not driver.autocommit and pgconn.transaction_status == _IDLE:
            message.append(texts.begin(driver))
        for plan, values, prepare in parts:
            message.append(
                texts.execution(plan, values, prepare=prepare, named=plan.name in self._names)
            )
            message.append(b"; ")
        pgconn.send_query(b"".join(message))
        results: list[Any] = driver.wait(_execute(pgconn))
        return results[1:] if len(message) > 2 * len(parts) else results

    @property
    def _query(self) -> texts.Sent:
        """The last statement as it ran, with its values (what Django logs of a cursor)."""
        plan, values = self._last
        return texts.Sent(texts.inline(plan, values))

    def _run(self, plan: texts.Plan, values: list[bytes], *, commit: bool = False) -> Any:
        """The statement's result, sent prepared (and prepared first) if it can be; once
        more when it failed on a session that lost its preparation, outside a transaction.
        With ``commit``, a failed statement leaves the ``COMMIT`` unrun (the message's rest
        is skipped): the last result is the first error either way."""
        from psycopg import errors

        for _ in range(3):
            prepare = plan.name not in self._names
            sending = prepare and not prepared._gave_up and len(self._names) < PREPARED_MAX
            sent, at = self._send(plan, values, prepare=sending, commit=commit)
            if sending and len(sent) > at and _ok(sent[at]):
                self._names.add(plan.name)  # even if its EXECUTE failed: PREPARE stays
            result = sent[-1]
            if result.status != _FATAL_ERROR:
                return sent[-2] if commit else result
            exc = errors.error_from_result(result, encoding=self.connection.info.encoding)
            if not self._recovered(plan, exc, known=not prepare):
                raise exc
        raise exc

    def _recovered(self, plan: texts.Plan, exc: Exception, *, known: bool) -> bool:
        """Whether ``exc`` said the session lost (or already has) the statement, and the
        statement can run again now (no transaction was aborted by it)."""
        if known and prepared.lost(exc):
            self._names.clear()  # a DEALLOCATE ALL, a DISCARD ALL, another session: all gone
            if prepared._losses.count():
                prepared.give_up(exc)
        elif prepared.taken(exc):  # prepared by this library before this process knew the session
            self._names.add(plan.name)
        else:
            return False
        return bool(self.connection.pgconn.transaction_status == _IDLE)

    def _send(
        self, plan: texts.Plan, values: list[bytes], *, prepare: bool, commit: bool = False
    ) -> tuple[list[Any], int]:
        """The results of the message sent, and where the ``PREPARE``'s would be."""
        driver = self.connection
        pgconn = driver.pgconn
        message = []
        if not driver.autocommit and pgconn.transaction_status == _IDLE:
            message.append(texts.begin(driver))  # the transaction Django opened: it starts here
        message.append(
            texts.execution(plan, values, prepare=prepare, named=plan.name in self._names)
        )
        if commit:
            message.append(b"; COMMIT")
        pgconn.send_query(b"".join(message))
        results: list[Any] = driver.wait(_execute(pgconn))
        return results, int(message[0].startswith(b"BEGIN"))

    def _take(self, result: Any) -> None:
        self._at, self._result = 0, result
        self.rowcount = result.command_tuples if result.command_tuples is not None else -1
        if result.status == _TUPLES_OK:
            self._tx.set_pgresult(result)
            self._rows = self._tx.load_rows(0, result.ntuples, tuple)
        else:
            self._rows = []

    @property
    def description(self) -> list[tuple[str]] | None:
        """The columns' names (only: nothing here reads more), or None without rows."""
        result = self._result
        if result is None or result.status != _TUPLES_OK:
            return None
        return [(result.fname(n).decode(),) for n in range(result.nfields)]

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._at = self._rows[self._at :], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())

    def close(self) -> None:
        self._rows = []


def _ok(result: Any) -> bool:
    return result is not None and result.status == _COMMAND_OK


def _load() -> tuple[Any, ...]:
    from psycopg import pq
    from psycopg.generators import execute

    status = pq.ExecStatus
    idle = pq.TransactionStatus.IDLE
    return execute, status.FATAL_ERROR, status.COMMAND_OK, status.TUPLES_OK, idle


with contextlib.suppress(ImportError):  # no psycopg 3: ``enabled`` is False (not "psycopg")
    _execute, _FATAL_ERROR, _COMMAND_OK, _TUPLES_OK, _IDLE = _load()
