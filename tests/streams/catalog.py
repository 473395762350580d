"""Customers, products, prices and coupons."""

from __future__ import annotations

from typing import Any

from .world import Clock, Life, Scope, edit, metadata_change


def customer_life(scope: Scope, *, may_delete: bool = True) -> Life:
    """customer.created, a few customer.updated (email, name, metadata, ...), maybe deleted."""
    world, rng = scope.world, scope.rng
    clock = world.clock()
    cid = world.new_id("cus_")
    customer = scope.create(
        clock,
        "customer.created",
        {
            "id": cid,
            "object": "customer",
            "created": clock.now,
            "email": f"{cid.lower()}@example.com",
            "name": rng.choice(("Ada", "Grace", "Alan", None)),
            "description": None,
            "phone": None,
            "balance": 0,
            "currency": None,
            "delinquent": False,
            "default_source": None,
            "discount": None,
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
            },
            "metadata": {},
        },
    )
    for _ in range(rng.randint(1, 6)):
        clock.step()
        roll = rng.random()
        if roll < 0.25:
            new = edit(customer, email=f"{rng.choice('abcdef')}{rng.randint(1, 9)}@example.com")
        elif roll < 0.45:
            new = edit(customer, name=rng.choice(("Ada L.", "Grace H.", "Alan T.", "Edsger")))
        elif roll < 0.7:
            new = edit(customer, metadata=metadata_change(rng, customer.state["metadata"]))
        elif roll < 0.85:
            new = edit(customer, invoice_settings__default_payment_method=world.new_id("pm_"))
        else:
            new = edit(customer, balance=customer.state["balance"] - rng.randint(1, 500))
        world.change(clock, customer, "customer.updated", new)
    if may_delete and rng.random() < 0.2:
        clock.step()
        world.delete(clock, customer, "customer.deleted")
    return customer


def customer_second_thoughts(scope: Scope) -> None:
    """Within one second, an email changed and changed back, then the name: with strict=False
    (and the whole second received) only a refetch can tell which state is the last."""
    world = scope.world
    customer = customer_life(scope, may_delete=False)
    clock = world.clock()
    clock.now = max(clock.now, customer.second) + 1
    email = customer.state["email"]
    world.change(clock, customer, "customer.updated", edit(customer, email="second@example.com"))
    world.change(clock, customer, "customer.updated", edit(customer, email=email))
    world.change(clock, customer, "customer.updated", edit(customer, name="Second thoughts"))


def catalog_life(scope: Scope) -> None:
    """A product with prices, their updates; a coupon being redeemed; some deletions."""
    world, rng = scope.world, scope.rng
    clock = world.clock()
    product = scope.create(
        clock,
        "product.created",
        {
            "id": world.new_id("prod_"),
            "object": "product",
            "created": clock.now,
            "updated": clock.now,
            "active": True,
            "name": "Gold plan",
            "description": None,
            "default_price": None,
            "images": [],
            "marketing_features": [],
            "metadata": {},
        },
    )
    prices = []
    for amount in rng.sample((500, 1000, 2000, 5000), rng.randint(1, 2)):
        clock.step()
        prices.append(
            scope.create(
                clock,
                "price.created",
                {
                    "id": world.new_id("price_"),
                    "object": "price",
                    "created": clock.now,
                    "active": True,
                    "currency": "eur",
                    "unit_amount": amount,
                    "unit_amount_decimal": str(amount),
                    "product": product.key.id,
                    "recurring": {
                        "interval": "month",
                        "interval_count": 1,
                        "usage_type": "licensed",
                    },
                    "type": "recurring",
                    "nickname": None,
                    "lookup_key": None,
                    "tax_behavior": "unspecified",
                    "metadata": {},
                },
            )
        )
    for _ in range(rng.randint(1, 5)):
        clock.step()
        roll = rng.random()
        if roll < 0.4:
            changes: dict[str, Any] = rng.choice(
                (
                    {"name": rng.choice(("Gold", "Gold plan (2025)", "Platinum"))},
                    {"description": rng.choice(("Best", "The best", None))},
                    {"metadata": metadata_change(rng, product.state["metadata"])},
                    {"images": [f"https://files.example/{rng.randint(1, 99)}.png"]},
                    {"default_price": rng.choice(prices).key.id},
                )
            )
            new = edit(product, updated=clock.now, **changes)
            world.change(clock, product, "product.updated", new)
        else:
            price = rng.choice(prices)
            changes = rng.choice(
                (
                    {"nickname": rng.choice(("monthly", "standard", None))},
                    {"metadata": metadata_change(rng, price.state["metadata"])},
                    {"lookup_key": rng.choice(("gold_monthly", "gold_std"))},
                    {"active": not price.state["active"]},
                )
            )
            world.change(clock, price, "price.updated", edit(price, **changes))
    coupon_life(scope, clock)
    if rng.random() < 0.15:
        clock.step()
        world.delete(clock, product, "product.deleted")


def coupon_life(scope: Scope, clock: Clock) -> None:
    world, rng = scope.world, scope.rng
    clock.step()
    coupon = scope.create(
        clock,
        "coupon.created",
        {
            "id": world.new_id("co_", 8),
            "object": "coupon",
            "created": clock.now,
            "name": "Spring",
            "percent_off": 20.0,
            "amount_off": None,
            "currency": None,
            "duration": "once",
            "duration_in_months": None,
            "max_redemptions": None,
            "redeem_by": None,
            "times_redeemed": 0,
            "valid": True,
            "metadata": {},
        },
    )
    for _ in range(rng.randint(1, 5)):
        clock.step()
        if rng.random() < 0.6:
            new = edit(coupon, times_redeemed=coupon.state["times_redeemed"] + 1)
            world.change(clock, coupon, "coupon.updated", new, advance=True)
        else:
            new = edit(coupon, metadata=metadata_change(rng, coupon.state["metadata"]))
            world.change(clock, coupon, "coupon.updated", new)
    if rng.random() < 0.2:
        clock.step()
        world.delete(clock, coupon, "coupon.deleted")
