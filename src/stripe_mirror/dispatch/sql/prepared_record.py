"""The webhook's bounded record on PostgreSQL as ``EXECUTE`` of an upsert prepared on the
session (``PREPARED_STATEMENTS``, docs/operations.md "Databases"). ``RECORD_TIMEOUT``'s
``SET LOCAL``s and the upsert travel in one client-side text, which cannot be a prepared
statement of the protocol; an SQL ``PREPARE``, made by the first record of each connection
in that same text, lets PostgreSQL parse and plan only the ``EXECUTE`` afterwards."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import ProgrammingError

from ... import prepared


def steady() -> bool:
    """False once the prepared upsert was found lost too often (``_Losses``)."""
    return _losses.steady()


#: Sends a statement list with its parameters, and returns its last result's row.
Run = Callable[[Any, str, list[Any]], tuple[Any, ...]]


def upsert(
    connection: Any, params: list[Any], milliseconds: int, *, sql: str, whole: str, run: Run
) -> tuple[Any, ...]:
    """The bounded statement list with the upsert prepared on the session (``PREPARE``, in the
    first record's list on each connection, under the same bounds; ``PREPARED_STATEMENTS``):
    PostgreSQL then parses and plans only the ``EXECUTE``. A session that lost it (a
    ``DEALLOCATE ALL``) has it prepared again in the same list; losses that keep coming (a
    pooler handing each transaction to any session) send the upsert whole from then on
    (``whole``: the bounded list with ``sql``, the upsert, in it)."""
    connection.ensure_connection()
    while _losses.steady():
        fresh = getattr(connection, _PREPARED_ON, None) is not connection.connection
        text = _bounded_execute(sql, milliseconds, prepare=fresh)
        try:
            row = run(connection, text, params)
        except ProgrammingError as exc:
            if prepared.taken(exc):  # on this session already (same name, same text)
                setattr(connection, _PREPARED_ON, connection.connection)
                continue
            if not prepared.lost(exc):
                raise
            setattr(connection, _PREPARED_ON, None)
            if _losses.count():
                prepared.logger.warning(
                    "the prepared record was lost %d times in %d s: is a pooler in transaction "
                    "mode in between? stripe_mirror sends the record whole from now on in this "
                    "process",
                    len(_losses.times),
                    _losses.WINDOW,
                )
            continue
        setattr(connection, _PREPARED_ON, connection.connection)
        return row
    return run(connection, whole, params)


#: The records' losses (a pooler's sessions never saw the upsert), apart from the other
#: statements': the record falls back to its whole text, not to Django's cursor.
_Losses = prepared.Losses
_losses = _Losses()
#: Attribute of a database connection: the driver connection the upsert was prepared on.
_PREPARED_ON = "_stripe_mirror_record_prepared_on"


@cache
def name(sql: str) -> str:
    """The prepared upsert's name, which names its text: two versions of the library on one
    session (a pooler's) cannot take each other's."""
    digest = hashlib.sha256(sql.encode()).hexdigest()[:12]
    return f"stripe_mirror_record_{digest}"


def _numbered(sql: str) -> str:
    """``%s`` placeholders as ``$1``, ``$2``, ... (the text holds no other ``%``)."""
    parts = sql.split("%s")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


@cache
def _bounded_execute(sql: str, milliseconds: int, *, prepare: bool) -> str:
    marks = ", ".join(["%s"] * sql.count("%s"))
    made = f"PREPARE {name(sql)} AS {_numbered(sql)}; " if prepare else ""
    return (
        f"SET LOCAL lock_timeout = {milliseconds:d}; "
        f"SET LOCAL statement_timeout = {milliseconds:d}; "
        f"{made}EXECUTE {name(sql)}({marks})"
    )
