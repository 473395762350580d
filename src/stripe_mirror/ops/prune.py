"""Retention: strip the bodies of old processed events, then delete the oldest rows.

Only ``processed`` and ``skipped`` events are touched: pending, failed and dead events keep
everything (they are still work, or evidence of a bug). A stripped event keeps its row (id,
type, created, account, status, deliveries...) with an empty body: a redelivery of it is
still recognised and counted, never processed again, and the admin still lists it; it can no
longer be reprocessed. Rows are deleted only past ``MIN_ROW_DAYS``, the window in which Stripe
can redeliver an event (3 days of retries) or a catch-up can list it from the Events API
(30 days): a deleted id that came back would be recorded and processed as new.

Each batch is one short SELECT of up to ``batch_size`` primary keys, walking the primary key
upwards, and one UPDATE or DELETE of those rows that re-checks every condition (an event
reprocessed meanwhile is left alone), committed on its own: no lock is held between batches,
and none for longer than one batch's statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .. import conf
from ..models import InboxEvent, Status

#: Statuses whose events retention may strip or delete.
PRUNABLE = (Status.PROCESSED, Status.SKIPPED)
#: Rows are kept at least this many days: Stripe retries a delivery for 3 days, and the Events
#: API lists 30 days of events, either of which could bring a deleted id back as new.
MIN_ROW_DAYS = 30


@dataclass(frozen=True, slots=True)
class Progress:
    action: str  # "strip" or "delete"
    batch: int
    rows: int  # so far
    dry_run: bool


def body_cutoff(days: float | None = None, now: datetime | None = None) -> datetime | None:
    """Events received before this lose their body; None: bodies are kept."""
    days = conf.get("RETENTION_BODY_DAYS") if days is None else days
    return None if days is None else (now or timezone.now()) - timedelta(days=float(days))


def row_cutoff(days: float | None = None, now: datetime | None = None) -> datetime | None:
    """Events received before this are deleted; None: rows are kept. Raises ValueError below
    MIN_ROW_DAYS."""
    days = conf.get("RETENTION_ROW_DAYS") if days is None else days
    if days is None:
        return None
    if float(days) < MIN_ROW_DAYS:
        raise ValueError(
            f"rows are kept at least {MIN_ROW_DAYS} days (Stripe may still redeliver, or the "
            f"Events API list, an event until then); got {days}"
        )
    return (now or timezone.now()) - timedelta(days=float(days))


def strip_bodies(
    cutoff: datetime,
    *,
    since: datetime | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> int:
    """Empty the body of processed/skipped events received before ``cutoff`` (and from
    ``since`` on: older ones are deleted, and a dry run must not count them twice)."""
    candidates = InboxEvent.objects.filter(status__in=PRUNABLE, received_at__lt=cutoff).exclude(
        body=""
    )
    if since is not None:
        candidates = candidates.filter(received_at__gte=since)
    return _walk(
        "strip",
        candidates,
        cutoff,
        lambda rows: rows.update(body=""),
        batch_size=batch_size,
        dry_run=dry_run,
        progress=progress,
    )


def delete_rows(
    cutoff: datetime,
    *,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> int:
    """Delete processed/skipped events received before ``cutoff``; how many."""
    if cutoff > timezone.now() - timedelta(days=MIN_ROW_DAYS):
        raise ValueError(f"rows are kept at least {MIN_ROW_DAYS} days")
    candidates = InboxEvent.objects.filter(status__in=PRUNABLE, received_at__lt=cutoff)
    # _raw_delete: one DELETE statement; nothing refers to inbox rows, so there is nothing
    # for the collector to cascade to, nor any signal to send.
    return _walk(
        "delete",
        candidates,
        cutoff,
        lambda rows: rows._raw_delete(rows.db),
        batch_size=batch_size,
        dry_run=dry_run,
        progress=progress,
    )


def _walk(
    action: str,
    candidates: QuerySet[InboxEvent],
    cutoff: datetime,
    write: Callable[[QuerySet[InboxEvent]], Any],
    *,
    batch_size: int,
    dry_run: bool,
    progress: Callable[[Progress], None] | None,
) -> int:
    """Apply ``write`` to the candidates, ``batch_size`` primary keys at a time, in one
    transaction each. The walk ends at the newest event received before ``cutoff`` (found
    through the ``received_at`` index), so the recent part of the table is never read."""
    upper = (
        InboxEvent.objects.filter(received_at__lt=cutoff)
        .order_by("-received_at")
        .values_list("pk", flat=True)
        .first()
    )
    alias = router.db_for_write(InboxEvent)
    done, batch, last = 0, 0, 0
    while upper is not None:
        pks = list(
            candidates.filter(pk__gt=last, pk__lte=upper)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not pks:
            break
        last, batch = pks[-1], batch + 1
        if dry_run:
            done += len(pks)
        else:
            with transaction.atomic(using=alias):
                # The conditions again: an event reprocessed since the SELECT is not pruned.
                done += int(write(candidates.filter(pk__in=pks)) or 0)
        if progress is not None:
            progress(Progress(action, batch, done, dry_run))
    return done
