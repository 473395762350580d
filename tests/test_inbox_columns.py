"""The inbox row written by inbox.record(): every column, on every database.

record() writes the constant columns as SQL literals and skips the field preparation of
text, integer and boolean values (a hot-path saving); these tests pin what reaches the row.
"""

from datetime import UTC, datetime

import orjson
import pytest

from stripe_mirror.dispatch import inbox
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event
from stripe_mirror.verification import envelope


def _record(event, endpoint="default"):
    body = orjson.dumps(event)
    return inbox.record(envelope.parse(body), endpoint, body), body


@pytest.mark.django_db
def test_first_delivery_writes_every_column():
    event = build_event(
        "invoice.paid",
        {"id": "in_1", "object": "invoice", "customer": "cus_1"},
        created=1_700_000_000,
        livemode=True,
        account="acct_1",
    )
    recorded, body = _record(event, endpoint="connect")
    row = InboxEvent.objects.get(pk=recorded.pk)
    assert (recorded.stripe_id, recorded.status, recorded.first_delivery) == (
        event["id"],
        Status.PENDING,
        True,
    )
    assert (row.stripe_id, row.kind, row.type, row.api_version) == (
        event["id"],
        "snapshot",
        "invoice.paid",
        event["api_version"],
    )
    assert row.created == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert (row.livemode, row.account, row.endpoint) == (True, "acct_1", "connect")
    assert (row.object_id, row.object_type) == ("in_1", "invoice")
    assert row.body == body.decode()
    assert row.received_at == row.last_received_at == row.next_attempt_at
    assert row.received_at.tzinfo is not None
    assert (row.delivery_count, row.status, row.attempts) == (1, Status.PENDING, 0)
    assert (row.last_error, row.completed_handlers) == ("", [])
    assert row.processed_at is None
    assert row.duration_ms is None


@pytest.mark.django_db
def test_redelivery_counts_and_keeps_the_row():
    event = build_event("customer.created", {"id": "cus_1", "object": "customer"})
    first, _ = _record(event)
    again, _ = _record(event)
    assert again.pk == first.pk
    assert (again.delivery_count, again.first_delivery) == (2, False)
    row = InboxEvent.objects.get(pk=first.pk)
    assert (row.delivery_count, row.attempts, row.completed_handlers) == (2, 0, [])


@pytest.mark.django_db
def test_thin_event_is_recorded_skipped():
    thin = {
        "id": "evt_test_thin_1",
        "object": "v2.core.event",
        "type": "v1.billing.meter.error_report_triggered",
        "created": "2026-01-02T03:04:05.000Z",
        "livemode": False,
        "related_object": {"id": "mtr_1", "type": "billing.meter", "url": "/v1/billing/meters"},
    }
    recorded, _ = _record(thin)
    row = InboxEvent.objects.get(pk=recorded.pk)
    assert (row.kind, row.status, row.next_attempt_at) == ("thin", Status.SKIPPED, None)
    assert (row.object_id, row.object_type, row.api_version) == ("mtr_1", "billing.meter", "")
    assert (row.delivery_count, row.attempts, row.last_error, row.completed_handlers) == (
        1,
        0,
        "",
        [],
    )
