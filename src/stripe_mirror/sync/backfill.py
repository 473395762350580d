"""Stage 5: a backfill, one object type of one mode and account at a time, resumable.

Pages come from the API's list endpoint (``api.listing``), fetched by a thread of their own
one page ahead of the writes, so that the round trip of the next page overlaps the writing of
the current one. Each page is written in one transaction: its objects as states read when its
request started (``reads.py``), then the listing's ``BackfillProgress`` row (cursor, counts).
A run stopped at any point (Ctrl-C, SIGKILL, a crash) has committed whole pages only, and the
next run starts after the last of them. No network call is made in a transaction.

A backfilled object is not an event: no ``@on`` handler runs for it. ``object_backfilled`` is
sent after each page's commit.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from django.db import DatabaseError, router, transaction
from django.utils import timezone

from .. import db, signals
from ..api import listing
from ..models import BackfillProgress, StripeModel
from . import bulk, sources
from .reads import apply_read, read_origin
from .storable import storable
from .upsert import Outcome, Result, model_for

logger = logging.getLogger("stripe_mirror.backfill")

#: How often a page is written when the write loses a deadlock (with a worker's batch).
_WRITE_ATTEMPTS = 3

#: Called after each page is committed (and once before the first, and at the end).
Report = Callable[[BackfillProgress], object]


@dataclass(frozen=True, slots=True)
class Listing:
    """One listing to backfill: a type in one mode and account."""

    object_type: str
    livemode: bool = False
    account: str = ""
    #: Only objects created at or after this time (``created[gte]``).
    created_since: datetime | None = None


def progress_of(job: Listing, *, restart: bool = False) -> BackfillProgress:
    """The listing's progress row: the stored one, or a new one when there is none, when
    ``restart`` is asked, or when it was made with another ``created_since``."""
    key = {"livemode": job.livemode, "account": job.account, "object_type": job.object_type}
    progress = BackfillProgress.objects.filter(**key).first()
    if progress is None:
        return BackfillProgress.objects.create(**key, created_since=job.created_since)
    if restart or progress.created_since != job.created_since:
        fresh = BackfillProgress(pk=progress.pk, **key, created_since=job.created_since)
        fresh.save(force_update=True)
        return fresh
    return progress


def backfill(
    client: stripe.StripeClient,
    job: Listing,
    *,
    restart: bool = False,
    label: str = "backfill",
    report: Report | None = None,
) -> BackfillProgress:
    """List and apply every object of ``job`` (from where the last run stopped, unless
    ``restart``); returns its progress row. A finished listing is left as it is."""
    progress = progress_of(job, restart=restart)
    if report is not None:
        report(progress)
    if progress.finished_at is not None:
        return progress
    created_gte = None if job.created_since is None else int(job.created_since.timestamp())
    fetched = listing.pages(
        client, job.object_type, starting_after=progress.cursor, created_gte=created_gte
    )
    began = time.monotonic()
    for page in listing.ahead(fetched):
        write_page(page, progress, label=label)
        progress.seconds += time.monotonic() - began
        began = time.monotonic()
        if report is not None:
            report(progress)
    return progress


def write_page(page: listing.Page, progress: BackfillProgress, *, label: str) -> None:
    """Write one page and advance ``progress`` past it, in one transaction (retried when it
    loses a deadlock); ``object_backfilled`` follows its commit."""
    alias = router.db_for_write(model_for(progress.object_type))
    for attempt in range(1, _WRITE_ATTEMPTS + 1):
        saved = _counts(progress)
        try:
            with transaction.atomic(using=alias):
                rows = _apply(page, progress, label)
                _advance(progress, page, alias)
                transaction.on_commit(
                    functools.partial(_announce, progress, page, rows), using=alias, robust=True
                )
            return
        except DatabaseError:
            _restore(progress, saved)  # the transaction's counts were rolled back
            if attempt == _WRITE_ATTEMPTS:
                raise
            logger.warning("a backfill page of %s lost a deadlock; again", progress.object_type)


def _apply(page: listing.Page, progress: BackfillProgress, label: str) -> list[StripeModel]:
    origin = read_origin(
        page.started, label=label, account=progress.account, livemode=progress.livemode
    )
    # Locked in the order every transaction locks several objects' rows (no deadlock cycle).
    objects = db.lock_order(
        [storable(obj).value for obj in page.objects],
        lambda o: (str(o.get("object", "")), str(o["id"])),
    )
    created = bulk.create_missing(objects, origin) or {}
    after_writes = sources.after_writes()
    if after_writes is None:
        created = {}  # (the app is not set up: the guard's path below fails loudly)
    outcomes = []
    for obj in objects:
        outcome = created.get(str(obj["id"]))
        if outcome is None:  # a row exists (or no bulk insert here): through the guard
            outcome = apply_read(obj, origin)
        outcomes.append(outcome)
    if after_writes is not None and created:
        after_writes(list(created.values()))  # one query per hook for the whole page
    written: list[StripeModel] = []
    for outcome in outcomes:
        _count(progress, outcome)
        if outcome.applied and outcome.row is not None:
            written.append(outcome.row)
    return written


def _count(progress: BackfillProgress, outcome: Outcome) -> None:
    progress.seen += 1
    if outcome.result is Result.CREATED:
        progress.created += 1
    elif outcome.applied:
        progress.updated += 1
    else:  # the row holds a newer state, or the object was deleted
        progress.skipped += 1


def _advance(progress: BackfillProgress, page: listing.Page, alias: str) -> None:
    progress.cursor = page.cursor
    if page.total is not None:
        progress.total = page.total
    progress.updated_at = timezone.now()
    if not page.has_more:
        progress.finished_at = progress.updated_at
    progress.save(using=alias)


def _counts(progress: BackfillProgress) -> dict[str, Any]:
    return {name: getattr(progress, name) for name in _MUTABLE}


def _restore(progress: BackfillProgress, saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        setattr(progress, name, value)


_MUTABLE = ("seen", "created", "updated", "skipped", "cursor", "total", "finished_at")


def _announce(progress: BackfillProgress, page: listing.Page, rows: list[StripeModel]) -> None:
    for receiver, result in signals.object_backfilled.send_robust(
        sender=BackfillProgress,
        object_type=progress.object_type,
        account=progress.account,
        livemode=progress.livemode,
        rows=rows,
        objects=page.objects,
    ):
        if isinstance(result, Exception):
            logger.error("signal receiver %r raised %r", receiver, result)


__all__ = ["Listing", "Report", "backfill", "progress_of", "write_page"]
