"""The invoice <-> payment links end the same in both API shapes, in every arrival order.

One payment of a subscription's invoice: a first attempt fails (the intent's latest charge
is then ch_0), the second succeeds with ch_1, the invoice is paid.

* Before 2025-03-31 the objects name each other: invoice.subscription/payment_intent/charge,
  charge.invoice, payment_intent.invoice.
* Since then none does: the invoice names its subscription under parent, an invoice_payment
  (event invoice_payment.paid) pairs the invoice with the intent, the charge names only its
  intent.

Every order of the events is delivered, each order on its own Connect account, and every
order must end in the same links. (Duplicates are proven harmless in test_ordering_property.)
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from stripe_mirror.models import Charge, Invoice, InvoicePayment, PaymentIntent
from stripe_mirror.testing import build_event, post_event
from tests.streams import NEW_API, OLD_API

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_test_primary"
T0, T1 = 1_760_000_000, 1_760_000_090

Event = tuple[str, dict[str, Any], int]


def _intent(status: str, latest: str, **extra: Any) -> dict[str, Any]:
    return {"id": "pi_1", "object": "payment_intent", "status": status, "amount": 900,
            "amount_received": 900 if status == "succeeded" else 0, "latest_charge": latest,
            "customer": "cus_1", **extra}  # fmt: skip


def _charge(**extra: Any) -> dict[str, Any]:
    return {"id": "ch_1", "object": "charge", "status": "succeeded", "amount": 900,
            "payment_intent": "pi_1", "customer": "cus_1", **extra}  # fmt: skip


def _invoice(**extra: Any) -> dict[str, Any]:
    return {"id": "in_1", "object": "invoice", "status": "paid", "customer": "cus_1",
            "amount_paid": 900, **extra}  # fmt: skip


OLD_SHAPE: list[Event] = [
    ("payment_intent.payment_failed",
     _intent("requires_payment_method", "ch_0", invoice="in_1"), T0),
    ("charge.succeeded", _charge(invoice="in_1"), T1),
    ("payment_intent.succeeded", _intent("succeeded", "ch_1", invoice="in_1"), T1),
    ("invoice.paid", _invoice(subscription="sub_1", payment_intent="pi_1", charge="ch_1"), T1),
]  # fmt: skip

NEW_SHAPE: list[Event] = [
    ("payment_intent.payment_failed", _intent("requires_payment_method", "ch_0"), T0),
    ("charge.succeeded", _charge(), T1),
    ("payment_intent.succeeded", _intent("succeeded", "ch_1"), T1),
    ("invoice_payment.paid", {
        "id": "inpay_1", "object": "invoice_payment", "invoice": "in_1", "status": "paid",
        "is_default": True, "amount_paid": 900,
        "payment": {"type": "payment_intent", "payment_intent": "pi_1"},
    }, T1),
    ("invoice.paid", _invoice(parent={
        "type": "subscription_details",
        "subscription_details": {"subscription": "sub_1", "metadata": {}},
    }), T1),
]  # fmt: skip

SHAPES = {"before_2025_03_31": (OLD_API, OLD_SHAPE), "since_2025_03_31": (NEW_API, NEW_SHAPE)}


def deliver(client: Any, events: list[Event], api_version: str, account: str) -> None:
    for n, (event_type, obj, created) in enumerate(events):
        event = build_event(
            event_type,
            obj,
            id=f"evt_{account}_{obj['id']}_{event_type}",
            created=created,
            account=account,
            api_version=api_version,
        )
        response = post_event(client, event, secret=SECRET)
        assert response.status_code == 200, (n, response.content)


def links(account: str) -> dict[str, Any]:
    """Every link of the payment on one account, read through the Django relations."""
    invoice = Invoice.objects.get(account=account, stripe_id="in_1")
    intent = PaymentIntent.objects.get(account=account, stripe_id="pi_1")
    charge = Charge.objects.get(account=account, stripe_id="ch_1")
    assert invoice.payment_intent == intent
    assert invoice.charge == charge
    assert charge.invoice == invoice
    assert intent.invoice == invoice
    assert list(intent.charges.all()) == [charge]
    assert list(invoice.charges.all()) == [charge]
    assert list(invoice.payment_intents.all()) == [intent]
    return {
        "Invoice.subscription": invoice.subscription_id,
        "Invoice.payment_intent": invoice.payment_intent_id,
        "Invoice.charge": invoice.charge_id,
        "Charge.invoice": charge.invoice_id,
        "Charge.payment_intent": charge.payment_intent_id,
        "PaymentIntent.invoice": intent.invoice_id,
        "PaymentIntent.latest_charge": intent.latest_charge_id,
    }


EXPECTED = {
    "Invoice.subscription": "sub_1",
    "Invoice.payment_intent": "pi_1",
    "Invoice.charge": "ch_1",
    "Charge.invoice": "in_1",
    "Charge.payment_intent": "pi_1",
    "PaymentIntent.invoice": "in_1",
    "PaymentIntent.latest_charge": "ch_1",
}


@pytest.mark.parametrize("shape", SHAPES)
def test_same_links_in_every_order(client: Any, shape: str) -> None:
    api_version, events = SHAPES[shape]
    orders = list(itertools.permutations(events))
    for n, order in enumerate(orders):
        deliver(client, list(order), api_version, f"acct_{n}")
    for n, order in enumerate(orders):
        assert links(f"acct_{n}") == EXPECTED, [event_type for event_type, _, _ in order]


def test_invoice_payment_relations(client: Any) -> None:
    deliver(client, NEW_SHAPE, NEW_API, "acct_x")
    payment = InvoicePayment.objects.get(account="acct_x")
    invoice = Invoice.objects.get(account="acct_x")
    intent = PaymentIntent.objects.get(account="acct_x")
    assert payment.invoice == invoice
    assert payment.payment_intent == intent
    assert list(invoice.payments.all()) == [payment]
    assert list(intent.invoice_payments.all()) == [payment]


def test_links_stay_within_their_account(client: Any) -> None:
    """The same ids on the platform and a connected account are two payments."""
    deliver(client, NEW_SHAPE, NEW_API, "acct_a")
    deliver(client, NEW_SHAPE[1:3], NEW_API, "acct_b")  # only the charge and the intent
    assert links("acct_a") == EXPECTED
    assert Charge.objects.get(account="acct_b").invoice_id is None
    assert PaymentIntent.objects.get(account="acct_b").invoice_id is None


def test_an_unpaid_invoice_has_no_payment_links_since_2025_03_31(client: Any) -> None:
    """Without an invoice_payment, nothing in the new shape pairs the invoice with the
    intent (the old shape named it from finalization on)."""
    open_invoice = _invoice(status="open", amount_paid=0, parent=None)
    events = [
        ("invoice.finalized", open_invoice, T0),
        ("payment_intent.payment_failed", _intent("requires_payment_method", "ch_0"), T0),
    ]
    deliver(client, events, NEW_API, "acct_u")
    invoice = Invoice.objects.get(account="acct_u")
    assert (invoice.payment_intent_id, invoice.charge_id) == (None, None)
    assert PaymentIntent.objects.get(account="acct_u").invoice_id is None


def test_a_write_that_changes_no_link_value_loads_no_payment(client: Any) -> None:
    """An update leaving every value the links load as it was (an invoice's metadata)
    changes no link: the payment's rows are not loaded and the links stay; one that changes
    such a value (the intent's latest charge) recomputes them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    deliver(client, NEW_SHAPE, NEW_API, "acct_k")
    invoice = dict(NEW_SHAPE[-1][1], metadata={"note": "changed"})
    with CaptureQueriesContext(connection) as queries:
        deliver(client, [("invoice.updated", invoice, T1 + 60)], NEW_API, "acct_k")
    assert Invoice.objects.get(account="acct_k").data["metadata"] == {"note": "changed"}
    assert not [q for q in queries if "UNION ALL" in q["sql"]]
    assert links("acct_k") == EXPECTED

    intent = _intent("processing", "ch_2")
    with CaptureQueriesContext(connection) as queries:
        deliver(client, [("payment_intent.processing", intent, T1 + 120)], NEW_API, "acct_k")
    assert [q for q in queries if "UNION ALL" in q["sql"]]
    row = Invoice.objects.get(account="acct_k")
    assert (row.payment_intent_id, row.charge_id) == ("pi_1", "ch_2")


def test_a_link_pass_locks_a_row_committed_after_its_locks_before_writing_it(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass after commit locks the payment's rows in one order, then reads them. A row of
    a known id that another transaction commits between the two (here the charge the invoice
    names) must not be written unlocked: that lock, taken out of order, let a pass and a
    worker's batch deadlock (a second's stall each). The pass starts again and locks it."""
    from django.db import connection, router

    from stripe_mirror.sync.links import write as links
    from tests import live

    if not connection.features.has_select_for_update:
        pytest.skip("SQLite has one writer at a time: there is no pass after commit")
    event = build_event("invoice.paid", _invoice(charge="ch_1"), created=T1, api_version=OLD_API)
    assert post_event(client, event, secret=SECRET).status_code == 200
    assert not Charge.objects.exists()

    real_discover = links._discover
    rounds: list[int] = []

    def discover_after_a_commit(*args: Any) -> Any:
        if not rounds:  # the charge's own event, committed by another worker meanwhile
            live.in_other_connection(
                lambda: Charge.objects.create(stripe_id="ch_1", account="", livemode=False)
            )
        rounds.append(len(rounds))
        return real_discover(*args)

    monkeypatch.setattr(links, "_discover", discover_after_a_commit)
    ids = links._Ids()
    ids.add("in_1", None, "ch_1")
    links._settle(links._Scope("", False), ids, router.db_for_write(Invoice))

    assert len(rounds) == 2  # the first round found an unlocked row: it started again
    assert Charge.objects.get(stripe_id="ch_1").invoice_id == "in_1"


def test_a_payments_rows_inserted_at_once_end_in_its_links(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The charge's event commits while the invoice payment's event is between reading the
    payment's rows and writing their links: each new row was invisible to the other event,
    and neither changed the rows both read. The pass after commit, which locks the rows and
    then reads them, ends in every link. (Writing the other rows' links at once when their
    locks could be taken without waiting did not: docs/benchmarks.md.)"""
    from django.db import connection
    from django.test import Client

    from stripe_mirror.sync.links import write
    from tests import live

    if not connection.features.has_select_for_update:
        pytest.skip("SQLite has one writer at a time: the two events cannot overlap")
    failed_intent, charge, intent, pairing, paid = NEW_SHAPE
    deliver(client, [failed_intent, intent, paid], NEW_API, "acct_r")
    real = write._discover
    interleaved: list[bool] = []

    def discover_then_the_charge(*args: Any) -> Any:
        rows = real(*args)
        if not interleaved:  # the pairing's read: the charge's event runs and commits now
            interleaved.append(True)
            live.in_other_connection(lambda: deliver(Client(), [charge], NEW_API, "acct_r"))
        return rows

    monkeypatch.setattr(write, "_discover", discover_then_the_charge)
    deliver(client, [pairing], NEW_API, "acct_r")
    assert interleaved
    assert links("acct_r") == EXPECTED
