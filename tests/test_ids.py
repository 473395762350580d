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


@pytest.mark.django_db
def test_mirror_ids_differing_only_in_case_are_two_objects(post):
    from stripe_mirror.models import Coupon, Invoice

    for coupon in ("SUMMER", "summer"):
        post(build_event("coupon.created", {"id": coupon, "object": "coupon", "name": coupon}))
    assert sorted(Coupon.objects.values_list("name", flat=True)) == ["SUMMER", "summer"]
    post(build_event("invoice.created", {"id": "in_1", "object": "invoice", "customer": "cus_AbC"}))
    assert Invoice.objects.filter(customer_id="cus_abc").count() == 0
    assert Invoice.objects.filter(customer_id="cus_AbC").count() == 1
