"""Stage 4: thin (v2) events. Their notification only names what happened: the full event
(``GET /v2/core/events/{id}``) and the object it is about (``related_object.url``) are fetched
from Stripe in the event's ``context`` (Connect) account, and a v1 object is mirrored by the
read rule (``sync/reads.py``: read at the fetch's start), through the guard like any read.

The dispatcher asks for the fetch (``MirrorStep.fetch_thin``) before the first step runs, on
every attempt: a failed fetch (a network error, a 5xx or a 429 after the SDK's retries) is a
failed attempt of the first step, retried with backoff like any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import stripe

from ..api import client_for
from ..events import ThinEvent, thaw
from ..sync.reads import apply_read, read_origin

#: The prefix of the rows' ``event_id`` label for an object a thin event fetched.
LABEL = "thin:"


def fetch(payload: dict[str, Any], *, endpoint: str) -> ThinEvent:
    """The thin event of notification ``payload``, with its full event and related object."""
    livemode, context = bool(payload["livemode"]), str(payload.get("context") or "")
    started = datetime.now(UTC)
    path = f"/v2/core/events/{quote(str(payload['id']), safe='')}"
    full = _get_in(livemode, context, path)
    if full is None:
        raise stripe.APIError(f"{path}: Stripe knows no such event (yet)")
    related = full.get("related_object") or payload.get("related_object") or {}
    url = related.get("url") if isinstance(related, dict) else None
    obj = _get_in(livemode, context, url) if isinstance(url, str) else None
    return ThinEvent.from_notification(
        payload, endpoint=endpoint, fetched=full, obj=obj, fetched_at=started
    )


def _get_in(livemode: bool, context: str, path: str) -> dict[str, Any] | None:
    """GET ``path`` in the ``context`` account: a v2 path with ``Stripe-Context`` (as the SDK's
    own ``fetch_event``), a v1 path through the account's client (``Stripe-Account``), as
    every v1 read of the mirror."""
    if path.startswith("/v2/"):
        options = {"stripe_context": context} if context else {}
        return _get(client_for(livemode), path, **options)
    return _get(client_for(livemode, account=context), path)


def _get(client: stripe.StripeClient, path: str, **options: Any) -> dict[str, Any] | None:
    """The JSON object at ``path``; None for a 404 (the object is gone: nothing to mirror)."""
    try:
        body = client.raw_request("get", path, **options).data
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise
    if not isinstance(body, dict):
        raise stripe.APIError(f"{path} answered something else than an object")
    return body


def mirror(event: ThinEvent) -> tuple[str, ...]:
    """Write the fetched related object, if it is a v1 object (the mirror holds no v2 ones)."""
    obj, related = event.object, event.related_object or {}
    url = related.get("url")
    if obj is None or event.fetched_at is None or not str(url).startswith("/v1/"):
        return ()
    if not isinstance(obj.get("object"), str) or not isinstance(obj.get("id"), str):
        return ()
    origin = read_origin(
        event.fetched_at,
        label=f"{LABEL}{event.id}",
        account=event.context or "",
        livemode=event.livemode,
    )
    apply_read(thaw(obj), origin)
    return ()
