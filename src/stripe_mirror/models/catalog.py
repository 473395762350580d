"""The product catalogue: products, prices, legacy plans, coupons, promotion codes, tax rates."""

from __future__ import annotations

from typing import ClassVar

from .base import StripeModel, code, decimal, flag, integer, link, number, old, ref, text, timestamp
from .legacy import CLOVER


class Product(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "product"

    name = text("name")
    description = text("description")
    active = flag("active", index=True)
    type = code("type")
    default_price_id = ref("default_price")
    default_price = link("Price", "default_price_id", related_name="+")
    updated = timestamp("updated")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_product"


class Price(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "price"

    product_id = ref("product")
    product = link("Product", "product_id", related_name="prices")
    active = flag("active", index=True)
    nickname = text("nickname")
    lookup_key = text("lookup_key", index=True)
    type = code("type")
    currency = code("currency")
    unit_amount = integer("unit_amount")
    unit_amount_decimal = decimal("unit_amount_decimal")
    billing_scheme = code("billing_scheme")
    recurring_interval = code("recurring.interval")
    recurring_interval_count = integer("recurring.interval_count")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_price"


class Plan(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "plan"

    product_id = ref("product")
    product = link("Product", "product_id", related_name="plans")
    active = flag("active", index=True)
    nickname = text("nickname")
    currency = code("currency")
    amount = integer("amount")
    amount_decimal = decimal("amount_decimal")
    interval = code("interval")
    interval_count = integer("interval_count")
    usage_type = code("usage_type")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_plan"


class Coupon(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "coupon"

    name = text("name")
    # Before 2018-07-27 percent_off was rounded to an integer; percent_off_precise was exact.
    percent_off = number((old("percent_off_precise", before="2018-07-27"), "percent_off"))
    amount_off = integer("amount_off")
    currency = code("currency")
    duration = code("duration")
    duration_in_months = integer("duration_in_months")
    max_redemptions = integer("max_redemptions")
    times_redeemed = integer("times_redeemed")
    redeem_by = timestamp("redeem_by")
    valid = flag("valid")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_coupon"


class PromotionCode(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "promotion_code"

    code = text("code", index=True)
    coupon_id = ref(("promotion.coupon", old("coupon", before=CLOVER)))
    coupon = link("Coupon", "coupon_id", related_name="promotion_codes")
    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="promotion_codes")
    active = flag("active", index=True)
    max_redemptions = integer("max_redemptions")
    times_redeemed = integer("times_redeemed")
    expires_at = timestamp("expires_at")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_promotion_code"


class TaxRate(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "tax_rate"

    display_name = text("display_name")
    description = text("description")
    percentage = number("percentage")
    inclusive = flag("inclusive")
    active = flag("active", index=True)
    country = code("country")
    state = code("state")
    jurisdiction = text("jurisdiction")
    tax_type = code("tax_type")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_tax_rate"
