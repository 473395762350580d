"""The read-only admin pages of the mirrored models."""

import pytest
from django.contrib.auth.models import User

from stripe_mirror.models import TYPED_MODELS, Customer, StripeObject, Subscription
from stripe_mirror.testing import build_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.login(username="admin", password="pw")
    return client


@pytest.fixture
def mirrored(post):
    post(
        build_event(
            "customer.created",
            {"id": "cus_1", "object": "customer", "email": "a@example.com", "name": "<b>Ann</b>"},
            created=5,
        )
    )
    post(
        build_event(
            "customer.subscription.created",
            {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active"},
            created=6,
        )
    )
    post(build_event("topup.created", {"id": "tu_1", "object": "topup", "amount": 5}, created=6))


@pytest.mark.parametrize("model", [*TYPED_MODELS.values(), StripeObject], ids=lambda m: m.__name__)
def test_every_changelist_renders(admin_client, mirrored, model):
    response = admin_client.get(f"/admin/stripe_mirror/{model._meta.model_name}/")
    assert response.status_code == 200


def test_read_only(admin_client, mirrored):
    customer = Customer.objects.get()
    assert admin_client.get("/admin/stripe_mirror/customer/add/").status_code == 403
    page = admin_client.get(f"/admin/stripe_mirror/customer/{customer.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    delete = admin_client.get(f"/admin/stripe_mirror/customer/{customer.pk}/delete/")
    assert delete.status_code == 403


def test_change_page_links_related_rows_and_escapes_data(admin_client, mirrored):
    subscription = Subscription.objects.get()
    customer = Customer.objects.get()
    body = admin_client.get(f"/admin/stripe_mirror/subscription/{subscription.pk}/change/")
    text = body.content.decode()
    assert f"/admin/stripe_mirror/customer/{customer.pk}/change/" in text
    assert "1 events about sub_1" in text or "events about sub_1</a>" in text
    page = admin_client.get(f"/admin/stripe_mirror/customer/{customer.pk}/change/").content.decode()
    assert "&lt;b&gt;Ann&lt;/b&gt;" in page
    assert "<b>Ann</b>" not in page


def test_search_by_exact_id(admin_client, mirrored):
    found = admin_client.get("/admin/stripe_mirror/customer/?q=cus_1").content.decode()
    assert "cus_1" in found
    missing = admin_client.get("/admin/stripe_mirror/customer/?q=cus_2").content.decode()
    assert "0 customers" in missing or "cus_1" not in missing


def test_changelist_queries_do_not_grow_with_rows(
    admin_client, post, django_assert_max_num_queries
):
    for i in range(30):
        post(build_event("customer.created", {"id": f"cus_{i}", "object": "customer"}, created=5))
    with django_assert_max_num_queries(10):
        assert admin_client.get("/admin/stripe_mirror/customer/").status_code == 200
