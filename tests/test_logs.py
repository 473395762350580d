"""logs.py: every log record about an event carries its structured fields as ``extra``."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client

from stripe_mirror import logs
from stripe_mirror.dispatch.registry import registry
from stripe_mirror.models import InboxEvent
from stripe_mirror.testing import build_event, post_event
from tests.conftest import SECRET

pytestmark = pytest.mark.django_db(transaction=True)


def test_fields_from_an_event_and_given_ones() -> None:
    class Event:
        id, type, account, livemode = "evt_1", "invoice.paid", None, False

    assert logs.event_extra(Event(), inbox_id=7, attempt=2, handler="h") == {
        "stripe_event_id": "evt_1",
        "stripe_event_type": "invoice.paid",
        "stripe_account": "",
        "stripe_livemode": False,
        "stripe_inbox_id": 7,
        "stripe_attempt": 2,
        "stripe_handler": "h",
    }
    assert logs.event_extra(inbox_id=3, handler=None) == {"stripe_inbox_id": 3}
    with pytest.raises(TypeError, match="body"):
        logs.event_extra(body="no")


def test_a_failing_handler_logs_its_event_as_fields(
    client: Client, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    def broken(event: Any) -> None:
        raise RuntimeError("boom")

    registration = registry.register(broken, "customer.created")
    try:
        event = build_event(
            "customer.created", {"id": "cus_logs1", "object": "customer"}, account="acct_1Logs"
        )
        with caplog.at_level(logging.ERROR, logger="stripe_mirror"):
            response = post_event(client, event, secret=SECRET)
    finally:
        registry.unregister(broken)
    assert response.status_code == 200
    (record,) = [r for r in caplog.records if getattr(r, "stripe_handler", None)]
    row = InboxEvent.objects.get(stripe_id=event["id"])
    assert record.stripe_handler == registration.name  # type: ignore[attr-defined]
    assert record.stripe_event_id == event["id"]  # type: ignore[attr-defined]
    assert record.stripe_event_type == "customer.created"  # type: ignore[attr-defined]
    assert record.stripe_account == "acct_1Logs"  # type: ignore[attr-defined]
    assert record.stripe_livemode is False  # type: ignore[attr-defined]
    assert record.stripe_inbox_id == row.pk  # type: ignore[attr-defined]
    assert record.stripe_attempt == 1  # type: ignore[attr-defined]
