"""Objects as API version 2017-08-15 renders them, the oldest version still in use.

Each object below has the properties of its type in that version (Stripe's OpenAPI
description of 2017-08-15), with realistic values, plus the few fields Stripe added to every
version soon after (``billing``, ``percent_off_precise``). Synced through the endpoint, it
fills every typed column whose field existed then; the columns left empty are listed, each
with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stripe_mirror.models import TYPED_MODELS, Customer, LineItem, StripeModel, SubscriptionItem
from tests import stripe_data
from tests.test_mirror_fields import sourced_fields

pytestmark = pytest.mark.django_db

T = 1_504_000_000  # 2017-08-29
VERSION = "2017-08-15"


def _list(url: str, *data: dict[str, Any]) -> dict[str, Any]:
    return {"object": "list", "data": list(data), "has_more": False, "url": url}


PLAN = {
    "id": "basic_monthly",
    "object": "plan",
    "amount": 900,
    "created": T,
    "currency": "usd",
    "interval": "month",
    "interval_count": 1,
    "livemode": False,
    "metadata": {"tier": "basic"},
    "name": "Basic",
    "statement_descriptor": "BASIC",
    "trial_period_days": None,
}
CARD = {
    "id": "card_2017",
    "object": "card",
    "brand": "Visa",
    "last4": "4242",
    "customer": "cus_2017",
}

CUSTOMER = {
    "id": "cus_2017",
    "object": "customer",
    "account_balance": -500,
    "business_vat_id": None,
    "created": T,
    "currency": "usd",
    "default_source": "card_2017",
    "delinquent": True,
    "description": "Ann's account",
    "discount": None,
    "email": "ann@example.com",
    "livemode": False,
    "metadata": {"crm": "7"},
    "shipping": None,
    "sources": _list("/v1/customers/cus_2017/sources", CARD),
    "subscriptions": _list("/v1/customers/cus_2017/subscriptions"),
}
SUBSCRIPTION = {
    "id": "sub_2017",
    "object": "subscription",
    "application_fee_percent": None,
    "billing": "charge_automatically",  # added to every version in December 2017
    "cancel_at_period_end": True,
    "canceled_at": T + 600,
    "created": T,
    "current_period_end": T + 2_592_000,
    "current_period_start": T,
    "customer": "cus_2017",
    "discount": None,
    "ended_at": T + 2_592_000,
    "items": _list(
        "/v1/subscription_items?subscription=sub_2017",
        {
            "id": "si_2017",
            "object": "subscription_item",
            "created": T,
            "metadata": {"seat": "1"},
            "plan": PLAN,
            "quantity": 3,
        },
    ),
    "livemode": False,
    "metadata": {"crm": "7"},
    "plan": PLAN,
    "quantity": 3,
    "start": T + 300,  # the current plan configuration's start, not the subscription's
    "status": "canceled",
    "tax_percent": None,
    "trial_end": T - 1,
    "trial_start": T - 1_209_600,
}
INVOICE = {
    "id": "in_2017",
    "object": "invoice",
    "amount_due": 2700,
    "application_fee": None,
    "attempt_count": 1,
    "attempted": True,
    "billing": "charge_automatically",
    "charge": "ch_2017",
    "closed": True,
    "currency": "usd",
    "customer": "cus_2017",
    "date": T,
    "description": None,
    "discount": None,
    "ending_balance": 0,
    "forgiven": False,
    "lines": _list(
        "/v1/invoices/in_2017/lines",
        {
            # A subscription's line is identified by the subscription (before 2018-05-21).
            "id": "sub_2017",
            "object": "line_item",
            "amount": 2700,
            "currency": "usd",
            "description": "3 x Basic (at $9.00 / month)",
            "discountable": True,
            "livemode": False,
            "metadata": {},
            "period": {"start": T, "end": T + 2_592_000},
            "plan": PLAN,
            "proration": False,
            "quantity": 3,
            "subscription": None,
            "subscription_item": "si_2017",
            "type": "subscription",
        },
    ),
    "livemode": False,
    "metadata": {"order": "42"},
    "next_payment_attempt": None,
    "paid": True,
    "period_end": T,
    "period_start": T - 2_592_000,
    "receipt_number": None,
    "starting_balance": 0,
    "statement_descriptor": None,
    "subscription": "sub_2017",
    "subscription_proration_date": None,
    "subtotal": 2700,
    "tax": None,
    "tax_percent": None,
    "total": 2700,
    "webhooks_delivered_at": T,
}
INVOICE_ITEM = {
    "id": "ii_2017",
    "object": "invoiceitem",
    "amount": -300,
    "currency": "usd",
    "customer": "cus_2017",
    "date": T,
    "description": "Unused time on Basic",
    "discountable": False,
    "invoice": "in_2017",
    "livemode": False,
    "metadata": {"why": "proration"},
    "period": {"start": T, "end": T + 86_400},
    "plan": PLAN,
    "proration": True,
    "quantity": 1,
    "subscription": "sub_2017",
    "subscription_item": "si_2017",
}
CHARGE = {
    "id": "ch_2017",
    "object": "charge",
    "amount": 2700,
    "amount_refunded": 2700,
    "application": None,
    "application_fee": None,
    "balance_transaction": "txn_2017",
    "captured": True,
    "created": T,
    "currency": "usd",
    "customer": "cus_2017",
    "description": "Invoice in_2017",
    "destination": None,
    "dispute": "dp_2017",
    "failure_code": "card_declined",  # of the first attempt, kept on the charge
    "failure_message": "Your card was declined.",
    "fraud_details": {},
    "invoice": "in_2017",
    "livemode": False,
    "metadata": {"order": "42"},
    "on_behalf_of": None,
    "order": None,
    "outcome": {"type": "authorized"},
    "paid": True,
    "receipt_email": "ann@example.com",
    "receipt_number": None,
    "refunded": True,
    "refunds": _list("/v1/charges/ch_2017/refunds"),
    "review": None,
    "shipping": None,
    "source": CARD,
    "source_transfer": None,
    "statement_descriptor": None,
    "status": "succeeded",
    "transfer_group": None,
}
REFUND = {
    "id": "re_2017",
    "object": "refund",
    "amount": 2700,
    "balance_transaction": "txn_re2017",
    "charge": "ch_2017",
    "created": T,
    "currency": "usd",
    "failure_balance_transaction": None,
    "failure_reason": None,
    "metadata": {"ticket": "9"},
    "reason": "requested_by_customer",
    "receipt_number": None,
    "status": "succeeded",
}
DISPUTE = {
    "id": "dp_2017",
    "object": "dispute",
    "amount": 2700,
    "balance_transactions": [],
    "charge": "ch_2017",
    "created": T,
    "currency": "usd",
    "evidence": {},
    "evidence_details": {"due_by": T + 864_000},
    "is_charge_refundable": False,
    "livemode": False,
    "metadata": {"case": "1"},
    "reason": "fraudulent",
    "status": "needs_response",
}
PRODUCT = {
    "id": "prod_2017",
    "object": "product",
    "active": True,
    "attributes": ["size"],
    "caption": None,
    "created": T,
    "deactivate_on": [],
    "description": "A mug",
    "images": [],
    "livemode": False,
    "metadata": {"sku": "mug"},
    "name": "Mug",
    "package_dimensions": None,
    "shippable": True,
    "skus": _list("/v1/skus?product=prod_2017"),
    "updated": T + 60,
    "url": None,
}
COUPON = {
    "id": "TWELVE",
    "object": "coupon",
    "amount_off": None,
    "created": T,
    "currency": None,
    "duration": "repeating",
    "duration_in_months": 3,
    "livemode": False,
    "max_redemptions": 100,
    "metadata": {"campaign": "fall"},
    "percent_off": 13,  # rounded before 2018-07-27
    "percent_off_precise": 12.5,
    "redeem_by": T + 86_400,
    "times_redeemed": 4,
    "valid": True,
}
ACCOUNT = {
    "id": "acct_2017",
    "object": "account",
    "business_name": "Ann's",
    "business_url": None,
    "charges_enabled": True,
    "country": "US",
    "debit_negative_balances": False,
    "default_currency": "usd",
    "details_submitted": True,
    "display_name": "Ann's",
    "email": "ann@example.com",
    "external_accounts": _list("/v1/accounts/acct_2017/external_accounts"),
    "legal_entity": {"type": "company", "business_name": "Ann's"},
    "metadata": {"crm": "7"},
    "payouts_enabled": True,
    "statement_descriptor": "ANNS",
    "timezone": "Etc/UTC",
    "type": "custom",
    "verification": {"disabled_reason": None, "fields_needed": []},
}
PAYOUT = {
    "id": "po_2017",
    "object": "payout",
    "amount": 2400,
    "arrival_date": T + 172_800,
    "balance_transaction": "txn_po2017",
    "created": T,
    "currency": "usd",
    "description": "STRIPE TRANSFER",
    "destination": "ba_2017",
    "failure_balance_transaction": "txn_pofail",
    "failure_code": "account_closed",
    "failure_message": "The bank account has been closed.",
    "livemode": False,
    "metadata": {"batch": "3"},
    "method": "standard",
    "source_type": "card",
    "statement_descriptor": None,
    "status": "failed",
    "type": "bank_account",
}
TRANSFER = {
    "id": "tr_2017",
    "object": "transfer",
    "amount": 1000,
    "amount_reversed": 100,
    "balance_transaction": "txn_tr2017",
    "created": T,
    "currency": "usd",
    "description": "Seller share",
    "destination": "acct_2017",
    "destination_payment": "py_2017",
    "livemode": False,
    "metadata": {"order": "42"},
    "reversals": _list("/v1/transfers/tr_2017/reversals"),
    "reversed": False,
    "source_transaction": "ch_2017",
    "source_type": "card",
    "transfer_group": "order_42",
}
APPLICATION_FEE = {
    "id": "fee_2017",
    "object": "application_fee",
    "account": "acct_2017",
    "amount": 270,
    "amount_refunded": 27,
    "application": "ca_2017",
    "balance_transaction": "txn_fee2017",
    "charge": "ch_2017",
    "created": T,
    "currency": "usd",
    "livemode": False,
    "originating_transaction": None,
    "refunded": False,
    "refunds": _list("/v1/application_fees/fee_2017/refunds"),
}
BALANCE_TRANSACTION = {
    "id": "txn_2017",
    "object": "balance_transaction",
    "amount": 2700,
    "available_on": T + 172_800,
    "created": T,
    "currency": "usd",
    "description": "Invoice in_2017",
    "fee": 108,
    "fee_details": [],
    "net": 2592,
    "source": "ch_2017",
    "status": "available",
    "type": "charge",
}

#: Typed columns that a 2017-08-15 object leaves empty, and why.
NOT_RENDERED: dict[str, dict[str, str]] = {
    "account": {"created": "added in July 2018"},
    "application_fee": {},
    "balance_transaction": {
        "reporting_category": "added in 2019",
        "exchange_rate": "added in December 2017",
    },
    "charge": {
        "payment_intent_id": "payment intents came in 2018",
        "amount_captured": "added in 2020",
    },
    "coupon": {"amount_off": "a percent coupon", "currency": "a percent coupon", "name": "2018"},
    "customer": {
        "name": "added in 2019",
        "phone": "added in 2019",
        "tax_exempt": "added in 2019",
        "default_payment_method_id": "invoice_settings came in 2018",
        "discount_id": "no discount (and discounts had no id before 2020)",
    },
    "dispute": {"payment_intent_id": "payment intents came in 2018"},
    "invoice": {
        "payment_intent_id": "payment intents came in 2018",
        "default_payment_method_id": "added in 2019",
        "number": "added in December 2017",
        "customer_email": "added in 2019",
        "billing_reason": "added in 2018",
        "amount_paid": "added in 2018",
        "amount_remaining": "added in 2018",
        "due_date": "added in December 2017",
        "effective_at": "added in 2022",
        "finalized_at": "finalization came in 2018-11-08",
        "paid_at": "status_transitions came in 2019",
        "voided_at": "void invoices came in 2018-11-08",
        "hosted_invoice_url": "added in 2018",
        "invoice_pdf": "added in 2018",
    },
    "invoiceitem": {},
    "line_item": {},
    "payout": {"automatic": "added in December 2017"},
    "plan": {
        "product_id": "plans belong to products since 2018-02-05",
        "active": "added in 2018",
        "nickname": "added in 2018-02-05 (name is not a nickname: see docs/models.md)",
        "amount_decimal": "added in 2019",
        "usage_type": "added in 2018",
    },
    "product": {
        "type": "added in 2018-02-05",
        "default_price_id": "prices came in 2020",
    },
    "refund": {
        "payment_intent_id": "payment intents came in 2018",
        "customer_id": "added later",
    },
    "subscription": {
        "currency": "added in 2021",
        "description": "added in 2020",
        "cancel_at": "added in 2019",
        "default_payment_method_id": "added in 2019",
        "latest_invoice_id": "added in 2019",
        "schedule_id": "schedules came in 2019",
    },
    "subscription_item": {
        "product_id": "the plans of 2017 name no product",
        "current_period_start": "on items only since 2025-03-31",
        "current_period_end": "on items only since 2025-03-31",
    },
    "transfer": {},
}

OBJECTS = [
    CUSTOMER,
    SUBSCRIPTION,
    INVOICE,
    INVOICE_ITEM,
    CHARGE,
    REFUND,
    DISPUTE,
    PLAN,
    PRODUCT,
    COUPON,
    ACCOUNT,
    PAYOUT,
    TRANSFER,
    APPLICATION_FEE,
    BALANCE_TRANSACTION,
]


def _empty_columns(row: StripeModel) -> set[str]:
    return {
        field.attname
        for field, _ in sourced_fields(type(row))
        if getattr(row, field.attname) in (None, "")
    }


@pytest.mark.parametrize("obj", OBJECTS, ids=[str(obj["object"]) for obj in OBJECTS])
def test_a_2017_object_fills_every_column_its_version_has(
    post: Callable[..., Any], obj: dict[str, Any]
) -> None:
    row = stripe_data.sync(post, obj, api_version=VERSION)

    assert row.data == obj
    assert _empty_columns(row) == set(NOT_RENDERED[str(obj["object"])])


def test_embedded_2017_children_fill_their_columns(post: Callable[..., Any]) -> None:
    stripe_data.sync(post, SUBSCRIPTION, api_version=VERSION)
    stripe_data.sync(post, INVOICE, api_version=VERSION)

    item = SubscriptionItem.objects.get(stripe_id="si_2017")
    assert _empty_columns(item) == set(NOT_RENDERED["subscription_item"])
    assert (item.subscription_id, item.price_id, item.plan_id) == (
        "sub_2017",
        "basic_monthly",
        "basic_monthly",
    )
    line = LineItem.objects.get(stripe_id="sub_2017")
    assert _empty_columns(line) == set(NOT_RENDERED["line_item"])
    assert (line.invoice_id, line.subscription_id, line.price_id) == (
        "in_2017",
        "sub_2017",
        "basic_monthly",
    )


def test_every_2017_type_is_covered() -> None:
    covered = {str(obj["object"]) for obj in OBJECTS} | {"subscription_item", "line_item"}
    assert set(NOT_RENDERED) == covered
    assert covered <= set(TYPED_MODELS)


def test_a_2017_customer_is_asked_the_everyday_questions(post: Callable[..., Any]) -> None:
    for obj in (CUSTOMER, PLAN, SUBSCRIPTION | {"status": "active", "canceled_at": None}):
        stripe_data.sync(post, obj, api_version=VERSION)
    ann = Customer.objects.get(stripe_id="cus_2017")

    assert ann.balance == -500
    assert list(ann.active_subscriptions().values_list("stripe_id", flat=True)) == ["sub_2017"]
    assert ann.has_active_price("basic_monthly")
    assert not ann.has_active_price("premium_monthly")
