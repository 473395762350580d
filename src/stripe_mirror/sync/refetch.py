"""Reading one object's current state from Stripe, for the self-healing of ``heal.py``.

Only used when ``STRIPE_MIRROR["API_KEY"]`` is set: to settle a same-second tie the ordering
rules cannot settle, or to complete an embedded list that an event's snapshot cut
(``has_more: true``). The object is fetched in the API version of the event, on behalf of the
event's Connect account, and its cut embedded lists are read whole from their own endpoints
(``api.listing.complete``), through the same client. Any failure (network, 4xx, 5xx) answers
None: the caller keeps what the events wrote, and a Stripe outage never blocks the mirror.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import stripe

from .. import api, conf
from ..api.listing import complete
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
    """The object's current state from the Stripe API, or None (no key, unknown type, error,
    deleted since).

    Through the one SDK client of the event's mode, account and API version when it has one
    (else the pinned ``API_VERSION``, else the SDK's): ``api.client_for``, its key,
    ``Stripe-Account``, retries and rate limit. The embedded lists the API cut are read whole
    through the same client; one that cannot be read stays ``has_more: true`` (logged)."""
    path = RESOURCE_PATHS.get(str(obj.get("object", "")))
    if not conf.api_key(origin.livemode) or path is None:
        return None
    client = api.client_for(origin.livemode, origin.account, version=origin.api_version)
    what = f"{obj.get('object')} {obj.get('id')}"
    try:
        response = client.raw_request("get", f"/v1/{path}/{quote(str(obj['id']), safe='')}")
        fetched = response.data
        if isinstance(fetched, dict) and fetched.get("id") == obj.get("id"):
            if fetched.get("deleted") is True:
                return None  # deleted since: its own *.deleted event will say so, with its state
            fetched = complete(client, dict(fetched))
    except stripe.StripeError as exc:  # its message names the object, never the key
        logger.warning("refetch of %s failed: %s", what, exc)
        return None
    if not isinstance(fetched, dict) or fetched.get("id") != obj.get("id"):
        logger.warning("refetch of %s returned something else; ignored", obj.get("id"))
        return None
    cut = [key for key, value in fetched.items() if _cut(value)]
    if cut:
        logger.warning("refetch of %s: its %s could not be read whole", what, ", ".join(cut))
    return fetched


def _cut(value: object) -> bool:
    return isinstance(value, Mapping) and value.get("has_more") is True and "data" in value
