"""Stage 3: run one event: the first step (the mirror), then the user handlers, then record
the outcome (``outcome.finish``).

One event is processed inside one database transaction that holds its claim
(``claim.py``). Inside it the first step runs, then each user handler in its own savepoint
(taken when the handler first uses the database: ``savepoints.py``), in order. A failing
user handler rolls back only its own writes; the first step, the handlers that succeeded
(remembered in ``completed_handlers`` so that a retry skips them) and the event's new status
commit together. A failing first step rolls back the whole attempt (no user handler runs
against a mirror that missed the event), which is then recorded as failed apart
(``fail_apart``). Side effects outside the database belong in ``transaction.on_commit`` so
that they happen only once the outcome is committed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from django.db import DatabaseError, router, transaction

from ..events import AnyEvent, EventKind, StripeEvent, ThinEvent, shared_event
from ..failures import describe, format_traceback
from ..logs import event_extra
from ..models import InboxEvent
from . import claim
from .outcome import Decision, Failure, Outcome, carried_notes, finish, skipped
from .registry import registry
from .savepoints import HandlerSavepoint
from .steps import first_step

logger = logging.getLogger("stripe_mirror.processing")

#: The name a failure to commit is recorded under in ``last_error``, like a handler's.
_COMMIT = "(commit)"
#: How often one event is tried at once when it loses a lock conflict.
_CONFLICT_RETRIES = 3

#: An inbox row's body, parsed once: the handlers' read-only event and the first step's
#: payload are views of one parse (neither changes it).
Parsed = tuple[AnyEvent, dict[str, Any]]


def process(pk: int, *, force: bool = False) -> Outcome:
    """Process one inbox event if it is due and nobody else is processing it (``attempt``).
    A retry is left to the event's ``next_attempt_at``: ``tasks.process`` also schedules it."""
    return attempt(pk, force=force).outcome


def attempt(pk: int, *, force: bool = False) -> Decision:
    """Process one inbox event if it is due and nobody else is processing it.

    ``force`` processes it whatever its status (a manual reprocess), re-running every
    handler, as long as no other transaction holds it. A thin event is fetched from Stripe
    first, outside any transaction (``_fetch_ahead``), then claimed.
    """
    alias = router.db_for_write(InboxEvent)
    fetched: Parsed | FirstStepFailed | None = None
    tries = 0
    while tries < _CONFLICT_RETRIES:
        tries += 1
        attempts: int | None = None  # as claimed
        try:
            with transaction.atomic(using=alias):
                row = claim.claim_one(alias, pk, force=force, thin=fetched is not None)
                if row is None:
                    if fetched is not None or claim.peek_thin(alias, pk, force=force) is None:
                        return skipped(pk)
                else:
                    attempts = row.attempts
                    return _run_claimed(row, alias, fetched, force=force)
        except FirstStepFailed as exc:
            assert attempts is not None
            return fail_apart(pk, attempts, alias, exc.failure, force=force)
        except DatabaseError as exc:
            if attempts is None:  # not even claimed: the database is away
                raise
            if claim.lock_conflict(exc) and tries < _CONFLICT_RETRIES:
                logger.info(
                    "processing %s lost a lock conflict; running it again",
                    pk,
                    extra=event_extra(inbox_id=pk),
                )
                continue
            return fail_apart(pk, attempts, alias, _commit_failure(pk, exc), force=force)
        # A due thin event: fetched now, with no transaction open, then claimed.
        fetched, tries = _fetch_ahead(alias, pk, force=force), tries - 1
        if fetched is None:  # processed or changed meanwhile
            return skipped(pk)
    raise AssertionError("unreachable")


def _run_claimed(
    row: InboxEvent, alias: str, fetched: Parsed | FirstStepFailed | None, *, force: bool
) -> Decision:
    if force:
        row.completed_handlers = []
    if isinstance(fetched, FirstStepFailed):
        raise fetched
    return run(row, alias, parsed=fetched, ending=True)


