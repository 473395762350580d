"""Payments: payment and setup intents, charges, refunds, disputes, checkout sessions,
balance transactions."""

from __future__ import annotations

from typing import ClassVar

from .base import (
    StripeModel,
    code,
    flag,
    integer,
    link,
    number,
    old,
    ref,
    renders,
    text,
    timestamp,
)
from .legacy import BASIL, charge_disputed, intent_status


class PaymentIntent(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "payment_intent"

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="payment_intents")
    # Named here before 2025-03-31; since, the sync fills it from invoice_payment objects.
    invoice_id = ref(old("invoice", before=BASIL))
    invoice = link("Invoice", "invoice_id", related_name="payment_intents")
    renders_invoice = renders("invoice")
    payment_method_id = ref(("payment_method", old("source", before="2019-03")))
    payment_method = link("PaymentMethod", "payment_method_id", related_name="payment_intents")
    # Before 2022-11-15 the intent listed its charges, newest first.
    latest_charge_id = ref(("latest_charge", old("charges.data.0", before="2022-11-15")))
    latest_charge = link("Charge", "latest_charge_id", related_name="+")
    status = code((old(intent_status, before="2019-02-11"), "status"), index=True)
    currency = code("currency")
    amount = integer("amount")
    amount_received = integer("amount_received")
    amount_capturable = integer("amount_capturable")
    description = text("description")
    capture_method = code("capture_method")
    canceled_at = timestamp("canceled_at")
    cancellation_reason = code("cancellation_reason")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_payment_intent"


class SetupIntent(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "setup_intent"

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="setup_intents")
    payment_method_id = ref("payment_method")
    payment_method = link("PaymentMethod", "payment_method_id", related_name="setup_intents")
    mandate_id = ref("mandate")
    status = code("status", index=True)
    usage = code("usage")
    description = text("description")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_setup_intent"


class Charge(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "charge"

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="charges")
    payment_intent_id = ref("payment_intent")
    payment_intent = link("PaymentIntent", "payment_intent_id", related_name="charges")
    # Named here before 2025-03-31; since, the sync fills it from invoice_payment objects.
    invoice_id = ref(old("invoice", before=BASIL))
    invoice = link("Invoice", "invoice_id", related_name="charges")
    renders_invoice = renders("invoice")
    balance_transaction_id = ref("balance_transaction")
    balance_transaction = link("BalanceTransaction", "balance_transaction_id", related_name="+")
    # Charges made before payment methods (2019) name only their source (a card_ or src_ id,
    # which Stripe now renders as their payment_method too).
    payment_method_id = ref(("payment_method", old("source", before="2019-03")))
    status = code("status", index=True)
    currency = code("currency")
    amount = integer("amount")
    amount_captured = integer("amount_captured")
    amount_refunded = integer("amount_refunded")
    paid = flag("paid")
    captured = flag("captured")
    refunded = flag("refunded")
    disputed = flag(("disputed", old(charge_disputed, before="2019-11")))
    failure_code = code("failure_code")
    description = text("description")
    receipt_email = text("receipt_email")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_charge"


class Refund(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "refund"

    charge_id = ref("charge")
    charge = link("Charge", "charge_id", related_name="refunds")
    payment_intent_id = ref("payment_intent")
    payment_intent = link("PaymentIntent", "payment_intent_id", related_name="refunds")
    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="refunds")
    balance_transaction_id = ref("balance_transaction")
    status = code("status", index=True)
    reason = code("reason")
    currency = code("currency")
    amount = integer("amount")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_refund"


class Dispute(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "dispute"

    charge_id = ref("charge")
    charge = link("Charge", "charge_id", related_name="disputes")
    payment_intent_id = ref("payment_intent")
    payment_intent = link("PaymentIntent", "payment_intent_id", related_name="disputes")
    status = code("status", index=True)
    reason = code("reason")
    currency = code("currency")
    amount = integer("amount")
    is_charge_refundable = flag("is_charge_refundable")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_dispute"


class CheckoutSession(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "checkout.session"

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="checkout_sessions")
    subscription_id = ref("subscription")
    subscription = link("Subscription", "subscription_id", related_name="checkout_sessions")
    payment_intent_id = ref("payment_intent")
    payment_intent = link("PaymentIntent", "payment_intent_id", related_name="checkout_sessions")
    invoice_id = ref("invoice")
    invoice = link("Invoice", "invoice_id", related_name="checkout_sessions")
    setup_intent_id = ref("setup_intent")
    client_reference_id = text("client_reference_id", index=True)
    customer_email = text(("customer_details.email", "customer_email"))
    mode = code("mode")
    status = code("status", index=True)
    payment_status = code("payment_status")
    currency = code("currency")
    amount_total = integer("amount_total")
    expires_at = timestamp("expires_at")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_checkout_session"


class BalanceTransaction(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "balance_transaction"
    NOT_IN_STRIPE: ClassVar[frozenset[str]] = frozenset({"metadata"})

    source_id = ref("source")
    type = code("type", index=True)
    reporting_category = code("reporting_category")
    status = code("status")
    currency = code("currency")
    amount = integer("amount")
    fee = integer("fee")
    net = integer("net")
    exchange_rate = number("exchange_rate")
    available_on = timestamp("available_on")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_balance_transaction"
