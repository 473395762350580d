"""The public test builders: what they build is what Stripe sends, and what it signs verifies."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
import stripe
from django.test import Client

from stripe_mirror.models import InboxEvent
from stripe_mirror.testing import (
    build_event,
    build_thin_event,
    encode,
    event_id,
    post_event,
    sign,
    signed_headers,
)
from stripe_mirror.verification import envelope, signature


def test_build_event_defaults() -> None:
    event = build_event("invoice.paid")
    parsed = envelope.parse(encode(event))
    assert parsed.type == "invoice.paid"
    assert parsed.kind is envelope.EventKind.SNAPSHOT
    assert parsed.livemode is False
    assert parsed.account is None
    assert parsed.object_id == "obj_test"
    assert "previous_attributes" not in event["data"]


def test_build_event_arguments() -> None:
    event = build_event(
        "customer.updated",
        {"id": "cus_1", "object": "customer"},
        id="evt_given",
        created=1_700_000_000,
        livemode=True,
        account="acct_1",
        api_version=None,
        previous_attributes={"email": "old@example.com"},
    )
    parsed = envelope.parse(encode(event))
    assert (parsed.id, parsed.account, parsed.api_version) == ("evt_given", "acct_1", None)
    assert parsed.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert parsed.livemode is True
    assert event["data"]["previous_attributes"] == {"email": "old@example.com"}


def test_build_event_keeps_an_empty_object() -> None:
    assert build_event("x.y", {})["data"]["object"] == {}


def test_build_event_copies_its_inputs() -> None:
    obj = {"id": "cus_1"}
    event = build_event("customer.created", obj)
    event["data"]["object"]["id"] = "cus_2"
    assert obj == {"id": "cus_1"}


def test_event_ids_are_unique_and_valid() -> None:
    ids = {event_id() for _ in range(1000)}
    assert len(ids) == 1000
    for value in list(ids)[:10]:
        assert envelope.parse(encode(build_event("x", id=value))).id == value


def test_build_thin_event() -> None:
    when = datetime(2026, 7, 30, 10, 11, 12, 345000, tzinfo=UTC)
    thin = build_thin_event(
        "v1.billing.meter.no_meter_found",
        {"id": "mtr_1", "type": "billing.meter"},
        created=when,
        context="acct_1",
    )
    assert thin["created"] == "2026-07-30T10:11:12.345Z"
    parsed = envelope.parse(encode(thin))
    assert parsed.kind is envelope.EventKind.THIN
    assert (parsed.created, parsed.account, parsed.object_id) == (when, "acct_1", "mtr_1")
    assert "related_object" not in build_thin_event("x")


def test_encode() -> None:
    raw = b'{"a": 1}'
    assert encode(raw) is raw
    assert orjson.loads(encode({"a": [1]})) == {"a": [1]}


def test_sign_and_signed_headers_verify() -> None:
    body = encode(build_event("x"))
    header = sign(body, "whsec_a", 1_700_000_000)
    assert signature.verify(body, header, ["whsec_a"], now=1_700_000_000) == 1_700_000_000
    assert signed_headers(body, "whsec_a", 1_700_000_000) == {"Stripe-Signature": header}
    assert signature.verify(body, sign(body, "whsec_a"), ["whsec_a"])  # now


def test_stripe_sdk_accepts_what_the_builders_make() -> None:
    event = build_event("invoice.paid", {"id": "in_1", "object": "invoice"}, account="acct_1")
    body = encode(event)
    built = stripe.Webhook.construct_event(body, sign(body, "whsec_a"), "whsec_a")
    assert (built.id, built.type, built.account) == (event["id"], "invoice.paid", "acct_1")
    assert built.data.object.id == "in_1"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("endpoint", "secret"), [("default", "whsec_test_primary"), ("connect", "whsec_connect_new")]
)
def test_post_event(client: Client, endpoint: str, secret: str) -> None:
    event = build_event("customer.created")
    response = post_event(client, event, secret=secret, endpoint=endpoint)
    assert response.status_code == 200, response.content
    assert InboxEvent.objects.get().endpoint == endpoint


@pytest.mark.django_db
def test_post_event_bytes_and_timestamp(client: Client) -> None:
    body = b'{"not": "an event"}'
    response = post_event(client, body, secret="whsec_test_primary")
    assert response.json()["error"] == "invalid_envelope"  # signed fine, posted as is
    stale = post_event(client, build_event("x"), secret="whsec_test_primary", timestamp=1)
    assert stale.json()["error"] == "timestamp_too_old"


@pytest.mark.django_db
def test_post_event_prefix(client: Client) -> None:
    # The test site mounts the app at /stripe/; another prefix reaches no view.
    response = post_event(client, build_event("x"), secret="whsec_test_primary", prefix="/other/")
    assert response.status_code == 404
    assert not InboxEvent.objects.exists()
