"""Foundation: the library's own statements on PostgreSQL (psycopg 3), bound on the server
and prepared (``PREPARED_STATEMENTS``, docs/operations.md "Databases").

Django binds parameters on the client by default: each statement reaches PostgreSQL as a new
text, which it parses, analyses and plans again, every time (about half of its CPU on the
webhook's path: docs/benchmarks.md). The library's statements are a few fixed texts, run
thousands of times a connection: ``bound_cursor`` gives them a cursor of their own that binds
on the server, and psycopg prepares each text from its second use on that connection (planned
once, then only bound and run). Django's own statements (the ORM's, the site's) keep the
connection's settings.

Prepared statements belong to one server session. A pooler in transaction mode (PgBouncer
before 1.21, or without ``max_prepared_statements``) hands each transaction to any server
session, where the name is unknown or taken: the library then stops preparing for the rest of
the process, says so once in the log, and runs a statement outside a transaction again at
once (one inside a transaction fails its attempt, which is retried: nothing is lost). A site
behind such a pooler says so with ``DISABLE_SERVER_SIDE_CURSORS`` (as Django asks) or turns
this off with ``PREPARED_STATEMENTS: False``.

Imports Django and psycopg only; nothing of any stage.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from . import conf

logger = logging.getLogger("stripe_mirror.db")

#: A text is prepared on a connection from this use on (psycopg's ``prepare_threshold``).
PREPARE_THRESHOLD = 1

#: Set once prepared statements failed on this process's connections (a pooler).
_gave_up = False


def enabled(connection: BaseDatabaseWrapper) -> bool:
    """Whether the library's statements get a bound cursor on ``connection``: PostgreSQL with
    psycopg 3, binding on the client (with ``server_side_binding`` the site's own cursors
    already bind on the server, under the site's ``prepare_threshold``), no pooler said, the
    setting on, and no failure seen."""
    if connection.vendor != "postgresql" or _gave_up:
        return False
    if getattr(getattr(connection, "Database", None), "__name__", "") != "psycopg":
        return False
    settings = connection.settings_dict
    if settings.get("OPTIONS", {}).get("server_side_binding") is True:
        return False
    return not settings.get("DISABLE_SERVER_SIDE_CURSORS") and conf.prepared_statements()


def bound_cursor(connection: BaseDatabaseWrapper) -> Any:
    """Django's cursor wrapper of ``connection`` (its error translation, query logging and
    execute wrappers) around a psycopg cursor that binds on the server and prepares."""
    wrapper = connection.cursor()
    driver = connection.connection
    assert driver is not None
    if driver.prepare_threshold is None:  # Django's default: never (only ours bind here)
        driver.prepare_threshold = PREPARE_THRESHOLD
    made = _cursor_class()(driver)
    # Logged queries (DEBUG, CaptureQueriesContext) show a prepared statement's text only if
    # it ran unprepared: psycopg keeps no text for a prepared run.
    made.prepares = not connection.queries_logged
    _timestamps(wrapper.cursor, made)
    wrapper.cursor.close()
    wrapper.cursor = made
    return wrapper


def _timestamps(made_by_django: Any, made: Any) -> None:
    """The ``timestamptz`` loader of ``made``: psycopg's own (in C with psycopg's binary or C
    implementation) where it gives what Django's gives, else Django's.

    Django loads ``timestamptz`` with a Python subclass of psycopg's Python loader that sets
    its time zone on each value (``BaseTzLoader``): about 5 % of the default path's CPU, for
    the few timestamps of each row read. psycopg's loader gives each value in the session's
    time zone, which Django sets to its own (UTC, or the database's ``TIME_ZONE``): the same
    value and ``tzinfo`` whenever that zone is the one Django's loader sets. Otherwise (naive
    datetimes with ``USE_TZ = False``) Django's loader stays, on this cursor as on Django's."""
    from psycopg import adapters
    from psycopg.pq import Format

    oid = made.adapters.types["timestamptz"].oid
    django_loader = made_by_django.adapters.get_loader(oid, Format.TEXT)
    own = adapters.get_loader(oid, Format.TEXT)
    zone = getattr(django_loader, "timezone", None)
    if own is not None and zone is not None and zone is made.connection.info.timezone:
        made.adapters.register_loader(oid, own)
    elif django_loader is not made.adapters.get_loader(oid, Format.TEXT):
        made.adapters.register_loader(oid, django_loader)


_CLASS: Any = None


def _cursor_class() -> Any:
    global _CLASS  # noqa: PLW0603 (made once, on first use: psycopg 3 only)
    if _CLASS is None:
        _CLASS = _make_class()
    return _CLASS


def _make_class() -> Any:
    import psycopg
    from django.db.backends.postgresql import base

    server_binding: Any = base.ServerBindingCursor  # psycopg 3 only: untyped here
    unusable = (psycopg.errors.InvalidSqlStatementName, psycopg.errors.DuplicatePreparedStatement)
    idle = psycopg.pq.TransactionStatus.IDLE

    class PreparingCursor(server_binding):  # type: ignore[misc]
        """Binds on the server; prepared statements, until they fail on this process."""

        prepares = True

        def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
            if _gave_up or not self.prepares:
                options["prepare"] = False
            try:
                return super().execute(query, params, **options)
            except unusable as exc:
                give_up(self.connection, exc)
                if self.connection.info.transaction_status != idle:
                    raise  # the transaction is aborted: its attempt fails, and is retried
                return super().execute(query, params, **{**options, "prepare": False})

    return PreparingCursor


def lost(exc: BaseException) -> bool:
    """Whether ``exc`` (Django's error, or psycopg's) says a prepared statement is missing."""
    return _sqlstate(exc) == "26000"


def taken(exc: BaseException) -> bool:
    """Whether ``exc`` says a prepared statement of that name exists already."""
    return _sqlstate(exc) == "42P05"


def _sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return getattr(cause, "sqlstate", None)


def give_up(driver: Any, exc: Exception) -> None:
    global _gave_up  # noqa: PLW0603 (one switch for the process)
    driver.prepare_threshold = None
    if not _gave_up:
        _gave_up = True
        logger.warning(
            "prepared statements failed on this connection (%s): is a pooler in transaction "
            "mode in between? stripe_mirror stops preparing its statements in this process; "
            "set DISABLE_SERVER_SIDE_CURSORS on the database, or STRIPE_MIRROR"
            '["PREPARED_STATEMENTS"] = False, to say so',
            exc,
        )
