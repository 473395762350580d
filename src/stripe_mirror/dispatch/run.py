"""Stage 3d: process recorded events: claim, mirror sync, user handlers, outcome.

One event is processed inside one database transaction that holds a row lock on its inbox
row (``SELECT ... FOR UPDATE SKIP LOCKED``; on SQLite the database write lock). That lock is
the claim: a concurrent delivery or worker skips the event instead of processing it twice,
and a worker that dies releases it with its connection, leaving the event pending.

Inside that transaction the mirror sync runs first, then each user handler in its own
savepoint (taken when the handler first uses the database: ``savepoints.py``), in order. A
failing user handler rolls back only its own writes; the mirror, the handlers that
succeeded (remembered in ``completed_handlers`` so that a retry skips them) and the
event's new status commit together. A failing mirror sync rolls back the whole
attempt (no user handler runs against a mirror that missed the event), which is then
recorded as failed. Side effects outside the database belong in ``transaction.on_commit`` so
that they happen only once the outcome is committed.

A worker processes a batch of events in one transaction, grouped by the object they are
about so that concurrent workers take row locks in one order. Only user handlers have
savepoints there: when an event's mirror sync fails, or the batch loses a deadlock, the batch
is rolled back and its events are processed one transaction each (a lost deadlock is run
again at once, and not counted as a failed attempt).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from django.db import DatabaseError, connections, router, transaction
from django.utils import timezone

from .. import conf, signals
from .. import db as rowsql  # the inbox's statements until phase B (dispatch/sql.py)
from ..db import lock_order
from ..events import StripeEvent
from ..failures import describe, format_traceback
from ..handlers import step as mirror
from ..models import DUE_STATUSES, InboxEvent, Status
from .registry import registry
from .savepoints import HandlerSavepoint

logger = logging.getLogger("stripe_mirror.processing")

#: The name a failure to commit is recorded under in ``last_error``, like a handler's.
_COMMIT = "(commit)"

#: Lock conflicts: PostgreSQL deadlock_detected and serialization_failure; MySQL/MariaDB
#: ER_LOCK_DEADLOCK and ER_LOCK_WAIT_TIMEOUT. How often one event is tried at once.
_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})
_CONFLICT_MYSQL_CODES = frozenset({1213, 1205})
_CONFLICT_RETRIES = 3


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


def process(pk: int, *, force: bool = False) -> Outcome:
    """Process one inbox event if it is due and nobody else is processing it.

    ``force`` processes it whatever its status (a manual reprocess), re-running every
    handler, as long as no other transaction holds it.
    """
    alias = router.db_for_write(InboxEvent)
    for attempt in range(1, _CONFLICT_RETRIES + 1):
        attempts: int | None = None  # as claimed
        try:
            with transaction.atomic(using=alias):
                row = _claim_one(alias, pk, force=force)
                if row is None:
                    return Outcome.SKIPPED
                attempts = row.attempts
                if force:
                    row.completed_handlers = []
                return _run(row, alias)
        except _MirrorFailed as exc:
            assert attempts is not None
            return _fail_apart(pk, attempts, alias, exc.failure, force=force)
        except DatabaseError as exc:
            if attempts is None:  # not even claimed: the database is away
                raise
            if lock_conflict(exc) and attempt < _CONFLICT_RETRIES:
                logger.info("processing %s lost a lock conflict; running it again", pk)
                continue
            return _fail_apart(pk, attempts, alias, _commit_failure(pk, exc), force=force)
    raise AssertionError("unreachable")


def process_due(limit: int = 50, *, related: int | None = None) -> list[tuple[str, Outcome]]:
    """Process up to ``limit`` due events in one transaction, the longest due first, and up to
    ``related`` (default: ``limit``) more due events about the same objects (``_claim_due``).

    The events of a batch have no savepoint each (only their user handlers do): when one
    event's mirror sync fails, or the batch loses a deadlock or cannot commit, the whole
    batch is rolled back and its events are processed again one transaction each, so that
    one bad event cannot hold back the others.
    """
    alias = router.db_for_write(InboxEvent)
    claimed: list[InboxEvent] = []
    try:
        with transaction.atomic(using=alias):
            claimed = _claim_due(alias, limit, limit if related is None else related)
            processed: list[InboxEvent] = []
            outcomes = _run_batch(claimed, alias, processed)
            _save_processed(processed, alias)
    except (DatabaseError, _MirrorFailed) as exc:
        if not claimed:
            raise
        level = logging.INFO if _expected(exc) else logging.WARNING
        logger.log(
            level,
            "batch of %d events rolled back (%s); retrying one by one",
            len(claimed),
            describe(exc),
            # A database error's traceback would show its message (the data): not logged.
            exc_info=level == logging.WARNING and not isinstance(exc, DatabaseError),
        )
        return [(row.stripe_id, process(row.pk)) for row in claimed]
    return [(row.stripe_id, outcomes[row.pk]) for row in claimed]


def _expected(error: Exception) -> bool:
    """A mirror failure (recorded on its event) or a lost deadlock: nothing to warn about."""
    return isinstance(error, _MirrorFailed) or lock_conflict(error)


def due_count() -> int:
    return InboxEvent.objects.filter(
        status__in=DUE_STATUSES, next_attempt_at__lte=timezone.now()
    ).count()


# --- claiming --------------------------------------------------------------------------


def _locking_queryset(alias: str) -> object:
    queryset = InboxEvent.objects.using(alias)
    features = connections[alias].features
    if features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    _take_sqlite_write_lock(alias)
    return queryset


def _take_sqlite_write_lock(alias: str) -> None:
    """SQLite has no row locks: take the database write lock at the start of the transaction,
    so that a concurrent processor waits for it instead of reading a stale status."""
    connection = connections[alias]
    if connection.vendor == "sqlite":
        table = InboxEvent._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f'UPDATE "{table}" SET "attempts" = "attempts" WHERE 0')  # noqa: S608


def _claim_one(alias: str, pk: int, *, force: bool) -> InboxEvent | None:
    queryset = _locking_queryset(alias).filter(pk=pk)  # type: ignore[attr-defined]
    if force:
        queryset = queryset.exclude(status=Status.SKIPPED)
    else:
        queryset = queryset.filter(status__in=DUE_STATUSES, next_attempt_at__lte=timezone.now())
    row: InboxEvent | None = queryset.first()
    return row


def _claim_due(alias: str, limit: int, related: int) -> list[InboxEvent]:
    """Up to ``limit`` due events, the longest due first, plus up to ``related`` other due
    events about the same objects that no other processor holds.

    Taking an object's due events together lets the batch write only its newest snapshot
    (``_superseded``), and keeps concurrent workers from queueing on the same rows: in a
    backlog, one object's events are spread over what several workers claim at once."""
    due = _locking_queryset(alias).filter(  # type: ignore[attr-defined]
        status__in=DUE_STATUSES, next_attempt_at__lte=timezone.now()
    )
    claimed: list[InboxEvent] = list(due.order_by("next_attempt_at", "id")[:limit])
    objects = sorted({row.object_id for row in claimed if row.object_id})
    if not objects or len(claimed) < limit or related <= 0:
        return claimed  # everything due is claimed already (or held by others)
    more = due.filter(object_id__in=objects).exclude(pk__in=[row.pk for row in claimed])
    return claimed + list(more.order_by("next_attempt_at", "id")[:related])


