"""The demo command (what `make demo` sends), against a live server."""

from __future__ import annotations

import socket
from io import StringIO

import pytest
from demo_app.management.commands.demo_send_events import UNKNOWN_TYPE, sample_objects
from django.core.management import CommandError, call_command

from stripe_mirror.models import Customer, InboxEvent, Invoice, Status, Subscription

pytestmark = pytest.mark.slow

DEMO_HANDLERS = "demo_app.stripe_handlers"


def _send(url: str) -> str:
    out = StringIO()
    call_command("demo_send_events", "--url", url, stdout=out)
    return out.getvalue()


def test_demo_records_and_processes_the_sample_events(live_server):
    output = _send(live_server.url)

    rows = {row.type: row for row in InboxEvent.objects.all()}
    # Five events; the bad signature stored nothing and the duplicate no second row.
    assert set(rows) == {
        "customer.created",
        "customer.subscription.created",
        "customer.subscription.updated",
        "invoice.paid",
        UNKNOWN_TYPE,
    }
    assert {row.status for row in rows.values()} == {Status.PROCESSED}
    assert rows["customer.created"].delivery_count == 2
    assert {row.delivery_count for row in rows.values()} == {1, 2}
    objects = sample_objects()
    assert rows["customer.created"].object_id == objects["customer"]["id"]
    assert rows["invoice.paid"].payload["data"]["object"]["status"] == "paid"
    assert rows["invoice.paid"].object_id == objects["invoice"]["id"]
    handlers = {kind: row.completed_handlers for kind, row in rows.items()}
    assert f"{DEMO_HANDLERS}.invoice_outcome" in handlers["invoice.paid"]
    assert f"{DEMO_HANDLERS}.subscription_changed" in handlers["customer.subscription.created"]
    assert f"{DEMO_HANDLERS}.subscription_changed" not in handlers[UNKNOWN_TYPE]
    assert all(f"{DEMO_HANDLERS}.every_event" in names for names in handlers.values())

    for row in rows.values():
        assert f"{row.stripe_id}  {row.type}" in output
    # The mirror: the late, older update did not overwrite the newer state.
    subscription = Subscription.objects.get(stripe_id=objects["subscription"]["id"])
    assert subscription.status == "active"
    assert Customer.objects.get(stripe_id=objects["customer"]["id"]).active_subscriptions().exists()
    assert Invoice.objects.get(stripe_id=objects["invoice"]["id"]).subscription == subscription
    assert "paying? True" in output
    assert '-> 400 {"error":"signature_mismatch"' in output
    assert '"duplicate":true' in output
    assert "5 events in the inbox in all (0 from earlier runs)" in output


def test_demo_can_run_again(live_server):
    _send(live_server.url)
    output = _send(live_server.url)
    assert "10 events in the inbox in all (5 from earlier runs)" in output
    assert InboxEvent.objects.filter(type="customer.created", delivery_count=2).count() == 2


def test_demo_says_when_the_site_is_not_running(db):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now that the socket is closed.
    with pytest.raises(CommandError, match=r"cannot reach .* Is the site running"):
        _send(f"http://127.0.0.1:{port}")


def test_demo_fails_loudly_when_the_site_answers_otherwise(live_server):
    out = StringIO()
    with pytest.raises(CommandError, match="new customer: expected 200"):
        call_command(
            "demo_send_events", "--url", live_server.url, "--prefix", "/nowhere/", stdout=out
        )
    assert "-> 404" in out.getvalue()
