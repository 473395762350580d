"""The fake Stripe API (tests/stripe_api/fake) through the official SDK: lists and their
pagination, filters, retrieve, nested lists, events and writes, in current API shapes."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.stripe_api.fake import EMBEDDED_LIMIT, FakeStripe

T0 = 1_750_000_000


def _customers(fake: FakeStripe, count: int, **fields: Any) -> list[dict[str, Any]]:
    return [
        fake.add("customer", created=T0 + n, email=f"c{n}@x.org", **fields) for n in range(count)
    ]


def test_lists_newest_first_page_by_page_with_cursors(fake_stripe: FakeStripe) -> None:
    made = _customers(fake_stripe, 25)
    client = fake_stripe.client()

    listed = [c.id for c in client.v1.customers.list({"limit": 10}).auto_paging_iter()]

    assert listed == [c["id"] for c in reversed(made)]
    pages = fake_stripe.requests("/v1/customers")
    assert [r.params.get("starting_after") for r in pages] == [None, listed[9], listed[19]]
    first = client.v1.customers.list({"limit": 10})
    assert (first.url, first.has_more, first.object) == ("/v1/customers", True, "list")
    exact = client.v1.customers.list({"limit": 5, "starting_after": listed[19]})
    assert (len(exact.data), exact.has_more) == (5, False)


def test_ending_before_pages_towards_newer_objects(fake_stripe: FakeStripe) -> None:
    made = _customers(fake_stripe, 7)
    client = fake_stripe.client()
    newer = client.v1.customers.list({"limit": 2, "ending_before": made[2]["id"]})
    assert [c.email for c in newer.data] == ["c4@x.org", "c3@x.org"]  # still newest first
    assert newer.has_more
    # The SDK walks backwards (oldest of the newer ones first) until has_more is false.
    walked = client.v1.customers.list({"limit": 2, "ending_before": made[2]["id"]})
    assert [c.email for c in walked.auto_paging_iter()] == [f"c{n}@x.org" for n in range(3, 7)]


def test_same_second_objects_page_without_loss_or_repeat(fake_stripe: FakeStripe) -> None:
    made = [fake_stripe.add("customer", created=T0) for _ in range(9)]
    client = fake_stripe.client()
    listed = [c.id for c in client.v1.customers.list({"limit": 2}).auto_paging_iter()]
    assert listed == [c["id"] for c in reversed(made)]  # the later insertion first


def test_created_and_field_filters(fake_stripe: FakeStripe) -> None:
    made = _customers(fake_stripe, 6)
    fake_stripe.add("customer", created=T0 + 3, email="special@x.org")
    client = fake_stripe.client()
    window = client.v1.customers.list({"created": {"gte": T0 + 2, "lt": T0 + 4}})
    assert [c.email for c in window.data] == ["special@x.org", "c3@x.org", "c2@x.org"]
    assert [c.id for c in client.v1.customers.list({"created": T0 + 5}).data] == [made[5]["id"]]
    assert [c.created for c in client.v1.customers.list({"email": "special@x.org"}).data] == [
        T0 + 3
    ]
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.list({"colour": "blue"})  # type: ignore[typeddict-unknown-key]
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "colour")
    for limit in (0, 101):
        with pytest.raises(stripe.InvalidRequestError, match="between 1 and 100"):
            client.v1.customers.list({"limit": limit})
    with pytest.raises(stripe.InvalidRequestError) as cursor:
        client.v1.customers.list({"starting_after": "cus_never"})
    assert (cursor.value.http_status, cursor.value.code) == (400, "resource_missing")


def test_subscriptions_hide_canceled_ones_unless_asked(fake_stripe: FakeStripe) -> None:
    statuses = ["active", "canceled", "incomplete_expired", "past_due"]
    for n, status in enumerate(statuses):
        fake_stripe.add("subscription", status=status, created=T0 + n, customer=f"cus_{n % 2}")
    client = fake_stripe.client()

    def listed(**params: Any) -> list[str]:
        found = client.v1.subscriptions.list(params).auto_paging_iter()  # type: ignore[arg-type]
        return [s.status for s in found]

    assert listed() == ["past_due", "incomplete_expired", "active"]
    assert listed(status="all") == list(reversed(statuses))
    assert listed(status="ended") == ["incomplete_expired", "canceled"]
    assert listed(status="canceled", customer="cus_1") == ["canceled"]


def test_retrieve_answers_stubs_for_deleted_objects_and_404_for_missing_ones(
    fake_stripe: FakeStripe,
) -> None:
    deleted, removed, kept = _customers(fake_stripe, 3)
    fake_stripe.delete(deleted["id"])
    fake_stripe.remove(removed["id"])
    client = fake_stripe.client()

    assert client.v1.customers.retrieve(kept["id"]).email == "c2@x.org"
    stub = client.v1.customers.retrieve(deleted["id"])
    assert stub.to_dict() == {"id": deleted["id"], "object": "customer", "deleted": True}
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve(removed["id"])
    error = missing.value
    assert (error.http_status, error.code, error.param) == (404, "resource_missing", "id")
    assert error.user_message == f"No such customer: '{removed['id']}'"
    assert error.json_body["error"]["doc_url"].endswith("/resource-missing")  # type: ignore[index]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.retrieve(kept["id"])  # an id of another type
    assert [c.id for c in client.v1.customers.list().data] == [kept["id"]]
    # The deleted customer still anchors a cursor, as it did before it was deleted.
    assert client.v1.customers.list({"starting_after": deleted["id"]}).data == []


def test_embedded_lists_are_cut_and_completed_from_their_endpoints(
    fake_stripe: FakeStripe,
) -> None:
    items = [{"id": f"si_{n:02}", "object": "subscription_item"} for n in range(23)]
    subscription = fake_stripe.add("subscription", items=items)
    lines = [{"id": f"il_{n:02}", "object": "line_item", "amount": n} for n in range(12)]
    invoice = fake_stripe.add("invoice", lines=lines)
    client = fake_stripe.client()

    embedded = client.v1.subscriptions.retrieve(subscription["id"])["items"]
    assert (len(embedded.data), embedded.has_more) == (EMBEDDED_LIMIT, True)
    assert embedded.url == f"/v1/subscription_items?subscription={subscription['id']}"
    every = client.v1.subscription_items.list({"subscription": subscription["id"], "limit": 5})
    assert [item.id for item in every.auto_paging_iter()] == [item["id"] for item in items]
    assert client.v1.subscription_items.retrieve("si_17").id == "si_17"
    all_lines = client.v1.invoices.line_items.list(invoice["id"], {"limit": 4})
    assert [line.amount for line in all_lines.auto_paging_iter()] == list(range(12))
    assert all_lines.url == f"/v1/invoices/{invoice['id']}/lines"
    with pytest.raises(stripe.InvalidRequestError, match="Missing required param"):
        client.v1.subscription_items.list({})  # type: ignore[typeddict-item]


def test_customer_sources_are_a_nested_list(fake_stripe: FakeStripe) -> None:
    cards = [{"id": f"card_{n}", "object": "card", "last4": "4242"} for n in range(3)]
    customer = fake_stripe.add("customer", sources=cards)
    client = fake_stripe.client()
    listed = client.v1.customers.payment_sources.list(customer["id"], {"limit": 2})
    assert [card.id for card in listed.auto_paging_iter()] == ["card_0", "card_1", "card_2"]


def test_events_list_newest_first_with_filters(fake_stripe: FakeStripe) -> None:
    customer = fake_stripe.add("customer")
    for n, event_type in enumerate(["customer.created", "customer.updated", "invoice.paid"]):
        fake_stripe.emit(event_type, customer, created=T0 + n)
    client = fake_stripe.client()

    events = list(client.v1.events.list({"limit": 2}).auto_paging_iter())
    assert [e.type for e in events] == ["invoice.paid", "customer.updated", "customer.created"]
    since = client.v1.events.list({"created": {"gt": T0}, "types": ["customer.updated"]})
    assert [e.type for e in since.data] == ["customer.updated"]
    assert [e.type for e in client.v1.events.list({"type": "customer.*"}).data] == [
        "customer.updated",
        "customer.created",
    ]
    assert client.v1.events.retrieve(events[0].id).data.object.id == customer["id"]


def test_changes_record_events_with_previous_attributes(fake_stripe: FakeStripe) -> None:
    customer = fake_stripe.create("customer", email="old@x.org", metadata={"a": "1"})
    fake_stripe.update(customer["id"], email="new@x.org", metadata={"a": "", "b": "2"})
    fake_stripe.delete(customer["id"])
    subscription = fake_stripe.create("subscription", status="active")
    fake_stripe.delete(subscription["id"])  # canceled, not gone
    client = fake_stripe.client()

    events = list(reversed(client.v1.events.list().data))
    assert [e.type for e in events] == [
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "customer.subscription.created",
        "customer.subscription.deleted",
    ]
    updated = events[1].data
    assert updated.object.email == "new@x.org"
    assert updated.object.metadata.to_dict() == {"b": "2"}
    assert updated.previous_attributes.to_dict() == {
        "email": "old@x.org",
        "metadata": {"a": "1", "b": None},
    }
    assert client.v1.subscriptions.retrieve(subscription["id"]).status == "canceled"


def test_sdk_writes_prices_and_webhook_endpoints_in_current_shapes(
    fake_stripe: FakeStripe,
) -> None:
    client = fake_stripe.client()
    price = client.v1.prices.create({"currency": "eur", "unit_amount": 1200, "product": "prod_1"})
    assert (price.object, price.unit_amount, price.currency) == ("price", 1200, "eur")
    assert [p.id for p in client.v1.prices.list().data] == [price.id]
    assert client.v1.events.list().data[0].type == "price.created"

    endpoint = client.v1.webhook_endpoints.create(
        {
            "url": "https://example.com/stripe/",
            "enabled_events": ["*"],
            "api_version": "2026-07-29.dahlia",
        }
    )
    assert (endpoint.secret[:6], endpoint.status) == ("whsec_", "enabled")
    assert "secret" not in client.v1.webhook_endpoints.retrieve(endpoint.id)  # shown once
    changed = client.v1.webhook_endpoints.update(
        endpoint.id, {"enabled_events": ["invoice.paid"], "disabled": True}
    )
    assert (changed.enabled_events, changed.status) == (["invoice.paid"], "disabled")
    assert [e.url for e in client.v1.webhook_endpoints.list().data] == [endpoint.url]
    assert client.v1.webhook_endpoints.delete(endpoint.id).deleted is True
    assert client.v1.webhook_endpoints.list().data == []