# --- running ---------------------------------------------------------------------------


def _lock_order(rows: list[InboxEvent]) -> list[InboxEvent]:
    """A batch's events grouped by the object they are about, the groups in one global order
    (each group oldest first). Workers whose batches touch the same objects then lock their
    rows in the same order: they may wait for each other, but do not deadlock (a deadlock
    costs both a second before the database notices it)."""
    return lock_order(
        rows, lambda r: (r.object_type, r.object_id), then=lambda r: (r.created, r.pk)
    )


def lock_conflict(error: BaseException) -> bool:
    """A deadlock or serialization failure: the database chose this transaction to give way
    to another one. Nothing is wrong with the event: it is run again, not counted as failed."""
    cause = error.__cause__ or error
    if getattr(cause, "sqlstate", None) in _CONFLICT_SQLSTATES:  # PostgreSQL (psycopg)
        return True
    args: tuple[Any, ...] = getattr(cause, "args", ())
    return bool(args) and args[0] in _CONFLICT_MYSQL_CODES


class _MirrorFailed(Exception):
    """The mirror sync failed: its writes go with the event's savepoint (or transaction),
    and the failure is recorded apart (``_fail_apart``)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.handler)
        self.failure = failure


def _sync_mirror(
    event: StripeEvent, payload: dict[str, Any], *, tied: bool = False
) -> tuple[str, ...]:
    """The mirror step. It has no savepoint of its own (one less round trip per event): when
    it fails, the whole attempt is rolled back and counted as failed. Returns its notes:
    what it had to change to store the object (``sync/storable.py``)."""
    try:
        return mirror.sync_event(event, payload=payload, tied=tied)
    except DatabaseError as exc:
        if lock_conflict(exc):
            raise
        raise _MirrorFailed(Failure(mirror.NAME, exc, format_traceback(exc))) from exc
    except Exception as exc:
        raise _MirrorFailed(Failure(mirror.NAME, exc, format_traceback(exc))) from exc


def _commit_failure(pk: int, error: DatabaseError) -> Failure:
    logger.warning("processing %s could not be committed: %s", pk, describe(error))
    return Failure(_COMMIT, error, format_traceback(error))


def _fail_apart(pk: int, attempts: int, alias: str, failure: Failure, *, force: bool) -> Outcome:
    """Count a failed attempt whose work was rolled back (the mirror failed, or the attempt
    could not be committed: a foreign key checked at commit, a lost connection): nothing of
    it was kept, not even the outcome. Recording the failure apart makes such an event back
    off and end up dead, instead of being claimed again and again. Raises if that fails too.

    ``attempts`` is the count the failed run claimed the event with: if it changed, another
    processor has run the event since, and its outcome stands.
    """
    with transaction.atomic(using=alias):
        row: InboxEvent | None = (
            _locking_queryset(alias)  # type: ignore[attr-defined]
            .filter(pk=pk, attempts=attempts)
            .exclude(status=Status.SKIPPED)
            .first()
        )
        if row is None:  # another processor holds it, or has run it since
            return Outcome.SKIPPED
        return _finish(
            row,
            alias=alias,
            event=StripeEvent.from_json(row.body, endpoint=row.endpoint),
            # A forced run re-runs every handler, so its retries must too.
            completed=[] if force else list(row.completed_handlers),
            failures=[failure],
            seconds=0.0,
        )


def _run_batch(
    claimed: list[InboxEvent], alias: str, processed: list[InboxEvent]
) -> dict[int, Outcome]:
    """Run a batch's events, grouped by object (``_lock_order``). In a group that holds
    superseded events (``_superseded``), the mirror steps of the others run first: the
    superseded events' handlers then see the mirror at least as new as their event."""
    outcomes: dict[int, Outcome] = {}
    skipped = 0
    for group in _groups(_lock_order(claimed)):
        void, tied = _superseded(group)
        notes: dict[int, tuple[str, ...]] = {}
        if void:
            skipped += len(void)
            for row in group:
                if row.pk not in void:
                    notes[row.pk] = _mirror_early(row, tied=row.pk == tied)
        for row in group:
            outcomes[row.pk] = _run(
                row, alias, processed, mirrored=bool(void), notes=notes.get(row.pk, ())
            )
    logger.debug("batch of %d events: %d superseded snapshots not written", len(claimed), skipped)
    return outcomes


