"""Foundation: the library's own statements on PostgreSQL (psycopg 3), prepared on the
session and sent as short texts (``PREPARED_STATEMENTS``, docs/operations.md "Databases").

Django binds parameters on the client by default: each statement reaches PostgreSQL as a new
text, which it parses, analyses and plans again, every time (about half of its CPU on the
webhook's path: docs/benchmarks.md). The library's statements are a few fixed texts, run
thousands of times a connection. ``bound_cursor`` gives them a cursor of their own
(``SessionCursor``) that prepares each text on the session the first time it runs there
(``PREPARE``, in the same message) and from then on sends only ``EXECUTE name(values)``:
PostgreSQL plans it once, and then only parses that short text. The message that opens a
transaction carries its ``BEGIN`` too: one round trip where psycopg would make two. Django's
own statements (the ORM's, the site's) keep the connection's settings.

Prepared statements belong to one server session, and psycopg is left to prepare none of its
own (it would drop ours with its ``DEALLOCATE ALL`` after a rollback): a site whose
``OPTIONS`` set psycopg's ``prepare_threshold`` gets Django's cursors for the library's
statements too. A statement found lost (a ``DISCARD ALL``; a pooler in transaction mode,
which hands each transaction to any session) is prepared again: outside a transaction at
once, inside one by the next attempt (its transaction is aborted; the attempt is retried,
nothing is lost). Losses that keep coming mean a pooler: the library stops preparing for the
rest of the process and says so once in the log. A site behind such a pooler says so with
``DISABLE_SERVER_SIDE_CURSORS`` (as Django asks) or turns this off with
``PREPARED_STATEMENTS: False``.

Imports Django and psycopg only; nothing of any stage.
"""

from __future__ import annotations

import logging
import time

from django.db.backends.base.base import BaseDatabaseWrapper

from . import conf

logger = logging.getLogger("stripe_mirror.db")

#: Set once prepared statements failed on this process's connections (a pooler).
_gave_up = False


def enabled(connection: BaseDatabaseWrapper) -> bool:
    """Whether the library's statements get a ``SessionCursor`` on ``connection``: PostgreSQL
    with psycopg 3, binding on the client, psycopg preparing nothing of its own (no
    ``prepare_threshold``), no pooler said, the setting on, and no failure seen."""
    if connection.vendor != "postgresql" or _gave_up:
        return False
    if getattr(getattr(connection, "Database", None), "__name__", "") != "psycopg":
        return False
    settings = connection.settings_dict
    options = settings.get("OPTIONS", {})
    if options.get("server_side_binding") is True or options.get("prepare_threshold") is not None:
        return False
    return not settings.get("DISABLE_SERVER_SIDE_CURSORS") and conf.prepared_statements()


class Losses:
    """Prepared statements this process found lost: one now and then is a ``DISCARD ALL`` or
    a ``DEALLOCATE ALL``; more than ``LIMIT`` within ``WINDOW`` seconds is a pooler."""

    LIMIT = 3
    WINDOW = 60.0

    def __init__(self) -> None:
        self.times: list[float] = []
        self.given_up = False

    def steady(self) -> bool:
        return not self.given_up

    def count(self) -> bool:
        """Count one loss; True when it is one too many (the first time only)."""
        now = time.monotonic()
        self.times = [t for t in self.times if now - t < self.WINDOW] + [now]
        if len(self.times) <= self.LIMIT or self.given_up:
            return False
        self.given_up = True
        return True


_losses = Losses()


def lost(exc: BaseException) -> bool:
    """Whether ``exc`` (Django's error, or psycopg's) says a prepared statement is missing."""
    return _sqlstate(exc) == "26000"


def taken(exc: BaseException) -> bool:
    """Whether ``exc`` says a prepared statement of that name exists already."""
    return _sqlstate(exc) == "42P05"


def _sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return getattr(cause, "sqlstate", None)


def give_up(exc: Exception) -> None:
    global _gave_up  # noqa: PLW0603 (one switch for the process)
    if not _gave_up:
        _gave_up = True
        logger.warning(
            "prepared statements failed on this connection (%s): is a pooler in transaction "
            "mode in between? stripe_mirror stops preparing its statements in this process; "
            "set DISABLE_SERVER_SIDE_CURSORS on the database, or STRIPE_MIRROR"
            '["PREPARED_STATEMENTS"] = False, to say so',
            exc,
        )
