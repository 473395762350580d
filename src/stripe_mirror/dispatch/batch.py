"""Stage 3: run a worker's batch of due events in one transaction.

The batch is grouped by the object its events are about, in the one order every transaction
locks such rows in (``db.lock_order``), so that concurrent workers do not deadlock. Only user
handlers have savepoints there: when an event's first step fails, or the batch loses a
deadlock or cannot commit, the batch is rolled back and its events are processed one
transaction each (``run.attempt``; a lost deadlock is run again at once, and not counted as
a failed attempt).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from django.db import DatabaseError, router, transaction

from ..db import lock_order
from ..failures import describe
from ..models import InboxEvent
from . import claim
from .outcome import Decision, Outcome, save_processed, skipped
from .run import FirstStepFailed, Parsed, attempt, parse, run, run_first_step
from .steps import first_step

logger = logging.getLogger("stripe_mirror.processing")
#: A line per batch at DEBUG (its superseded snapshots), apart from the events' own lines.
batch_logger = logging.getLogger("stripe_mirror.processing.batch")


def process_due(limit: int = 50, *, related: int | None = None) -> list[tuple[str, Outcome]]:
    """``attempt_due``'s outcomes by event id. A retry is left to the events'
    ``next_attempt_at``: ``tasks.process_due`` also schedules it."""
    return [(d.stripe_id, d.outcome) for d in attempt_due(limit, related=related)]


def attempt_due(limit: int = 50, *, related: int | None = None) -> list[Decision]:
    """A batch (``_attempt_batch``), then due thin events one by one, as many as the batch left
    room for and at least one: a thin event is fetched from Stripe before its row is claimed,
    so it never joins a batch (whose transaction would hold every row it locked meanwhile)."""
    alias = router.db_for_write(InboxEvent)
    more = limit if related is None else related
    decisions = _attempt_batch(alias, lambda: claim.claim_due(alias, limit, more))
    thin = claim.due_thin(alias, max(1, limit - len(decisions)))
    return decisions + [attempt(pk) for pk in thin]


def attempt_listed(pks: Sequence[int]) -> list[Decision]:
    """The events ``pks`` as one batch (``_attempt_batch``): those that are due and that no
    other processor holds (``claim.claim_listed``; never a thin one), the others skipped.
    One decision per pk, in the order given. Catch-up processes a chunk of listed events so."""
    if not pks:
        return []
    alias = router.db_for_write(InboxEvent)
    decided = {d.pk: d for d in _attempt_batch(alias, lambda: claim.claim_listed(alias, pks))}
    return [decided.get(pk) or skipped(pk) for pk in pks]


def _attempt_batch(alias: str, claiming: Callable[[], list[InboxEvent]]) -> list[Decision]:
    """Process the events ``claiming`` claims (``claim.claim_due``: up to ``limit`` due
    events, the longest due first, and up to ``related`` more due events about the same
    objects) in one transaction.

    The events of a batch have no savepoint each (only their user handlers do): when one
    event's first step fails, or the batch loses a deadlock or cannot commit, the whole
    batch is rolled back and its events are processed again one transaction each, in the
    order they were claimed, so that one bad event cannot hold back the others.
    """
    claimed: list[InboxEvent] = []
    try:
        with transaction.atomic(using=alias):
            claimed = claiming()
            processed: list[InboxEvent] = []
            with first_step().batch(_object_key(row) for row in claimed if row.object_id):
                decisions = _run_batch(claimed, alias, processed)
            save_processed(processed, alias)
    except (DatabaseError, FirstStepFailed) as exc:
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
        return [_named(attempt(row.pk), row) for row in claimed]
    return [decisions[row.pk] for row in claimed]


def _named(decision: Decision, row: InboxEvent) -> Decision:
    """A skipped attempt knows only the event's pk: give it the id the batch claimed."""
    if decision.stripe_id:
        return decision
    return Decision(decision.pk, row.stripe_id, decision.outcome, decision.retry_at)


