"""Settle an ambiguous same-second tie by asking Stripe for the object's current state.

Only used when ``STRIPE_MIRROR["API_KEY"]`` is set, and only for ties the ordering rules
cannot settle (rare). The object is fetched in the API version of the event, on behalf of
the event's Connect account. Any failure (network, 4xx, 5xx) returns None: the caller then
keeps its deterministic choice, so a Stripe outage never blocks the mirror.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from .. import conf
from .origin import Origin

logger = logging.getLogger("stripe_mirror.sync")

#: API path of each object type that can be retrieved by id.
RESOURCE_PATHS: Mapping[str, str] = {
    "account": "accounts",
    "application_fee": "application_fees",
    "balance_transaction": "balance_transactions",
    "charge": "charges",
    "checkout.session": "checkout/sessions",
    "coupon": "coupons",
    "credit_note": "credit_notes",
    "customer": "customers",
    "dispute": "disputes",
    "invoice": "invoices",
    "invoice_payment": "invoice_payments",
    "invoiceitem": "invoiceitems",
    "mandate": "mandates",
    "payment_intent": "payment_intents",
    "payment_method": "payment_methods",
    "payout": "payouts",
    "plan": "plans",
    "price": "prices",
    "product": "products",
    "promotion_code": "promotion_codes",
    "quote": "quotes",
    "refund": "refunds",
    "setup_intent": "setup_intents",
    "subscription": "subscriptions",
    "subscription_item": "subscription_items",
    "subscription_schedule": "subscription_schedules",
    "tax_rate": "tax_rates",
    "transfer": "transfers",
}


def fetch(obj: Mapping[str, Any], origin: Origin) -> dict[str, Any] | None:
    """The object's current state from the Stripe API, or None (no key, unknown type, error)."""
    api_key = conf.api_key(origin.livemode)
    path = RESOURCE_PATHS.get(str(obj.get("object", "")))
    if not api_key or path is None:
        return None
    url = f"{conf.api_base()}/v1/{path}/{quote(str(obj['id']), safe='')}"
    request = urllib.request.Request(url, headers=_headers(api_key, origin))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=conf.api_timeout()) as response:  # noqa: S310
            fetched = orjson.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError) as exc:
        logger.warning("refetch of %s %s failed: %s", obj.get("object"), obj.get("id"), exc)
        return None
    if not isinstance(fetched, dict) or fetched.get("id") != obj.get("id"):
        logger.warning("refetch of %s returned something else; ignored", obj.get("id"))
        return None
    if fetched.get("deleted") is True:
        return None  # deleted since: its own *.deleted event will say so, with its state
    return fetched


def _headers(api_key: str, origin: Origin) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "django-stripe-mirror"}
    if origin.account:
        headers["Stripe-Account"] = origin.account
    if origin.api_version:
        headers["Stripe-Version"] = origin.api_version
    return headers