def _object_key(row: InboxEvent) -> tuple[str, str, str, bool]:
    return (row.object_type, row.object_id, row.account, row.livemode)


def _groups(rows: list[InboxEvent]) -> list[list[InboxEvent]]:
    """Consecutive rows about one object (rows without an object id are alone)."""
    groups: list[list[InboxEvent]] = []
    for row in rows:
        if groups and row.object_id and _object_key(groups[-1][-1]) == _object_key(row):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _superseded(group: list[InboxEvent]) -> tuple[set[int], int | None]:
    """The events of one object's group whose mirror step is void, and the event (if any)
    whose mirror step stands for the void ones of its second.

    Void: snapshots older than another event of the group that writes the object's snapshot
    or tombstone. Run after that newer event, such a snapshot would be skipped by the
    ordering guard (a row never goes back in time), and the mirror's end state does not
    depend on the order events are applied in: skipping it is the same as Stripe delivering
    it last. Of several snapshots of the newest second, one is written (``tied``): its
    mirror step gives the row the newest of all the second's recorded snapshots by the
    guard's tie rules, which is what writing them one after the other ends in. This saves
    most of the mirror's work when a worker catches up with a backlog, where one object's
    events (an invoice's created, finalized, paid, ...) share a batch. A deletion is never
    skipped (it is final whatever its time), nor an event with a rule of its own."""
    if len(group) < 2:
        return set(), None
    plain = [
        row
        for row in group
        if row.kind == "snapshot"
        and mirror.writes_snapshot(row.type)
        and mirror.NAME not in row.completed_handlers
    ]
    if not plain:
        return set(), None
    newest = max(row.created for row in plain)
    snapshots = [row for row in plain if not mirror.deletes(row.type, row.object_type)]
    void = {row.pk for row in snapshots if row.created < newest}
    last_second = [row for row in snapshots if row.created == newest]
    if len(last_second) < 2:
        return void, None
    stands_for = last_second[-1]
    void.update(row.pk for row in last_second if row is not stands_for)
    return void, stands_for.pk