def _expected(error: Exception) -> bool:
    """A first step's failure (recorded on its event) or a lost deadlock: no warning."""
    return isinstance(error, FirstStepFailed) or claim.lock_conflict(error)


def _lock_order(rows: list[InboxEvent]) -> list[InboxEvent]:
    """A batch's events grouped by the object they are about, the groups in one global order
    (each group oldest first). Workers whose batches touch the same objects then lock their
    rows in the same order: they may wait for each other, but do not deadlock (a deadlock
    costs both a second before the database notices it)."""
    return lock_order(
        rows, lambda r: (r.object_type, r.object_id), then=lambda r: (r.created, r.pk)
    )


def _run_batch(
    claimed: list[InboxEvent], alias: str, processed: list[InboxEvent]
) -> dict[int, Decision]:
    """Run a batch's events, grouped by object (``_lock_order``), in two passes: the first
    steps of all of them (but the superseded ones: ``_superseded``), then the first step's
    ``flush`` (what they do together: the payment links of every row written), then the
    handlers of each event, in the same order. A handler so sees the mirror as the whole
    batch leaves it: never older than its event."""
    ordered = _lock_order(claimed)
    early: dict[int, _Early] = {}
    skipped = 0
    for group in _groups(ordered):
        void, tied = _superseded(group)
        skipped += len(void)
        for row in group:
            early[row.pk] = _VOID if row.pk in void else _first_step_early(row, tied=row.pk == tied)
    first_step().flush()
    decisions: dict[int, Decision] = {}
    for row in ordered:
        notes, parsed, seconds = early[row.pk]
        decisions[row.pk] = run(
            row, alias, processed, mirrored=True, notes=notes, parsed=parsed, spent=seconds
        )
    batch_logger.debug(
        "batch of %d events: %d superseded snapshots not written", len(claimed), skipped
    )
    return decisions


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
    """The events of one object's group whose first step is void, and the event (if any)
    whose first step stands for the void ones of its second.

    Void: snapshots older than another event of the group that writes the object's snapshot
    or tombstone. Run after that newer event, such a snapshot would be skipped by the
    ordering guard (a row never goes back in time), and the mirror's end state does not
    depend on the order events are applied in: skipping it is the same as Stripe delivering
    it last. Of several snapshots of the newest second, one is written (``tied``): its
    first step gives the row the newest of all the second's recorded snapshots by the
    guard's tie rules, which is what writing them one after the other ends in. This saves
    most of the mirror's work when a worker catches up with a backlog, where one object's
    events (an invoice's created, finalized, paid, ...) share a batch. A deletion is never
    skipped (it is final whatever its time), nor an event with a rule of its own."""
    if len(group) < 2:
        return set(), None
    step = first_step()
    plain = [
        row
        for row in group
        if row.kind == "snapshot"
        and step.writes_snapshot(row.type)
        and step.name not in row.completed_handlers
    ]
    if not plain:
        return set(), None
    newest = max(row.created for row in plain)
    snapshots = [row for row in plain if not step.deletes(row.type, row.object_type)]
    void = {row.pk for row in snapshots if row.created < newest}
    last_second = [row for row in snapshots if row.created == newest]
    if len(last_second) < 2:
        return void, None
    stands_for = last_second[-1]
    void.update(row.pk for row in last_second if row is not stands_for)
    return void, stands_for.pk


#: An event's first step, run ahead of its handlers: its notes, its parse (``run`` reuses
#: it) and the seconds it took.
_Early = tuple[tuple[str, ...], Parsed | None, float]
#: A superseded event's: nothing to run.
_VOID: _Early = ((), None, 0.0)


def _first_step_early(row: InboxEvent, *, tied: bool) -> _Early:
    """Run the first step of ``row`` ahead of its handlers (``run`` then counts it done)."""
    if first_step().name in row.completed_handlers:
        return _VOID  # by an earlier attempt: ``run`` carries its notes
    started = time.perf_counter()
    parsed = parse(row)
    notes = run_first_step(parsed, tied=tied)
    return notes, parsed, time.perf_counter() - started
