"""The app's models: the durable inbox (stage 3) and the mirror of Stripe objects (stages 4-5)."""

from __future__ import annotations

from .backfill import BackfillProgress
from .base import StripeModel, StripeQuerySet
from .catalog import Coupon, Plan, Price, Product, PromotionCode, TaxRate
from .catchup import CatchupRun, CatchupStatus
from .connect import Account, ApplicationFee, Payout, Transfer
from .customers import Customer, Discount, Mandate, PaymentMethod, TaxId
from .generic import StripeObject
from .inbox import DUE_STATUSES, InboxEvent, Status
from .invoices import CreditNote, Invoice, InvoiceItem, InvoicePayment, LineItem, Quote
from .payments import (
    BalanceTransaction,
    Charge,
    CheckoutSession,
    Dispute,
    PaymentIntent,
    Refund,
    SetupIntent,
)
from .reconcile import DRIFT_KINDS, ReconcileRun
from .subscriptions import Subscription, SubscriptionItem, SubscriptionSchedule

#: Every typed mirror model, keyed by the Stripe ``object`` value it mirrors.
TYPED_MODELS: dict[str, type[StripeModel]] = {
    model.STRIPE_OBJECT: model
    for model in (
        Account,
        ApplicationFee,
        BalanceTransaction,
        Charge,
        CheckoutSession,
        Coupon,
        CreditNote,
        Customer,
        Discount,
        Dispute,
        Invoice,
        InvoiceItem,
        InvoicePayment,
        LineItem,
        Mandate,
        PaymentIntent,
        PaymentMethod,
        Payout,
        Plan,
        Price,
        Product,
        PromotionCode,
        Quote,
        Refund,
        SetupIntent,
        Subscription,
        SubscriptionItem,
        SubscriptionSchedule,
        TaxId,
        TaxRate,
        Transfer,
    )
}

__all__ = [
    "DRIFT_KINDS",
    "DUE_STATUSES",
    "TYPED_MODELS",
    "Account",
    "ApplicationFee",
    "BackfillProgress",
    "BalanceTransaction",
    "CatchupRun",
    "CatchupStatus",
    "Charge",
    "CheckoutSession",
    "Coupon",
    "CreditNote",
    "Customer",
    "Discount",
    "Dispute",
    "InboxEvent",
    "Invoice",
    "InvoiceItem",
    "InvoicePayment",
    "LineItem",
    "Mandate",
    "PaymentIntent",
    "PaymentMethod",
    "Payout",
    "Plan",
    "Price",
    "Product",
    "PromotionCode",
    "Quote",
    "ReconcileRun",
    "Refund",
    "SetupIntent",
    "Status",
    "StripeModel",
    "StripeObject",
    "StripeQuerySet",
    "Subscription",
    "SubscriptionItem",
    "SubscriptionSchedule",
    "TaxId",
    "TaxRate",
    "Transfer",
]
