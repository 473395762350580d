"""manage.py stripe_mirror_catchup (management/catchup.py, api/events.py) against our fake Stripe
server: missed events recorded and processed oldest first, the inbox's deduplication both
ways, the cursor and its margin, Connect, another API version, the 30-day retention, and
webhooks racing the catch-up."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client

from stripe_mirror.management.catchup import ENDPOINT
from stripe_mirror.models import Customer, InboxEvent, Status
from stripe_mirror.testing import post_event
from tests.conftest import SECRET
from tests.stripe_api.fake import FakeStripe
from tests.testapp.models import HandlerCall

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(fake_api: FakeStripe) -> FakeStripe:
    return fake_api


def catchup(*args: str) -> str:
    out = StringIO()
    call_command("stripe_mirror_catchup", "--plain", *args, stdout=out, stderr=out)
    return out.getvalue()


def listed_events(api: FakeStripe, account: str | None = None) -> list[dict[str, Any]]:
    client = api.client() if account is None else api.client(stripe_account=account)
    return [e.to_dict() for e in client.v1.events.list({"limit": 100}).auto_paging_iter()]


def calls() -> dict[str, int]:
    counted: dict[str, int] = {}
    for call in HandlerCall.objects.filter(handler="record_call"):
        counted[call.event_id] = counted.get(call.event_id, 0) + 1
    return counted


def test_missed_events_are_recorded_and_processed_oldest_first(api: FakeStripe, post: Any) -> None:
    first = api.create("customer", email="a@example.com")
    api.update(first["id"], email="b@example.com")
    second = api.create("customer", email="c@example.com")
    events = listed_events(api)
    assert len(events) == 3

    out = catchup()

    rows = list(InboxEvent.objects.order_by("id"))
    # Listed newest first; recorded oldest first (within one second, in the listing's order).
    oldest_first = events[::-1]
    oldest_first.sort(key=_created)  # stable: a sorted() of the reversal, which ruff refuses
    assert [row.stripe_id for row in rows] == [e["id"] for e in oldest_first]
    assert {row.endpoint for row in rows} == {ENDPOINT}
    assert {row.status for row in rows} == {Status.PROCESSED}
    # The body is the event as Stripe rendered it.
    assert {row.stripe_id: row.payload for row in rows} == {e["id"]: e for e in events}
    assert Customer.objects.get(stripe_id=first["id"]).email == "b@example.com"
    assert Customer.objects.get(stripe_id=second["id"]).email == "c@example.com"
    assert calls() == {e["id"]: 1 for e in events}
    assert "platform  test" in out
    assert "3       3" in out

    # Again: every event is present, nothing is recorded or run twice.
    again = catchup()
    assert InboxEvent.objects.count() == 3
    assert calls() == {e["id"]: 1 for e in events}
    assert "0         3" in again  # recorded, present
    # A webhook bringing one afterwards is a duplicate.
    response = post(events[0])
    assert response.json()["duplicate"] is True
    assert calls() == {e["id"]: 1 for e in events}


def _created(event: dict[str, Any]) -> int:
    return int(event["created"])


def test_events_delivered_by_webhook_are_not_recorded_again(api: FakeStripe, post: Any) -> None:
    api.create("customer", email="a@example.com")
    api.create("customer", email="b@example.com")
    delivered, missed = listed_events(api)
    post(delivered)
    catchup()
    row = InboxEvent.objects.get(stripe_id=delivered["id"])
    assert (row.endpoint, row.delivery_count) == ("default", 1)
    assert InboxEvent.objects.get(stripe_id=missed["id"]).endpoint == ENDPOINT
    assert calls() == {delivered["id"]: 1, missed["id"]: 1}


def test_the_cursor_is_the_newest_recorded_event_minus_the_margin(
    api: FakeStripe, post: Any
) -> None:
    now = datetime.now(UTC)
    old = api.add("customer", email="old@example.com")
    three_days = int((now - timedelta(days=3)).timestamp())
    post(api.emit("customer.created", old, created=three_days))  # the newest recorded event
    api.emit(
        "customer.updated",
        {**old, "email": "late@example.com"},
        created=int((now - timedelta(days=3, minutes=30)).timestamp()),
    )  # listed late, 30 min earlier
    api.emit(
        "customer.updated",
        {**old, "email": "older@example.com"},
        created=int((now - timedelta(days=3, hours=2)).timestamp()),
    )  # before the margin: not listed
    catchup()
    assert InboxEvent.objects.count() == 2
    request = api.requests("/v1/events")[-1]
    assert int(request.params["created"]["gte"]) == int(
        (now - timedelta(days=3, hours=1)).timestamp()
    )
    catchup("--margin", "86400")
    assert InboxEvent.objects.count() == 3


def test_an_empty_inbox_lists_the_whole_retention_window(api: FakeStripe) -> None:
    customer = api.add("customer", email="a@example.com")
    api.emit("customer.created", customer, created=int(time.time()) - 29 * 86400)
    catchup()
    assert InboxEvent.objects.count() == 1
    request = api.requests("/v1/events")[-1]
    start = datetime.fromtimestamp(int(request.params["created"]["gte"]), UTC)
    assert abs(start - (datetime.now(UTC) - timedelta(days=30))) < timedelta(minutes=1)


def test_a_since_older_than_the_retention_says_what_is_lost(api: FakeStripe) -> None:
    api.create("customer", email="a@example.com")
    since = datetime.now(UTC) - timedelta(days=35)
    out = catchup("--since", since.strftime("%Y-%m-%dT%H:%M:%S"))
    assert InboxEvent.objects.count() == 1
    assert f"events from {since:%Y-%m-%d %H:%M:%S} to" in out
    assert "older than Stripe's 30-day retention" in out
    assert "cannot be recovered" in out
    assert "manage.py stripe_mirror_backfill --restart" in out


def test_connected_accounts(api: FakeStripe) -> None:
    api.connect("acct_one")
    api.connect("acct_two")
    api.create("customer", account="acct_one", email="one@example.com")
    api.create("customer", account="acct_two", email="two@example.com")
    api.create("customer", email="platform@example.com")
    out = catchup("--accounts", "all")
    rows = {row.account: row for row in InboxEvent.objects.all()}
    assert set(rows) == {"", "acct_one", "acct_two"}
    assert {c.account: c.email for c in Customer.objects.all()} == {
        "": "platform@example.com",
        "acct_one": "one@example.com",
        "acct_two": "two@example.com",
    }
    assert "acct_one" in out
    assert "acct_two" in out
    catchup("--accounts", "acct_one")
    assert InboxEvent.objects.count() == 3


def test_events_listed_in_another_api_version(api: FakeStripe) -> None:
    """The Events API renders events in the account's default version, not the endpoint's:
    a 2017-08-15 customer (``account_balance``) fills the same column as today's."""
    customer = api.add("customer", email="a@example.com")
    old_shape = {k: v for k, v in customer.items() if k != "balance"}
    api.emit("customer.updated", {**old_shape, "account_balance": 700}, api_version="2017-08-15")
    catchup()
    row = InboxEvent.objects.get()
    assert row.api_version == "2017-08-15"
    assert Customer.objects.get(stripe_id=customer["id"]).balance == 700


def test_every_and_since_are_checked(api: FakeStripe) -> None:
    with pytest.raises(CommandError, match="--every"):
        catchup("--every", "soon")
    with pytest.raises(CommandError, match="--since"):
        catchup("--since", "yesterday")


@pytest.mark.django_db(transaction=True)
def test_webhooks_racing_the_catch_up_run_each_handler_once(api: FakeStripe) -> None:
    """While catch-up lists and delivers 150 missed events (slowly), webhooks deliver the same
    events: every event is recorded once and its handler runs exactly once."""
    for number in range(150):
        api.create("customer", email=f"c{number}@example.com")
    events = listed_events(api)
    api.latency = 0.02

    def catch_up_then_close() -> None:
        try:
            catchup()
        finally:
            connections.close_all()  # this thread's connection

    thread = threading.Thread(target=catch_up_then_close)
    thread.start()
    site = Client()
    for event in reversed(events):
        assert post_event(site, event, secret=SECRET).status_code == 200
    thread.join(120)
    assert not thread.is_alive()
    assert InboxEvent.objects.count() == 150
    assert calls() == {e["id"]: 1 for e in events}
    sources = {row.endpoint for row in InboxEvent.objects.all()}
    assert sources <= {"default", ENDPOINT}
