"""The events that mean more than "here is the object's new state", posted through the real
endpoint (objects built from Stripe's fixtures), in order and out of order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stripe_mirror.models import (
    Account,
    Charge,
    CheckoutSession,
    Coupon,
    Customer,
    Discount,
    Dispute,
    InboxEvent,
    Invoice,
    InvoiceItem,
    InvoicePayment,
    LineItem,
    PaymentIntent,
    PaymentMethod,
    Plan,
    Price,
    Product,
    Refund,
    Status,
    StripeModel,
    StripeObject,
    Subscription,
    SubscriptionItem,
    TaxId,
)
from stripe_mirror.testing import build_event
from tests import stripe_data
from tests.testapp.models import HandlerCall

pytestmark = pytest.mark.django_db

Post = Callable[..., Any]


def make(object_type: str, **fields: Any) -> dict[str, Any]:
    """A fresh object of ``object_type`` (Stripe's example with a new id), with ``fields``."""
    return {**stripe_data.fixture(object_type), **fields}


def send(post: Post, event_type: str, obj: dict[str, Any], created: int, **kw: Any) -> str:
    """Post one event and check it was processed; returns its id."""
    event = build_event(event_type, obj, created=created, **kw)
    assert post(event).status_code == 200
    inbox = InboxEvent.objects.get(stripe_id=event["id"])
    assert (inbox.status, inbox.last_error) == (Status.PROCESSED, "")
    return str(event["id"])


def row(model: type[StripeModel], obj: dict[str, Any], **key: Any) -> Any:
    return model.objects.get(stripe_id=obj["id"], **key)


# --- customer.discount.* ---------------------------------------------------------------


def customer_discount(customer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return make("discount", **{"customer": customer["id"], "subscription": None, **fields})


def test_customer_discount_sets_and_clears_the_customers_discount(post: Post) -> None:
    customer = make("customer", discount=None)
    discount = customer_discount(customer)
    send(post, "customer.created", customer, 10)

    send(post, "customer.discount.created", discount, 20)
    assert row(Customer, customer).discount == row(Discount, discount)

    send(post, "customer.discount.deleted", discount, 30)
    assert row(Customer, customer).discount_id is None
    assert row(Discount, discount).deleted


@pytest.mark.parametrize("level", ["subscription", "invoice", "invoice_item", "subscription_item"])
def test_a_discount_below_the_customer_is_not_the_customers(post: Post, level: str) -> None:
    customer = make("customer", discount=None)
    send(post, "customer.created", customer, 10)
    own = customer_discount(customer)
    send(post, "customer.discount.created", own, 20)

    other = customer_discount(customer, **{level: f"{level}_1"})
    send(post, "customer.discount.created", other, 30)
    send(post, "customer.discount.deleted", other, 40)

    assert row(Customer, customer).discount_id == own["id"]
    assert row(Discount, other).deleted


def test_customer_discount_before_the_customers_own_older_event(post: Post) -> None:
    customer = make("customer", discount=None)
    discount = customer_discount(customer)
    send(post, "customer.discount.created", discount, 20)
    send(post, "customer.created", customer, 10)  # rendered before the discount existed

    assert row(Customer, customer).discount_id == discount["id"]

    send(post, "customer.discount.deleted", discount, 30)
    send(post, "customer.updated", {**customer, "discount": discount}, 25)  # late, older
    assert row(Customer, customer).discount_id is None


@pytest.mark.parametrize("order", ["discounts first", "customer first"])
def test_a_replaced_customer_discount(post: Post, order: str) -> None:
    customer = make("customer", discount=None)
    old, new = customer_discount(customer), customer_discount(customer)
    events = [
        ("customer.discount.created", old, 10),
        ("customer.discount.created", new, 20),
        ("customer.discount.deleted", old, 20),
    ]
    if order == "customer first":
        send(post, "customer.updated", {**customer, "discount": old}, 15)
    for event in events:
        send(post, *event)
    if order == "discounts first":
        send(post, "customer.updated", {**customer, "discount": old}, 15)

    assert row(Customer, customer).discount_id == new["id"]


def test_a_newer_customer_snapshot_wins_over_an_older_discount_event(post: Post) -> None:
    customer = make("customer", discount=None)
    discount = customer_discount(customer)
    send(post, "customer.updated", customer, 30)  # discount already removed again
    send(post, "customer.discount.created", discount, 20)
    assert row(Customer, customer).discount_id is None


# --- customer.source.* and account.external_account.* -------------------------------------


@pytest.mark.parametrize("object_type", ["card", "bank_account"])
def test_customer_source_card_or_bank_account(post: Post, object_type: str) -> None:
    source = make(object_type, customer="cus_1")
    send(post, "customer.source.created", source, 10)
    mirrored = row(StripeObject, source, type=object_type)
    assert (mirrored.data["customer"], mirrored.deleted) == ("cus_1", False)

    send(post, "customer.source.deleted", source, 20)
    send(post, "customer.source.updated", {**source, "metadata": {"late": "1"}}, 15)

    mirrored.refresh_from_db()
    assert mirrored.deleted
    assert mirrored.data["metadata"] == {}


def test_customer_source_of_type_source_is_detached_not_deleted(post: Post) -> None:
    source = make("source", status="chargeable")
    send(post, "customer.source.created", source, 10)
    send(post, "customer.source.deleted", {**source, "status": "consumed"}, 20)
    mirrored = row(StripeObject, source, type="source")
    assert (mirrored.deleted, mirrored.data["status"]) == (False, "consumed")


def test_removing_an_account_from_a_customers_sources_keeps_the_account(post: Post) -> None:
    account = make("account")
    send(post, "account.updated", account, 10)
    send(post, "customer.source.deleted", account, 20)
    assert not row(Account, account).deleted


@pytest.mark.parametrize("object_type", ["card", "bank_account"])
def test_external_accounts_of_a_connected_account(post: Post, object_type: str) -> None:
    external = make(object_type, account="acct_connected")
    send(post, "account.external_account.created", external, 10, account="acct_connected")
    mirrored = row(StripeObject, external, type=object_type)
    assert (mirrored.account, mirrored.deleted) == ("acct_connected", False)

    send(post, "account.external_account.deleted", external, 20, account="acct_connected")
    send(post, "account.external_account.updated", external, 30, account="acct_connected")
    mirrored.refresh_from_db()
    assert mirrored.deleted


# --- customer.tax_id.* -----------------------------------------------------------------


def test_customer_tax_id(post: Post) -> None:
    customer = make("customer")
    tax_id = make("tax_id", customer=customer["id"], value="DE111")
    send(post, "customer.created", customer, 5)
    send(post, "customer.tax_id.created", tax_id, 10)
    send(post, "customer.tax_id.updated", {**tax_id, "verification": {"status": "verified"}}, 20)

    mirrored = row(TaxId, tax_id)
    assert (mirrored.value, mirrored.data["verification"]["status"]) == ("DE111", "verified")
    assert list(row(Customer, customer).tax_ids.all()) == [mirrored]

    send(post, "customer.tax_id.deleted", tax_id, 30)
    assert row(TaxId, tax_id).deleted


# --- charge.dispute.* ------------------------------------------------------------------


def test_dispute_marks_its_charge_disputed(post: Post) -> None:
    charge = make("charge", disputed=False)
    dispute = make("dispute", charge=charge["id"], status="needs_response")
    send(post, "charge.succeeded", charge, 10)
    send(post, "charge.dispute.created", dispute, 20)

    assert row(Charge, charge).disputed is True
    assert list(row(Charge, charge).disputes.all()) == [row(Dispute, dispute)]

    send(post, "charge.dispute.closed", {**dispute, "status": "lost"}, 30)
    assert row(Dispute, dispute).status == "lost"
    assert row(Charge, charge).disputed is True


@pytest.mark.parametrize(
    "event_type",
    ["charge.dispute.created", "charge.dispute.updated", "charge.dispute.funds_withdrawn"],
)
def test_a_charge_arriving_after_its_dispute_is_disputed(post: Post, event_type: str) -> None:
    charge = make("charge", disputed=False)
    dispute = make("dispute", charge=charge["id"])
    send(post, event_type, dispute, 20)
    send(post, "charge.succeeded", charge, 10)  # rendered before the dispute
    assert row(Charge, charge).disputed is True


# --- refunds ---------------------------------------------------------------------------


def test_charge_refund_updated_stores_a_refund_of_its_charge(post: Post) -> None:
    charge = make("charge")
    refund = make("refund", charge=charge["id"], status="pending")
    send(post, "charge.refund.updated", refund, 10)
    send(post, "charge.refunded", {**charge, "refunded": True}, 11)

    mirrored = row(Refund, refund)
    assert mirrored.charge == row(Charge, charge)
    assert list(row(Charge, charge).refunds.all()) == [mirrored]


def test_refund_events_and_charge_refunded(post: Post) -> None:
    charge = make("charge", amount=500, amount_refunded=0, refunded=False)
    refund = make("refund", charge=charge["id"], amount=500, status="pending")
    send(post, "charge.succeeded", charge, 10)
    send(post, "refund.created", refund, 20)
    send(post, "refund.updated", {**refund, "status": "succeeded"}, 21)
    charge_refunded = {**charge, "amount_refunded": 500, "refunded": True}
    send(post, "charge.refunded", charge_refunded, 20)

    mirrored = row(Charge, charge)
    assert (mirrored.refunded, mirrored.amount_refunded) == (True, 500)
    assert [(r.stripe_id, r.status) for r in mirrored.refunds.all()] == [
        (refund["id"], "succeeded")
    ]


def test_charge_refunded_in_the_old_shape_stores_its_embedded_refunds(post: Post) -> None:
    charge = make("charge", amount=500, amount_refunded=500, refunded=True)
    # Before 2022-11-15 a charge embeds its refunds, which may not name their charge.
    first = make("refund", charge=None, amount=200, status="succeeded")
    second = make("refund", amount=300, status="pending")
    del second["charge"]
    charge["refunds"] = {"object": "list", "data": [first, second], "has_more": False}
    send(post, "charge.refunded", charge, 20, api_version="2020-08-27")

    refunds = {r.stripe_id: r for r in row(Charge, charge).refunds.all()}
    assert set(refunds) == {first["id"], second["id"]}
    assert (refunds[first["id"]].amount, refunds[second["id"]].status) == (200, "pending")

    # The refund's own newer event wins over the copy in a later-delivered older charge event.
    send(post, "refund.updated", {**second, "charge": charge["id"], "status": "succeeded"}, 30)
    send(post, "charge.refunded", charge, 20, api_version="2020-08-27")
    assert row(Refund, second).status == "succeeded"


# --- payment_method.detached -----------------------------------------------------------


def test_payment_method_detached_clears_the_customer(post: Post) -> None:
    attached = make("payment_method", customer="cus_1")
    send(post, "payment_method.attached", attached, 10)
    send(post, "payment_method.detached", {**attached, "customer": None}, 20)
    assert row(PaymentMethod, attached).customer_id is None


def test_a_late_attached_event_of_the_same_second_does_not_reattach(post: Post) -> None:
    attached = make("payment_method", customer="cus_1")
    detached = {**attached, "customer": None}
    send(post, "payment_method.detached", detached, 20, previous_attributes={"customer": "cus_1"})
    send(post, "payment_method.attached", attached, 20)
    send(post, "payment_method.attached", attached, 15)
    assert row(PaymentMethod, attached).customer_id is None


# --- invoice.upcoming, checkout.session.* ------------------------------------------------


def test_invoice_upcoming_is_dispatched_not_stored(post: Post) -> None:
    upcoming = stripe_data.object_for("invoice.upcoming")
    assert "id" not in upcoming
    assert upcoming["lines"]["data"]
    event_id = send(post, "invoice.upcoming", upcoming, 10)

    assert not Invoice.objects.exists()
    assert not LineItem.objects.exists()
    assert HandlerCall.objects.filter(event_id=event_id, handler="record_call").exists()


@pytest.mark.parametrize(
    "event_type",
    [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    ],
)
def test_checkout_session_and_its_relations(post: Post, event_type: str) -> None:
    customer, subscription = make("customer"), make("subscription")
    session = make(
        "checkout.session",
        customer=customer["id"],
        subscription=subscription["id"],
        invoice="in_1",
        client_reference_id="order-7",
        status="complete",
        payment_status="paid",
    )
    send(post, event_type, session, 20)
    send(post, "customer.created", customer, 10)
    send(post, "customer.subscription.created", {**subscription, "customer": customer["id"]}, 10)

    mirrored = CheckoutSession.objects.get(client_reference_id="order-7")
    assert (mirrored.stripe_id, mirrored.payment_status) == (session["id"], "paid")
    assert mirrored.customer == row(Customer, customer)
    assert mirrored.subscription.customer == mirrored.customer
    assert list(row(Customer, customer).checkout_sessions.all()) == [mirrored]


# --- account.application.* ---------------------------------------------------------------


def _authorizations(post: Post, first: str, then: str, *, reverse: bool) -> None:
    """account.application.<first> then .<then> from one connected account, delivered in
    order or reversed."""
    application = make("application")
    events = [(f"account.application.{first}", 10), (f"account.application.{then}", 20)]
    for event_type, created in reversed(events) if reverse else events:
        send(post, event_type, application, created, account="acct_c1")


@pytest.mark.parametrize("reverse", [False, True])
def test_account_application_deauthorized_then_authorized(post: Post, reverse: bool) -> None:
    _authorizations(post, "deauthorized", "authorized", reverse=reverse)

    account = Account.objects.get(stripe_id="acct_c1", account="acct_c1")
    assert account.deauthorized is False
    assert StripeObject.objects.get(type="application").account == "acct_c1"


@pytest.mark.parametrize("reverse", [False, True])
def test_account_application_authorized_then_deauthorized(post: Post, reverse: bool) -> None:
    _authorizations(post, "authorized", "deauthorized", reverse=reverse)
    account = make("account", id="acct_c1", email="c1@example.com")
    send(post, "account.updated", account, 15, account="acct_c1")

    mirrored = Account.objects.get(stripe_id="acct_c1", account="acct_c1")
    assert (mirrored.deauthorized, mirrored.email) == (True, "c1@example.com")


# --- invoice_payment.* -------------------------------------------------------------------


def _new_shape(invoice_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    invoice = make(
        "invoice",
        id=invoice_id,
        status="paid",
        parent={"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}},
    )
    payment = make(
        "invoice_payment",
        invoice=invoice_id,
        status="paid",
        payment={"type": "payment_intent", "payment_intent": "pi_1"},
    )
    charge = make("charge", payment_intent="pi_1", status="succeeded")
    return invoice, payment, charge


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (1, 2, 0)])
def test_invoice_payment_links_invoice_payment_intent_and_charge(
    post: Post, order: tuple[int, ...]
) -> None:
    invoice, payment, charge = _new_shape("in_new")
    events = [
        ("invoice.paid", invoice),
        ("invoice_payment.paid", payment),
        ("charge.succeeded", charge),
    ]
    for index in order:
        send(post, *events[index], 10 + index)

    mirrored = Invoice.objects.get(stripe_id="in_new")
    assert (mirrored.subscription_id, mirrored.payment_intent_id) == ("sub_1", "pi_1")
    assert mirrored.charge_id == charge["id"]
    assert row(InvoicePayment, payment).invoice == mirrored
    assert row(Charge, charge).invoice_id == "in_new"


def test_the_old_shape_ends_in_the_same_links(post: Post) -> None:
    invoice = make(
        "invoice", id="in_old", status="paid", subscription="sub_1", payment_intent="pi_1"
    )
    for key in ("parent", "charge"):
        invoice.pop(key, None)
    intent = make("payment_intent", id="pi_1", invoice="in_old", status="succeeded")
    charge = make("charge", payment_intent="pi_1", invoice="in_old", status="succeeded")
    old = {"api_version": "2024-06-20"}
    send(post, "charge.succeeded", charge, 12, **old)
    send(post, "payment_intent.succeeded", intent, 11, **old)
    send(post, "invoice.paid", invoice, 10, **old)

    mirrored = Invoice.objects.get(stripe_id="in_old")
    assert (mirrored.subscription_id, mirrored.payment_intent_id) == ("sub_1", "pi_1")
    assert mirrored.charge_id == charge["id"]
    assert PaymentIntent.objects.get(stripe_id="pi_1").invoice == mirrored


# --- *.deleted -------------------------------------------------------------------------


DELETIONS = {
    "customer": (Customer, "customer.deleted", "customer.updated"),
    "coupon": (Coupon, "coupon.deleted", "coupon.updated"),
    "product": (Product, "product.deleted", "product.updated"),
    "price": (Price, "price.deleted", "price.updated"),
    "plan": (Plan, "plan.deleted", "plan.updated"),
    "invoice": (Invoice, "invoice.deleted", "invoice.updated"),
    "invoiceitem": (InvoiceItem, "invoiceitem.deleted", "invoiceitem.created"),
    "discount": (Discount, "customer.discount.deleted", "customer.discount.updated"),
    "tax_id": (TaxId, "customer.tax_id.deleted", "customer.tax_id.updated"),
}


@pytest.mark.parametrize("object_type", sorted(DELETIONS))
@pytest.mark.parametrize("late_created", [10, 20, 30])
def test_tombstones_are_never_resurrected(post: Post, object_type: str, late_created: int) -> None:
    model, deleted, late = DELETIONS[object_type]
    obj = make(object_type, metadata={"v": "1"})
    send(post, deleted, obj, 20)
    send(post, late, {**obj, "metadata": {"v": "late"}}, late_created)

    mirrored = row(model, obj)
    assert mirrored.deleted
    assert mirrored.data["metadata"] == {"v": "1"}


def test_a_subscription_item_removed_stays_removed(post: Post) -> None:
    subscription = make("subscription")
    kept, removed = subscription["items"]["data"][0], stripe_data.fixture("subscription_item")
    removed["subscription"] = subscription["id"]
    both = {**subscription["items"], "data": [kept, removed]}
    send(post, "customer.subscription.created", {**subscription, "items": both}, 10)
    send(post, "customer.subscription.updated", subscription, 20)  # the item was removed
    send(post, "customer.subscription.updated", {**subscription, "items": both}, 15)  # late

    items = SubscriptionItem.objects.filter(subscription_id=subscription["id"])
    assert {(i.stripe_id, i.deleted) for i in items} == {
        (kept["id"], False),
        (removed["id"], True),
    }


def test_a_deletion_stub_tombstones_without_losing_the_state(post: Post) -> None:
    product = make("product", name="Gold")
    send(post, "product.created", product, 10)
    stub = {"id": product["id"], "object": "product", "deleted": True}
    send(post, "product.deleted", stub, 20)
    mirrored = row(Product, product)
    assert (mirrored.deleted, mirrored.name) == (True, "Gold")


def test_subscription_deleted_means_canceled(post: Post) -> None:
    subscription = make("subscription", status="active")
    send(post, "customer.subscription.created", subscription, 10)
    send(post, "customer.subscription.deleted", {**subscription, "status": "canceled"}, 20)
    send(post, "customer.subscription.updated", subscription, 15)
    mirrored = row(Subscription, subscription)
    assert (mirrored.deleted, mirrored.status) == (False, "canceled")