def _mirror_early(row: InboxEvent, *, tied: bool = False) -> tuple[str, ...]:
    """Run the mirror step of ``row`` ahead of its group (``_run`` then counts it done)."""
    if mirror.NAME in row.completed_handlers:
        return ()
    event = StripeEvent.from_json(row.body, endpoint=row.endpoint)
    return _sync_mirror(event, orjson.loads(row.body), tied=tied)


def _chain(event_type: str) -> list[tuple[str, Callable[[StripeEvent], object]]]:
    """The mirror sync first, then the user handlers in registration order."""
    chain: list[tuple[str, Callable[[StripeEvent], object]]] = [(mirror.NAME, mirror.sync_event)]
    chain.extend((r.name, r.func) for r in registry.handlers_for(event_type))
    return chain


def _run(
    row: InboxEvent,
    alias: str,
    processed: list[InboxEvent] | None = None,
    *,
    mirrored: bool = False,
    notes: tuple[str, ...] = (),
) -> Outcome:
    """Run the event's handlers; ``mirrored``: its mirror step has run already, or is void
    (``_run_batch``), with these ``notes``."""
    started = time.perf_counter()
    # Handlers get a read-only view of their own parse; the mirror another parse.
    event = StripeEvent.from_json(row.body, endpoint=row.endpoint)
    completed = list(row.completed_handlers)
    if mirror.NAME in completed:  # by an earlier attempt: its notes stand
        notes = _carried_notes(row.last_error)
    failures: list[Failure] = []
    for name, func in _chain(event.type):
        if name in completed:
            continue
        if name == mirror.NAME:
            if not mirrored:  # no user handler runs on a mirror that missed it
                notes = _sync_mirror(event, orjson.loads(row.body))
            completed.append(name)
            continue
        try:
            with HandlerSavepoint(alias):
                func(event)
        except DatabaseError as exc:
            if lock_conflict(exc):
                raise  # not the handler's fault: the whole event runs again
            failures.append(Failure(name, exc, format_traceback(exc)))
            continue
        except Exception as exc:
            failures.append(Failure(name, exc, format_traceback(exc)))
            continue
        completed.append(name)
    return _finish(
        row,
        alias=alias,
        event=event,
        completed=completed,
        failures=failures,
        seconds=time.perf_counter() - started,
        processed=processed,
        notes=notes,
    )


def _finish(
    row: InboxEvent,
    *,
    alias: str,
    event: StripeEvent,
    completed: list[str],
    failures: list[Failure],
    seconds: float,
    processed: list[InboxEvent] | None = None,
    notes: tuple[str, ...] = (),
) -> Outcome:
    """Set the event's outcome, and write it (or, for a processed event of a batch without
    ``notes``, leave the writing to ``_save_processed``). The mirror's notes (what it had to
    change to store the object) stay in ``last_error`` of a processed event."""
    now = timezone.now()
    row.attempts += 1
    row.completed_handlers = completed
    row.duration_ms = round(seconds * 1000, 3)
    if failures:
        outcome = _mark_failed(row, now, failures, notes)
    else:
        row.status = Status.PROCESSED
        row.next_attempt_at = None
        row.last_error = _notes_text(notes)
        row.processed_at = now
        outcome = Outcome.PROCESSED
    if notes:
        logger.warning("%s (%s): %s", event.id, event.type, _notes_text(notes))
    if outcome is Outcome.PROCESSED and processed is not None and not notes:
        processed.append(row)
    else:
        rowsql.save_fields(row, _OUTCOME_FIELDS, using=alias)
    transaction.on_commit(lambda: _announce(row, event, outcome, failures), using=alias)
    return outcome


_OUTCOME_FIELDS = (
    "attempts",
    "completed_handlers",
    "duration_ms",
    "status",
    "next_attempt_at",
    "last_error",
    "processed_at",
)


