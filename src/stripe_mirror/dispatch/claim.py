"""Stage 3: claim inbox events for processing, and the queries about what is due.

A claim is a row lock on the event's inbox row (``SELECT ... FOR UPDATE SKIP LOCKED``; on
SQLite the database write lock), held by the transaction processing it: a concurrent
delivery or worker skips the event instead of processing it twice, and a worker that dies
releases it with its connection, leaving the event pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone

from ..events import EventKind
from ..models import DUE_STATUSES, InboxEvent, Status
from .sql import claim as claim_sql
from .sql import process as sql

#: Lock conflicts: PostgreSQL deadlock_detected and serialization_failure; MySQL/MariaDB
#: ER_LOCK_DEADLOCK and ER_LOCK_WAIT_TIMEOUT.
_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})
_CONFLICT_MYSQL_CODES = frozenset({1213, 1205})


def lock_conflict(error: BaseException) -> bool:
    """A deadlock or serialization failure: the database chose this transaction to give way
    to another one. Nothing is wrong with the event: it is run again, not counted as failed."""
    cause = error.__cause__ or error
    if getattr(cause, "sqlstate", None) in _CONFLICT_SQLSTATES:  # PostgreSQL (psycopg)
        return True
    args: tuple[Any, ...] = getattr(cause, "args", ())
    return bool(args) and args[0] in _CONFLICT_MYSQL_CODES


def _locking(alias: str) -> QuerySet[InboxEvent]:
    queryset = InboxEvent.objects.using(alias)
    if connections[alias].features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    sql.take_write_lock(alias)
    return queryset


def _due(queryset: QuerySet[InboxEvent]) -> QuerySet[InboxEvent]:
    return queryset.filter(status__in=DUE_STATUSES, next_attempt_at__lte=timezone.now())


def claim_one(alias: str, pk: int, *, force: bool, thin: bool) -> InboxEvent | None:
    """The event ``pk``, locked, if it is due (``force``: whatever its status but skipped);
    a thin event only if ``thin`` (fetched already: ``peek_thin``)."""
    if not force and not thin:  # nearly every claim: one prepared statement text
        if not connections[alias].features.has_select_for_update_skip_locked:
            sql.take_write_lock(alias)
        return claim_sql.claim_due_v1(alias, pk, timezone.now())
    queryset = _locking(alias).filter(pk=pk)
    if not thin:
        queryset = queryset.exclude(kind=EventKind.THIN)
    if force:
        return queryset.exclude(status=Status.SKIPPED).exclude(body="").first()  # "": pruned
    return _due(queryset).first()


def peek_thin(alias: str, pk: int, *, force: bool) -> InboxEvent | None:
    """The thin event ``pk``, not locked, if ``claim_one`` would claim it: its related state
    is fetched before the claim, so that no network call waits while the row is locked."""
    queryset = InboxEvent.objects.using(alias).filter(pk=pk, kind=EventKind.THIN)
    return queryset.exclude(status=Status.SKIPPED).first() if force else _due(queryset).first()


def due_thin(alias: str, limit: int) -> list[int]:
    """Due thin events, the longest due first: processed one by one, outside batches."""
    due = _due(InboxEvent.objects.using(alias)).filter(kind=EventKind.THIN)
    return list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])


def claim_again(alias: str, pk: int, attempts: int) -> InboxEvent | None:
    """The event ``pk``, locked, if no attempt was counted since it was claimed with
    ``attempts`` (then another processor has run it since, and its outcome stands)."""
    return _locking(alias).filter(pk=pk, attempts=attempts).exclude(status=Status.SKIPPED).first()


def claim_due(alias: str, limit: int, related: int) -> list[InboxEvent]:
    """Up to ``limit`` due events, the longest due first, plus up to ``related`` other due
    events about the same objects that no other processor holds.

    Taking an object's due events together lets the batch write only its newest snapshot
    (``batch._superseded``), and keeps concurrent workers from queueing on the same rows: in
    a backlog, one object's events are spread over what several workers claim at once."""
    # Thin events are fetched from Stripe before they are claimed: never in a batch, whose
    # transaction would hold every row it locked while Stripe answers (``due_thin``).
    due = _due(_locking(alias)).exclude(kind=EventKind.THIN)
    claimed: list[InboxEvent] = list(due.order_by("next_attempt_at", "id")[:limit])
    objects = sorted({row.object_id for row in claimed if row.object_id})
    if not objects or len(claimed) < limit or related <= 0:
        return claimed  # everything due is claimed already (or held by others)
    more = due.filter(object_id__in=objects).exclude(pk__in=[row.pk for row in claimed])
    return claimed + list(more.order_by("next_attempt_at", "id")[:related])


def claim_listed(alias: str, pks: Sequence[int]) -> list[InboxEvent]:
    """The events ``pks`` that are due and no other processor holds, locked, in the order
    given (catch-up: the order Stripe created them). Thin events are left out, as from
    ``claim_due``."""
    due = _due(_locking(alias)).filter(pk__in=list(pks)).exclude(kind=EventKind.THIN)
    rows = {row.pk: row for row in due}
    return [rows[pk] for pk in pks if pk in rows]


def due_count() -> int:
    return _due(InboxEvent.objects.all()).count()


def reset(stripe_ids: Iterable[str]) -> int:
    """Make the given events due now (for a manual reprocess); returns how many exist."""
    return (
        InboxEvent.objects.filter(stripe_id__in=list(stripe_ids))
        .exclude(status=Status.SKIPPED)
        .update(status=Status.PENDING, next_attempt_at=timezone.now(), completed_handlers=[])
    )
