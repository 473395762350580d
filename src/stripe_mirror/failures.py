"""Describe a failure for logs and ``InboxEvent.last_error`` without the data it was about.

A database error's message quotes the statement and the values it refused: PostgreSQL's
``LINE 1: ... VALUES ('in_...', E'{"accoun...`` and ``DETAIL``/``CONTEXT: JSON data ...``,
MariaDB's ``Duplicate entry 'a@example.com' for key ...``. Those are customers' data, and
logs and the admin are read by more people than the database. So a database error is
described by its class and the code the database gave it: PostgreSQL's SQLSTATE
(``23505``), MySQL/MariaDB's error number (``1062``), SQLite's result code name
(``SQLITE_CONSTRAINT_UNIQUE``); its message and the messages of the errors it was raised
from are left out. Other exceptions are described as before, by their message: the
handler's author chose it.
"""

from __future__ import annotations

import sqlite3
import traceback

from django.db import DatabaseError


def describe(error: BaseException) -> str:
    """One line about ``error``, safe to log: ``str(error)``, or for a database error its
    class and code (``IntegrityError (SQLSTATE 23505)``)."""
    if not isinstance(error, DatabaseError) or error.__cause__ is None:
        return str(error)  # not from the database driver: Django's own words, or a handler's
    return f"{type(error).__name__} ({_code(error)}); the message is not shown: it may quote data"


def format_traceback(error: BaseException) -> str:
    """``error``'s traceback: as ``traceback.format_exception`` for most exceptions; for a
    database error, its frames and ``describe(error)``, without the chained driver errors
    (the same message again)."""
    if not isinstance(error, DatabaseError) or error.__cause__ is None:
        return "".join(traceback.format_exception(error))
    frames = "".join(traceback.format_tb(error.__traceback__))
    name = f"{type(error).__module__}.{type(error).__qualname__}"
    return f"Traceback (most recent call last):\n{frames}{name}: {describe(error)}\n"


def _code(error: DatabaseError) -> str:
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None)  # psycopg 3
    if sqlstate is None:
        sqlstate = getattr(cause, "pgcode", None)  # psycopg2
    if isinstance(sqlstate, str):
        return f"SQLSTATE {sqlstate}"
    if isinstance(cause, sqlite3.Error):
        return str(getattr(cause, "sqlite_errorname", "") or "SQLite error")
    args = getattr(cause, "args", ())
    if args and isinstance(args[0], int):  # MySQLdb: (code, message)
        return f"error {args[0]}"
    return "no error code"
