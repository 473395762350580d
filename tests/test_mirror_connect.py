"""Connect: the platform's objects and those of its connected accounts, in test and live mode,
side by side in one mirror, each row in its own (account, livemode) scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stripe_mirror.models import (
    TYPED_MODELS,
    Coupon,
    Customer,
    InboxEvent,
    Price,
    Product,
    Status,
    StripeModel,
    StripeObject,
    Subscription,
)
from stripe_mirror.testing import build_event
from tests import stripe_data

pytestmark = pytest.mark.django_db

Post = Callable[..., Any]

#: (account, livemode) scopes: the platform and two connected accounts, in test and live mode.
SCOPES = [("", False), ("acct_one", False), ("acct_two", False), ("", True), ("acct_one", True)]


def post_connect(post: Post, event: dict[str, Any]) -> None:
    """Post to the Connect endpoint when the event comes from a connected account."""
    if event.get("account"):
        response = post(event, endpoint="connect", secret="whsec_connect_new")
    else:
        response = post(event)
    assert response.status_code == 200
    inbox = InboxEvent.objects.get(stripe_id=event["id"])
    assert (inbox.status, inbox.last_error) == (Status.PROCESSED, "")


def mirror_models() -> list[type[StripeModel]]:
    return [*TYPED_MODELS.values(), StripeObject]


def test_every_row_of_a_connected_accounts_events_carries_its_account(post: Post) -> None:
    """One event of every current type (all object types of polymorphic ones) from a
    connected account in live mode: every row written, embedded children and rows that
    rules create included, is in that account and mode."""
    for event_type in stripe_data.current_event_types():
        for event in stripe_data.build_events(event_type, account="acct_live1", livemode=True):
            post_connect(post, event)

    scopes = {
        (model.__name__, account, livemode)
        for model in mirror_models()
        for account, livemode in model.objects.values_list("account", "livemode").distinct()
    }
    assert {(account, livemode) for _, account, livemode in scopes} == {("acct_live1", True)}
    assert len({name for name, _, _ in scopes}) >= len(TYPED_MODELS)  # every table was written


def _coupon(scope: tuple[str, bool]) -> dict[str, Any]:
    account, livemode = scope
    return stripe_data.fixture("coupon", id="SUMMER") | {"name": f"summer {account} {livemode}"}


def test_one_id_in_several_accounts_and_modes_is_several_rows(post: Post) -> None:
    for scope in SCOPES:
        account, livemode = scope
        event = build_event("coupon.created", _coupon(scope), account=account or None)
        post_connect(post, event | {"livemode": livemode})

    rows = {(c.account, c.livemode): c.name for c in Coupon.objects.filter(stripe_id="SUMMER")}
    assert rows == {scope: _coupon(scope)["name"] for scope in SCOPES}

    deletion = build_event("coupon.deleted", _coupon(("acct_one", True)), account="acct_one")
    post_connect(post, deletion | {"livemode": True})
    deleted = Coupon.objects.filter(stripe_id="SUMMER", deleted=True)
    assert list(deleted.values_list("account", "livemode")) == [("acct_one", True)]


def _catalogue(post: Post, scope: tuple[str, bool]) -> dict[str, Any]:
    """Product "gold" and one price of it in ``scope``; returns the price."""
    account, livemode = scope
    product = stripe_data.fixture("product", id="gold") | {"name": f"gold {account} {livemode}"}
    price = stripe_data.fixture("price") | {"product": "gold"}
    for event_type, obj in (("product.created", product), ("price.created", price)):
        event = build_event(event_type, obj, account=account or None, livemode=livemode)
        post_connect(post, event)
    return price


def test_relations_join_within_one_account_and_mode(post: Post) -> None:
    prices = {scope: _catalogue(post, scope) for scope in SCOPES}

    assert Product.objects.filter(stripe_id="gold").count() == len(SCOPES)
    for (account, livemode), price in prices.items():
        row = Price.objects.get(stripe_id=price["id"])
        assert row.product.name == f"gold {account} {livemode}"
        assert list(row.product.prices.all()) == [row]
    joined = Price.objects.filter(product__name="gold acct_two False")
    assert list(joined.values_list("stripe_id", flat=True)) == [prices[("acct_two", False)]["id"]]


def test_a_relation_to_another_accounts_object_is_empty(post: Post) -> None:
    customer = stripe_data.fixture("customer", id="cus_shared") | {"email": "c@example.com"}
    subscription = stripe_data.fixture("subscription") | {"customer": "cus_shared"}
    post_connect(post, build_event("customer.created", customer, account="acct_two"))
    post_connect(
        post, build_event("customer.subscription.created", subscription, account="acct_one")
    )

    row = Subscription.objects.get()
    assert (row.account, row.customer_id, row.customer) == ("acct_one", "cus_shared", None)
    assert not Subscription.objects.filter(customer__email="c@example.com").exists()
    assert not Customer.objects.get().subscriptions.exists()


def test_queryset_scopes(post: Post) -> None:
    for scope in SCOPES:
        account, livemode = scope
        event = build_event("coupon.created", _coupon(scope), account=account or None)
        post_connect(post, event | {"livemode": livemode})

    def scopes(queryset: Any) -> set[tuple[str, bool]]:
        return set(queryset.values_list("account", "livemode"))

    assert scopes(Coupon.objects.for_account("acct_one")) == {
        ("acct_one", False),
        ("acct_one", True),
    }
    assert scopes(Coupon.objects.for_account(None)) == {("", False), ("", True)}
    assert scopes(Coupon.objects.for_account("").live()) == {("", True)}
    assert scopes(Coupon.objects.test()) == {s for s in SCOPES if not s[1]}
    assert scopes(Coupon.objects.live().for_account("acct_two")) == set()
    assert Coupon.objects.for_account("acct_one").test().get().name == "summer acct_one False"
