"""StripeEvent: built from a payload, immutable all the way down; freeze and thaw."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stripe_mirror import StripeEvent
from stripe_mirror.events import freeze, thaw
from stripe_mirror.testing import build_event, build_thin_event


def payload() -> dict[str, Any]:
    return build_event(
        "customer.subscription.updated",
        {"id": "sub_1", "object": "subscription", "items": {"data": [{"id": "si_1"}]}},
        id="evt_events1",
        created=1_700_000_000,
        account="acct_1",
        previous_attributes={"status": "trialing"},
    )


def test_fields() -> None:
    event = StripeEvent.from_payload(payload(), endpoint="connect")
    assert event.id == "evt_events1"
    assert event.type == "customer.subscription.updated"
    assert event.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert event.livemode is False
    assert event.account == "acct_1"
    assert event.api_version == "2026-07-29.dahlia"
    assert event.endpoint == "connect"
    assert event.object["id"] == "sub_1"
    assert event.object is event.data.object
    assert event.previous_attributes == {"status": "trialing"}
    assert event.payload["pending_webhooks"] == 1


def test_no_previous_attributes() -> None:
    event = StripeEvent.from_payload(build_event("customer.created"))
    assert event.previous_attributes is None
    assert event.account is None


def test_from_json_bytes_and_text() -> None:
    body = orjson.dumps(payload())
    assert StripeEvent.from_json(body) == StripeEvent.from_json(body.decode())
    assert StripeEvent.from_json(body) == StripeEvent.from_payload(payload())


def test_thin_notification_is_refused() -> None:
    with pytest.raises(ValueError, match="thin"):
        StripeEvent.from_payload(build_thin_event("v1.billing.meter.no_meter_found"))


def test_attributes_are_frozen() -> None:
    event = StripeEvent.from_payload(payload())
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.type = "invoice.paid"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data.object = {}  # type: ignore[misc]
    # Python 3.11's frozen slotted dataclasses refuse a new attribute with a TypeError
    # (CPython gh-90562); later versions with an AttributeError. Refused either way.
    with pytest.raises((AttributeError, TypeError)):
        event.extra = 1  # type: ignore[attr-defined]


def test_payload_is_read_only_all_the_way_down() -> None:
    event = StripeEvent.from_payload(payload())
    with pytest.raises(TypeError):
        event.payload["type"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        event.object["status"] = "canceled"  # type: ignore[index]
    items = event.object["items"]["data"]
    assert isinstance(items, tuple)
    with pytest.raises(TypeError):
        items[0]["id"] = "si_2"
    with pytest.raises(TypeError):
        event.previous_attributes["status"] = "x"  # type: ignore[index]


def test_source_changes_do_not_reach_the_event() -> None:
    source = payload()
    event = StripeEvent.from_payload(source)
    source["type"] = "changed"
    source["data"]["object"]["items"]["data"].append({"id": "si_2"})
    assert event.type == "customer.subscription.updated"
    assert len(event.object["items"]["data"]) == 1


def test_thaw_gives_plain_json() -> None:
    event = StripeEvent.from_payload(payload())
    plain = thaw(event.payload)
    assert plain == payload()
    assert json.loads(json.dumps(plain)) == payload()
    plain["data"]["object"]["id"] = "sub_2"  # a thawed copy is the caller's to change
    assert event.object["id"] == "sub_1"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json)
def test_thaw_inverts_freeze(value: Any) -> None:
    frozen = freeze(value)
    assert thaw(frozen) == value
    assert freeze(thaw(frozen)) == frozen
    assert type(thaw(frozen)) is type(value)


def test_an_event_read_from_json_is_read_only_and_equal_to_its_payload() -> None:
    """from_json wraps its own parse (read-only views made as they are read): it reads the
    same as the payload, and nothing in it can be changed."""
    event = StripeEvent.from_json(orjson.dumps(payload()))
    assert event.payload == payload()
    assert thaw(event.payload) == payload()
    assert thaw(event.object) == payload()["data"]["object"]
    assert event.object["items"]["data"] == ({"id": "si_1"},)
    assert event.object.get("missing", "default") == "default"
    assert "items" in event.object
    assert len(event.object) == 3
    with pytest.raises(TypeError):
        event.object["items"]["data"][0]["id"] = "si_2"
    with pytest.raises(TypeError):
        hash(event.payload)
