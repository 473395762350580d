"""Customers and what hangs off them: payment methods, tax ids, discounts, mandates."""

from __future__ import annotations

import operator
from functools import reduce
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models

from .base import (
    StripeModel,
    StripeQuerySet,
    code,
    flag,
    integer,
    link,
    old,
    ref,
    text,
    timestamp,
)
from .catalog import Plan, Price
from .legacy import CLOVER

if TYPE_CHECKING:
    from .subscriptions import SubscriptionQuerySet

#: Subscription statuses in which Stripe considers a subscription in force.
_ACTIVE = ("active", "trialing")


class CustomerQuerySet(StripeQuerySet):
    def paying(self) -> CustomerQuerySet:
        """Customers with at least one subscription in force (active or trialing)."""
        return self.filter(
            deleted=False, subscriptions__status__in=_ACTIVE, subscriptions__deleted=False
        ).distinct()


CustomerManager = models.Manager.from_queryset(CustomerQuerySet)


class Customer(StripeModel):
    """A Stripe customer. The everyday questions::

    customer = Customer.objects.get(stripe_id="cus_123")
    customer.active_subscriptions()            # in force: active or trialing
    customer.has_active_price("price_gold")    # a price or plan id, or a lookup_key
    customer.has_active_product("prod_gold")
    Customer.objects.paying()                  # everyone with a subscription in force
    """

    STRIPE_OBJECT: ClassVar[str] = "customer"

    objects = CustomerManager()  # type: ignore[misc]  # a narrower manager than the base one

    email = text("email", index=True)
    name = text("name")
    description = text("description")
    phone = text("phone")
    currency = code("currency")
    balance = integer(("balance", old("account_balance", before="2019-10-17")))
    delinquent = flag("delinquent")
    tax_exempt = code("tax_exempt")
    default_payment_method_id = ref("invoice_settings.default_payment_method")
    default_payment_method = link("PaymentMethod", "default_payment_method_id", related_name="+")
    default_source_id = ref("default_source")
    discount_id = ref("discount")
    discount = link("Discount", "discount_id", related_name="+")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_customer"

    def active_subscriptions(self) -> SubscriptionQuerySet:
        from .subscriptions import Subscription

        subscriptions: SubscriptionQuerySet = Subscription.objects.filter(
            account=self.account, livemode=self.livemode, customer_id=self.stripe_id
        ).active()
        return subscriptions

    def has_active_price(self, price: str) -> bool:
        """Is a subscription in force billing this price (by id or lookup_key)?

        An item may name a price, a plan or both (older API versions and objects made before
        prices name only the plan). A plan's id is also a price's id, and only prices have a
        lookup_key, so the price is looked for among both."""
        keyed = self._catalogue(Price).filter(lookup_key=price).values("stripe_id")
        return self._billing(
            models.Q(price_id=price),
            models.Q(plan_id=price),
            models.Q(price_id__in=keyed),
            models.Q(plan_id__in=keyed),
        )

    def has_active_product(self, product: str) -> bool:
        """Is a subscription in force billing a price or plan of this product? An item that
        does not name the product (a plan of API versions before 2018-02-05) is matched through
        the mirrored price or plan of its id."""
        prices = self._catalogue(Price).filter(product_id=product).values("stripe_id")
        plans = self._catalogue(Plan).filter(product_id=product).values("stripe_id")
        return self._billing(
            models.Q(product_id=product),
            models.Q(price_id__in=prices),
            models.Q(plan_id__in=plans),
        )

    def _billing(self, *matches: models.Q) -> bool:
        """Does an item of a subscription in force match any of ``matches``?"""
        return bool(self._active_items().filter(reduce(operator.or_, matches)).exists())

    def _catalogue(self, model: type[Price | Plan]) -> StripeQuerySet:
        """Prices or plans of this customer's account and mode."""
        rows: StripeQuerySet = model.objects.filter(account=self.account, livemode=self.livemode)
        return rows

    def _active_items(self) -> Any:
        from .subscriptions import SubscriptionItem

        return SubscriptionItem.objects.active().filter(
            account=self.account, livemode=self.livemode, subscription__customer_id=self.stripe_id
        )


class PaymentMethod(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "payment_method"

    type = code("type", index=True)
    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="payment_methods")
    billing_email = text("billing_details.email")
    card_brand = code("card.brand")
    card_last4 = code("card.last4")
    card_exp_month = integer("card.exp_month")
    card_exp_year = integer("card.exp_year")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_payment_method"


class TaxId(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "tax_id"
    NOT_IN_STRIPE: ClassVar[frozenset[str]] = frozenset({"metadata"})

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="tax_ids")
    type = code("type")
    value = text("value")
    country = code("country")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_tax_id"


class Discount(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "discount"
    NOT_IN_STRIPE: ClassVar[frozenset[str]] = frozenset({"created", "metadata"})

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="discounts")
    subscription_id = ref("subscription")
    subscription = link("Subscription", "subscription_id", related_name="discounts")
    coupon_id = ref(("source.coupon", old("coupon", before=CLOVER)))
    coupon = link("Coupon", "coupon_id", related_name="discounts")
    promotion_code_id = ref("promotion_code")
    promotion_code = link("PromotionCode", "promotion_code_id", related_name="discounts")
    invoice_id = ref("invoice")
    checkout_session_id = ref("checkout_session")
    start = timestamp("start")
    end = timestamp("end")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_discount"


class Mandate(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "mandate"
    NOT_IN_STRIPE: ClassVar[frozenset[str]] = frozenset({"created", "metadata"})

    payment_method_id = ref("payment_method")
    payment_method = link("PaymentMethod", "payment_method_id", related_name="mandates")
    status = code("status", index=True)
    type = code("type")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_mandate"
