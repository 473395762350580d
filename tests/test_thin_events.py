"""Thin (v2) events processed: the full event and its related object fetched from the fake
server (``tests/stripe_api/fake``, over HTTP through the SDK), the v1 object mirrored by the
read rule, the handlers given a ``ThinEvent``; failed fetches retried; Connect; no key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone

from stripe_mirror import ThinEvent, signals
from stripe_mirror.dispatch import Outcome, process, process_due
from stripe_mirror.dispatch.registry import registry
from stripe_mirror.models import Customer, InboxEvent, Status, StripeObject
from stripe_mirror.testing import post_event
from tests.stripe_api.fake import FakeStripe

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_primary"
TYPE = "v1.billing.meter.error_report_triggered"


@pytest.fixture
def seen() -> Iterator[list[ThinEvent]]:
    """What a handler of ``v1.*`` types received, for the duration of one test."""
    received: list[ThinEvent] = []

    def handler(event: ThinEvent) -> None:
        received.append(event)

    registry.register(handler, "v1.*")
    yield received
    registry.unregister(handler)


@pytest.fixture
def deliver(client: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., InboxEvent]:
    """POST the signed notification of a fake v2 event to the site; its inbox row."""

    def _deliver(event: dict[str, Any]) -> InboxEvent:
        notification = FakeStripe.notification(event)
        with django_capture_on_commit_callbacks(execute=True):
            response = post_event(client, notification, secret=SECRET)
        assert response.status_code == 200, response.content
        return InboxEvent.objects.get(stripe_id=event["id"])

    return _deliver


def _settings(settings: Any, **changes: Any) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, **changes}


def test_a_thin_event_is_fetched_mirrored_and_dispatched(
    fake_api: FakeStripe, deliver: Callable[..., InboxEvent], seen: list[ThinEvent]
) -> None:
    meter = fake_api.add("billing.meter", display_name="API calls")
    event = fake_api.thin_event(TYPE, meter, data={"reason": {"error_count": 3}})
    row = deliver(event)

    assert (row.kind, row.status, row.object_id) == ("thin", Status.PROCESSED, meter["id"])
    mirrored = StripeObject.objects.get(stripe_id=meter["id"])
    assert mirrored.data["display_name"] == "API calls"
    assert mirrored.event_id == f"thin:{event['id']}+refetch"
    [received] = seen
    assert isinstance(received, ThinEvent)
    assert (received.id, received.type, received.context) == (event["id"], TYPE, None)
    assert received.related_object == event["related_object"]
    assert received.data == {"reason": {"error_count": 3}}
    assert received.fetched is not None
    assert received.fetched["reason"]["type"] == "request"
    assert received.object is not None
    assert received.object["display_name"] == "API calls"
    paths = [r.path for r in fake_api.requests()]
    assert paths == [f"/v2/core/events/{event['id']}", event["related_object"]["url"]]


def test_a_failed_fetch_is_a_failed_attempt_retried_later(
    fake_api: FakeStripe,
    settings: Any,
    deliver: Callable[..., InboxEvent],
    seen: list[ThinEvent],
) -> None:
    _settings(settings, API_MAX_RETRIES=0)
    meter = fake_api.add("billing.meter")
    event = fake_api.thin_event(TYPE, meter)
    fake_api.fail_next(2, status=500, path="/v2/core/events")

    row = deliver(event)  # the first attempt: 500
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert "stripe_mirror.mirror" in row.last_error
    assert "APIError" in row.last_error
    for attempts in (2, 3):  # the second fails too, the third gets the event
        InboxEvent.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        outcome = process(row.pk)
        row.refresh_from_db()
        assert row.attempts == attempts
    assert (outcome, row.status) == (Outcome.PROCESSED, Status.PROCESSED)
    assert len(seen) == 1  # the handler ran once, after the fetch succeeded
    assert StripeObject.objects.filter(stripe_id=meter["id"]).exists()
    statuses = [r.status for r in fake_api.requests(f"/v2/core/events/{event['id']}")]
    assert statuses == [500, 500, 200]


def test_a_worker_batch_fetches_and_mirrors(
    fake_api: FakeStripe, record: Callable[..., Any], seen: list[ThinEvent]
) -> None:
    meters = [fake_api.add("billing.meter") for _ in range(3)]
    for meter in meters:
        record(FakeStripe.notification(fake_api.thin_event(TYPE, meter)))
    outcomes = process_due()
    assert [outcome for _, outcome in outcomes] == [Outcome.PROCESSED] * 3
    assert StripeObject.objects.filter(stripe_id__in=[m["id"] for m in meters]).count() == 3
    assert sorted(e.object["id"] for e in seen if e.object) == sorted(m["id"] for m in meters)


def test_a_connect_event_is_fetched_in_its_context(
    fake_api: FakeStripe, deliver: Callable[..., InboxEvent], seen: list[ThinEvent]
) -> None:
    fake_api.connect("acct_thin")
    customer = fake_api.add("customer", email="thin@example.com", account="acct_thin")
    event = fake_api.thin_event("v1.customer.updated", customer, context="acct_thin")
    row = deliver(event)

    assert (row.status, row.account) == (Status.PROCESSED, "acct_thin")
    mirrored = Customer.objects.get(stripe_id=customer["id"])
    assert (mirrored.account, mirrored.email) == ("acct_thin", "thin@example.com")
    assert [(e.context, e.account) for e in seen] == [("acct_thin", "acct_thin")]
    by_path = {r.path: r for r in fake_api.requests()}
    assert by_path[f"/v2/core/events/{event['id']}"].headers["stripe-context"] == "acct_thin"
    assert by_path[f"/v1/customers/{customer['id']}"].account == "acct_thin"


def test_without_an_api_key_a_thin_event_is_recorded_as_skipped(
    fake_stripe: FakeStripe,
    deliver: Callable[..., InboxEvent],
    seen: list[ThinEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    meter = fake_stripe.add("billing.meter")
    event = fake_stripe.thin_event(TYPE, meter)
    with caplog.at_level("INFO", logger="stripe_mirror.inbox"):
        row = deliver(event)
    assert (row.status, row.next_attempt_at) == (Status.SKIPPED, None)
    assert process(row.pk) is Outcome.SKIPPED
    assert seen == []
    assert not StripeObject.objects.exists()
    assert fake_stripe.requests() == []
    assert "no Stripe API key for test mode" in caplog.text


def test_an_event_stripe_does_not_know_fails(
    fake_api: FakeStripe, record: Callable[..., Any], seen: list[ThinEvent]
) -> None:
    meter = fake_api.add("billing.meter")
    notification = FakeStripe.notification(fake_api.thin_event(TYPE, meter))
    notification["id"] = "evt_unknown_to_stripe"
    recorded = record(notification)
    assert process(recorded.pk) is Outcome.FAILED
    assert "no such event" in InboxEvent.objects.get(pk=recorded.pk).last_error
    assert seen == []


def test_a_forced_reprocess_fetches_again(
    fake_api: FakeStripe, deliver: Callable[..., InboxEvent], seen: list[ThinEvent]
) -> None:
    meter = fake_api.add("billing.meter", display_name="before")
    row = deliver(fake_api.thin_event(TYPE, meter))
    fake_api.update(meter["id"], display_name="after")
    assert process(row.pk, force=True) is Outcome.PROCESSED
    assert [e.object["display_name"] for e in seen if e.object] == ["before", "after"]
    assert StripeObject.objects.get(stripe_id=meter["id"]).data["display_name"] == "after"


def test_event_failed_carries_the_unfetched_thin_event(
    fake_api: FakeStripe, settings: Any, deliver: Callable[..., InboxEvent]
) -> None:
    _settings(settings, API_MAX_RETRIES=0)
    failed: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        failed.append(kwargs["event"])

    signals.event_failed.connect(receiver)
    try:
        fake_api.fail_next(1, status=500, path="/v2/core/events")
        deliver(fake_api.thin_event(TYPE, fake_api.add("billing.meter")))
    finally:
        signals.event_failed.disconnect(receiver)
    [event] = failed
    assert isinstance(event, ThinEvent)
    assert (event.type, event.fetched, event.object) == (TYPE, None, None)


def test_the_fetch_happens_before_the_claim_with_no_lock_held(
    fake_api: FakeStripe,
    record: Callable[..., Any],
    seen: list[ThinEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fetch waits on Stripe: never inside the transaction that claims the row (nor a
    worker batch's), which would hold its locks meanwhile."""
    from django.db import connection

    from stripe_mirror.handlers.step import STEP

    outside = len(connection.atomic_blocks)  # the test's own transaction, if any
    depths: list[int] = []
    fetch = STEP.fetch_thin

    def watched(payload: dict[str, Any], *, endpoint: str) -> ThinEvent:
        depths.append(len(connection.atomic_blocks))
        return fetch(payload, endpoint=endpoint)

    monkeypatch.setattr(STEP, "fetch_thin", watched)
    meters = [fake_api.add("billing.meter") for _ in range(2)]
    for meter in meters:
        record(FakeStripe.notification(fake_api.thin_event(TYPE, meter)))
    one = InboxEvent.objects.filter(kind="thin").order_by("pk").first()
    assert one is not None
    assert process(one.pk) is Outcome.PROCESSED  # one event
    assert [outcome for _, outcome in process_due()] == [Outcome.PROCESSED]  # a worker
    assert depths == [outside, outside]
    assert len(seen) == 2
