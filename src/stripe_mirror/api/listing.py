"""Reading objects from Stripe's list endpoints: pages, their read time, and complete objects.

What a backfill (and reconcile) needs from the API, nothing of the mirror: ``pages`` walks one
type's list endpoint 100 objects at a time from a cursor, with the parameters that Stripe's
defaults would hide (``LISTABLE``), and per customer for the types Stripe lists only so
(payment methods: ``per_customer``); ``complete`` fills the embedded lists that the API cuts
(``has_more: true``) from their own endpoints. Each page records when its request started:
what it returns is at least that new (``sync/reads.py``).

Requests go through the SDK (its authentication, account header, retries and our rate limit;
``raw.py``, which parses the pages with orjson) and the JSON, rather than the typed services
(``client.v1.customers.list``): those build a ``StripeObject`` tree of every object, which a
backfill would only turn back into dicts, at several times the cost of the parse.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import stripe

from . import raw

PAGE_SIZE = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Listing:
    """The list endpoint of one object type, and the parameters that make it list them all."""

    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: Accepts ``created[gte]`` (not every endpoint does).
    created_filter: bool = True
    #: Lists only one customer's objects (``customer=cus_...``): walked for every customer
    #: that ``/v1/customers`` lists (``per_customer``).
    per_customer: bool = False


#: Every object type with a list endpoint that lists them without a parent. Subscriptions hide
#: canceled ones unless ``status=all``; the other endpoints list every status by default
#: (invoices, payment and setup intents, quotes, schedules, checkout sessions, ...). Payment
#: methods are listed per customer: without ``customer`` the endpoint lists Treasury ones only.
LISTABLE: Mapping[str, Listing] = {
    "account": Listing("/v1/accounts"),
    "application_fee": Listing("/v1/application_fees"),
    "balance_transaction": Listing("/v1/balance_transactions"),
    "charge": Listing("/v1/charges"),
    "checkout.session": Listing("/v1/checkout/sessions"),
    "coupon": Listing("/v1/coupons"),
    "credit_note": Listing("/v1/credit_notes", created_filter=False),
    "customer": Listing("/v1/customers"),
    "dispute": Listing("/v1/disputes"),
    "invoice": Listing("/v1/invoices"),
    "invoice_payment": Listing("/v1/invoice_payments"),
    "invoiceitem": Listing("/v1/invoiceitems"),
    "payment_intent": Listing("/v1/payment_intents"),
    "payment_method": Listing("/v1/payment_methods", created_filter=False, per_customer=True),
    "payout": Listing("/v1/payouts"),
    "plan": Listing("/v1/plans"),
    "price": Listing("/v1/prices"),
    "product": Listing("/v1/products"),
    "promotion_code": Listing("/v1/promotion_codes"),
    "quote": Listing("/v1/quotes", created_filter=False),
    "refund": Listing("/v1/refunds"),
    "setup_intent": Listing("/v1/setup_intents"),
    "subscription": Listing("/v1/subscriptions", {"status": "all"}),
    "subscription_schedule": Listing("/v1/subscription_schedules"),
    "tax_rate": Listing("/v1/tax_rates"),
    "transfer": Listing("/v1/transfers"),
    # Types without a typed model (the generic table), for ``--types``.
    "file": Listing("/v1/files"),
    "payment_link": Listing("/v1/payment_links", created_filter=False),
    "radar.early_fraud_warning": Listing("/v1/radar/early_fraud_warnings"),
    "review": Listing("/v1/reviews"),
    "shipping_rate": Listing("/v1/shipping_rates"),
    "tax_code": Listing("/v1/tax_codes", created_filter=False),
    "topup": Listing("/v1/topups"),
}


@dataclass(frozen=True, slots=True)
class Page:
    objects: list[dict[str, Any]]
    has_more: bool
    #: When the request started (UTC): the objects are at least that new.
    started: datetime
    #: ``total_count`` when the API says it (localstripe does; Stripe does not).
    total: int | None = None
    #: Where the next page starts (``pages(starting_after=...)``); "": after the last object.
    cursor: str = ""


def list_page(
    client: stripe.StripeClient, path: str, params: Mapping[str, Any]
) -> tuple[Mapping[str, Any], datetime]:
    """One GET of a list endpoint: its JSON, and when the request started."""
    started = datetime.now(UTC)
    body, code = raw.get(client, path, params)
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
        raise stripe.APIError(f"{path} did not answer a list", http_status=code)
    return body, started


def pages(
    client: stripe.StripeClient,
    object_type: str,
    *,
    starting_after: str = "",
    created_gte: int | None = None,
) -> Iterator[Page]:
    """The pages of one type's list, newest first (Stripe's order), from after the object
    ``starting_after``; objects come complete (``complete``). Each page's ``cursor`` is the
    ``starting_after`` of the pages after it."""
    listing = LISTABLE[object_type]
    if listing.per_customer:
        yield from per_customer(client, listing, starting_after, created_gte)
        return
    params: dict[str, Any] = {**listing.params, "limit": PAGE_SIZE}
    if created_gte is not None and listing.created_filter:
        params["created"] = {"gte": created_gte}
    yield from _walk(client, listing.path, params, starting_after)


def _walk(
    client: stripe.StripeClient, path: str, params: Mapping[str, Any], cursor: str
) -> Iterator[Page]:
    while True:
        body, started = list_page(client, path, _after(params, cursor))
        objects = [complete(client, dict(obj)) for obj in body["data"]]
        has_more = bool(body.get("has_more")) and bool(objects)
        total = body.get("total_count")
        if objects:
            cursor = str(objects[-1]["id"])
        yield Page(objects, has_more, started, total if isinstance(total, int) else None, cursor)
        if not has_more:
            return


def per_customer(
    client: stripe.StripeClient, listing: Listing, cursor: str, created_gte: int | None
) -> Iterator[Page]:
    """A per-customer type's pages: those of each customer in turn (``/v1/customers``'s
    order), then an empty last page. The cursor is ``cus_.../`` when that customer is done,
    ``cus_.../pm_...`` within it. Pages with no objects are not yielded (but the last)."""
    done, _, within = cursor.partition("/")
    current, started = done if within else "", datetime.now(UTC)
    if current:  # resume inside a customer: its remaining pages first
        yield from _customer_pages(client, listing, current, within, created_gte)
    for customer in customers(client, starting_after=done):
        started = datetime.now(UTC)
        yield from _customer_pages(client, listing, customer, "", created_gte)
        current = customer
    yield Page([], False, started, None, f"{current or done}/" if current or done else "")


def _customer_pages(
    client: stripe.StripeClient, listing: Listing, customer: str, after: str, gte: int | None
) -> Iterator[Page]:
    params = {**listing.params, "customer": customer, "limit": PAGE_SIZE}
    for page in _walk(client, listing.path, params, after):
        # ``created[gte]`` is not a filter there: kept here (an old customer's new methods).
        kept = [o for o in page.objects if gte is None or int(o.get("created") or 0) >= gte]
        cursor = f"{customer}/{page.cursor}" if page.has_more else f"{customer}/"
        if kept or page.has_more:
            yield Page(kept, True, page.started, None, cursor)


def customers(client: stripe.StripeClient, *, starting_after: str = "") -> Iterator[str]:
    """The ids of the customers that ``/v1/customers`` lists, from after ``starting_after``."""
    return _ids(client, "/v1/customers", starting_after)


def _after(params: Mapping[str, Any], cursor: str) -> dict[str, Any]:
    return {**params, "starting_after": cursor} if cursor else dict(params)


def complete(client: stripe.StripeClient, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with each embedded list that the API cut (``has_more: true``: invoice lines,
    subscription items, customer sources and tax ids, ...) read whole from its own endpoint.
    A list that cannot be read is left as it was, ``has_more`` still true, so that nothing
    takes it for complete (``sync/children.py`` prunes only complete lists)."""
    for key, value in list(obj.items()):
        if _truncated(value):
            try:
                obj[key] = {**value, "data": all_of(client, str(value["url"])), "has_more": False}
            except stripe.StripeError:
                continue
    return obj