def _save_processed(rows: list[InboxEvent], alias: str) -> None:
    """Write the outcome of a batch's processed events: on PostgreSQL one UPDATE from arrays
    (four parameters); elsewhere one UPDATE per distinct list of completed handlers
    (usually a few per batch) instead of one per event."""
    if not rows:
        return
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _processed_sql_pg(alias),
                [
                    [row.pk for row in rows],
                    [row.duration_ms for row in rows],
                    [row.processed_at for row in rows],
                    [orjson.dumps(row.completed_handlers).decode() for row in rows],
                ],
            )
        return
    groups: dict[tuple[str, ...], list[InboxEvent]] = {}
    for row in rows:
        groups.setdefault(tuple(row.completed_handlers), []).append(row)
    for completed, group in groups.items():
        field = InboxEvent._meta.get_field
        params: list[Any] = [
            rowsql.prepare(field("completed_handlers"), list(completed), connection),
        ]
        for row in group:
            params.extend((row.pk, row.duration_ms))
        for row in group:
            when = field("processed_at").get_db_prep_save(row.processed_at, connection)  # type: ignore[union-attr]
            params.extend((row.pk, when))
        params.extend(row.pk for row in group)
        with connection.cursor() as cursor:
            cursor.execute(_processed_sql(alias, len(group)), params)


@lru_cache(maxsize=8)
def _processed_sql_pg(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = InboxEvent._meta
    column = {name: quote(getattr(meta.get_field(name), "column")) for name in _OUTCOME_FIELDS}  # noqa: B009
    return (
        f"UPDATE {quote(meta.db_table)} AS t SET "  # noqa: S608
        f"{column['status']} = '{Status.PROCESSED.value}', "
        f"{column['attempts']} = t.{column['attempts']} + 1, "
        f"{column['next_attempt_at']} = NULL, {column['last_error']} = '', "
        f"{column['completed_handlers']} = v.completed::jsonb, "
        f"{column['duration_ms']} = v.duration, {column['processed_at']} = v.processed "
        "FROM unnest(%s::bigint[], %s::float8[], %s::timestamptz[], %s::text[]) "
        "AS v(id, duration, processed, completed) "
        f"WHERE t.{quote('id')} = v.id"
    )


@lru_cache(maxsize=512)
def _processed_sql(alias: str, count: int) -> str:
    quote = connections[alias].ops.quote_name
    meta = InboxEvent._meta
    column = {name: quote(getattr(meta.get_field(name), "column")) for name in _OUTCOME_FIELDS}  # noqa: B009
    pk = quote("id")
    cases = " ".join(["WHEN %s THEN %s"] * count)
    return (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608
        f"{column['status']} = '{Status.PROCESSED.value}', "
        f"{column['attempts']} = {column['attempts']} + 1, "
        f"{column['next_attempt_at']} = NULL, {column['last_error']} = '', "
        f"{column['completed_handlers']} = %s, "
        f"{column['duration_ms']} = CASE {pk} {cases} END, "
        f"{column['processed_at']} = CASE {pk} {cases} END "
        f"WHERE {pk} IN ({', '.join(['%s'] * count)})"
    )


_NOTES = f"[{mirror.NAME}] stored with changes: "


def _notes_text(notes: tuple[str, ...]) -> str:
    """How the mirror's notes read in ``last_error``: its first line (docs/mirror.md)."""
    return f"{_NOTES}{'; '.join(notes)}" if notes else ""


def _carried_notes(last_error: str) -> tuple[str, ...]:
    first = last_error.split("\n", 1)[0]
    return tuple(first.removeprefix(_NOTES).split("; ")) if first.startswith(_NOTES) else ()


def _mark_failed(
    row: InboxEvent, now: datetime, failures: list[Failure], notes: tuple[str, ...]
) -> Outcome:
    lines = [_notes_text(notes)] if notes else []
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


def _announce(
    row: InboxEvent, event: StripeEvent, outcome: Outcome, failures: list[Failure]
) -> None:
    if outcome is Outcome.PROCESSED:
        logger.debug("processed %s (%s)", event.id, event.type)
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
        )
    _send(
        signals.event_failed,
        event=event,
        inbox_event=row,
        errors=[(f.handler, f.error) for f in failures],
        will_retry=outcome is Outcome.FAILED,
    )
    if outcome is Outcome.FAILED and row.next_attempt_at is not None:
        from ..tasks import schedule_retry

        schedule_retry(row.pk, row.next_attempt_at)


def _send(signal: object, **kwargs: object) -> None:
    for receiver, result in signal.send_robust(sender=InboxEvent, **kwargs):  # type: ignore[attr-defined]
        if isinstance(result, Exception):
            logger.error("signal receiver %r raised %r", receiver, result)


def reset(stripe_ids: Iterable[str]) -> int:
    """Make the given events due now (for a manual reprocess); returns how many exist."""
    return (
        InboxEvent.objects.filter(stripe_id__in=list(stripe_ids))
        .exclude(status=Status.SKIPPED)
        .update(status=Status.PENDING, next_attempt_at=timezone.now(), completed_handlers=[])
    )
