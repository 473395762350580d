"""inbox.record(): one upsert per delivery, deduplicated by event id, on every database; and
inbox.record_many(), the same for many events at once (catch-up)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from stripe_mirror.dispatch import inbox
from stripe_mirror.dispatch.inbox import Recorded
from stripe_mirror.dispatch.sql import record as record_sql
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event, encode, event_id
from stripe_mirror.verification import envelope
from tests import live

pytestmark = pytest.mark.django_db

Record = Callable[..., Recorded]


def _thin_event() -> dict[str, Any]:
    """A v2 thin event notification: it names its object instead of carrying it."""
    return {
        "id": event_id(),
        "object": "v2.core.event",
        "type": "v1.billing.meter.error_report_triggered",
        "created": "2026-05-01T12:00:00.000Z",
        "livemode": False,
        "related_object": {"id": "mtr_1", "type": "billing.meter", "url": "/v1/billing/meters"},
    }


def _set(pk: int, **fields: Any) -> None:
    InboxEvent.objects.filter(pk=pk).update(**fields)


def test_first_delivery_stores_the_event_due_now(record: Record) -> None:
    event = build_event(
        "invoice.paid",
        {"id": "in_1", "object": "invoice"},
        created=1_767_225_600,
        account="acct_1",
        livemode=True,
    )
    before = timezone.now()
    recorded = record(event, endpoint="connect")
    after = timezone.now()

    assert recorded.first_delivery
    assert recorded.needs_processing
    assert (recorded.stripe_id, recorded.status, recorded.delivery_count) == (
        event["id"],
        Status.PENDING,
        1,
    )
    row = InboxEvent.objects.get(pk=recorded.pk)
    assert (row.stripe_id, row.kind, row.type, row.endpoint) == (
        event["id"],
        "snapshot",
        "invoice.paid",
        "connect",
    )
    assert (row.account, row.livemode, row.object_id, row.object_type) == (
        "acct_1",
        True,
        "in_1",
        "invoice",
    )
    assert row.created == datetime(2026, 1, 1, tzinfo=UTC)
    assert row.body == encode(event).decode()
    assert (row.attempts, row.completed_handlers, row.last_error) == (0, [], "")
    assert before <= row.received_at == row.last_received_at == row.next_attempt_at <= after


def test_redelivery_counts_and_keeps_the_first_body(record: Record) -> None:
    event = build_event("customer.updated")
    first = record(event)
    changed = {**event, "pending_webhooks": 5}
    second = record(changed)
    third = record(event)

    assert first.pk == second.pk == third.pk
    assert [r.delivery_count for r in (first, second, third)] == [1, 2, 3]
    assert not second.first_delivery
    assert not third.first_delivery
    row = InboxEvent.objects.get()
    assert row.delivery_count == 3
    assert row.body == encode(event).decode()
    assert row.last_received_at > row.received_at


@pytest.mark.parametrize("status", [Status.FAILED, Status.DEAD])
def test_redelivery_revives_a_failed_or_dead_event(record: Record, status: Status) -> None:
    recorded = record(build_event("customer.updated"))
    later = timezone.now() + timedelta(hours=1)
    _set(
        recorded.pk,
        status=status,
        attempts=4,
        next_attempt_at=later if status == Status.FAILED else None,
        last_error="boom",
        completed_handlers=["stripe_mirror.mirror"],
    )

    before = timezone.now()
    again = record(build_event("customer.updated", id=recorded.stripe_id))

    assert (again.status, again.delivery_count, again.needs_processing) == (
        Status.PENDING,
        2,
        True,
    )
    row = InboxEvent.objects.get(pk=recorded.pk)
    assert row.status == Status.PENDING
    assert before <= row.next_attempt_at <= timezone.now()  # due now, not in an hour
    # What the next attempt needs stays: the count of attempts and the handlers already done.
    assert (row.attempts, row.completed_handlers, row.last_error) == (
        4,
        ["stripe_mirror.mirror"],
        "boom",
    )


def test_redelivery_leaves_a_processed_event_alone(record: Record) -> None:
    recorded = record(build_event("customer.updated"))
    processed_at = timezone.now()
    _set(recorded.pk, status=Status.PROCESSED, attempts=1, next_attempt_at=None)
    _set(recorded.pk, processed_at=processed_at)

    again = record(build_event("customer.updated", id=recorded.stripe_id))

    assert (again.status, again.delivery_count, again.needs_processing) == (
        Status.PROCESSED,
        2,
        False,
    )
    row = InboxEvent.objects.get(pk=recorded.pk)
    assert (row.status, row.attempts, row.next_attempt_at) == (Status.PROCESSED, 1, None)
    assert row.processed_at == processed_at


def test_redelivery_of_a_pending_event_keeps_its_turn(record: Record) -> None:
    recorded = record(build_event("customer.updated"))
    turn = timezone.now() - timedelta(minutes=5)
    _set(recorded.pk, next_attempt_at=turn)

    again = record(build_event("customer.updated", id=recorded.stripe_id))

    assert (again.status, again.delivery_count) == (Status.PENDING, 2)
    assert InboxEvent.objects.get(pk=recorded.pk).next_attempt_at == turn


@pytest.mark.parametrize("document", [True, False], ids=["json-document", "values"])
def test_record_many_records_as_record_does_in_the_order_given(
    record: Record, document: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New events are inserted in the order given (their ids follow it), one already there is
    a redelivery (counted, a failed one due again, a processed one left alone), and each
    gets the row's state after the write, in the order given; more events than one
    statement takes. On PostgreSQL the rows go as one JSON document, or (``values``: a value
    JSON cannot carry) as VALUES lists, as on the other databases."""
    if not document:
        monkeypatch.setattr(record_sql, "_as_json", lambda rows: None)
    failed, processed = record(build_event("customer.updated")), record(build_event("x.y"))
    _set(failed.pk, status=Status.FAILED, attempts=2, next_attempt_at=None)
    _set(processed.pk, status=Status.PROCESSED, attempts=1, next_attempt_at=None)
    new = [build_event("invoice.paid", created=1_767_225_600 + n) for n in range(150)]
    again = [
        build_event("customer.updated", id=failed.stripe_id),
        build_event("x.y", id=processed.stripe_id),
    ]
    given = [*new[:70], again[0], *new[70:], again[1]]
    assert len(given) > record_sql.ROWS_PER_STATEMENT
    bodies = [encode(event) for event in given]

    with transaction.atomic():
        recorded = inbox.record_many([(envelope.parse(b), b) for b in bodies], "(events-api)")

    assert [r.stripe_id for r in recorded] == [event["id"] for event in given]
    fresh = [r for r in recorded if r.pk not in (failed.pk, processed.pk)]
    assert [r.pk for r in fresh] == sorted(r.pk for r in fresh)
    assert {(r.status, r.delivery_count) for r in fresh} == {(Status.PENDING, 1)}
    assert (recorded[70].pk, recorded[70].status, recorded[70].delivery_count) == (
        failed.pk,
        Status.PENDING,
        2,
    )
    assert (recorded[-1].pk, recorded[-1].status, recorded[-1].needs_processing) == (
        processed.pk,
        Status.PROCESSED,
        False,
    )
    rows = {row.stripe_id: row for row in InboxEvent.objects.all()}
    assert len(rows) == 152
    assert rows[new[0]["id"]].body == bodies[0].decode()
    assert rows[new[0]["id"]].endpoint == "(events-api)"
    assert rows[new[0]["id"]].created == datetime(2026, 1, 1, tzinfo=UTC)
    assert rows[failed.stripe_id].endpoint == "default"  # the first delivery's
    assert rows[failed.stripe_id].attempts == 2


