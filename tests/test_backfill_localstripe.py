"""The backfill against localstripe (a real emulator, API 2017-08-15 shapes): billing objects
created through the SDK, then backfilled, then every mirrored row compared with what
localstripe lists."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
import stripe
from django.core.management import call_command

from stripe_mirror.models import (
    BackfillProgress,
    Charge,
    Customer,
    Invoice,
    Plan,
    Product,
    StripeModel,
    Subscription,
    SubscriptionItem,
)
from tests.stripe_api.localstripe_process import API_KEY, Localstripe

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

#: The types localstripe lists (it has no /v1/prices), and their typed models.
TYPES = {
    "product": Product,
    "plan": Plan,
    "customer": Customer,
    "subscription": Subscription,
    "invoice": Invoice,
    "charge": Charge,
}


def _billing(client: stripe.StripeClient, customers: int) -> None:
    product = client.v1.products.create({"name": "Gold"})
    plans = [
        client.v1.plans.create(
            {"amount": amount, "currency": "eur", "interval": "month", "product": product.id}
        )
        for amount in (1000, 2500)
    ]
    for number in range(customers):
        customer = client.v1.customers.create({"email": f"c{number}@example.com"})
        card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
        client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": card.id}}
        )
        plan = plans[number % 2]
        client.v1.subscriptions.create({"customer": customer.id, "items": [{"plan": plan.id}]})


def _listed(client: stripe.StripeClient, object_type: str) -> dict[str, dict[str, Any]]:
    service = {
        "product": client.v1.products,
        "plan": client.v1.plans,
        "customer": client.v1.customers,
        "subscription": client.v1.subscriptions,
        "invoice": client.v1.invoices,
        "charge": client.v1.charges,
    }[object_type]
    params: dict[str, Any] = {
        "limit": 100,
        **({"status": "all"} if object_type == "subscription" else {}),
    }
    return {obj.id: obj.to_dict() for obj in service.list(params).auto_paging_iter()}


def test_backfill_mirrors_what_localstripe_lists(settings: Any, localstripe: Localstripe) -> None:
    client = localstripe.client()
    _billing(client, customers=6)
    settings.STRIPE_MIRROR = {
        **settings.STRIPE_MIRROR,
        "API_KEY": API_KEY,
        "API_BASE": localstripe.url,
        "API_RATE_LIMIT": 1000,
    }
    out = StringIO()
    call_command("stripe_mirror_backfill", "--plain", "--types", ",".join(TYPES), stdout=out)
    for object_type, model in TYPES.items():
        listed = _listed(client, object_type)
        rows: dict[str, StripeModel] = {row.stripe_id: row for row in model.objects.all()}
        assert set(rows) == set(listed), object_type
        for stripe_id, row in rows.items():
            assert row.data == listed[stripe_id], (object_type, stripe_id)
            assert (row.account, row.livemode, row.deleted) == ("", False, False)
        progress = BackfillProgress.objects.get(object_type=object_type)
        assert (progress.seen, progress.created, progress.total) == (len(listed),) * 3
    customers = {row.stripe_id: row for row in Customer.objects.all()}
    assert sorted(row.email for row in customers.values()) == [
        f"c{n}@example.com" for n in range(6)
    ]
    for sub in Subscription.objects.all():
        assert sub.customer_id in customers
        assert sub.status == "active"
    # A subscription's item (2017 shape: with its plan) is mirrored from the embedded list.
    assert SubscriptionItem.objects.count() == 6
    assert {item.subscription_id for item in SubscriptionItem.objects.all()} == {
        sub.stripe_id for sub in Subscription.objects.all()
    }
    assert all(invoice.status == "paid" for invoice in Invoice.objects.all())
    assert "charge" in out.getvalue()
