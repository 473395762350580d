"""The fake Stripe API's HTTP behaviour through the official SDK: authentication, Connect and
mode scoping, injected faults against the SDK's own retries, idempotency, latency, the
request log, and v2 thin events."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
import stripe

from stripe_mirror.testing import sign
from tests import live
from tests.stripe_api.fake import LIVE_KEY, FakeStripe


def test_requests_without_a_valid_key_are_refused_as_stripe_refuses_them(
    fake_stripe: FakeStripe,
) -> None:
    fake_stripe.add("customer")
    anonymous = live.request(fake_stripe.url + "/v1/customers")
    assert anonymous.status == 401
    assert anonymous.json()["error"]["message"].startswith("You did not provide an API key")
    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key provided: sk_test_"):
        fake_stripe.client(api_key="sk_test_not_ours_1234").v1.customers.list()
    basic = base64.b64encode(f"{fake_stripe.api_key}:".encode()).decode()
    answer = live.request(
        fake_stripe.url + "/v1/customers", headers={"Authorization": f"Basic {basic}"}
    )
    assert (answer.status, len(answer.json()["data"])) == (200, 1)
    assert [r.status for r in fake_stripe.requests("/v1/customers")] == [401, 401, 200]


def test_live_and_test_mode_and_each_account_see_their_own_objects(
    fake_stripe: FakeStripe,
) -> None:
    fake_stripe.connect("acct_one")
    fake_stripe.connect("acct_two")
    fake_stripe.add("customer", email="platform@x.org")
    fake_stripe.add("customer", email="live@x.org", livemode=True)
    for n in range(5):
        fake_stripe.add("customer", email=f"one{n}@x.org", account="acct_one", created=n)
    fake_stripe.add("customer", email="two@x.org", account="acct_two")

    def emails(client: stripe.StripeClient) -> list[str]:
        return [c.email for c in client.v1.customers.list({"limit": 2}).auto_paging_iter()]

    assert emails(fake_stripe.client()) == ["platform@x.org"]
    assert emails(fake_stripe.client(api_key=LIVE_KEY)) == ["live@x.org"]
    assert emails(fake_stripe.client(stripe_account="acct_one")) == [
        f"one{n}@x.org" for n in reversed(range(5))
    ]
    assert emails(fake_stripe.client(stripe_account="acct_two")) == ["two@x.org"]
    one_pages = [r for r in fake_stripe.requests("/v1/customers") if r.account == "acct_one"]
    assert len(one_pages) == 3  # every page asked in the account's name
    accounts = fake_stripe.client().v1.accounts.list().data
    assert sorted(a.id for a in accounts) == ["acct_one", "acct_two"]
    with pytest.raises(stripe.PermissionError) as refused:
        fake_stripe.client(stripe_account="acct_unknown").v1.customers.list()
    error = refused.value
    assert (error.http_status, error.json_body["error"]["code"]) == (403, "account_invalid")  # type: ignore[index]


def test_rate_limits_are_retried_by_the_sdk_when_stripe_says_so(fake_stripe: FakeStripe) -> None:
    fake_stripe.add("customer")
    fake_stripe.fail_next(2, status=429, should_retry=True)
    client = fake_stripe.client(max_network_retries=2)

    assert len(client.v1.customers.list().data) == 1
    answered = fake_stripe.requests("/v1/customers")
    assert [r.status for r in answered] == [429, 429, 200]

    fake_stripe.fail_next(1, status=429, should_retry=None)  # no header: not retried
    with pytest.raises(stripe.RateLimitError) as limited:
        client.v1.customers.list()
    assert limited.value.json_body["error"]["code"] == "rate_limit"  # type: ignore[index]
    fake_stripe.fail_next(2, status=500, should_retry=None, path="/v1/customers")
    with pytest.raises(stripe.APIError):
        fake_stripe.client(max_network_retries=1).v1.customers.list()  # retried once
    assert [r.status for r in fake_stripe.requests("/v1/customers")][3:] == [429, 500, 500]


def test_a_retried_post_is_replayed_not_repeated(fake_stripe: FakeStripe) -> None:
    client = fake_stripe.client()
    options = {"idempotency_key": "create-gold"}
    first = client.v1.products.create({"name": "Gold"}, options)  # type: ignore[arg-type]
    again = client.v1.products.create({"name": "Gold"}, options)  # type: ignore[arg-type]
    assert first.id == again.id
    assert len(client.v1.products.list().data) == 1
    assert again.last_response.headers["Idempotent-Replayed"] == "true"  # type: ignore[union-attr]
    with pytest.raises(stripe.IdempotencyError):
        client.v1.products.create({"name": "Silver"}, options)  # type: ignore[arg-type]


def test_latency_delays_every_answer_and_requests_overlap(fake_stripe: FakeStripe) -> None:
    fake_stripe.add("customer")
    fake_stripe.latency = 0.3
    client = fake_stripe.client()
    started = time.monotonic()
    client.v1.customers.list()
    assert time.monotonic() - started >= 0.3

    def list_once() -> None:
        fake_stripe.client().v1.customers.list()

    threads = [threading.Thread(target=list_once) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert time.monotonic() - started < 3 * 0.3  # side by side: one after another takes 4 x 0.3


def test_request_log_records_versions_and_headers(fake_stripe: FakeStripe) -> None:
    client = fake_stripe.client(stripe_version="2025-03-31.basil")
    answer = client.v1.customers.list()
    (logged,) = fake_stripe.requests("/v1/customers", method="GET")
    assert logged.stripe_version == "2025-03-31.basil"
    assert logged.headers["authorization"] == f"Bearer {fake_stripe.api_key}"
    assert logged.params == {}
    assert answer.last_response.headers["Stripe-Version"] == "2025-03-31.basil"  # type: ignore[union-attr]
    assert fake_stripe.client().v1.customers.list() is not None
    assert fake_stripe.requests()[-1].stripe_version == stripe.api_version


def test_thin_events_and_their_related_objects_are_fetched_in_their_context(
    fake_stripe: FakeStripe,
) -> None:
    fake_stripe.connect("acct_shop")
    customer = fake_stripe.add("customer", email="thin@x.org", account="acct_shop")
    event = fake_stripe.thin_event("v1.customer.updated", customer, context="acct_shop")
    client = fake_stripe.client()

    fetched = client.v2.core.events.retrieve(event["id"], options={"stripe_context": "acct_shop"})
    assert (fetched.id, fetched.type, fetched.context) == (
        event["id"],
        "v1.customer.updated",
        "acct_shop",
    )
    assert fetched.related_object.url == f"/v1/customers/{customer['id']}"  # type: ignore[attr-defined]
    with pytest.raises(stripe.InvalidRequestError) as elsewhere:
        client.v2.core.events.retrieve(event["id"])  # the platform has no such event
    assert (elsewhere.value.http_status, elsewhere.value.code) == (404, "not_found")

    # What an event destination receives, parsed and followed by the SDK, as issue 12 will.
    body = json.dumps(fake_stripe.notification(event))
    notification = client.parse_event_notification(
        body, sign(body.encode(), "whsec_thin"), "whsec_thin"
    )
    assert notification.fetch_event().id == event["id"]
    assert notification.fetch_related_object().email == "thin@x.org"  # type: ignore[attr-defined]
    contexts = {r.path: r.headers.get("stripe-context") for r in fake_stripe.requests()}
    assert contexts[f"/v1/customers/{customer['id']}"] == "acct_shop"
    assert contexts[f"/v2/core/events/{event['id']}"] == "acct_shop"


def test_thin_events_are_listed_by_object(fake_stripe: FakeStripe) -> None:
    meter = fake_stripe.add("billing.meter")
    other = fake_stripe.add("billing.meter")
    ids = [
        fake_stripe.thin_event("v1.billing.meter.error_report_triggered", meter, data={"n": n})[
            "id"
        ]
        for n in range(3)
    ]
    fake_stripe.thin_event("v1.billing.meter.error_report_triggered", other)
    client = fake_stripe.client()
    listed = client.v2.core.events.list({"object_id": meter["id"], "limit": 2})
    assert [e.id for e in listed.auto_paging_iter()] == list(reversed(ids))
