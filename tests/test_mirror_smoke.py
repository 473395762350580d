import pytest

from stripe_mirror.models import (
    Customer,
    InboxEvent,
    Invoice,
    StripeObject,
    Subscription,
    SubscriptionItem,
)
from stripe_mirror.testing import build_event

pytestmark = pytest.mark.django_db


def cus(**kw):
    return {"id": "cus_1", "object": "customer", "email": "a@x.com", "metadata": {}, **kw}


def test_out_of_order_and_tie(post):
    e1 = build_event("customer.created", cus(), created=100)
    e2 = build_event(
        "customer.updated",
        cus(email="b@x.com"),
        created=100,
        previous_attributes={"email": "a@x.com"},
    )
    e3 = build_event(
        "customer.updated",
        cus(email="c@x.com"),
        created=100,
        previous_attributes={"email": "b@x.com"},
    )
    for e in (e3, e1, e2):
        assert post(e).status_code == 200
    row = Customer.objects.get()
    assert row.email == "c@x.com", (
        row.email,
        row.event_id,
        list(InboxEvent.objects.values_list("status", "last_error")),
    )


def test_tombstone(post):
    post(build_event("customer.deleted", cus(), created=200))
    post(build_event("customer.updated", cus(email="z@x.com"), created=150))
    row = Customer.objects.get()
    assert row.deleted
    assert row.email == "a@x.com"


def test_subscription_items_and_generic(post):
    sub = {
        "id": "sub_1",
        "object": "subscription",
        "customer": "cus_1",
        "status": "active",
        "items": {
            "object": "list",
            "has_more": False,
            "data": [
                {
                    "id": "si_1",
                    "object": "subscription_item",
                    "price": {"id": "price_1", "object": "price", "product": "prod_1"},
                    "quantity": 2,
                    "current_period_end": 1000,
                    "subscription": "sub_1",
                }
            ],
        },
    }
    post(build_event("customer.subscription.created", sub, created=10))
    post(build_event("customer.created", cus(), created=5))
    s = Subscription.objects.get()
    assert s.customer.email == "a@x.com"
    item = SubscriptionItem.objects.get()
    assert (item.price_id, item.product_id) == ("price_1", "prod_1")
    assert item.subscription == s
    assert s.current_period_end.timestamp() == 1000
    post(build_event("topup.created", {"id": "tu_1", "object": "topup", "amount": 5}, created=5))
    assert StripeObject.objects.get(type="topup").data["amount"] == 5


def test_invoice_links_new_shape(post):
    inv = {
        "id": "in_1",
        "object": "invoice",
        "status": "paid",
        "customer": "cus_1",
        "parent": {"subscription_details": {"subscription": "sub_1"}},
    }
    pay = {
        "id": "inpay_1",
        "object": "invoice_payment",
        "invoice": "in_1",
        "status": "paid",
        "payment": {"type": "payment_intent", "payment_intent": "pi_1"},
    }
    ch = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "status": "succeeded"}
    post(build_event("charge.succeeded", ch, created=10))
    post(build_event("invoice_payment.paid", pay, created=11))
    post(build_event("invoice.paid", inv, created=11))
    i = Invoice.objects.get()
    assert (i.subscription_id, i.payment_intent_id, i.charge_id) == ("sub_1", "pi_1", "ch_1")
    from stripe_mirror.models import Charge

    assert Charge.objects.get().invoice_id == "in_1"
