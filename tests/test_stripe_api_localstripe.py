"""localstripe through the official SDK: what the backfill and catch-up tests can rely on, and
the quirks they must work around (tests/stripe_api/README.md). One process serves the whole
session; ``localstripe`` empties it before each test."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.stripe_api.localstripe_process import Localstripe
from tests.stripe_api.receiver import WebhookReceiver

pytestmark = pytest.mark.slow


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_runs_apart_from_the_test_process_on_loopback_only(localstripe: Localstripe) -> None:
    assert importlib.util.find_spec("localstripe") is None  # not even installed here
    assert "localstripe" not in sys.modules
    assert _listening_addresses(localstripe.port) == {"0100007F"}  # 127.0.0.1, not :: or 0.0.0.0
    assert not (localstripe.state_dir / "store.pickle").exists()  # in memory unless persist


def _billing_objects(client: stripe.StripeClient, customers: int) -> dict[str, Any]:
    """A product, two plans, and per customer a card and a paid monthly subscription."""
    product = client.v1.products.create({"name": "Gold"})
    plans = [
        client.v1.plans.create(
            {"amount": amount, "currency": "eur", "interval": "month", "product": product.id}
        )
        for amount in (1000, 2500)
    ]
    made: dict[str, Any] = {"product": product, "plans": plans, "customers": [], "subs": []}
    for number in range(customers):
        customer = client.v1.customers.create({"email": f"c{number}@example.com"})
        card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
        client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": card.id}}
        )
        plan = plans[number % len(plans)]
        made["subs"].append(
            client.v1.subscriptions.create({"customer": customer.id, "items": [{"plan": plan.id}]})
        )
        made["customers"].append(customer)
    return made


def test_sdk_creates_billing_objects_and_lists_them_back_page_by_page(
    localstripe: Localstripe,
) -> None:
    client = localstripe.client()
    made = _billing_objects(client, customers=7)

    def every(service: Any, **params: Any) -> list[str]:
        return [obj.id for obj in service.list({"limit": 3, **params}).auto_paging_iter()]

    customer_ids = [customer.id for customer in made["customers"]]
    assert every(client.v1.customers) == customer_ids  # all, once each: oldest first here
    assert sorted(every(client.v1.subscriptions, status="all")) == sorted(
        sub.id for sub in made["subs"]
    )
    assert sorted(every(client.v1.plans)) == sorted(plan.id for plan in made["plans"])
    assert every(client.v1.products) == [made["product"].id]
    invoices = list(client.v1.invoices.list({"limit": 3}).auto_paging_iter())
    assert sorted(invoice.customer for invoice in invoices) == sorted(customer_ids)
    assert {invoice.status for invoice in invoices} == {"paid"}
    assert len(every(client.v1.charges)) == 7
    cards = client.v1.payment_methods.list({"customer": customer_ids[0], "type": "card"})
    assert [card.card.last4 for card in cards.data] == ["4242"]
    first_page = client.v1.customers.list({"limit": 3})
    assert (len(first_page.data), first_page.has_more) == (3, True)
    last_page = client.v1.customers.list({"limit": 3, "starting_after": customer_ids[3]})
    assert ([c.id for c in last_page.data], last_page.has_more) == (customer_ids[4:], False)
    assert made["customers"][0]["account_balance"] == 0  # API 2017-08-15 shapes
    assert made["subs"][0]["items"].data[0]["plan"]["id"] == made["plans"][0].id


def test_events_are_listed_oldest_first_in_api_2017_08_15(localstripe: Localstripe) -> None:
    client = localstripe.client()
    customer = client.v1.customers.create({"email": "a@example.com"})
    client.v1.customers.update(customer.id, {"metadata": {"plan": "gold"}})
    client.v1.customers.delete(customer.id)

    events = list(client.v1.events.list({"limit": 2}).auto_paging_iter())
    assert [event.type for event in events] == [
        "customer.created",
        "customer.updated",
        "customer.deleted",
    ]
    assert {event.api_version for event in events} == {"2017-08-15"}
    assert "previous_attributes" not in events[1].data
    assert client.v1.events.retrieve(events[0].id).data.object.id == customer.id
    since = client.v1.events.list({"created": {"gte": events[0].created}})
    assert len(since.data) == 3
    later = client.v1.events.list({"created": {"gt": events[-1].created}})
    assert later.data == []
    assert client.v1.events.list({"type": "customer.*"}).data == []  # no wildcards


def test_quirks_a_client_must_work_around(localstripe: Localstripe) -> None:
    client = localstripe.client()
    first, second = (client.v1.customers.create({"email": f"{n}@x.org"}) for n in "ab")
    with pytest.raises(stripe.InvalidRequestError, match="Unexpected ending_before"):
        client.v1.customers.list({"ending_before": second.id})
    with pytest.raises(stripe.InvalidRequestError, match="Unexpected created"):
        client.v1.customers.list({"created": {"gte": 0}})
    # A cursor that names no object starts over from the first one (Stripe: an error).
    restarted = client.v1.customers.list({"starting_after": "cus_gone", "limit": 1})
    assert [customer.id for customer in restarted.data] == [first.id]
    # Connect and mode are ignored: every key and account sees the same objects.
    other = localstripe.client(stripe_account="acct_unknown", api_key="sk_live_other")
    assert [customer.id for customer in other.v1.customers.list().data] == [first.id, second.id]
    client.v1.customers.delete(first.id)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve(first.id)
    assert (missing.value.http_status, missing.value.code) == (404, None)  # not resource_missing
    with pytest.raises(stripe.APIError, match="Invalid response body"):
        client.v1.prices.list()  # no such endpoint: a plain-text 404


def test_embedded_lists_are_cut_but_not_every_list_endpoint_pages(
    localstripe: Localstripe,
) -> None:
    client = localstripe.client()
    made = _billing_objects(client, customers=1)
    customer, subscription = made["customers"][0], made["subs"][0]
    for amount in range(11):  # pending items: the next invoice's lines (with the plan's)
        client.v1.invoice_items.create(
            {"customer": customer.id, "amount": 100 + amount, "currency": "eur"}
        )
    invoice = client.v1.invoices.create({"customer": customer.id})
    assert (len(invoice.lines.data), invoice.lines.has_more) == (10, True)
    lines = client.v1.invoices.line_items.list(invoice.id, {"limit": 100})
    assert (len(lines.data), lines.has_more) == (12, False)  # one page: it takes no cursor
    assert [line.id for line in lines.data[:10]] == [line.id for line in invoice.lines.data]
    with pytest.raises(stripe.InvalidRequestError, match="Unexpected starting_after"):
        client.v1.invoices.line_items.list(invoice.id, {"starting_after": lines.data[0].id})
    with pytest.raises(stripe.InvalidRequestError, match="Unexpected subscription"):
        client.v1.subscription_items.list({"subscription": subscription.id})
    two_items = [{"plan": plan.id} for plan in made["plans"]]
    with pytest.raises(stripe.APIError, match="Not implemented"):  # one item per subscription
        client.v1.subscriptions.create({"customer": customer.id, "items": two_items})


def test_webhooks_arrive_signed_as_stripe_signs_them(localstripe: Localstripe) -> None:
    client = localstripe.client()
    with WebhookReceiver() as receiver:
        localstripe.register_webhook(receiver.url, "whsec_local", events=["customer.created"])
        customer = client.v1.customers.create({"email": "hooked@example.com"})
        client.v1.products.create({"name": "not wanted"})  # filtered out by the registration
        # An earlier test's event of the last second may come too: ours is the one naming it.
        (delivery,) = receiver.wait_for(1, matching=lambda d: customer.id.encode() in d.body)
        stripe.WebhookSignature.verify_header(
            delivery.body.decode(), delivery.headers["stripe-signature"], "whsec_local", 300
        )
        event = json.loads(delivery.body)
        assert (event["type"], event["data"]["object"]["id"]) == ("customer.created", customer.id)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.WebhookSignature.verify_header(
                delivery.body.decode(), delivery.headers["stripe-signature"], "whsec_other", 300
            )

        localstripe.reset()  # also unregisters the webhook
        unheard = client.v1.customers.create({"email": "unheard@example.com"})
        time.sleep(1.5)  # localstripe sends 1 s after the event
        types = {json.loads(d.body)["type"] for d in receiver.deliveries}
        assert types == {"customer.created"}
        assert not any(unheard.id.encode() in d.body for d in receiver.deliveries)


def test_reset_forgets_objects_and_events(localstripe: Localstripe) -> None:
    client = localstripe.client()
    client.v1.customers.create({"email": "a@example.com"})
    localstripe.reset()
    assert client.v1.customers.list().data == []
    assert client.v1.events.list().data == []


def test_state_kept_in_its_directory_survives_a_restart(tmp_path: Path) -> None:
    first = Localstripe(state_dir=tmp_path, persist=True)
    try:
        customer = first.client().v1.customers.create({"email": "kept@example.com"})
    finally:
        first.stop()
    assert (tmp_path / "store.pickle").exists()
    second = Localstripe(state_dir=tmp_path, resume=True)
    try:
        assert second.port != 0
        assert second.client().v1.customers.retrieve(customer.id).email == "kept@example.com"
    finally:
        second.stop()
