"""Catch-up against localstripe (a real emulator, API 2017-08-15 shapes): the site receives no
webhook while billing objects are created through the SDK; catch-up then records and
processes every event localstripe recorded, and the mirror equals what it lists."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from stripe_mirror.management.catchup import ENDPOINT
from stripe_mirror.models import InboxEvent, Status, StripeModel
from tests.stripe_api.localstripe_process import API_KEY, Localstripe
from tests.test_backfill_localstripe import TYPES, _billing, _listed
from tests.testapp.models import HandlerCall

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

#: The types localstripe records events for (none for charges: tests/stripe_api/README.md).
EVENT_TYPES = ("product", "plan", "customer", "subscription", "invoice")


def test_catch_up_mirrors_what_localstripe_lists(settings: Any, localstripe: Localstripe) -> None:
    client = localstripe.client()
    _billing(client, customers=4)
    settings.STRIPE_MIRROR = {
        **settings.STRIPE_MIRROR,
        "API_KEY": API_KEY,
        "API_BASE": localstripe.url,
        "API_RATE_LIMIT": 1000,
    }
    events = {e.id: e for e in client.v1.events.list({"limit": 100}).auto_paging_iter()}
    assert len(events) > 10
    out = StringIO()
    call_command("stripe_mirror_catchup", "--plain", stdout=out)

    rows = list(InboxEvent.objects.all())
    assert {row.stripe_id for row in rows} == set(events)
    assert {(row.endpoint, row.status) for row in rows} == {(ENDPOINT, Status.PROCESSED)}
    assert sorted(HandlerCall.objects.values_list("event_id", flat=True)) == sorted(events)
    for object_type in EVENT_TYPES:
        model: type[StripeModel] = TYPES[object_type]
        listed = _listed(client, object_type)
        mirrored = {row.stripe_id: row.data for row in model.objects.all()}
        assert _evented(mirrored) == _evented(listed), object_type
    # Again: all present, nothing recorded.
    call_command("stripe_mirror_catchup", "--plain", stdout=StringIO())
    assert InboxEvent.objects.count() == len(events)
    assert HandlerCall.objects.count() == len(events)


def _evented(objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The objects without a customer's embedded ``subscriptions``: creating a subscription
    changes that list with no ``customer.updated`` event (in localstripe as in Stripe), so no
    event carries its newest state; the subscriptions themselves are compared as rows."""
    return {
        key: {k: v for k, v in obj.items() if k != "subscriptions"} for key, obj in objects.items()
    }
