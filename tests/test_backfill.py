"""manage.py stripe_mirror_backfill (sync/backfill.py, api/listing.py) against our fake Stripe
server: pagination, resuming, embedded lists the API cuts, 429 answers, Connect, the signal,
and live webhooks racing the backfill."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from stripe_mirror import signals
from stripe_mirror.api import client_for
from stripe_mirror.api.listing import LISTABLE
from stripe_mirror.models import (
    BackfillProgress,
    Customer,
    InboxEvent,
    Invoice,
    LineItem,
    StripeObject,
    Subscription,
    SubscriptionItem,
)
from stripe_mirror.sync.backfill import Listing, backfill
from stripe_mirror.testing import build_event
from tests.stripe_api.fake import EMBEDDED_LIMIT, FakeStripe
from tests.testapp.models import HandlerCall

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(fake_api: FakeStripe) -> FakeStripe:
    return fake_api


def run(*args: str) -> str:
    out = StringIO()
    call_command("stripe_mirror_backfill", "--plain", *args, stdout=out, stderr=out)
    return out.getvalue()


def progress(object_type: str, account: str = "") -> BackfillProgress:
    return BackfillProgress.objects.get(object_type=object_type, account=account)


def test_every_customer_once_over_pages(api: FakeStripe) -> None:
    made = {api.add("customer", email=f"c{i}@example.com")["id"] for i in range(250)}
    output = run("--types", "customer")
    rows = Customer.objects.all()
    assert {row.stripe_id for row in rows} == made
    assert all(row.data == api.get(row.stripe_id) for row in rows)
    assert all(row.event_id.startswith("backfill:") for row in rows)
    done = progress("customer")
    assert (done.seen, done.created, done.updated, done.skipped) == (250, 250, 0, 0)
    assert done.finished_at is not None
    pages = api.requests("/v1/customers")
    assert [r.params.get("limit") for r in pages] == ["100"] * 3
    assert "platform" in output
    assert "250" in output


def test_a_finished_backfill_says_so_and_restart_rereads(api: FakeStripe) -> None:
    for i in range(3):
        api.add("customer", email=f"c{i}@example.com")
    run("--types", "customer")
    api.clear_log()
    assert "already done" in run("--types", "customer")
    assert api.requests("/v1/customers") == []
    before = {row.stripe_id: row.data for row in Customer.objects.all()}
    run("--types", "customer", "--restart")
    assert {row.stripe_id: row.data for row in Customer.objects.all()} == before
    again = progress("customer")
    assert again.seen == 3
    assert again.created == 0


def test_resumes_from_the_stored_cursor(api: FakeStripe) -> None:
    ids = [api.add("customer", email=f"c{i}@example.com")["id"] for i in range(150)]
    BackfillProgress.objects.create(object_type="customer", cursor=ids[::-1][99], seen=100)
    run("--types", "customer")
    (request,) = api.requests("/v1/customers")
    assert request.params["starting_after"] == ids[::-1][99]
    assert Customer.objects.count() == 50
    assert progress("customer").seen == 150


def test_subscriptions_of_every_status(api: FakeStripe) -> None:
    api.add("subscription", status="active")
    api.add("subscription", status="canceled")
    run("--types", "subscription")
    assert sorted(Subscription.objects.values_list("status", flat=True)) == ["active", "canceled"]
    assert {r.params["status"] for r in api.requests("/v1/subscriptions")} == {"all"}


def items_of(subscription: str, count: int) -> list[dict[str, Any]]:
    return [
        {"id": f"si_{subscription}_{i:02d}", "object": "subscription_item", "quantity": 1}
        for i in range(count)
    ]


def test_embedded_lists_the_api_cuts_are_completed(api: FakeStripe) -> None:
    sub = api.add("subscription", id="sub_big", status="active", items=items_of("big", 25))
    lines = [{"id": f"il_{i:02d}", "object": "line_item", "amount": i} for i in range(25)]
    invoice = api.add("invoice", id="in_big", lines=lines)
    listed = client_for(False).v1.subscriptions.retrieve(sub["id"])
    assert len(listed["items"]["data"]) == EMBEDDED_LIMIT  # the API cuts it
    run("--types", "subscription,invoice")
    assert SubscriptionItem.objects.filter(subscription_id="sub_big").count() == 25
    assert LineItem.objects.filter(invoice_id=invoice["id"]).count() == 25
    row = Subscription.objects.get()
    assert row.data["items"]["has_more"] is False
    assert len(row.data["items"]["data"]) == 25
    assert len(Invoice.objects.get().data["lines"]["data"]) == 25


def test_a_complete_list_prunes_items_gone_since(api: FakeStripe) -> None:
    """A complete list says which items are gone: the mirror's older item is tombstoned."""
    SubscriptionItem.objects.create(
        stripe_id="si_gone", subscription_id="sub_p", event_created=datetime(2020, 1, 1, tzinfo=UTC)
    )
    api.add("subscription", id="sub_p", status="active", items=items_of("p", 12))
    run("--types", "subscription")
    assert SubscriptionItem.objects.get(stripe_id="si_gone").deleted is True
    assert SubscriptionItem.objects.filter(deleted=False).count() == 12


