"""Settle an ambiguous same-second tie by asking Stripe for the object's current state.

Only used when ``STRIPE_MIRROR["API_KEY"]`` is set, and only for ties the ordering rules
cannot settle (rare). The object is fetched in the API version of the event, on behalf of
the event's Connect account. Never while row locks are held: the tie is first settled by
the deterministic guess (which deletes nothing), and the fetch runs once the transaction
has committed; its answer is then written through the ordering guard like any snapshot
(``Origin.fetched``), so it never overwrites what a newer event wrote meanwhile. Any
failure (network, 4xx, 5xx) leaves the guess: a Stripe outage never blocks the mirror.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import stripe
from django.db import DatabaseError, models, router, transaction

from .. import api, conf
from ..failures import describe
from . import sources
from .origin import REFETCHED, Origin
from .storable import storable

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


#: How often the fetched state is written when the write loses a deadlock.
_WRITE_ATTEMPTS = 3


def settle_later(obj: Mapping[str, Any], origin: Origin, model: type[models.Model]) -> bool:
    """Fetch the object once the transaction holding its row (of ``model``) commits, and write
    what Stripe says (``sources.apply_fetched``). False when no fetch is possible: no API key
    for the event's mode, a type the API cannot retrieve by id, or nothing plugged in to
    write it."""
    if not conf.api_key(origin.livemode) or str(obj.get("object", "")) not in RESOURCE_PATHS:
        return False
    apply = sources.apply_fetched()
    if apply is None:
        return False
    alias = router.db_for_write(model)
    wanted = {"id": obj.get("id"), "object": obj.get("object")}
    transaction.on_commit(lambda: _settle(wanted, origin, alias, apply), using=alias, robust=True)
    return True


def _settle(obj: dict[str, Any], origin: Origin, alias: str, apply: sources.ApplyFetched) -> None:
    fetched = fetch(obj, origin)
    if fetched is None:
        logger.warning("the refetch of %s %s failed; keeping its guess", obj["object"], obj["id"])
        return
    fetched = storable(fetched).value  # as an event's object is mirrored
    read = replace(origin, event_id=f"{origin.event_id}{REFETCHED}")
    for attempt in range(1, _WRITE_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=alias):
                apply(fetched, read)
            return
        except DatabaseError as exc:  # a deadlock with a worker's batch: try again
            if attempt == _WRITE_ATTEMPTS:
                # Not the traceback: the database's message may quote the rows' data.
                what = f"{obj['object']} {obj['id']}"
                logger.error("could not write the refetched %s: %s", what, describe(exc))


def fetch(obj: Mapping[str, Any], origin: Origin) -> dict[str, Any] | None:
    """The object's current state from the Stripe API, or None (no key, unknown type, error).

    Through the one SDK client of the event's mode and account (``api.client_for``: its key,
    ``Stripe-Account``, retries and rate limit), in the event's API version when it has one
    (else the pinned ``API_VERSION``, else the SDK's)."""
    path = RESOURCE_PATHS.get(str(obj.get("object", "")))
    if not conf.api_key(origin.livemode) or path is None:
        return None
    options = {"stripe_version": origin.api_version} if origin.api_version else {}
    url = f"/v1/{path}/{quote(str(obj['id']), safe='')}"
    try:
        response = api.client_for(origin.livemode, origin.account).raw_request(
            "get", url, **options
        )
    except stripe.StripeError as exc:  # its message names the object, never the key
        logger.warning("refetch of %s %s failed: %s", obj.get("object"), obj.get("id"), exc)
        return None
    fetched = response.data
    if not isinstance(fetched, dict) or fetched.get("id") != obj.get("id"):
        logger.warning("refetch of %s returned something else; ignored", obj.get("id"))
        return None
    if fetched.get("deleted") is True:
        return None  # deleted since: its own *.deleted event will say so, with its state
    return fetched
