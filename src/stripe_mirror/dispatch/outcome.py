"""Stage 3: record what an attempt at an event came to, and announce it after commit.

``finish`` sets the inbox row's outcome (processed, failed with a retry time, or dead) and
returns it as a ``Decision``: a value. Nothing here schedules the retry: whoever runs the
dispatcher does (``tasks.py`` hands it to a queue backend that can defer tasks; the worker
command finds the event due again by itself). The signals are sent after commit.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .. import conf, signals
from .. import db as rowsql
from ..events import AnyEvent
from ..failures import describe
from ..logs import event_extra
from ..models import InboxEvent, Status
from .sql import process as sql
from .steps import first_step

logger = logging.getLogger("stripe_mirror.processing")


class Outcome(enum.StrEnum):
    PROCESSED = "processed"
    FAILED = "failed"  # will be retried
    DEAD = "dead"  # attempts exhausted
    SKIPPED = "skipped"  # not due, already done, or claimed by someone else


@dataclass(frozen=True, slots=True)
class Failure:
    handler: str
    error: Exception
    traceback: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What an attempt at one event decided: its outcome and, when it failed and will be
    retried, when it is due again (``retry_at``; the row's ``next_attempt_at``)."""

    pk: int
    stripe_id: str
    outcome: Outcome
    retry_at: datetime | None = None


def skipped(pk: int, stripe_id: str = "") -> Decision:
    return Decision(pk, stripe_id, Outcome.SKIPPED)


def finish(
    row: InboxEvent,
    *,
    alias: str,
    event: AnyEvent,
    completed: list[str],
    failures: list[Failure],
    seconds: float,
    processed: list[InboxEvent] | None = None,
    notes: tuple[str, ...] = (),
    ending: bool = False,
) -> Decision:
    """Set the event's outcome, and write it (or, for a processed event of a batch without
    ``notes``, leave the writing to ``save_processed``). The mirror's notes (what it had to
    change to store the object) stay in ``last_error`` of a processed event. ``ending``: the
    caller's atomic block ends with this write (``db.update``: its COMMIT may go with it)."""
    now = timezone.now()
    row.attempts += 1
    row.completed_handlers = completed
    row.duration_ms = round(seconds * 1000, 3)
    if failures:
        outcome = _mark_failed(row, now, failures, notes)
    else:
        row.status = Status.PROCESSED
        row.next_attempt_at = None
        row.last_error = notes_text(notes)
        row.processed_at = now
        outcome = Outcome.PROCESSED
    if notes:
        logger.warning(
            "%s (%s): %s",
            event.id,
            event.type,
            notes_text(notes),
            extra=event_extra(event, inbox_id=row.pk, attempt=row.attempts),
        )
    if outcome is Outcome.PROCESSED and processed is not None and not notes:
        processed.append(row)
    else:
        rowsql.save_fields(row, sql.OUTCOME_FIELDS, using=alias, ending=ending)
    transaction.on_commit(lambda: _announce(row, event, outcome, failures), using=alias)
    retry_at = row.next_attempt_at if outcome is Outcome.FAILED else None
    return Decision(row.pk, row.stripe_id, outcome, retry_at)


def save_processed(rows: Sequence[InboxEvent], alias: str) -> None:
    """Write the outcomes ``finish`` left to the batch (``sql.save_processed``)."""
    sql.save_processed(rows, alias)


def _notes_prefix() -> str:
    return f"[{first_step().name}] stored with changes: "


def notes_text(notes: tuple[str, ...]) -> str:
    """How the first step's notes read in ``last_error``: its first line (docs/mirror.md)."""
    return f"{_notes_prefix()}{'; '.join(notes)}" if notes else ""


def carried_notes(last_error: str) -> tuple[str, ...]:
    """The notes of an earlier attempt whose first step completed (``notes_text``)."""
    first, prefix = last_error.split("\n", 1)[0], _notes_prefix()
    return tuple(first.removeprefix(prefix).split("; ")) if first.startswith(prefix) else ()


def _mark_failed(
    row: InboxEvent, now: datetime, failures: list[Failure], notes: tuple[str, ...]
) -> Outcome:
    lines = [notes_text(notes)] if notes else []
    lines.extend(f"[{f.handler}]\n{f.traceback}" for f in failures)
    text = "\n".join(lines)
    # An error message may quote the event's data: a NUL in it would fail this write too.
    row.last_error = text.replace("\x00", "\ufffd")
    if row.attempts >= conf.max_attempts():
        row.status = Status.DEAD
        row.next_attempt_at = None
        return Outcome.DEAD
    row.status = Status.FAILED
    row.next_attempt_at = now + timedelta(seconds=conf.retry_delay(row.attempts, row.stripe_id))
    return Outcome.FAILED


def _announce(row: InboxEvent, event: AnyEvent, outcome: Outcome, failures: list[Failure]) -> None:
    if outcome is Outcome.PROCESSED:
        if logger.isEnabledFor(logging.DEBUG):  # its fields cost more than the check
            extra = event_extra(event, inbox_id=row.pk, attempt=row.attempts)
            logger.debug("processed %s (%s)", event.id, event.type, extra=extra)
        _send(signals.event_processed, event=event, inbox_event=row)
        return
    for failure in failures:
        logger.error(
            "handler %s failed on %s (%s), attempt %d, %s: %s",
            failure.handler,
            event.id,
            event.type,
            row.attempts,
            "will retry" if outcome is Outcome.FAILED else "giving up (dead)",
            describe(failure.error),
            extra=event_extra(
                event, inbox_id=row.pk, attempt=row.attempts, handler=failure.handler
            ),
        )
    _send(
        signals.event_failed,
        event=event,
        inbox_event=row,
        errors=[(f.handler, f.error) for f in failures],
        will_retry=outcome is Outcome.FAILED,
    )


def _send(signal: object, **kwargs: object) -> None:
    for receiver, result in signal.send_robust(sender=InboxEvent, **kwargs):  # type: ignore[attr-defined]
        if isinstance(result, Exception):
            logger.error("signal receiver %r raised %r", receiver, result)
