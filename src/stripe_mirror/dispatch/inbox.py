"""Stage 3a: record a verified event in the durable inbox, deduplicating by event id.

One statement (``sql/record.py``) does the whole job on every supported database: insert the
event, or, when its id is already there (a redelivery, possibly concurrent), count the
delivery and put a failed or dead event back to pending so that it is processed again. The
statement returns the row's state after the write, which tells the caller whether this
delivery was the first (``delivery_count == 1``; exactly one concurrent delivery can see
that) and whether the event still needs processing. ``record_many`` does the same for many
events at once, in the caller's transaction (catch-up records a chunk of listed events so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from django.db import DatabaseError, connections, router
from django.db.models import BooleanField, CharField, Field, IntegerField, TextField
from django.utils import timezone

from .. import conf
from ..events import Envelope, EventKind
from ..logs import event_extra
from ..models import InboxEvent, Status
from .sql import record as sql

logger = logging.getLogger("stripe_mirror.inbox")
T = TypeVar("T")

#: Field types whose values reach the database unchanged by the field's preparation.
_AS_IS = (CharField, TextField, BooleanField, IntegerField)


@dataclass(frozen=True, slots=True)
class Recorded:
    """The inbox row's state right after this delivery was recorded."""

    pk: int
    stripe_id: str
    status: str
    delivery_count: int

    @property
    def first_delivery(self) -> bool:
        return self.delivery_count == 1

    @property
    def needs_processing(self) -> bool:
        return self.status == Status.PENDING


def record(envelope: Envelope, endpoint: str, body: bytes) -> Recorded:
    """Insert the event or count a redelivery. Outside a transaction (the webhook view runs
    it in autocommit, even under ATOMIC_REQUESTS) the row is committed before this returns.

    ``body`` must be the exact bytes that were verified (already checked to be UTF-8).
    Raises django.db.DatabaseError when the database cannot take the write, or not within
    RECORD_TIMEOUT (the bound applies to a record made outside a transaction, as the view's:
    inside the caller's transaction, timeouts are the caller's).
    """
    alias = router.db_for_write(InboxEvent)
    params = _params(envelope, endpoint, body, timezone.now(), connections[alias])
    pk, status, count = _checked_by_use(
        alias, lambda: sql.record(alias, params, conf.record_timeout())
    )
    return Recorded(pk=pk, stripe_id=envelope.id, status=status, delivery_count=count)


def _checked_by_use(alias: str, write: Callable[[], T]) -> T:
    """``write()``, the health check of ``CONN_HEALTH_CHECKS`` done by the write itself.

    Django checks a persistent connection with a ``SELECT 1`` before a request's first
    statement, a round trip on every webhook. The record is that first statement, and it can
    be run again (a second run counts a redelivery at worst): it runs at once, and only when
    it fails on a connection that is no longer usable (the server restarted or ended it) is
    that connection closed and the record run once more on a new one, as the check would
    have done. An error on a usable connection (a timeout, an outage of the new one) is
    raised as it is."""
    connection = connections[alias]
    due = (
        getattr(connection, "health_check_enabled", False)
        and not getattr(connection, "health_check_done", True)
        and connection.connection is not None
        and not connection.in_atomic_block
    )
    if not due:
        return write()
    setattr(connection, "health_check_done", True)  # noqa: B010 - not in the stubs
    try:
        return write()
    except DatabaseError:
        if connection.is_usable():
            raise
        connection.close()
        return write()


def record_many(deliveries: Sequence[tuple[Envelope, bytes]], endpoint: str) -> list[Recorded]:
    """``record`` for each of ``deliveries`` (no event id twice), with as few statements as
    the database takes, in the caller's transaction: call it inside ``transaction.atomic``,
    so that the events are committed together, or none of them. Not bounded by
    RECORD_TIMEOUT (no webhook waits for it). Returns the rows in the order given."""
    alias = router.db_for_write(InboxEvent)
    connection, now = connections[alias], timezone.now()
    rows = [_params(envelope, endpoint, body, now, connection) for envelope, body in deliveries]
    states = {sid: (pk, status, count) for pk, sid, status, count in sql.record_many(alias, rows)}
    recorded = []
    for envelope, _ in deliveries:
        pk, status, count = states[envelope.id]
        recorded.append(Recorded(pk=pk, stripe_id=envelope.id, status=status, delivery_count=count))
    return recorded


def _params(
    envelope: Envelope, endpoint: str, body: bytes, now: datetime, connection: Any
) -> list[Any]:
    """The prepared values of ``sql.RECORD_COLUMNS`` for one delivery."""
    values = _row_values(envelope, endpoint, body.decode("utf-8"), now)
    return [
        values[name] if field is None else field.get_db_prep_save(values[name], connection)
        for name, field in _preparation()
    ]


def _row_values(envelope: Envelope, endpoint: str, text: str, now: datetime) -> dict[str, Any]:
    skip = envelope.kind is EventKind.THIN and not _fetchable(envelope)
    return {
        "stripe_id": envelope.id,
        "kind": envelope.kind.value,
        "type": envelope.type,
        "api_version": envelope.api_version or "",
        "created": envelope.created,
        "livemode": envelope.livemode,
        "account": envelope.account or "",
        "endpoint": endpoint,
        "object_id": envelope.object_id or "",
        "object_type": envelope.object_type or "",
        "body": text,
        "received_at": now,
        "last_received_at": now,
        "status": Status.SKIPPED.value if skip else Status.PENDING.value,
        "next_attempt_at": None if skip else now,
    }


def _fetchable(envelope: Envelope) -> bool:
    """Whether a thin event can be processed: its data is only in Stripe, which takes an API
    key of its mode. Without one it is recorded as skipped, as before thin events were
    processed (docs/handlers.md)."""
    if conf.api_key(envelope.livemode):
        return True
    logger.info(
        "thin event %s (%s) recorded as skipped: no Stripe API key for %s mode to fetch it",
        envelope.id,
        envelope.type,
        "live" if envelope.livemode else "test",
        extra=event_extra(envelope),
    )
    return False


@cache
def _preparation() -> tuple[tuple[str, Field[Any, Any] | None], ...]:
    """Each column with the field whose ``get_db_prep_save`` its value needs (datetimes,
    JSON), or None for text, integers and booleans, which every driver takes as they are:
    preparing those costs a microsecond a column on each webhook and changes nothing."""
    columns = []
    for name in sql.RECORD_COLUMNS:
        field = InboxEvent._meta.get_field(name)
        assert isinstance(field, Field)
        columns.append((name, None if isinstance(field, _AS_IS) else field))
    return tuple(columns)
