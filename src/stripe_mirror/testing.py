"""Builders for tests (yours and ours): build an event, sign it, post it.

from stripe_mirror.testing import build_event, post_event

def test_paid_invoice_grants_access(client):
    event = build_event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": "cus_1"})
    response = post_event(client, event, secret="whsec_test")
    assert response.status_code == 200
"""

from __future__ import annotations

import itertools
import secrets as _secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from .verification.signature import sign

__all__ = [
    "build_event",
    "build_thin_event",
    "encode",
    "event_id",
    "post_event",
    "sign",
    "signed_headers",
]

_counter = itertools.count(1)

#: The API version events are rendered in unless a test says otherwise.
DEFAULT_API_VERSION = "2026-07-29.dahlia"


def event_id() -> str:
    """A fresh, unique event id."""
    return f"evt_test_{next(_counter):06d}{_secrets.token_hex(6)}"


def build_event(
    event_type: str,
    obj: Mapping[str, Any] | None = None,
    *,
    id: str | None = None,
    created: int | None = None,
    livemode: bool = False,
    account: str | None = None,
    api_version: str | None = DEFAULT_API_VERSION,
    previous_attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A v1 snapshot event as Stripe would send it."""
    if obj is None:
        obj = {"id": "obj_test", "object": "unknown"}
    data: dict[str, Any] = {"object": dict(obj)}
    if previous_attributes is not None:
        data["previous_attributes"] = dict(previous_attributes)
    event: dict[str, Any] = {
        "id": event_id() if id is None else id,
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()) if created is None else created,
        "data": data,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    if account is not None:
        event["account"] = account
    return event


def build_thin_event(
    event_type: str,
    related_object: Mapping[str, Any] | None = None,
    *,
    id: str | None = None,
    created: datetime | None = None,
    livemode: bool = False,
    context: str | None = None,
) -> dict[str, Any]:
    """A v2 thin event notification (``"object": "v2.core.event"``) as Stripe would send it."""
    when = datetime.now(UTC) if created is None else created
    event: dict[str, Any] = {
        "id": event_id() if id is None else id,
        "object": "v2.core.event",
        "type": event_type,
        "livemode": livemode,
        "created": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if related_object is not None:
        event["related_object"] = dict(related_object)
    if context is not None:
        event["context"] = context
    return event


def encode(event: Mapping[str, Any] | bytes) -> bytes:
    return event if isinstance(event, bytes) else orjson.dumps(event)


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    return {"Stripe-Signature": sign(body, secret, timestamp)}


def post_event(
    client: Any,
    event: Mapping[str, Any] | bytes,
    *,
    secret: str,
    endpoint: str = "default",
    prefix: str = "/stripe/",
    timestamp: int | None = None,
) -> Any:
    """Sign ``event`` and POST it with a Django test ``client`` to the named endpoint."""
    body = encode(event)
    return client.post(
        f"{prefix}webhook/{endpoint}/",
        data=body,
        content_type="application/json",
        headers=signed_headers(body, secret, timestamp),
    )