def test_thin_event_is_recorded_skipped_and_stays_skipped(record: Record) -> None:
    event = _thin_event()
    first = record(event)
    second = record(event)

    assert (first.status, first.needs_processing) == (Status.SKIPPED, False)
    assert (second.status, second.delivery_count, second.needs_processing) == (
        Status.SKIPPED,
        2,
        False,
    )
    row = InboxEvent.objects.get()
    assert (row.kind, row.status, row.next_attempt_at) == ("thin", Status.SKIPPED, None)
    assert (row.object_id, row.object_type) == ("mtr_1", "billing.meter")


def test_events_are_told_apart_by_id_only(record: Record) -> None:
    body = build_event("customer.updated")
    results = [record(build_event("customer.updated", body["data"]["object"])) for _ in range(3)]
    assert len({r.pk for r in results}) == 3
    assert all(r.first_delivery for r in results)


@pytest.mark.django_db(transaction=True)
def test_record_commits_before_returning(record: Record) -> None:
    recorded = record(build_event("customer.updated"))
    # Another connection sees the row at once: nothing is left for a later commit.
    seen = live.in_other_connection(
        lambda: list(InboxEvent.objects.values_list("stripe_id", "status", "delivery_count"))
    )
    assert seen == [(recorded.stripe_id, Status.PENDING, 1)]


