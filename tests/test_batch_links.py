"""A worker's batch computes the payment links of every row its events write at once
(``sync.links.deferred``/``flush``), after all their first steps and before any handler:

* a handler sees the links the whole batch makes (an ``invoice.paid`` handler sees the
  payment intent and charge that the batch's ``invoice_payment.paid`` and charge events
  derive, whatever order the batch's groups run in);
* the payments' rows are loaded per batch, not per written row: a batch of twelve payments
  makes as many loads as a batch of one.

Commits for real (``transaction=True``): the pass after commit runs as in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from stripe_mirror.dispatch import Outcome, process_due
from stripe_mirror.dispatch.registry import registry
from stripe_mirror.models import Charge, Invoice, PaymentIntent
from stripe_mirror.sync import links
from stripe_mirror.testing import build_event
from tests.streams import NEW_API

pytestmark = pytest.mark.django_db(transaction=True)

T = 1_760_000_090


def _payment(n: int, account: str) -> list[dict[str, Any]]:
    """The events of one paid invoice in the shape since 2025-03-31 (no object names the
    invoice's payment intent or charge), all of one second as Stripe sends them."""
    invoice, intent, charge = (
        f"in_{account}_{n:02d}",
        f"pi_{account}_{n:02d}",
        f"ch_{account}_{n:02d}",
    )
    objects = [
        ("charge.succeeded", {"id": charge, "object": "charge", "status": "succeeded",
                              "amount": 900, "payment_intent": intent, "created": T}),
        ("payment_intent.succeeded", {"id": intent, "object": "payment_intent",
                                      "status": "succeeded", "amount": 900,
                                      "latest_charge": charge}),
        ("invoice_payment.paid", {"id": f"inpay_{account}_{n:02d}", "object": "invoice_payment",
                                  "invoice": invoice, "status": "paid", "is_default": True,
                                  "payment": {"type": "payment_intent", "payment_intent": intent}}),
        ("invoice.paid", {"id": invoice, "object": "invoice", "status": "paid",
                          "amount_paid": 900}),
    ]  # fmt: skip
    return [
        build_event(t, obj, id=f"evt_{obj['id']}_{t}", created=T, account=account,
                    api_version=NEW_API)
        for t, obj in objects
    ]  # fmt: skip


@pytest.fixture
def seen() -> Iterator[dict[str, tuple[str | None, str | None]]]:
    """What an ``invoice.paid`` handler sees of its invoice's links, by invoice id."""
    found: dict[str, tuple[str | None, str | None]] = {}

    def handler(event: Any) -> None:
        row = Invoice.objects.get(account=event.account or "", stripe_id=event.data.object["id"])
        found[row.stripe_id] = (row.payment_intent_id, row.charge_id)

    registry.register(handler, "invoice.paid")
    yield found
    registry.unregister(handler)


def test_a_handler_sees_the_links_its_batch_derives(
    record: Callable[..., Any], seen: dict[str, tuple[str | None, str | None]]
) -> None:
    for event in _payment(0, "acct_h") + _payment(1, "acct_h"):
        record(event)
    outcomes = process_due(50)
    assert [o for _, o in outcomes] == [Outcome.PROCESSED] * 8
    assert seen == {
        "in_acct_h_00": ("pi_acct_h_00", "ch_acct_h_00"),
        "in_acct_h_01": ("pi_acct_h_01", "ch_acct_h_01"),
    }
    intent = PaymentIntent.objects.get(stripe_id="pi_acct_h_01")
    charge = Charge.objects.get(stripe_id="ch_acct_h_01")
    assert (intent.invoice_id, charge.invoice_id) == ("in_acct_h_01", "in_acct_h_01")


def _loads(record: Callable[..., Any], payments: int, account: str) -> int:
    """The statements loading payments' rows while a batch of ``payments`` payments is
    processed (the pass after commit included)."""
    for n in range(payments):
        for event in _payment(n, account):
            record(event)
    with CaptureQueriesContext(connection) as queries:
        outcomes = process_due(200)
    assert [o for _, o in outcomes] == [Outcome.PROCESSED] * (4 * payments)
    for n in range(payments):
        row = Invoice.objects.get(account=account, stripe_id=f"in_{account}_{n:02d}")
        assert (row.payment_intent_id, row.charge_id) == (
            f"pi_{account}_{n:02d}",
            f"ch_{account}_{n:02d}",
        )
    # The load is the one statement with UNION ALL.
    return sum(1 for q in queries if "UNION ALL" in q["sql"])


def test_a_batch_of_twelve_payments_loads_as_often_as_one(record: Callable[..., Any]) -> None:
    one = _loads(record, 1, "acct_one")
    twelve = _loads(record, 12, "acct_twelve")
    assert one >= 1
    assert twelve == one


def test_links_written_after_the_flush_are_reconciled_at_once(
    record: Callable[..., Any],
) -> None:
    """Inside ``deferred`` after its ``flush`` (a handler writing mirrored rows), a write's
    links are computed as it is written, not left to a flush that will not come."""
    for event in _payment(0, "acct_f"):
        record(event)
    assert [o for _, o in process_due(50)] == [Outcome.PROCESSED] * 4
    invoice = Invoice.objects.get(stripe_id="in_acct_f_00")
    Invoice.objects.filter(pk=invoice.pk).update(payment_intent_id=None, charge_id=None)
    with transaction.atomic(), links.deferred():
        links.flush()
        links.reconcile(Invoice.objects.get(pk=invoice.pk))
        invoice.refresh_from_db()
        assert (invoice.payment_intent_id, invoice.charge_id) == ("pi_acct_f_00", "ch_acct_f_00")


def test_the_payments_of_a_rolled_back_transaction_are_not_settled_by_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pass after commit settles the payments of the transaction that committed, not
    those a rolled-back one left pending on the connection."""
    from stripe_mirror.sync.links import write

    if not connection.features.has_select_for_update:
        pytest.skip("SQLite has one writer at a time: there is no pass after commit")
    settled: list[str] = []
    real = write._settle

    def settle(scope: Any, ids: Any, alias: str) -> None:
        settled.append(str(ids))
        real(scope, ids, alias)

    monkeypatch.setattr(write, "_settle", settle)

    def rolled_back() -> None:
        with transaction.atomic():
            links.reconcile(Invoice.objects.create(stripe_id="in_rolled_back", data={}))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    with transaction.atomic():
        links.reconcile(Invoice.objects.create(stripe_id="in_committed", data={}))
    assert settled == ["in_committed"]
    assert not Invoice.objects.filter(stripe_id="in_rolled_back").exists()
