"""Stripe ids are case-sensitive on every database (MariaDB's default collations are not)."""

import pytest

from stripe_mirror.models import InboxEvent
from stripe_mirror.testing import build_event


@pytest.mark.django_db
def test_event_ids_differing_only_in_case_are_two_events(post):
    for event_id in ("evt_CaseSensitive1", "evt_casesensitive1"):
        response = post(
            build_event("customer.updated", {"id": "cus_1", "object": "customer"}, id=event_id)
        )
        assert response.status_code == 200
        assert response.json()["duplicate"] is False
    assert InboxEvent.objects.count() == 2
    assert InboxEvent.objects.filter(stripe_id="evt_casesensitive1").count() == 1
    assert InboxEvent.objects.filter(object_id="CUS_1").count() == 0