def test_429_answers_are_backed_off_and_nothing_skipped(api: FakeStripe) -> None:
    made = {api.add("customer", email=f"c{i}@example.com")["id"] for i in range(120)}
    api.fail_next(2, status=429, path="/v1/customers")
    run("--types", "customer")
    assert {row.stripe_id for row in Customer.objects.all()} == made
    statuses = [r.status for r in api.requests("/v1/customers")]
    assert statuses == [429, 429, 200, 200]
    assert progress("customer").seen == 120


def test_an_error_fails_the_listing_which_resumes_later(api: FakeStripe) -> None:
    for i in range(150):
        api.add("customer", email=f"c{i}@example.com")
    first = api.requests("/v1/customers")
    assert first == []
    api.fail_next(4, status=500, path="/v1/customers")  # more than the retries
    with pytest.raises(CommandError, match="failed"):
        run("--types", "customer")
    assert progress("customer").finished_at is None
    run("--types", "customer")
    assert Customer.objects.count() == 150
    assert progress("customer").seen == 150


def test_connect_two_accounts_side_by_side(api: FakeStripe) -> None:
    for account in ("acct_1One", "acct_1Two"):
        api.connect(account)
        for i in range(3):
            api.add("customer", account=account, email=f"{account}-{i}@example.com")
    api.add("customer", email="platform@example.com")
    run("--types", "customer,account", "--accounts", "all")
    rows = Customer.objects.all()
    assert sorted((row.account, row.email.split("-")[0]) for row in rows) == [
        ("", "platform@example.com"),
        *[("acct_1One", "acct_1One")] * 3,
        *[("acct_1Two", "acct_1Two")] * 3,
    ]
    assert all(row.data == api.get(row.stripe_id, account=row.account or None) for row in rows)
    assert {r.account for r in api.requests("/v1/customers")} == {None, "acct_1One", "acct_1Two"}
    assert progress("customer", "acct_1One").seen == 3
    assert not BackfillProgress.objects.filter(object_type="account", account="acct_1One")


def test_chosen_accounts_and_created_since(api: FakeStripe) -> None:
    api.connect("acct_1One")
    api.add("customer", account="acct_1One", created=1_600_000_000)
    new = api.add("customer", account="acct_1One", created=1_750_000_000)
    run("--types", "customer", "--accounts", "acct_1One", "--created-since", "2025-01-01")
    assert list(Customer.objects.values_list("stripe_id", "account")) == [(new["id"], "acct_1One")]
    (request,) = api.requests("/v1/customers")
    since = str(int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()))
    assert request.params["created"] == {"gte": since}


def test_a_generic_type_goes_to_the_generic_table(api: FakeStripe) -> None:
    api.add("shipping_rate", display_name="Ground")
    run("--types", "shipping_rate")
    assert StripeObject.objects.get().type == "shipping_rate"


def test_unknown_types_are_refused(api: FakeStripe) -> None:
    with pytest.raises(CommandError, match="no list endpoint known for mandate"):
        run("--types", "mandate")


def test_no_handler_runs_and_the_signal_tells(
    api: FakeStripe, django_capture_on_commit_callbacks: Any
) -> None:
    for i in range(3):
        api.add("customer", email=f"c{i}@example.com")
    received: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    signals.object_backfilled.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            backfill(client_for(False), Listing("customer"))
    finally:
        signals.object_backfilled.disconnect(receiver)
    (page,) = received
    assert (page["object_type"], page["account"], page["livemode"]) == ("customer", "", False)
    assert {row.stripe_id for row in page["rows"]} == {o["id"] for o in page["objects"]}
    assert len(page["objects"]) == 3
    assert HandlerCall.objects.count() == 0
    assert InboxEvent.objects.count() == 0


