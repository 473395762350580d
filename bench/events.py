"""Realistic signed Stripe events for the benchmark: about 4 KB each, every id unique.

The shapes are Stripe's own examples (``stripe_objects.json``, from stripe/openapi's
fixtures3.json); the placeholder values in them are replaced by plausible ones, so that each
event differs from the next the way real traffic does (ids, customers, amounts, metadata).
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from stripe_mirror.testing import DEFAULT_API_VERSION
from stripe_mirror.verification.signature import sign

_FIXTURES = Path(__file__).with_name("stripe_objects.json")
_ALPHABET = string.ascii_letters + string.digits
_PLANS = (("price_basic", 900), ("price_team", 2900), ("price_business", 9900))


@cache
def _template_bytes(name: str) -> bytes:
    return orjson.dumps(orjson.loads(_FIXTURES.read_bytes())[name])


def _fresh(name: str) -> dict[str, Any]:
    """A new deep copy of one example object (parsing is faster than copy.deepcopy)."""
    value: dict[str, Any] = orjson.loads(_template_bytes(name))
    return value


def _token(rng: random.Random, length: int = 14) -> str:
    return "".join(rng.choices(_ALPHABET, k=length))


def _metadata(rng: random.Random, index: int) -> dict[str, str]:
    return {"account_ref": f"acct-{index:08d}", "plan_seats": str(rng.randint(1, 200))}


def _subscription(rng: random.Random, index: int, now: int) -> dict[str, Any]:
    sub = _fresh("subscription")
    sub_id, customer = f"sub_{_token(rng, 24)}", f"cus_{_token(rng)}"
    price_id, amount = rng.choice(_PLANS)
    start = now - rng.randint(30, 900) * 86400
    sub.update(
        id=sub_id,
        customer=customer,
        created=start,
        start_date=start,
        billing_cycle_anchor=start,
        cancel_at=None,
        canceled_at=None,
        ended_at=None,
        trial_start=None,
        trial_end=None,
        status=rng.choice(("active", "active", "active", "past_due", "trialing")),
        cancel_at_period_end=rng.random() < 0.1,
        metadata=_metadata(rng, index),
    )
    item = sub["items"]["data"][0]
    item.update(id=f"si_{_token(rng)}", subscription=sub_id, quantity=rng.randint(1, 20))
    item["price"].update(id=f"{price_id}_{_token(rng, 8)}", unit_amount=amount)
    item["price"]["unit_amount_decimal"] = str(amount)
    item["current_period_start"] = now - rng.randint(0, 29) * 86400
    item["current_period_end"] = item["current_period_start"] + 30 * 86400
    sub["items"]["url"] = f"/v1/subscription_items?subscription={sub_id}"
    return sub


def _invoice(rng: random.Random, index: int, now: int) -> dict[str, Any]:
    invoice = _fresh("invoice")
    invoice_id, customer = f"in_{_token(rng, 24)}", f"cus_{_token(rng)}"
    amount = rng.choice(_PLANS)[1] * rng.randint(1, 20)
    invoice.update(
        id=invoice_id,
        customer=customer,
        created=now - 3600,
        amount_due=amount,
        amount_paid=amount,
        amount_remaining=0,
        subtotal=amount,
        subtotal_excluding_tax=amount,
        total=amount,
        total_excluding_tax=amount,
        amount_overpaid=0,
        attempted=True,
        attempt_count=1,
        status="paid",
        number=f"{_token(rng, 8).upper()}-{index % 10000:04d}",
        customer_email=f"billing+{index}@example.com",
        metadata=_metadata(rng, index),
    )
    invoice["status_transitions"].update(finalized_at=now - 3500, paid_at=now - 60)
    line = invoice["lines"]["data"][0]
    line.update(id=f"il_{_token(rng, 24)}", invoice=invoice_id, amount=amount, subtotal=amount)
    invoice["lines"]["url"] = f"/v1/invoices/{invoice_id}/lines"
    return invoice


def build(rng: random.Random, index: int, tag: str, now: int) -> dict[str, Any]:
    """Event number ``index``: customer.subscription.updated and invoice.paid, alternately."""
    event: dict[str, Any] = {
        "id": f"evt_{tag}{index:08d}{_token(rng, 8)}",
        "object": "event",
        "api_version": DEFAULT_API_VERSION,
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_{_token(rng)}", "idempotency_key": _token(rng, 32)},
    }
    if index % 2:
        event["type"] = "invoice.paid"
        event["data"] = {"object": _invoice(rng, index, now)}
    else:
        sub = _subscription(rng, index, now)
        event["type"] = "customer.subscription.updated"
        event["data"] = {"object": sub, "previous_attributes": {"status": "incomplete"}}
    return event


def signed(
    count: int, secret: str, *, tag: str, seed: int = 0, start: int = 0
) -> Iterator[tuple[str, bytes]]:
    """``count`` events as (Stripe-Signature header, body), signed now."""
    rng = random.Random(f"{seed}-{tag}-{start}")
    now = int(time.time())
    for index in range(start, start + count):
        body = orjson.dumps(build(rng, index, tag, now))
        yield sign(body, secret, now), body


def write_request_files(
    folder: Path, name: str, count: int, files: int, secret: str, *, tag: str
) -> list[Path]:
    """Write ``count`` signed events split over ``files`` files (one per wrk thread), one
    ``<signature>\\t<body>`` line each (JSON bodies never contain a raw tab or newline)."""
    paths = [folder / f"{name}-{i}.tsv" for i in range(files)]
    handles = [path.open("wb") for path in paths]
    try:
        for n, (header, body) in enumerate(signed(count, secret, tag=tag)):
            handles[n % files].write(header.encode() + b"\t" + body + b"\n")
    finally:
        for handle in handles:
            handle.close()
    return paths