class FirstStepFailed(Exception):
    """The first step failed: its writes go with the event's savepoint (or transaction),
    and the failure is recorded apart (``fail_apart``)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.handler)
        self.failure = failure


def _fetch_ahead(alias: str, pk: int, *, force: bool) -> Parsed | FirstStepFailed | None:
    """A thin event's fetched state, read before its row is claimed (no network call while a
    lock is held), or the failure of that fetch; None for other events (parsed as claimed)."""
    row = claim.peek_thin(alias, pk, force=force)
    if row is None:
        return None
    try:
        return parse(row)
    except FirstStepFailed as exc:
        return exc


def parse(row: InboxEvent) -> Parsed:
    """The row's event. A thin event is fetched here, by the first step (the dispatcher
    knows no API): before any handler, and on every attempt (a retry's handlers get what
    Stripe says then). A failed fetch is a failed first step."""
    payload = orjson.loads(row.body)
    if row.kind != EventKind.THIN:
        return shared_event(payload, endpoint=row.endpoint), payload
    step = first_step()
    try:
        return step.fetch_thin(payload, endpoint=row.endpoint), payload
    except Exception as exc:
        raise FirstStepFailed(Failure(step.name, exc, format_traceback(exc))) from exc


def recorded_event(row: InboxEvent) -> AnyEvent:
    """The row's event as recorded, nothing fetched (for the outcome's logs and signals)."""
    if row.kind == EventKind.THIN:
        return ThinEvent.from_notification(orjson.loads(row.body), endpoint=row.endpoint)
    return StripeEvent.from_json(row.body, endpoint=row.endpoint)


def run_first_step(parsed: Parsed, *, tied: bool = False) -> tuple[str, ...]:
    """The first step. It has no savepoint of its own (one less round trip per event): when
    it fails, the whole attempt is rolled back and counted as failed. Returns its notes:
    what it had to change to store the object (``sync/storable.py``)."""
    step = first_step()
    event, payload = parsed
    try:
        return step.run(event, payload, tied=tied)
    except DatabaseError as exc:
        if claim.lock_conflict(exc):
            raise
        raise FirstStepFailed(Failure(step.name, exc, format_traceback(exc))) from exc
    except Exception as exc:
        raise FirstStepFailed(Failure(step.name, exc, format_traceback(exc))) from exc


def run(
    row: InboxEvent,
    alias: str,
    processed: list[InboxEvent] | None = None,
    *,
    mirrored: bool = False,
    notes: tuple[str, ...] = (),
    parsed: Parsed | None = None,
    spent: float = 0.0,
    ending: bool = False,
) -> Decision:
    """Run the event's handlers; ``mirrored``: its first step has run already, or is void
    (``batch.py``), with these ``notes``, taking ``spent`` seconds; ``parsed``: its body, if
    the batch parsed it; ``ending``: the caller's transaction ends with the outcome's write
    (``finish``)."""
    started = time.perf_counter()
    parsed = parsed or parse(row)
    completed = list(row.completed_handlers)
    name = first_step().name
    if name in completed:  # by an earlier attempt: its notes stand
        notes = carried_notes(row.last_error)
    elif not mirrored:  # no user handler runs on a mirror that missed the event
        notes = run_first_step(parsed)
    if name not in completed:
        completed.append(name)
    failures = _run_handlers(parsed[0], alias, completed)
    return finish(
        row,
        alias=alias,
        event=parsed[0],
        completed=completed,
        failures=failures,
        seconds=time.perf_counter() - started + spent,
        processed=processed,
        notes=notes,
        ending=ending,
    )


def _run_handlers(event: AnyEvent, alias: str, completed: list[str]) -> list[Failure]:
    """The user handlers not completed yet, in order, each in its own savepoint; appends
    those that succeed to ``completed``."""
    failures: list[Failure] = []
    for registration in registry.handlers_for(event.type):
        if registration.name in completed:
            continue
        try:
            with HandlerSavepoint(alias):
                registration.func(event)
        except DatabaseError as exc:
            if claim.lock_conflict(exc):
                raise  # not the handler's fault: the whole event runs again
            failures.append(Failure(registration.name, exc, format_traceback(exc)))
            continue
        except Exception as exc:
            failures.append(Failure(registration.name, exc, format_traceback(exc)))
            continue
        completed.append(registration.name)
    return failures


def _commit_failure(pk: int, error: DatabaseError) -> Failure:
    logger.warning(
        "processing %s could not be committed: %s",
        pk,
        describe(error),
        extra=event_extra(inbox_id=pk),
    )
    return Failure(_COMMIT, error, format_traceback(error))


def fail_apart(pk: int, attempts: int, alias: str, failure: Failure, *, force: bool) -> Decision:
    """Count a failed attempt whose work was rolled back (the first step failed, or the
    attempt could not be committed: a foreign key checked at commit, a lost connection):
    nothing of it was kept, not even the outcome. Recording the failure apart makes such an
    event back off and end up dead, instead of being claimed again and again. Raises if that
    fails too.

    ``attempts`` is the count the failed run claimed the event with: if it changed, another
    processor has run the event since, and its outcome stands.
    """
    with transaction.atomic(using=alias):
        row = claim.claim_again(alias, pk, attempts)
        if row is None:  # another processor holds it, or has run it since
            return skipped(pk)
        return finish(
            row,
            alias=alias,
            event=recorded_event(row),
            # A forced run re-runs every handler, so its retries must too.
            completed=[] if force else list(row.completed_handlers),
            failures=[failure],
            seconds=0.0,
            ending=True,
        )
