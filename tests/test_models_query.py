"""The everyday questions a site asks its mirror."""

import pytest

from stripe_mirror.models import Customer, Invoice, Subscription
from stripe_mirror.testing import build_event

pytestmark = pytest.mark.django_db


def _subscription(sub_id, customer, status, price="price_gold", product="prod_gold", **extra):
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "items": {
            "object": "list",
            "has_more": False,
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "object": "subscription_item",
                    "subscription": sub_id,
                    "quantity": 1,
                    "price": {"id": price, "object": "price", "product": product},
                }
            ],
        },
        **extra,
    }


@pytest.fixture
def catalogue(post):
    post(
        build_event(
            "price.created",
            {
                "id": "price_gold",
                "object": "price",
                "product": "prod_gold",
                "lookup_key": "gold_monthly",
                "active": True,
            },
            created=1,
        )
    )
    for cus in ("cus_a", "cus_b", "cus_c"):
        post(build_event("customer.created", {"id": cus, "object": "customer"}, created=1))
    post(
        build_event(
            "customer.subscription.created", _subscription("sub_a", "cus_a", "active"), created=2
        )
    )
    post(
        build_event(
            "customer.subscription.created", _subscription("sub_b", "cus_b", "trialing"), created=2
        )
    )
    post(
        build_event(
            "customer.subscription.created",
            _subscription(
                "sub_c", "cus_c", "canceled", price="price_silver", product="prod_silver"
            ),
            created=2,
        )
    )


def test_active_subscriptions_and_paying_customers(catalogue):
    assert list(
        Customer.objects.get(stripe_id="cus_a")
        .active_subscriptions()
        .values_list("stripe_id", flat=True)
    ) == ["sub_a"]
    assert not Customer.objects.get(stripe_id="cus_c").active_subscriptions().exists()
    paying = set(Customer.objects.paying().values_list("stripe_id", flat=True))
    assert paying == {"cus_a", "cus_b"}
    assert set(Subscription.objects.active().values_list("stripe_id", flat=True)) == {
        "sub_a",
        "sub_b",
    }


def test_has_active_price_by_id_or_lookup_key_and_product(catalogue):
    ann = Customer.objects.get(stripe_id="cus_a")
    assert ann.has_active_price("price_gold")
    assert ann.has_active_price("gold_monthly")
    assert ann.has_active_product("prod_gold")
    assert not ann.has_active_price("price_silver")
    carl = Customer.objects.get(stripe_id="cus_c")
    assert not carl.has_active_price("price_silver")  # canceled
    assert not carl.has_active_product("prod_silver")


def test_a_canceled_subscription_stops_counting(catalogue, post):
    post(
        build_event(
            "customer.subscription.deleted", _subscription("sub_a", "cus_a", "canceled"), created=3
        )
    )
    ann = Customer.objects.get(stripe_id="cus_a")
    assert not ann.has_active_price("price_gold")
    assert "cus_a" not in set(Customer.objects.paying().values_list("stripe_id", flat=True))


def test_removed_item_stops_counting(catalogue, post):
    sub = _subscription("sub_a", "cus_a", "active", price="price_silver", product="prod_silver")
    sub["items"]["data"][0]["id"] = "si_new"
    post(build_event("customer.subscription.updated", sub, created=3))
    ann = Customer.objects.get(stripe_id="cus_a")
    assert not ann.has_active_price("price_gold")
    assert ann.has_active_price("price_silver")


def test_invoice_lines(post):
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "status": "open",
        "lines": {
            "object": "list",
            "has_more": False,
            "data": [{"id": f"il_{n}", "object": "line_item", "amount": n * 100} for n in (1, 2)],
        },
    }
    post(build_event("invoice.finalized", invoice, created=5))
    lines = Invoice.objects.get().lines.order_by("amount")
    assert [(line.stripe_id, line.amount) for line in lines] == [("il_1", 100), ("il_2", 200)]


# --- items that name a price, a plan or both (older API versions, localstripe) -----------

PLAN = {"id": "basic_monthly", "object": "plan", "product": "prod_basic", "interval": "month"}
PRICE = {"id": "basic_monthly", "object": "price", "product": "prod_basic"}
ITEM_SHAPES = {
    "price only": {"price": PRICE},
    "plan only": {"plan": PLAN},
    "price and plan": {"price": PRICE, "plan": PLAN},
}


def _subscribe(post, shape, item_fields):
    sub = {
        "id": "sub_shape",
        "object": "subscription",
        "customer": "cus_shape",
        "status": "active",
        "items": {
            "object": "list",
            "has_more": False,
            "data": [{"id": "si_shape", "object": "subscription_item", **item_fields}],
        },
    }
    post(build_event("customer.created", {"id": "cus_shape", "object": "customer"}, created=1))
    post(build_event("customer.subscription.created", sub, created=2))
    return Customer.objects.get(stripe_id="cus_shape")


@pytest.mark.parametrize("shape", sorted(ITEM_SHAPES))
def test_has_active_price_and_product_whatever_the_item_names(post, shape):
    customer = _subscribe(post, shape, ITEM_SHAPES[shape])

    assert customer.has_active_price("basic_monthly")
    assert customer.has_active_product("prod_basic")
    assert not customer.has_active_price("premium_monthly")
    assert not customer.has_active_product("prod_premium")


@pytest.mark.parametrize("shape", sorted(ITEM_SHAPES))
def test_lookup_key_of_the_price_with_the_plans_id(post, shape):
    """Plans have no lookup_key; the price of the same id may have one."""
    customer = _subscribe(post, shape, ITEM_SHAPES[shape])
    assert not customer.has_active_price("basic")

    post(build_event("price.created", {**PRICE, "lookup_key": "basic"}, created=3))

    assert customer.has_active_price("basic")
    assert not customer.has_active_price("premium")


def test_a_plan_that_names_no_product_is_matched_through_the_mirrored_plan(post):
    """Plans of API versions before 2018-02-05 name no product; a later snapshot of the plan
    (or its price) does."""
    bare_plan = {key: value for key, value in PLAN.items() if key != "product"}
    customer = _subscribe(post, "plan only", {"plan": bare_plan})
    assert not customer.has_active_product("prod_basic")

    post(build_event("plan.updated", PLAN, created=3))

    assert customer.has_active_product("prod_basic")
    assert not customer.has_active_product("prod_premium")


def test_other_accounts_prices_do_not_count(post):
    customer = _subscribe(post, "plan only", {"plan": PLAN})
    post(
        build_event(
            "price.created", {**PRICE, "lookup_key": "basic"}, created=3, account="acct_other"
        )
    )

    assert not customer.has_active_price("basic")
