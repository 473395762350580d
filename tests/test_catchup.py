"""manage.py stripe_mirror_catchup (management/catchup.py, api/events.py) against our fake Stripe
server: missed events recorded and processed oldest first, chunk after chunk, the inbox's
deduplication both ways, the cursor and its margin, Connect, another API version, the 30-day
retention, a chunk's failures (a handler, the mirror, the recording), and webhooks racing the
catch-up."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connections
from django.test import Client

from stripe_mirror import StripeEvent
from stripe_mirror.dispatch import inbox
from stripe_mirror.handlers import step as mirror
from stripe_mirror.management import catchup as catchup_module
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


def test_chunks_are_recorded_and_processed_oldest_first(
    api: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve events of three customers in chunks of four: recorded in Stripe's created order,
    every event of a chunk processed before those of the next, each customer's oldest first,
    each once; the mirror holds each customer's newest state."""
    monkeypatch.setattr(catchup_module, "CHUNK", 4)
    customers = [api.add("customer", email=f"c{n}@example.com") for n in range(3)]
    start = int(time.time()) - 600
    # Emitted (stored) in an order unlike Stripe's: the listing sorts them by created.
    seconds = [11, 3, 7, 0, 9, 5, 1, 10, 2, 6, 8, 4]
    for second in seconds:
        customer = customers[second % 3]
        email = f"c{second % 3}-{second}@example.com"
        api.emit("customer.updated", {**customer, "email": email}, created=start + second)
    by_time = sorted(listed_events(api), key=_created)
    assert len(by_time) == 12

    out = catchup()

    assert [r.stripe_id for r in InboxEvent.objects.order_by("id")] == [e["id"] for e in by_time]
    place = {event["id"]: n for n, event in enumerate(by_time)}
    order = HandlerCall.objects.filter(handler="record_call").order_by("id")
    ran = [place[call.event_id] for call in order]
    assert sorted(ran) == list(range(12))  # each once
    assert [n // 4 for n in ran] == sorted(n // 4 for n in ran)  # chunk after chunk
    for n in range(3):  # one customer's events oldest first
        mine = [p for p in ran if by_time[p]["data"]["object"]["id"] == customers[n]["id"]]
        assert mine == sorted(mine)
    assert {c.stripe_id: c.email for c in Customer.objects.all()} == {
        customers[n]["id"]: f"c{n}-{9 + n}@example.com" for n in range(3)
    }
    assert set(InboxEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
    assert "12      12" in out  # listed, recorded


def test_a_failing_handler_in_a_chunk_fails_only_its_event(
    api: FakeStripe, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user handler's failure is its event's (retried later): the chunk's batch is not
    rolled back, every other event and handler runs once."""
    monkeypatch.setattr(catchup_module, "CHUNK", 3)
    for number in range(3):
        api.create("customer", email=f"c{number}@example.com")
    failing = api.emit("test.fail", {"id": "obj_fail", "object": "unknown"})
    for number in range(3, 5):
        api.create("customer", email=f"c{number}@example.com")
    events = listed_events(api)
    caplog.set_level("INFO", logger="stripe_mirror.processing")

    out = catchup()

    rows = {row.stripe_id: row for row in InboxEvent.objects.all()}
    assert len(rows) == 6
    broken = rows.pop(failing["id"])
    assert (broken.status, broken.attempts) == (Status.FAILED, 1)
    assert "handler failed on purpose" in broken.last_error
    assert {(row.status, row.attempts) for row in rows.values()} == {(Status.PROCESSED, 1)}
    assert calls() == {e["id"]: 1 for e in events}  # record_call ran for the failed one too
    assert HandlerCall.objects.filter(handler="failing").count() == 0
    assert "retrying one by one" not in caplog.text
    (line,) = [ln for ln in out.splitlines() if ln.startswith("platform  test")]
    assert line.split()[-5:] == ["6", "6", "0", "5", "1"]  # listed ... processed, failed


def test_a_failing_mirror_in_a_chunk_is_run_event_by_event(
    api: FakeStripe, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mirror (the first step) failing on one event rolls its chunk's batch back; the
    chunk's events then run one transaction each, oldest first: the broken one fails with no
    handler run, every other event's handlers run once (the rolled-back batch's writes are
    gone), and the next chunks run as batches again."""
    monkeypatch.setattr(catchup_module, "CHUNK", 4)
    customers = [api.create("customer", email=f"c{n}@example.com") for n in range(8)]
    events = listed_events(api)
    broken_id = customers[2]["id"]
    real_sync = mirror.sync_event

    def broken_for_one(event: StripeEvent, **kwargs: Any) -> None:
        if (event.object or {}).get("id") == broken_id:
            raise LookupError("mirror cannot apply this event")
        real_sync(event, **kwargs)

    monkeypatch.setattr(mirror, "sync_event", broken_for_one)
    caplog.set_level("INFO", logger="stripe_mirror.processing")

    catchup()

    assert caplog.text.count("retrying one by one") == 1
    broken = InboxEvent.objects.get(object_id=broken_id)
    assert (broken.status, broken.attempts, broken.completed_handlers) == (Status.FAILED, 1, [])
    assert f"[{mirror.NAME}]" in broken.last_error
    others = InboxEvent.objects.exclude(pk=broken.pk)
    assert {(row.status, row.attempts) for row in others} == {(Status.PROCESSED, 1)}
    assert calls() == {e["id"]: 1 for e in events if e["id"] != broken.stripe_id}
    assert Customer.objects.count() == 7
    oldest_first = events[::-1]
    oldest_first.sort(key=_created)
    assert broken.stripe_id in {e["id"] for e in oldest_first[:4]}  # the first chunk's


def test_a_chunk_that_cannot_be_recorded_together_is_recorded_one_at_a_time(
    api: FakeStripe, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the chunk's upsert fails (a deadlock with another catch-up, for one), nothing of it
    is kept, and its events are recorded as the endpoint records them, then processed once."""
    for number in range(3):
        api.create("customer", email=f"c{number}@example.com")
    events = listed_events(api)

    def deadlocked(*args: Any, **kwargs: Any) -> Any:
        InboxEvent.objects.create(
            stripe_id=events[0]["id"], type="x", created=datetime.now(UTC), endpoint="lost"
        )  # a write of the failed transaction: rolled back with it
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(inbox, "record_many", deadlocked)
    caplog.set_level("INFO", logger="stripe_mirror.catchup")
    out = catchup()

    assert "recording them one at a time" in caplog.text
    assert {(row.endpoint, row.status) for row in InboxEvent.objects.all()} == {
        (ENDPOINT, Status.PROCESSED)
    }
    assert calls() == {e["id"]: 1 for e in events}
    assert "3       3" in out


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
@pytest.mark.parametrize(("chunk", "jobs"), [(catchup_module.CHUNK, 1), (16, 1), (16, 3)])
def test_webhooks_racing_the_catch_up_run_each_handler_once(
    api: FakeStripe, chunk: int, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While catch-up lists and delivers 150 missed events (slowly), webhooks deliver the same
    events: every event is recorded once and its handler runs exactly once, whether catch-up
    records them in one chunk or in ten, in one process or in three (``--jobs``; one on
    SQLite)."""
    monkeypatch.setattr(catchup_module, "CHUNK", chunk)
    for number in range(150):
        api.create("customer", email=f"c{number}@example.com")
    events = listed_events(api)
    api.latency = 0.02

    def catch_up_then_close() -> None:
        try:
            catchup("--jobs", str(jobs))
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
