"""processing: claim, mirror sync then handlers (each in a savepoint), outcome, retries, signals.

Handlers come from tests/testapp/stripe_handlers.py (``record_call`` runs for every event;
``test.fail`` always fails) and from the ``handle`` fixture, which registers a handler for
the duration of one test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stripe_mirror import StripeEvent, conf, signals
from stripe_mirror.dispatch import Outcome, due_count, process, process_due
from stripe_mirror.dispatch.inbox import Recorded
from stripe_mirror.dispatch.registry import registry
from stripe_mirror.handlers import step as mirror
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event
from tests import live
from tests.testapp.models import HandlerCall

Record = Callable[..., Recorded]
RECORD_CALL = "tests.testapp.stripe_handlers.record_call"
FAILING = "tests.testapp.stripe_handlers.failing"
SETTINGS = {
    "ENDPOINTS": {"default": {"SECRETS": ["whsec_test_primary"]}},
    "RETRY_BACKOFF": 60,
    "RETRY_BACKOFF_MAX": 300,
    "MAX_ATTEMPTS": 5,
}


@pytest.fixture
def received() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """What the event_processed and event_failed signals carried, in order."""
    seen: dict[str, list[dict[str, Any]]] = {"processed": [], "failed": []}

    def on_processed(**kwargs: Any) -> None:
        seen["processed"].append(kwargs)

    def on_failed(**kwargs: Any) -> None:
        seen["failed"].append(kwargs)

    signals.event_processed.connect(on_processed)
    signals.event_failed.connect(on_failed)
    yield seen
    signals.event_processed.disconnect(on_processed)
    signals.event_failed.disconnect(on_failed)


def _chain(event_type: str) -> list[str]:
    """The mirror sync, then every handler registered for the type (the example site's
    handlers included), in run order; the test app's catch-all is always among them."""
    names = [mirror.NAME, *(r.name for r in registry.handlers_for(event_type))]
    assert RECORD_CALL in names
    return names


def _row(pk: int) -> InboxEvent:
    return InboxEvent.objects.get(pk=pk)


def _make_due(pk: int) -> None:
    InboxEvent.objects.filter(pk=pk).update(next_attempt_at=timezone.now())


def _calls(stripe_id: str, handler: str = "record_call") -> int:
    return HandlerCall.objects.filter(event_id=stripe_id, handler=handler).count()


# --- outcomes ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_success_marks_processed_and_is_not_repeated(record: Record) -> None:
    recorded = record(build_event("customer.updated"))

    assert process(recorded.pk) is Outcome.PROCESSED
    row = _row(recorded.pk)
    assert (row.status, row.attempts, row.next_attempt_at, row.last_error) == (
        Status.PROCESSED,
        1,
        None,
        "",
    )
    assert row.completed_handlers == _chain("customer.updated")
    assert row.processed_at is not None
    assert row.duration_ms is not None
    assert _calls(recorded.stripe_id) == 1

    assert process(recorded.pk) is Outcome.SKIPPED
    assert _calls(recorded.stripe_id) == 1
    assert _row(recorded.pk).attempts == 1


@pytest.mark.django_db
def test_unknown_event_type_reaches_catch_all_handlers(record: Record) -> None:
    recorded = record(build_event("brand_new.thing_happened", {"id": "x_1", "object": "x"}))
    assert process(recorded.pk) is Outcome.PROCESSED
    assert _row(recorded.pk).completed_handlers == _chain("brand_new.thing_happened")


