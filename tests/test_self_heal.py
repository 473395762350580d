"""Self-healing (docs/mirror.md, "Self-healing"): an event whose embedded list Stripe cut
(``has_more: true``) or whose snapshot the guard had to guess (an ambiguous same-second tie) is
completed from the API after commit, one read per object and transaction, through the guard.

Against the fake Stripe server (``tests/stripe_api/fake``, over HTTP through the SDK), whose
request log counts the reads. Every test commits for real (``transaction=True``): the reads
run from Django's ``on_commit``, as in production.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction

from stripe_mirror.dispatch import Outcome, inbox, process, process_due
from stripe_mirror.events import shared_event
from stripe_mirror.handlers.base import sync_event
from stripe_mirror.models import Dispute, InboxEvent, Invoice, LineItem, Status
from stripe_mirror.testing import build_event, encode, post_event
from stripe_mirror.verification import envelope
from tests.stripe_api.fake import FakeStripe

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_test_primary"
LINES = [{"id": f"il_{n:02d}", "object": "line_item", "amount": n} for n in range(15)]
#: The lines left when an invoice that had ``il_old`` is cut at 10 and not read whole.
FIRST_PAGE_AND_OLD = sorted(["il_old", *[line["id"] for line in LINES[:10]]])


@pytest.fixture
def deliver(client: Any) -> Callable[[dict[str, Any]], InboxEvent]:
    """POST a signed event; it is processed in the request (the immediate backend), and what
    its transaction left to ``on_commit`` ran when it committed."""

    def _deliver(event: dict[str, Any]) -> InboxEvent:
        assert post_event(client, event, secret=SECRET).status_code == 200
        return InboxEvent.objects.get(stripe_id=event["id"])

    return _deliver


def _record(event: dict[str, Any]) -> None:
    body = encode(event)
    inbox.record(envelope.parse(body), "default", body)


def _lines(invoice: str, **filters: Any) -> list[str]:
    rows = LineItem.objects.filter(invoice_id=invoice, **filters)
    return sorted(rows.values_list("stripe_id", flat=True))


def _gets(api: FakeStripe, path: str) -> int:
    return len(api.requests(path, method="GET"))


def _mirror(event: dict[str, Any]) -> None:
    """The mirror's step for one event, in the caller's transaction."""
    sync_event(shared_event(event), payload=event)


def test_a_cut_invoice_is_read_whole_and_its_lines_pruned(
    fake_api: FakeStripe, deliver: Callable[..., InboxEvent]
) -> None:
    created = int(time.time()) - 60
    invoice = fake_api.add("invoice", id="in_big", created=created, lines=LINES)
    # An earlier event named a line that is no longer on the invoice.
    gone = {"id": "il_gone", "object": "line_item", "amount": 99}
    earlier = {**invoice, "lines": {**invoice["lines"], "data": [gone], "has_more": False}}
    deliver(build_event("invoice.created", earlier, created=created))
    assert _lines("in_big") == ["il_gone"]
    assert fake_api.requests() == []  # a complete list needs no read

    event = fake_api.emit("invoice.finalized", invoice, created=created + 1)
    assert len(event["data"]["object"]["lines"]["data"]) == 10  # as Stripe cuts it
    assert event["data"]["object"]["lines"]["has_more"] is True
    assert deliver(event).status == Status.PROCESSED

    assert _lines("in_big", deleted=False) == [line["id"] for line in LINES]
    assert _lines("in_big", deleted=True) == ["il_gone"]  # the whole list could prune
    row = Invoice.objects.get(stripe_id="in_big")
    assert row.event_id == f"{event['id']}+refetch"
    assert len(row.data["lines"]["data"]) == 15
    assert row.data["lines"]["has_more"] is False
    assert _gets(fake_api, "/v1/invoices/in_big") == 1
    assert _gets(fake_api, "/v1/invoices/in_big/lines") == 1  # 15 lines: one page of 100
    versions = {logged.stripe_version for logged in fake_api.requests()}
    assert versions == {event["api_version"]}  # the event's API version, lists included


def test_five_events_about_one_invoice_in_a_worker_batch_make_one_read(
    fake_api: FakeStripe,
) -> None:
    created = int(time.time()) - 60
    invoice = fake_api.add("invoice", id="in_batch", created=created, lines=LINES)
    types = ["created", "finalized", "updated", "paid", "payment_succeeded"]
    events = [
        fake_api.emit(f"invoice.{name}", invoice, created=created + n)
        for n, name in enumerate(types)
    ]
    for event in events:
        _record(event)
    assert dict(process_due(limit=10)) == {e["id"]: Outcome.PROCESSED for e in events}
    assert _gets(fake_api, "/v1/invoices/in_batch") == 1
    assert _lines("in_batch", deleted=False) == [line["id"] for line in LINES]


def test_events_of_one_transaction_make_one_read_with_the_newest_origin(
    fake_api: FakeStripe,
) -> None:
    """Five cut snapshots of one invoice mirrored in one transaction (each writes, one second
    after the other): one read after commit, written under the newest event's watermark (an
    older one would lose to the row the newest event wrote)."""
    created = int(time.time()) - 60
    invoice = fake_api.add("invoice", id="in_five", created=created, lines=LINES)
    events = [fake_api.emit("invoice.updated", invoice, created=created + n) for n in range(5)]
    with transaction.atomic():
        for event in events:
            _mirror(event)
        assert fake_api.requests() == []  # nothing before commit
    assert _gets(fake_api, "/v1/invoices/in_five") == 1
    assert Invoice.objects.get().event_id == f"{events[-1]['id']}+refetch"
    assert _lines("in_five", deleted=False) == [line["id"] for line in LINES]


def test_a_rolled_back_transaction_reads_nothing(fake_api: FakeStripe) -> None:
    created = int(time.time()) - 60
    invoice = fake_api.add("invoice", id="in_rollback", created=created, lines=LINES)
    other = fake_api.add("invoice", id="in_next", created=created, lines=LINES)
    with transaction.atomic():
        _mirror(fake_api.emit("invoice.updated", invoice, created=created))
        transaction.set_rollback(True)
    assert fake_api.requests() == []
    # The next transaction's queue is its own: the rolled-back object is not read with it.
    with transaction.atomic():
        _mirror(fake_api.emit("invoice.updated", other, created=created))
    assert [r.path for r in fake_api.requests("/v1/invoices/in_next")] == ["/v1/invoices/in_next"]
    assert fake_api.requests("/v1/invoices/in_rollback") == []


def test_an_ambiguous_tie_in_a_worker_batch_is_read_once(fake_api: FakeStripe) -> None:
    """Five same-second updates of one dispute without previous_attributes cannot be ordered.
    Dispute events have a rule of their own, so a batch applies each of them: the four after
    the first each find an ambiguous tie, and the one queue makes a single read."""
    created = int(time.time()) - 60
    truth = fake_api.add(
        "dispute", id="dp_tie", created=created, status="needs_response", metadata={"n": "true"}
    )
    events = [
        build_event(
            "charge.dispute.updated", {**truth, "metadata": {"n": str(n)}}, created=created + 1
        )
        for n in range(5)
    ]
    for event in events:
        _record(event)
    assert dict(process_due(limit=10)) == {e["id"]: Outcome.PROCESSED for e in events}
    assert _gets(fake_api, "/v1/disputes/dp_tie") == 1
    row = Dispute.objects.get(stripe_id="dp_tie")
    assert row.data["metadata"] == {"n": "true"}
    assert row.event_id.endswith("+refetch")


def test_without_a_key_the_cut_list_is_kept_and_reported_once(
    fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    created = int(time.time()) - 60
    invoice = fake_stripe.add("invoice", id="in_nokey", created=created, lines=LINES)
    old = {"id": "il_old", "object": "line_item", "amount": 99}
    earlier = {**invoice, "lines": {**invoice["lines"], "data": [old], "has_more": False}}
    events = [fake_stripe.emit("invoice.updated", invoice, created=created + n) for n in (1, 2)]
    with caplog.at_level(logging.INFO, logger="stripe_mirror.sync"), transaction.atomic():
        _mirror(build_event("invoice.created", earlier, created=created))
        for event in events:
            _mirror(event)
    assert fake_stripe.requests() == []
    # The first page kept; nothing pruned (the list does not say which lines are gone).
    assert _lines("in_nokey", deleted=False) == FIRST_PAGE_AND_OLD
    assert Invoice.objects.get().event_id == events[-1]["id"]
    said = [r for r in caplog.records if "incomplete" in r.getMessage()]
    assert len(said) == 1, "once per object and transaction"
    assert said[0].levelno == logging.WARNING
    assert "in_nokey" in said[0].getMessage()
    assert "API_KEY" in said[0].getMessage()


@pytest.mark.parametrize("failing", ["/v1/invoices/in_fail", "/v1/invoices/in_fail/lines"])
def test_a_failed_read_keeps_what_the_event_wrote(
    fake_api: FakeStripe,
    settings: Any,
    deliver: Callable[..., InboxEvent],
    caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "API_MAX_RETRIES": 0}
    created = int(time.time()) - 60
    invoice = fake_api.add("invoice", id="in_fail", created=created, lines=LINES)
    old = {"id": "il_old", "object": "line_item", "amount": 99}
    earlier = {**invoice, "lines": {**invoice["lines"], "data": [old], "has_more": False}}
    deliver(build_event("invoice.created", earlier, created=created))
    event = fake_api.emit("invoice.updated", invoice, created=created + 1)
    fake_api.fail_next(1, status=500, should_retry=None, path=failing)
    with caplog.at_level(logging.WARNING, logger="stripe_mirror"):
        assert deliver(event).status == Status.PROCESSED
    assert [r.status for r in fake_api.requests(failing)] == [500]
    # What the event wrote stays; nothing is pruned, since no list was read whole.
    assert _lines("in_fail", deleted=False) == FIRST_PAGE_AND_OLD
    row = Invoice.objects.get()
    assert row.data["lines"]["has_more"] is True
    if failing.endswith("/lines"):  # the invoice itself was read: its newer state is written
        assert row.event_id == f"{event['id']}+refetch"
    else:
        assert row.event_id == event["id"]
    told = [r for r in caplog.records if "in_fail" in r.getMessage()]
    assert told
    assert all(r.exc_info is None for r in caplog.records)


def test_a_newer_event_written_during_the_read_is_kept(
    fake_api: FakeStripe, deliver: Callable[..., InboxEvent]
) -> None:
    """While the read of a cut invoice is on its way, a worker mirrors a newer event (one
    second later, its lines complete); the read answers the state before it. The guard keeps
    the newer event's row: an older read never overwrites it."""
    created = int(time.time()) - 60
    invoice = fake_api.add("invoice", id="in_race", created=created, lines=LINES)
    newer = {**fake_api.get("in_race"), "metadata": {"paid": "yes"}}  # all 15 lines
    newer_event = build_event("invoice.updated", newer, created=created + 1)
    respond = fake_api.front.respond
    raced: list[str] = []

    def respond_after_a_worker(method: str, target: str, *args: Any) -> Any:
        if target == "/v1/invoices/in_race" and not raced:
            raced.append(target)
            worker = threading.Thread(target=_process_elsewhere, args=(newer_event,))
            worker.start()
            worker.join(30)
        return respond(method, target, *args)

    fake_api.front.respond = respond_after_a_worker  # type: ignore[method-assign]
    deliver(fake_api.emit("invoice.finalized", invoice, created=created))
    assert raced
    row = Invoice.objects.get()
    assert row.event_id == newer_event["id"]
    assert row.data["metadata"] == {"paid": "yes"}
    assert _lines("in_race", deleted=False) == [line["id"] for line in LINES]


def _process_elsewhere(event: dict[str, Any]) -> None:
    """Record and process ``event`` in this thread (its own database connection)."""
    try:
        body = encode(event)
        process(inbox.record(envelope.parse(body), "default", body).pk)
    finally:
        connections.close_all()


@pytest.mark.django_db
def test_each_captured_commit_reads_again(
    fake_api: FakeStripe, django_capture_on_commit_callbacks: Any
) -> None:
    """In a test that never commits (Django's ``TestCase``), each block that captures and runs
    the ``on_commit`` callbacks is a commit: its objects are read then, and the next block's
    are read at its own end (the queue that ran does not take them)."""
    created = int(time.time()) - 60
    invoice = fake_api.add("invoice", id="in_captured", created=created, lines=LINES)
    for n in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            _mirror(fake_api.emit("invoice.updated", invoice, created=created + n))
        assert _gets(fake_api, "/v1/invoices/in_captured") == n + 1
    assert _lines("in_captured", deleted=False) == [line["id"] for line in LINES]
