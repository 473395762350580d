"""Reading Stripe's events (``GET /v1/events``): what catch-up lists.

Stripe keeps an account's events for 30 days (``RETENTION``) and lists them newest first.
Like ``listing.py``, requests go through ``StripeClient.raw_request`` and the JSON it parsed,
not ``client.v1.events.list``: an event is recorded in the inbox as JSON, exactly as Stripe
rendered it, which a ``StripeObject`` tree would only have to be turned back into.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import stripe

from .listing import PAGE_SIZE, list_page

#: How long Stripe keeps events: ``/v1/events`` lists nothing older.
RETENTION = timedelta(days=30)


def event_pages(client: stripe.StripeClient, created_gte: int) -> Iterator[list[dict[str, Any]]]:
    """The pages of events created at or after ``created_gte`` (a Unix time), in the order the
    API lists them (Stripe: newest first; localstripe: oldest first), each event a dict of
    its JSON."""
    params: dict[str, Any] = {"limit": PAGE_SIZE, "created": {"gte": created_gte}}
    cursor = ""
    while True:
        body, _ = list_page(
            client, "/v1/events", {**params, "starting_after": cursor} if cursor else params
        )
        events = [dict(event) for event in body["data"]]
        yield events
        if not body.get("has_more") or not events:
            return
        cursor = str(events[-1]["id"])


__all__ = ["RETENTION", "event_pages"]
