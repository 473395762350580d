"""The sync's question to the inbox: "which other recorded snapshots of this object are from
the same second?" (``sync/sources.py``, plugged in by ``apps.py``, so that the sync does not
read the inbox's table)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections, router

from ...db import cursor as statement_cursor
from ...models import InboxEvent
from . import columns


def same_second_snapshots(
    object_type: str,
    object_id: str,
    *,
    account: str,
    livemode: bool,
    created: datetime,
    other_than: str,
) -> list[tuple[str, str, Any]]:
    """(event id, type, body) of the recorded snapshot events about one object in one
    second, but the event ``other_than``. On the hot path of ties: one cached statement."""
    alias = router.db_for_read(InboxEvent)
    connection = connections[alias]
    params: list[Any] = [
        object_id,
        object_type,
        account,
        livemode,
        connection.ops.adapt_datetimefield_value(created),
        other_than,
    ]
    with statement_cursor(connection) as cursor:
        cursor.execute(_tied_sql(alias), params)
        found: list[tuple[str, str, Any]] = cursor.fetchall()
    return found


@cache
def _tied_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    c = columns(alias, _TIE_COLUMNS)
    return (
        f"SELECT {c['stripe_id']}, {c['type']}, {c['body']} "  # noqa: S608
        f"FROM {quote(InboxEvent._meta.db_table)} WHERE {c['object_id']} = %s AND "
        f"{c['object_type']} = %s AND {c['account']} = %s AND {c['livemode']} = %s AND "
        f"{c['created']} = %s AND {c['kind']} = 'snapshot' AND {c['stripe_id']} <> %s"
    )


_TIE_COLUMNS = (
    *("stripe_id", "type", "body", "object_id", "object_type"),
    *("account", "livemode", "created", "kind"),
)
