"""stripe_mirror_catchup --jobs (management/catchup_lanes.py): the missing events dealt into
lane processes by customer, each lane's customers' events oldest first, every event recorded
and processed once; a lane process that dies fails the run without losing an event (the next
catch-up delivers what it left); SQLite and bad values refused or run in one process."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from stripe_mirror.management import catchup as catchup_module
from stripe_mirror.management.catchup_lanes import customer_of, deal
from stripe_mirror.models import CatchupRun, CatchupStatus, Customer, InboxEvent, Invoice, Status
from tests.stripe_api.fake import FakeStripe
from tests.testapp.models import HandlerCall

forks = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="lanes are processes: PostgreSQL, MySQL/MariaDB only"
)


def catchup(*args: str) -> str:
    out = StringIO()
    call_command("stripe_mirror_catchup", "--plain", *args, stdout=out, stderr=out)
    return out.getvalue()


def event(kind: str, obj: dict[str, Any], n: int) -> dict[str, Any]:
    return {"id": f"evt_{n}", "type": kind, "created": n, "data": {"object": obj}}


def test_an_event_goes_to_the_lane_of_its_customer() -> None:
    customer = {"object": "customer", "id": "cus_A"}
    invoice = {"object": "invoice", "id": "in_1", "customer": "cus_A"}
    charge = {"object": "charge", "id": "ch_1", "customer": {"id": "cus_A", "object": "customer"}}
    product = {"object": "product", "id": "prod_1"}
    assert customer_of(event("customer.created", customer, 1)) == "cus_A"
    assert customer_of(event("invoice.paid", invoice, 2)) == "cus_A"
    assert customer_of(event("charge.succeeded", charge, 3)) == "cus_A"
    assert customer_of(event("product.created", product, 4)) == "prod_1"
    assert customer_of({"id": "evt_5", "type": "ping"}) == ""

    events = [
        event(
            "customer.updated" if n % 2 else "invoice.paid",
            {"object": "customer", "id": f"cus_{n % 7}"}
            if n % 2
            else {"object": "invoice", "id": f"in_{n}", "customer": f"cus_{n % 7}"},
            n,
        )
        for n in range(200)
    ]
    lanes = deal(events, 3)
    assert 1 < len(lanes) <= 3
    assert sorted(e["id"] for lane in lanes for e in lane) == sorted(e["id"] for e in events)
    owner = {}
    for number, lane in enumerate(lanes):
        assert [e["created"] for e in lane] == sorted(e["created"] for e in lane)  # in order
        for e in lane:
            assert owner.setdefault(customer_of(e), number) == number  # one lane a customer


def _world(api: FakeStripe, customers: int) -> dict[str, str]:
    """Customers, each created, updated twice and invoiced, one second apart, customer after
    customer (the first one's events the oldest): the invoice of each customer."""
    made: dict[str, str] = {}
    second = int(time.time()) - 3600
    for n in range(customers):
        customer = api.add("customer", email=f"c{n}@example.com")
        invoice = api.add("invoice", customer=customer["id"], status="open", amount_due=100 + n)
        versions = [
            ("customer.created", customer),
            ("customer.updated", {**customer, "email": f"c{n}-1@example.com"}),
            ("customer.updated", {**customer, "email": f"c{n}-2@example.com"}),
            ("invoice.created", invoice),
        ]
        for kind, obj in versions:
            second += 1
            api.emit(kind, obj, created=second)
        made[customer["id"]] = invoice["id"]
    return made


def _runs_in_order() -> dict[str, list[int]]:
    """Per customer, the inbox ids of its events in the order their handlers ran."""
    rows = {row.stripe_id: row for row in InboxEvent.objects.all()}
    ran: dict[str, list[int]] = defaultdict(list)
    for call in HandlerCall.objects.filter(handler="record_call").order_by("id"):
        row = rows[call.event_id]
        ran[customer_of(row.payload)].append(row.pk)
    return ran


@forks
@pytest.mark.django_db(transaction=True)
def test_lanes_record_and_process_every_event_once(
    fake_api: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 customers' 160 events in 3 lanes, chunks of 7: every event recorded once and its
    handler run once; each customer's events processed oldest first; the mirror holds each
    customer's last state and invoice; the run's counts are the lanes' sum."""
    monkeypatch.setattr(catchup_module, "CHUNK", 7)
    invoices = _world(fake_api, 40)

    out = catchup("--jobs", "3")

    assert InboxEvent.objects.count() == 160
    assert set(InboxEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
    assert set(InboxEvent.objects.values_list("attempts", flat=True)) == {1}
    counted = defaultdict(int)
    for call in HandlerCall.objects.filter(handler="record_call"):
        counted[call.event_id] += 1
    assert counted == dict.fromkeys(InboxEvent.objects.values_list("stripe_id", flat=True), 1)
    for customer, order in _runs_in_order().items():
        assert order == sorted(order), customer  # recorded in created order, run in it
    emails = dict(Customer.objects.values_list("stripe_id", "email"))
    assert emails == {c: f"c{n}-2@example.com" for n, c in enumerate(invoices)}
    assert dict(Invoice.objects.values_list("stripe_id", "customer_id")) == {
        invoice: customer for customer, invoice in invoices.items()
    }
    run = CatchupRun.objects.get()
    assert (run.status, run.listed, run.recorded, run.present) == (CatchupStatus.DONE, 160, 160, 0)
    assert "160     160" in out  # listed, recorded

    again = catchup("--jobs", "3")  # nothing to deliver: present, in one process
    assert InboxEvent.objects.count() == 160
    assert "0         160" in again
    assert sum(counted.values()) == HandlerCall.objects.filter(handler="record_call").count()


@forks
@pytest.mark.django_db(transaction=True)
def test_a_killed_lane_fails_the_run_and_the_next_one_delivers_the_rest(
    fake_api: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lane holding one customer's events is killed (os._exit) when it comes to the chunk
    of that customer's invoice: the run fails and says so, the other lanes' events are
    processed; the next catch-up records and processes what the killed lane left (from the
    failed run's start), and no handler ran twice."""
    monkeypatch.setattr(catchup_module, "CHUNK", 5)
    invoices = _world(fake_api, 30)
    doomed = next(iter(invoices))
    deliver = catchup_module.deliver

    def dies(events: list[dict[str, Any]], run: Any) -> None:
        if any(e["data"]["object"]["id"] == invoices[doomed] for e in events):
            os._exit(9)
        deliver(events, run)

    monkeypatch.setattr(catchup_module, "deliver", dies)
    with pytest.raises(CommandError, match="1 account"):
        catchup("--jobs", "2")
    run = CatchupRun.objects.get()
    assert run.status == CatchupStatus.FAILED
    assert "exit code 9" in run.error
    left = 120 - InboxEvent.objects.count()
    assert 0 < left < 120
    assert set(InboxEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}

    monkeypatch.setattr(catchup_module, "deliver", deliver)
    # From the failed run's start, not from the newest event recorded (the other lane's,
    # newer than what the killed lane left; no margin to cover for it).
    catchup("--jobs", "2", "--margin", "0")
    assert InboxEvent.objects.count() == 120
    assert set(InboxEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
    ran = defaultdict(int)
    for call in HandlerCall.objects.filter(handler="record_call"):
        ran[call.event_id] += 1
    assert set(ran.values()) == {1}
    assert len(ran) == 120
    assert Customer.objects.get(stripe_id=doomed).email == "c0-2@example.com"


@pytest.mark.django_db(transaction=True)
def test_jobs_is_checked_and_sqlite_runs_in_one_process(fake_api: FakeStripe) -> None:
    with pytest.raises(CommandError, match="--jobs: at least 1"):
        catchup("--jobs", "0")
    fake_api.create("customer", email="a@example.com")
    out = catchup("--jobs", "2")
    if connection.vendor == "sqlite":
        assert "SQLite lets one process write at a time; catching up in one" in out
    assert InboxEvent.objects.get().status == Status.PROCESSED


@forks
@pytest.mark.django_db
def test_inside_a_transaction_the_run_stays_in_one_process(
    fake_api: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Called inside the test's transaction, lanes would not see its rows and forking would
    close its connection: the events are delivered in this process."""
    monkeypatch.setattr(catchup_module, "CHUNK", 4)
    _world(fake_api, 5)
    pids = set()
    deliver = catchup_module.deliver

    def where(events: list[dict[str, Any]], run: Any) -> None:
        pids.add(os.getpid())
        deliver(events, run)

    monkeypatch.setattr(catchup_module, "deliver", where)
    catchup("--jobs", "2")
    assert pids == {os.getpid()}
    assert InboxEvent.objects.filter(status=Status.PROCESSED).count() == 20
