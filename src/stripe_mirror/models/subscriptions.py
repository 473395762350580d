"""Subscriptions, their items and their schedules."""

from __future__ import annotations

from typing import ClassVar

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
from .legacy import BASIL

#: Statuses in which Stripe considers a subscription in force.
ACTIVE_STATUSES = ("active", "trialing")


class SubscriptionQuerySet(StripeQuerySet):
    def active(self) -> SubscriptionQuerySet:
        """Subscriptions in force: status active or trialing, and not deleted."""
        return self.filter(status__in=ACTIVE_STATUSES, deleted=False)


SubscriptionManager = models.Manager.from_queryset(SubscriptionQuerySet)


class Subscription(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "subscription"

    objects = SubscriptionManager()  # type: ignore[misc]  # a narrower manager than the base one

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="subscriptions")
    status = code("status", index=True)
    currency = code("currency")
    description = text("description")
    collection_method = code(("collection_method", old("billing", before="2019-10-17")))
    cancel_at_period_end = flag("cancel_at_period_end")
    cancel_at = timestamp("cancel_at")
    canceled_at = timestamp("canceled_at")
    ended_at = timestamp("ended_at")
    # Objects rendered before start_date was added (May 2019) began at their creation:
    # not at ``start``, the start of their current plan configuration.
    start_date = timestamp(("start_date", old("created", before="2019-05")))
    trial_start = timestamp("trial_start")
    trial_end = timestamp("trial_end")
    # Since 2025-03-31 the billing period lives on each item; before, on the subscription.
    current_period_start = timestamp(
        (old("current_period_start", before=BASIL), "items.data.0.current_period_start")
    )
    current_period_end = timestamp(
        (old("current_period_end", before=BASIL), "items.data.0.current_period_end")
    )
    default_payment_method_id = ref("default_payment_method")
    default_payment_method = link("PaymentMethod", "default_payment_method_id", related_name="+")
    latest_invoice_id = ref("latest_invoice")
    latest_invoice = link("Invoice", "latest_invoice_id", related_name="+")
    schedule_id = ref("schedule")
    schedule = link("SubscriptionSchedule", "schedule_id", related_name="+")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_subscription"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES and not self.deleted


class SubscriptionItemQuerySet(StripeQuerySet):
    def active(self) -> SubscriptionItemQuerySet:
        """Items of subscriptions in force (neither the item nor its subscription deleted)."""
        return self.filter(
            deleted=False, subscription__status__in=ACTIVE_STATUSES, subscription__deleted=False
        )


SubscriptionItemManager = models.Manager.from_queryset(SubscriptionItemQuerySet)


class SubscriptionItem(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "subscription_item"
    EMBEDDED_ONLY: ClassVar[bool] = True

    objects = SubscriptionItemManager()  # type: ignore[misc]  # a narrower manager than the base one

    subscription_id = ref("subscription")
    subscription = link("Subscription", "subscription_id", related_name="items")
    # Before prices (April 2020) an item named only its plan, whose id is also a price id.
    price_id = ref(("price", old("plan", before="2020-04")))
    price = link("Price", "price_id", related_name="subscription_items")
    plan_id = ref("plan")
    product_id = ref(("price.product", "plan.product"))
    product = link("Product", "product_id", related_name="subscription_items")
    quantity = integer("quantity")
    current_period_start = timestamp("current_period_start")
    current_period_end = timestamp("current_period_end")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_subscription_item"


class SubscriptionSchedule(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "subscription_schedule"

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="subscription_schedules")
    subscription_id = ref("subscription")
    subscription = link("Subscription", "subscription_id", related_name="schedules")
    status = code("status", index=True)
    end_behavior = code(("end_behavior", old("renewal_behavior", before="2019-10-17")))
    released_subscription_id = ref("released_subscription")
    canceled_at = timestamp("canceled_at")
    completed_at = timestamp("completed_at")
    released_at = timestamp("released_at")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_subscription_schedule"