# --- RECORD_TIMEOUT: a stalled database answers fast ----------------------------------------

TABLE = InboxEvent._meta.db_table
needs_locks = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite: the busy timeout bounds the wait"
)


@pytest.fixture(params=["client-side", "server-side"])
def binding(request: pytest.FixtureRequest) -> Iterator[str]:
    """PostgreSQL with Django's default client-side binding, then with server-side binding
    (``OPTIONS["server_side_binding"]``), which bounds the record differently."""
    if request.param == "client-side":
        yield request.param
        return
    if connection.vendor != "postgresql":
        pytest.skip("server-side binding is a PostgreSQL option")
    options = connection.settings_dict["OPTIONS"]
    connection.close()
    options["server_side_binding"] = True
    try:
        yield request.param
    finally:
        connection.close()
        del options["server_side_binding"]


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        result: Any = call()
    except DatabaseError as exc:
        result = exc
    return result, time.monotonic() - started


@needs_locks
@pytest.mark.django_db(transaction=True)
def test_a_locked_table_makes_the_record_fail_within_the_timeout(
    record: Record, settings: Any, binding: str
) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "RECORD_TIMEOUT": 1}
    event = build_event("customer.updated")
    with live.table_locked(TABLE):
        failed, elapsed = _timed(lambda: record(event))
    assert isinstance(failed, DatabaseError)
    assert 0.9 < elapsed < 2.5
    assert not InboxEvent.objects.exists()  # nothing half-stored

    retried = record(event)  # the redelivery, once the lock is gone
    assert (retried.first_delivery, retried.delivery_count) == (True, 1)
    assert InboxEvent.objects.count() == 1


@needs_locks
@pytest.mark.django_db(transaction=True)
def test_a_locked_row_makes_the_redelivery_fail_within_the_timeout(
    record: Record, settings: Any
) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "RECORD_TIMEOUT": 0.5}
    event = build_event("customer.updated")
    first = record(event)
    with live.row_locked(TABLE, first.pk):
        failed, elapsed = _timed(lambda: record(event))
    assert isinstance(failed, DatabaseError)
    assert 0.4 < elapsed < 2
    assert InboxEvent.objects.get().delivery_count == 1

    assert record(event).delivery_count == 2


@needs_locks
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("disabled", [None, 0])
def test_no_record_timeout_waits_for_the_lock(record: Record, settings: Any, disabled: Any) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "RECORD_TIMEOUT": disabled}
    event = build_event("customer.updated")
    with live.table_locked(TABLE):
        waiter = threading.Thread(target=lambda: live.in_other_connection(lambda: record(event)))
        waiter.start()
        time.sleep(1.5)
        assert waiter.is_alive()  # still waiting: nothing bounds it
    waiter.join(10)
    assert InboxEvent.objects.get().delivery_count == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SET LOCAL is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_the_timeouts_end_with_the_recording_transaction(
    record: Record, settings: Any, binding: str
) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "RECORD_TIMEOUT": 1}
    record(build_event("customer.updated"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
        )
        assert cursor.fetchone() == ("0", "0")
