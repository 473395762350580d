"""Retrieving one object by id, and telling "deleted in Stripe" apart from an error.

What reconcile needs for a mirrored row that a listing did not show: is the object still there
(its state), deleted (Stripe answers a ``{"id", "object", "deleted": true}`` stub), or gone (a
404 ``resource_missing``: Stripe keeps no stub for some types, and a test-mode data reset
forgets everything)? Anything else (5xx after the SDK's retries, 401, 403, a 404 naming another
code) is an error the caller reports: it proves nothing about the object.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import stripe

from .listing import LISTABLE, complete


class Found(enum.StrEnum):
    ALIVE = "alive"  # the API answered the object
    DELETED = "deleted"  # a ``deleted: true`` stub
    MISSING = "missing"  # a 404 ``resource_missing``


@dataclass(frozen=True, slots=True)
class Retrieved:
    found: Found
    #: The object (ALIVE) or the stub (DELETED); None when MISSING.
    obj: dict[str, Any] | None
    #: When the request started (UTC): the answer is at least that new (``sync/reads.py``).
    started: datetime


def path_of(object_type: str, stripe_id: str) -> str:
    """The retrieve path of an object whose type has a list endpoint (``LISTABLE``)."""
    return f"{LISTABLE[object_type].path}/{quote(stripe_id, safe='')}"


def retrieve(client: stripe.StripeClient, object_type: str, stripe_id: str) -> Retrieved:
    """GET the object (complete: its cut embedded lists read whole). Raises
    ``stripe.StripeError`` for anything but an answer, a stub or a ``resource_missing``.
    localstripe's 404s carry no ``code`` at all (its README): a 404 without a code counts as
    missing too, a 404 with another code does not."""
    started = datetime.now(UTC)
    try:
        response = client.raw_request("get", path_of(object_type, stripe_id))
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404 and _code(exc) in ("resource_missing", None):
            return Retrieved(Found.MISSING, None, started)
        raise
    body = response.data
    if not isinstance(body, dict) or body.get("id") != stripe_id:
        raise stripe.APIError(f"retrieving {stripe_id} answered something else")
    if body.get("deleted") is True:
        return Retrieved(Found.DELETED, dict(body), started)
    return Retrieved(Found.ALIVE, complete(client, dict(body)), started)


def _code(exc: stripe.StripeError) -> str | None:
    # The SDK leaves ``.code`` empty for some errors: read the body too.
    if exc.code:
        return str(exc.code)
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else None


__all__ = ["Found", "Retrieved", "path_of", "retrieve"]