def test_every_typed_listable_type_has_a_model_or_is_generic() -> None:
    from stripe_mirror.management.selection import DEFAULT_TYPES
    from stripe_mirror.sync.refetch import RESOURCE_PATHS

    assert set(DEFAULT_TYPES) <= set(RESOURCE_PATHS)
    assert "subscription" in DEFAULT_TYPES
    assert LISTABLE["subscription"].params == {"status": "all"}


@pytest.mark.django_db(transaction=True)
def test_webhooks_racing_the_backfill_end_in_the_newest_state(api: FakeStripe, post: Any) -> None:
    """While the backfill pages through 300 customers (slowly), events about them arrive:
    older than the reads (they lose) and newer (they win). Every row ends in the newest."""
    ids = [api.add("customer", email=f"api{i}@example.com")["id"] for i in range(300)]
    api.latency = 0.05
    now = int(time.time())

    def backfill_then_close() -> None:
        try:
            backfill(client_for(False), Listing("customer"))
        finally:
            connections.close_all()  # this thread's connection

    thread = threading.Thread(target=backfill_then_close)
    thread.start()
    newer = set(ids[::7])
    for i, stripe_id in enumerate(ids):
        if stripe_id in newer:  # a change after every read: a second well after now
            state = {"id": stripe_id, "object": "customer", "email": f"new{i}@example.com"}
            post(build_event("customer.updated", state, created=now + 30))
        elif i % 3 == 0:  # a change every read has seen: older than the reads
            state = {"id": stripe_id, "object": "customer", "email": f"old{i}@example.com"}
            post(build_event("customer.updated", state, created=now - 30))
    thread.join(120)
    rows = {row.stripe_id: row.email for row in Customer.objects.all()}
    expected = {
        stripe_id: (f"new{i}@example.com" if stripe_id in newer else f"api{i}@example.com")
        for i, stripe_id in enumerate(ids)
    }
    assert rows == expected
    assert progress("customer").seen == 300


def test_the_next_page_is_fetched_while_the_current_one_is_written() -> None:
    """Ten pages that take 0.1 s each to fetch and 0.1 s each to write: about 1.1 s with the
    fetch one page ahead, 2 s one after the other."""
    from stripe_mirror.api.listing import ahead

    def slow_pages() -> Any:
        for number in range(10):
            time.sleep(0.1)
            yield number

    began = time.monotonic()
    for _ in ahead(slow_pages()):
        time.sleep(0.1)
    assert time.monotonic() - began < 1.6


def test_a_fetch_error_reaches_the_writer() -> None:
    from stripe_mirror.api.listing import ahead

    def failing() -> Any:
        yield 1
        raise RuntimeError("the API is down")

    got = []
    with pytest.raises(RuntimeError, match="down"):
        got.extend(ahead(failing()))
    assert got == [1]


def test_live_mode_with_the_live_key(settings: Any, api: FakeStripe) -> None:
    from tests.stripe_api.fake import LIVE_KEY

    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "API_KEY": {"live": LIVE_KEY}}
    api.add("customer", email="test@example.com")
    live = api.add("customer", email="live@example.com", livemode=True)
    run("--types", "customer", "--live")
    assert list(Customer.objects.values_list("stripe_id", "livemode")) == [(live["id"], True)]
    with pytest.raises(CommandError, match="test mode"):
        run("--types", "customer")


def test_children_of_a_page_are_synced_together(api: FakeStripe) -> None:
    """Three new subscriptions in one page: their items are inserted at once (parents named
    from the list when the items do not name them), an item the mirror had is updated through
    the guard, and an item gone from a complete list is tombstoned."""
    old = datetime(2020, 1, 1, tzinfo=UTC)
    SubscriptionItem.objects.create(stripe_id="si_gone", subscription_id="sub_a", event_created=old)
    SubscriptionItem.objects.create(
        stripe_id="si_a_00", subscription_id="sub_a", event_created=old, quantity=7
    )
    for name, count in (("a", 3), ("b", 12), ("c", 2)):
        api.add("subscription", id=f"sub_{name}", status="active", items=items_of(name, count))
    run("--types", "subscription")
    items = {row.stripe_id: row for row in SubscriptionItem.objects.all()}
    assert items["si_gone"].deleted is True
    assert items["si_a_00"].quantity == 1  # the read replaced the older state
    live = [row for row in items.values() if not row.deleted]
    assert len(live) == 17
    assert {row.stripe_id.split("_")[1] for row in live} == {"a", "b", "c"}
    assert all(row.subscription_id == f"sub_{row.stripe_id.split('_')[1]}" for row in live)