@pytest.mark.django_db
@override_settings(STRIPE_MIRROR=SETTINGS)
def test_failure_is_recorded_and_retried_with_backoff_until_dead(record: Record) -> None:
    recorded = record(build_event("test.fail"))
    delays = []
    for attempt in range(1, 6):
        before = timezone.now()
        outcome = process(recorded.pk)
        after = timezone.now()
        row = _row(recorded.pk)
        assert row.attempts == attempt
        assert "RuntimeError: handler failed on purpose" in row.last_error
        assert f"[{FAILING}]" in row.last_error
        if attempt < 5:
            assert (outcome, row.status) == (Outcome.FAILED, Status.FAILED)
            assert before < row.next_attempt_at
            delays.append((row.next_attempt_at - before, row.next_attempt_at - after))
            assert process(recorded.pk) is Outcome.SKIPPED  # not due before its time
            _make_due(recorded.pk)
        else:
            assert (outcome, row.status, row.next_attempt_at) == (Outcome.DEAD, Status.DEAD, None)
    # 60 s, doubling, capped at 300 s, less this event's jitter (RETRY_JITTER).
    for (longest, shortest), attempt in zip(delays, range(1, 5), strict=True):
        seconds = conf.retry_delay(attempt, recorded.stripe_id)
        assert 0.75 * min(300, 60 * 2 ** (attempt - 1)) <= seconds
        assert shortest <= timedelta(seconds=seconds) <= longest

    assert process(recorded.pk) is Outcome.SKIPPED  # dead events wait for a human
    # The handler that succeeded ran once; it is not repeated on retries.
    assert _calls(recorded.stripe_id) == 1


