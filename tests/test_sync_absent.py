"""sync/absent.py: a worker's batch looks up which of its objects have no row, and their first
upsert goes straight to the INSERT. A hint that is out of date (the row was created after the
batch looked, by this transaction or another) must cost a statement, never a wrong write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from stripe_mirror.models import Customer
from stripe_mirror.sync import Origin, Result, absent, upsert

pytestmark = pytest.mark.django_db


def origin(second: int, event_id: str) -> Origin:
    when = datetime.fromtimestamp(1_700_000_000 + second, UTC)
    return Origin(event_id, "customer.updated", when, account="", livemode=False)


def customer(email: str) -> dict[str, object]:
    return {"id": "cus_1", "object": "customer", "email": email, "created": 1_700_000_000}


def test_missing_objects_are_known_once_and_only_theirs() -> None:
    Customer.objects.create(stripe_id="cus_2", data={})
    objects = [("customer", "cus_1", "", False), ("customer", "cus_2", "", False)]
    objects += [("customer", "cus_1", "acct_1", False), ("unknown_type", "x_1", "", False)]
    with absent.batch(objects):
        inserts_first = connection.vendor in ("postgresql", "sqlite")
        assert absent.take(Customer, "cus_1", "", False) is inserts_first
        assert absent.take(Customer, "cus_1", "", False) is False  # the first ask only
        assert absent.take(Customer, "cus_2", "", False) is False  # it has a row
        assert absent.take(Customer, "cus_1", "acct_1", False) is inserts_first
        assert absent.take(Customer, "cus_1", "", True) is False  # not asked for
    assert absent.take(Customer, "cus_1", "acct_1", False) is False  # outside the batch


def test_a_row_created_after_the_batch_looked_is_read_and_guarded() -> None:
    with absent.batch([("customer", "cus_1", "", False)]):
        # Created meanwhile (another event's rule, another worker), with a newer snapshot.
        first = upsert(customer("new@example.com"), origin(10, "evt_new"), authoritative=False)
        assert first.result is Result.CREATED
        stale = upsert(customer("old@example.com"), origin(5, "evt_old"))
    assert stale.result is Result.SKIPPED_OLDER
    row = Customer.objects.get(stripe_id="cus_1")
    assert (row.email, row.event_id) == ("new@example.com", "evt_new")


def test_a_stale_hint_falls_back_to_the_locked_read() -> None:
    with absent.batch([("customer", "cus_1", "", False)]):
        Customer.objects.create(
            stripe_id="cus_1",
            email="new@example.com",
            event_id="evt_new",
            event_created=origin(10, "evt_new").created,
            data={},
        )
        stale = upsert(customer("old@example.com"), origin(5, "evt_old"))
        newer = upsert(customer("newest@example.com"), origin(20, "evt_newest"))
    assert (stale.result, newer.result) == (Result.SKIPPED_OLDER, Result.UPDATED)
    row = Customer.objects.get(stripe_id="cus_1")
    assert (row.email, row.event_id) == ("newest@example.com", "evt_newest")
    assert Customer.objects.filter(stripe_id="cus_1").count() == 1