def _truncated(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and value.get("object") == "list"
        and value.get("has_more") is True
        and isinstance(value.get("url"), str)
    )


def all_of(client: stripe.StripeClient, url: str) -> list[dict[str, Any]]:
    """Every object of a list endpoint named by a list's ``url``, which may carry a filter
    (``/v1/subscription_items?subscription=sub_...``): the filter is passed on every page,
    which the SDK's ``auto_paging_iter`` loses after the first."""
    split = urlsplit(url)
    params: dict[str, Any] = {**dict(parse_qsl(split.query)), "limit": PAGE_SIZE}
    found: list[dict[str, Any]] = []
    while True:
        body, _ = list_page(client, split.path, _after(params, found[-1]["id"] if found else ""))
        found.extend(dict(obj) for obj in body["data"])
        if not body.get("has_more") or not body["data"]:
            return found


def connected_accounts(client: stripe.StripeClient) -> Iterator[str]:
    """The ids of the platform's connected accounts (``/v1/accounts``)."""
    return _ids(client, "/v1/accounts", "")


def _ids(client: stripe.StripeClient, path: str, cursor: str) -> Iterator[str]:
    # Ids only: the objects are not completed (``complete``), which would cost requests.
    while True:
        body, _ = list_page(client, path, _after({"limit": PAGE_SIZE}, cursor))
        yield from (str(obj["id"]) for obj in body["data"])
        if not body.get("has_more") or not body["data"]:
            return
        cursor = str(body["data"][-1]["id"])


def ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced by a thread of their own up to ``depth`` items ahead of the
    consumer: the next page is requested while the current one is written. An exception of
    the producer is raised in the consumer; closing the generator stops the producer."""
    slots: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(done: bool, value: Any) -> None:
        while not stop.is_set():
            try:
                slots.put((done, value), timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in items:
                put(False, item)
                if stop.is_set():
                    return
            put(True, None)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(True, exc)

    threading.Thread(target=produce, name="stripe-mirror-fetch", daemon=True).start()
    try:
        while True:
            done, value = slots.get()
            if done:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()


__all__ = [
    "LISTABLE",
    "PAGE_SIZE",
    "Listing",
    "Page",
    "ahead",
    "all_of",
    "complete",
    "customers",
    "pages",
    "per_customer",
]