@pytest.mark.django_db
def test_retry_skips_handlers_that_already_succeeded(record: Record, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    recorded = record(live.steered_event("test.fail_then_succeed", flag_file=str(flag)))

    assert process(recorded.pk) is Outcome.FAILED
    assert _row(recorded.pk).completed_handlers == [
        name for name in _chain("test.fail_then_succeed") if name != FAILING
    ]

    flag.touch()
    _make_due(recorded.pk)
    assert process(recorded.pk) is Outcome.PROCESSED
    row = _row(recorded.pk)
    assert (row.status, row.attempts, row.last_error) == (Status.PROCESSED, 2, "")
    assert row.completed_handlers == _chain("test.fail_then_succeed")
    assert (_calls(recorded.stripe_id), _calls(recorded.stripe_id, "failing")) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_loses_only_its_own_writes(record: Record, handle: Any) -> None:
    @handle("test.partial")
    def writes_then_fails(event: StripeEvent) -> None:
        HandlerCall.objects.create(event_id=event.id, handler="half_done")
        raise ValueError("second thoughts")

    @handle("test.partial")
    def writes(event: StripeEvent) -> None:
        HandlerCall.objects.create(event_id=event.id, handler="writes")

    recorded = record(build_event("test.partial"))
    assert process(recorded.pk) is Outcome.FAILED

    def committed() -> tuple[Any, ...]:
        row = _row(recorded.pk)
        handlers = set(HandlerCall.objects.values_list("handler", flat=True))
        return row.status, row.attempts, row.completed_handlers, handlers

    status, attempts, completed, handlers = live.in_other_connection(committed)
    assert (status, attempts) == (Status.FAILED, 1)
    assert handlers == {"record_call", "writes"}
    failed = f"{__name__}.{writes_then_fails.__qualname__}"
    assert completed == [name for name in _chain("test.partial") if name != failed]
    assert f"{__name__}.{writes.__qualname__}" in completed


@pytest.mark.django_db
def test_mirror_failure_keeps_user_handlers_from_running(
    record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Make the mirror fail the way a sync error would.
    def broken_sync(event: StripeEvent, **kwargs: Any) -> None:
        raise LookupError("mirror cannot apply this event")

    monkeypatch.setattr(mirror, "sync_event", broken_sync)
    recorded = record(build_event("customer.updated"))
    assert process(recorded.pk) is Outcome.FAILED
    row = _row(recorded.pk)
    assert row.completed_handlers == []
    assert f"[{mirror.NAME}]" in row.last_error
    assert "LookupError" in row.last_error
    assert _calls(recorded.stripe_id) == 0

    monkeypatch.undo()
    _make_due(recorded.pk)
    assert process(recorded.pk) is Outcome.PROCESSED
    assert _row(recorded.pk).completed_handlers == _chain("customer.updated")
    assert _calls(recorded.stripe_id) == 1


@pytest.mark.django_db
def test_a_mirror_failure_in_a_batch_costs_only_its_own_event(
    record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is rolled back and its events are run one transaction each: the broken one is
    recorded as failed, the others are processed, each handler's writes kept once."""
    real_sync = mirror.sync_event

    def broken_for_deletions(event: StripeEvent, **kwargs: Any) -> None:
        if event.type == "customer.deleted":
            raise LookupError("mirror cannot apply this event")
        real_sync(event, **kwargs)

    monkeypatch.setattr(mirror, "sync_event", broken_for_deletions)
    types = ("customer.created", "customer.deleted", "customer.updated")
    # Three objects: one object's older snapshots would not be written at all in a batch.
    recorded = [
        record(build_event(t, {"id": f"obj_{n}", "object": "unknown"})) for n, t in enumerate(types)
    ]
    results = dict(process_due(limit=10))

    assert [results[r.stripe_id] for r in recorded] == [
        Outcome.PROCESSED,
        Outcome.FAILED,
        Outcome.PROCESSED,
    ]
    assert [_calls(r.stripe_id) for r in recorded] == [1, 0, 1]
    broken = _row(recorded[1].pk)
    assert (broken.status, broken.attempts, broken.completed_handlers) == (Status.FAILED, 1, [])
    assert f"[{mirror.NAME}]" in broken.last_error
    assert [_row(r.pk).attempts for r in recorded] == [1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_a_failing_user_handler_keeps_the_mirror_writes(
    record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mirror write that is easy to find.
    def sync_writing(event: StripeEvent, **kwargs: Any) -> None:
        HandlerCall.objects.create(event_id=event.id, handler="mirror")

    monkeypatch.setattr(mirror, "sync_event", sync_writing)
    recorded = record(build_event("test.fail"))
    assert process(recorded.pk) is Outcome.FAILED
    _make_due(recorded.pk)
    assert process(recorded.pk) is Outcome.FAILED  # the retry does not sync again

    def committed() -> list[str]:
        return sorted(HandlerCall.objects.values_list("handler", flat=True))

    assert live.in_other_connection(committed) == ["mirror", "record_call"]
    assert _row(recorded.pk).completed_handlers == [
        name for name in _chain("test.fail") if name != FAILING
    ]


@pytest.mark.django_db
def test_force_reprocess_runs_every_handler_again(record: Record) -> None:
    recorded = record(build_event("customer.updated"))
    assert process(recorded.pk) is Outcome.PROCESSED
    assert process(recorded.pk, force=True) is Outcome.PROCESSED
    assert _calls(recorded.stripe_id) == 2
    assert _row(recorded.pk).attempts == 2


@pytest.mark.django_db
def test_force_does_not_process_a_thin_event(record: Record) -> None:
    thin = {
        "id": "evt_thin_force",
        "object": "v2.core.event",
        "type": "v1.billing.meter.no_meter_found",
        "created": "2026-05-01T12:00:00Z",
        "livemode": False,
    }
    recorded = record(thin)
    assert process(recorded.pk, force=True) is Outcome.SKIPPED
    assert _row(recorded.pk).status == Status.SKIPPED


# --- after commit ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_signals_are_sent_after_commit(record: Record) -> None:
    seen: list[tuple[str, str, int]] = []

    def on_outcome(inbox_event: InboxEvent, **kwargs: Any) -> None:
        # Read from another connection: only committed data is visible there.
        row = live.in_other_connection(lambda: _row(inbox_event.pk))
        seen.append((inbox_event.stripe_id, row.status, row.attempts))

    signals.event_processed.connect(on_outcome)
    signals.event_failed.connect(on_outcome)
    try:
        ok = record(build_event("customer.updated"))
        bad = record(build_event("test.fail"))
        assert process(ok.pk) is Outcome.PROCESSED
        assert process(bad.pk) is Outcome.FAILED
    finally:
        signals.event_processed.disconnect(on_outcome)
        signals.event_failed.disconnect(on_outcome)
    assert seen == [(ok.stripe_id, Status.PROCESSED, 1), (bad.stripe_id, Status.FAILED, 1)]


@pytest.mark.django_db(transaction=True)
@override_settings(STRIPE_MIRROR={**SETTINGS, "MAX_ATTEMPTS": 2})
def test_failure_signal_says_whether_it_will_retry(record: Record, received: Any) -> None:
    recorded = record(build_event("test.fail"))
    assert process(recorded.pk) is Outcome.FAILED
    _make_due(recorded.pk)
    assert process(recorded.pk) is Outcome.DEAD

    assert received["processed"] == []
    assert [s["will_retry"] for s in received["failed"]] == [True, False]
    for sent in received["failed"]:
        assert sent["event"].id == recorded.stripe_id
        [(handler, error)] = sent["errors"]
        assert handler == FAILING
        assert isinstance(error, RuntimeError)


@pytest.mark.django_db(transaction=True)
def test_a_raising_receiver_does_not_change_the_outcome(record: Record) -> None:
    def rude(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.event_processed.connect(rude)
    try:
        recorded = record(build_event("customer.updated"))
        assert process(recorded.pk) is Outcome.PROCESSED
    finally:
        signals.event_processed.disconnect(rude)
    assert _row(recorded.pk).status == Status.PROCESSED


@pytest.mark.django_db(transaction=True)
def test_on_commit_side_effects_happen_only_for_handlers_that_succeed(
    record: Record, handle: Any
) -> None:
    effects: list[str] = []

    @handle("test.effects")
    def succeeds(event: StripeEvent) -> None:
        transaction.on_commit(lambda: effects.append("email sent"))

    @handle("test.effects")
    def fails(event: StripeEvent) -> None:
        transaction.on_commit(lambda: effects.append("must not happen"))
        raise RuntimeError("after scheduling a side effect")

    recorded = record(build_event("test.effects"))
    assert process(recorded.pk) is Outcome.FAILED
    assert effects == ["email sent"]
    # The retry skips the handler that succeeded: its side effect is not repeated.
    _make_due(recorded.pk)
    assert process(recorded.pk) is Outcome.FAILED
    assert effects == ["email sent"]


@pytest.mark.django_db(transaction=True)
@override_settings(STRIPE_MIRROR={**SETTINGS, "MIRROR": False})  # (its inserts, on MariaDB)
def test_a_handler_gets_a_savepoint_only_when_it_uses_the_database(
    record: Record, handle: Any
) -> None:
    @handle("test.quiet")
    def only_logs(event: StripeEvent) -> None:
        transaction.on_commit(lambda: None)

    recorded = record(build_event("test.quiet"))
    with CaptureQueriesContext(connection) as queries:
        assert process(recorded.pk) is Outcome.PROCESSED
    savepoints = [q["sql"] for q in queries if q["sql"].upper().startswith("SAVEPOINT")]
    # record_call (the test app's catch-all) writes a row; the example's catch-all and
    # only_logs do not.
    assert len(savepoints) == 1
    assert _row(recorded.pk).completed_handlers == _chain("test.quiet")
    assert _calls(recorded.stripe_id) == 1


@pytest.mark.django_db(transaction=True)
def test_a_handler_that_marks_its_work_for_rollback_loses_only_its_writes(
    record: Record, handle: Any
) -> None:
    effects: list[str] = []

    @handle("test.undo")
    def changes_its_mind(event: StripeEvent) -> None:
        HandlerCall.objects.create(event_id=event.id, handler="undone")
        transaction.on_commit(lambda: effects.append("must not happen"))
        transaction.set_rollback(True)

    @handle("test.undo")
    def recovers(event: StripeEvent) -> None:
        try:
            with transaction.atomic():
                HandlerCall.objects.create(event_id=event.id, handler="inner")
                raise ValueError("inner block fails")
        except ValueError:
            pass
        HandlerCall.objects.create(event_id=event.id, handler="recovers")
        transaction.on_commit(lambda: effects.append("recovered"))

    recorded = record(build_event("test.undo"))
    assert process_due(limit=10) == [(recorded.stripe_id, Outcome.PROCESSED)]

    def committed() -> set[str]:
        return set(HandlerCall.objects.values_list("handler", flat=True))

    # As with atomic() around it: set_rollback(True) undoes the handler's work, no error.
    assert live.in_other_connection(committed) == {"record_call", "recovers"}
    assert effects == ["recovered"]
    assert _row(recorded.pk).completed_handlers == _chain("test.undo")


# --- claims and batches ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_event_being_processed_is_not_processed_again(record: Record, tmp_path: Path) -> None:
    started = tmp_path / "started"
    recorded = record(live.steered_event(test_behaviour="sleep:0.5", started_file=str(started)))
    outcomes: list[Outcome] = []

    def first() -> None:
        outcomes.append(live.in_other_connection(lambda: process(recorded.pk)))

    thread = threading.Thread(target=first)
    thread.start()
    live.wait_for(started.exists, "the first processor to start")
    second = process(recorded.pk)  # SKIP LOCKED; on SQLite it waits, then finds it done
    thread.join()
    assert (outcomes, second) == ([Outcome.PROCESSED], Outcome.SKIPPED)
    assert _calls(recorded.stripe_id) == 1


@pytest.mark.django_db
@override_settings(STRIPE_MIRROR=SETTINGS)
def test_process_due_takes_due_events_oldest_first(record: Record) -> None:
    recorded = [
        record(build_event(t, {"id": f"obj_{n}", "object": "unknown"}))
        for n, t in enumerate(("a.one", "test.fail", "b.two", "c.three"))
    ]
    now = timezone.now()
    for minutes, item in zip((4, 3, 2, 1), recorded, strict=True):
        InboxEvent.objects.filter(pk=item.pk).update(
            next_attempt_at=now - timedelta(minutes=minutes)
        )
    later = record(build_event("d.later"))
    InboxEvent.objects.filter(pk=later.pk).update(next_attempt_at=now + timedelta(minutes=5))
    assert due_count() == 4

    first = process_due(limit=3)
    assert first == [
        (recorded[0].stripe_id, Outcome.PROCESSED),
        (recorded[1].stripe_id, Outcome.FAILED),
        (recorded[2].stripe_id, Outcome.PROCESSED),
    ]
    assert process_due(limit=3) == [(recorded[3].stripe_id, Outcome.PROCESSED)]
    assert process_due(limit=3) == []  # the failure waits for its backoff, "later" for its turn
    assert due_count() == 0
    assert _row(later.pk).status == Status.PENDING


@pytest.mark.django_db
def test_a_batch_writes_each_events_own_outcome(record: Record, handle: Any) -> None:
    """A batch writes its processed events' outcomes together: each row still gets its own
    handlers, duration, time and attempt count, and a failure its own error."""
    slow = []

    @handle("invoice.paid")
    def takes_a_while(event: StripeEvent) -> None:
        slow.append(event.id)
        HandlerCall.objects.create(event_id=event.id, handler="takes_a_while")

    types = ("customer.updated", "invoice.paid", "test.fail", "customer.created", "invoice.paid")
    recorded = [record(build_event(t)) for t in types]
    InboxEvent.objects.filter(pk=recorded[3].pk).update(attempts=2, status=Status.FAILED)
    results = dict(process_due(limit=10))

    assert [results[r.stripe_id] for r in recorded] == [
        Outcome.PROCESSED,
        Outcome.PROCESSED,
        Outcome.FAILED,
        Outcome.PROCESSED,
        Outcome.PROCESSED,
    ]
    rows = [_row(r.pk) for r in recorded]
    for row, event_type in zip(rows, types, strict=True):
        if event_type == "test.fail":
            assert (row.status, row.attempts) == (Status.FAILED, 1)
            assert "[tests.testapp.stripe_handlers.failing]" in row.last_error
            continue
        assert row.status == Status.PROCESSED
        assert row.completed_handlers == _chain(event_type)
        assert (row.next_attempt_at, row.last_error) == (None, "")
        assert row.processed_at is not None
        assert row.duration_ms is not None
    assert [row.attempts for row in rows] == [1, 1, 1, 3, 1]
    assert len({row.duration_ms for row in rows}) > 1  # each its own, not the batch's
    assert len(slow) == 2


@pytest.mark.django_db(transaction=True)
@override_settings(STRIPE_MIRROR=SETTINGS)
def test_a_batch_that_cannot_commit_is_retried_event_by_event(
    record: Record, handle: Any, caplog: pytest.LogCaptureFixture
) -> None:
    if connection.vendor == "mysql":
        pytest.skip(
            "MariaDB (InnoDB) checks foreign keys at once, so no handler can make a batch's "
            "commit fail here; the fallback is the same code on every database"
        )

    @handle("test.poison")
    def dangling_reference(event: StripeEvent) -> None:
        # Foreign keys are checked at commit on PostgreSQL and SQLite: the savepoint is
        # released fine, the batch's COMMIT fails.
        Permission.objects.create(name="x", codename=event.id, content_type_id=2_000_000_000)

    good = [record(build_event("customer.updated")) for _ in range(2)]
    poison = record(build_event("test.poison"))
    last = record(build_event("customer.updated"))

    results = dict(process_due(limit=10))

    assert "retrying one by one" in caplog.text
    assert results == {
        good[0].stripe_id: Outcome.PROCESSED,
        good[1].stripe_id: Outcome.PROCESSED,
        poison.stripe_id: Outcome.FAILED,
        last.stripe_id: Outcome.PROCESSED,
    }
    row = _row(poison.pk)
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert IntegrityError.__name__ in row.last_error
    assert row.next_attempt_at > timezone.now()
    assert HandlerCall.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_connection_is_lost_is_retried_event_by_event(
    record: Record, handle: Any, caplog: pytest.LogCaptureFixture
) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no server connection to lose (see the foreign key test)")
    lost: list[str] = []

    @handle("test.lose_connection")
    def lose_connection(event: StripeEvent) -> None:
        if lost:
            return
        live.lose_connection()
        lost.append(event.id)

    events = [record(build_event(t)) for t in ("a.one", "test.lose_connection", "b.two")]
    results = dict(process_due(limit=10))

    assert lost == [events[1].stripe_id]
    assert "retrying one by one" in caplog.text
    assert results == {e.stripe_id: Outcome.PROCESSED for e in events}
    assert {(r.status, r.attempts) for r in InboxEvent.objects.all()} == {(Status.PROCESSED, 1)}
    assert HandlerCall.objects.count() == 3


def _customer(name: str, **fields: Any) -> dict[str, Any]:
    return {"id": "cus_batch", "object": "customer", "name": name, "metadata": {}, **fields}


@pytest.mark.django_db
def test_a_batch_writes_an_objects_superseded_snapshots_not_at_all(
    record: Record, handle: Any
) -> None:
    """Three snapshots of one customer a second apart in one batch: only the newest is
    written; the older ones count as mirrored (applied after it, the guard would skip them),
    and their handlers see the mirror at least as new as their event, never older."""
    from stripe_mirror.models import Customer

    seen: list[tuple[str, str | None]] = []

    @handle("customer.*")
    def look(event: StripeEvent) -> None:
        row = Customer.objects.filter(stripe_id="cus_batch").first()
        seen.append((event.type, row.name if row else None))

    now = int(timezone.now().timestamp())
    types = ("customer.created", "customer.updated", "customer.updated")
    recorded = [
        record(build_event(t, _customer(f"v{n}"), created=now - 10 + n))
        for n, t in enumerate(types)
    ]
    with CaptureQueriesContext(connection) as queries:
        results = dict(process_due(limit=10))

    assert set(results.values()) == {Outcome.PROCESSED}
    customer = Customer.objects.get(stripe_id="cus_batch")
    assert (customer.name, customer.event_id) == ("v2", recorded[2].stripe_id)
    table = Customer._meta.db_table
    writes = [q for q in queries if q["sql"].startswith(("INSERT", "UPDATE")) and table in q["sql"]]
    assert len(writes) == 1, [q["sql"][:80] for q in writes]
    assert seen == [(t, "v2") for t in types]
    for r in recorded:
        assert mirror.NAME in _row(r.pk).completed_handlers


@pytest.mark.django_db
def test_a_deletion_in_a_batch_is_never_superseded(record: Record) -> None:
    """A tombstone is final whatever its time: a newer snapshot in the same batch does not
    make an older deletion void."""
    from stripe_mirror.models import Customer

    now = int(timezone.now().timestamp())
    record(build_event("customer.updated", _customer("old"), created=now - 5))
    record(build_event("customer.deleted", _customer("gone"), created=now - 4))
    record(build_event("customer.updated", _customer("late"), created=now - 3))
    process_due(limit=10)

    customer = Customer.objects.get(stripe_id="cus_batch")
    assert customer.deleted


def _invoice(status: str) -> dict[str, Any]:
    return {"id": "in_batch", "object": "invoice", "status": status, "customer": "cus_x"}


def _invoice_writes(queries: CaptureQueriesContext) -> tuple[int, int]:
    """(INSERTs and UPDATEs of the invoice table, same-second lookups in the inbox)."""
    from stripe_mirror.models import Invoice

    table = Invoice._meta.db_table
    writes = [q for q in queries if q["sql"].startswith(("INSERT", "UPDATE")) and table in q["sql"]]
    inbox = connection.ops.quote_name(InboxEvent._meta.db_table)
    ties = [q for q in queries if q["sql"].startswith("SELECT") and f"FROM {inbox}" in q["sql"]]
    ties = [q for q in ties if "object_id" in q["sql"].split("WHERE")[-1] and "FOR" not in q["sql"]]
    return len(writes), len(ties)


@pytest.mark.django_db
@pytest.mark.parametrize("row_exists", [False, True], ids=["new-row", "older-row"])
def test_a_same_second_tie_in_a_batch_is_decided_once_by_the_guard(
    record: Record, row_exists: bool
) -> None:
    """Several snapshots of one second in a batch: one of them is written, and it carries
    the newest of them all by the guard's tie rules (here, the status progression),
    whichever was recorded first; the others are not written."""
    from stripe_mirror.models import Invoice

    now = int(timezone.now().timestamp())
    record(build_event("invoice.created", _invoice("draft"), created=now - 9))
    if row_exists:
        process_due(limit=10)
        assert Invoice.objects.get(stripe_id="in_batch").status == "draft"
    paid = record(build_event("invoice.paid", _invoice("paid"), created=now - 5))
    record(build_event("invoice.finalized", _invoice("open"), created=now - 5))
    record(build_event("invoice.updated", _invoice("open"), created=now - 5))
    with CaptureQueriesContext(connection) as queries:
        results = dict(process_due(limit=10))

    assert set(results.values()) == {Outcome.PROCESSED}
    invoice = Invoice.objects.get(stripe_id="in_batch")
    assert (invoice.status, invoice.event_id) == ("paid", paid.stripe_id)
    assert _invoice_writes(queries) == (1, 1)


def _invoice_with_line(status: str, amount: int) -> dict[str, Any]:
    line = {"id": "il_tie", "object": "line_item", "amount": amount, "currency": "usd"}
    lines = {"object": "list", "data": [line], "has_more": False, "url": "/v1/invoices/x/lines"}
    return _invoice(status) | {"lines": lines}


@pytest.mark.django_db
def test_a_line_follows_its_invoice_on_a_tie_without_a_lookup_of_its_own(
    record: Record,
) -> None:
    """Two same-second snapshots of an invoice, processed one by one: the second wins the
    tie (the status progression) and its line is written with it. A line has no events of
    its own, so its tie is its invoice's: the inbox is asked once, for the invoice."""
    from stripe_mirror.models import LineItem

    now = int(timezone.now().timestamp())
    first = record(build_event("invoice.finalized", _invoice_with_line("open", 100), created=now))
    assert process(first.pk) == Outcome.PROCESSED
    paid = record(build_event("invoice.paid", _invoice_with_line("paid", 250), created=now))
    with CaptureQueriesContext(connection) as queries:
        assert process(paid.pk) == Outcome.PROCESSED

    line = LineItem.objects.get(stripe_id="il_tie")
    assert (line.amount, line.event_id, line.invoice_id) == (250, paid.stripe_id, "in_batch")
    assert _invoice_writes(queries) == (1, 1)


@pytest.mark.django_db
def test_a_batch_takes_the_other_due_events_of_its_objects(record: Record) -> None:
    """Beyond its ``limit``, a batch claims the other due events about the objects it holds
    (up to ``limit`` more), wherever they are in the queue: one worker then writes each
    object once, and workers do not queue on one another's rows."""
    from stripe_mirror.models import Customer

    now = int(timezone.now().timestamp())

    def event(customer: str, n: int) -> Recorded:
        obj = _customer(f"v{n}") | {"id": customer}
        return record(build_event("customer.updated", obj, created=now - 10 + n))

    a1, b1, c1, a2, a3 = (
        event("cus_a", 1),
        event("cus_b", 1),
        event("cus_c", 1),
        event("cus_a", 2),
        event("cus_a", 3),
    )
    results = dict(process_due(limit=2))

    assert set(results) == {a1.stripe_id, b1.stripe_id, a2.stripe_id, a3.stripe_id}
    assert set(results.values()) == {Outcome.PROCESSED}
    assert _row(c1.pk).status == Status.PENDING
    assert Customer.objects.get(stripe_id="cus_a").name == "v3"
