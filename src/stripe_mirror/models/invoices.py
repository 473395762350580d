"""Invoices and their parts: line items, invoice items, payments, credit notes; quotes."""

from __future__ import annotations

from typing import ClassVar

from .base import StripeModel, code, flag, integer, link, old, ref, renders, text, timestamp
from .legacy import BASIL, invoice_status, line_subscription

#: Where an invoice names its subscription: under parent since 2025-03-31, before at the top.
INVOICE_SUBSCRIPTION = (
    "parent.subscription_details.subscription",
    old("subscription", before=BASIL),
)
#: Where a line or an invoice item names its price: under pricing since 2025-03-31, before at
#: the top; before prices (April 2020) only its plan, whose id is also a price id.
PRICE = ("pricing.price_details.price", old("price", before=BASIL), old("plan", before="2020-04"))


class Invoice(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "invoice"

    created = timestamp(("created", old("date", before="2019-03-14")))
    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="invoices")
    subscription_id = ref(INVOICE_SUBSCRIPTION)
    subscription = link("Subscription", "subscription_id", related_name="invoices")
    # Before 2025-03-31 the invoice named its payment; since, invoice_payment objects do
    # (the sync fills these two from them, see sync/links.py).
    payment_intent_id = ref(old("payment_intent", before=BASIL))
    payment_intent = link("PaymentIntent", "payment_intent_id", related_name="+")
    charge_id = ref(old("charge", before=BASIL))
    charge = link("Charge", "charge_id", related_name="+")
    default_payment_method_id = ref("default_payment_method")
    default_payment_method = link("PaymentMethod", "default_payment_method_id", related_name="+")
    renders_payment_intent = renders("payment_intent")
    renders_charge = renders("charge")
    status = code(("status", old(invoice_status, before="2018-11-08")), index=True)
    number = text("number", index=True)
    currency = code("currency")
    customer_email = text("customer_email")
    billing_reason = code("billing_reason")
    collection_method = code(("collection_method", old("billing", before="2019-10-17")))
    amount_due = integer("amount_due")
    amount_paid = integer("amount_paid")
    amount_remaining = integer("amount_remaining")
    subtotal = integer("subtotal")
    total = integer("total")
    attempt_count = integer("attempt_count")
    due_date = timestamp("due_date")
    period_start = timestamp("period_start")
    period_end = timestamp("period_end")
    effective_at = timestamp("effective_at")
    finalized_at = timestamp(
        ("status_transitions.finalized_at", old("finalized_at", before="2019-03-14"))
    )
    paid_at = timestamp("status_transitions.paid_at")
    voided_at = timestamp("status_transitions.voided_at")
    hosted_invoice_url = text("hosted_invoice_url")
    invoice_pdf = text("invoice_pdf")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_invoice"


class LineItem(StripeModel):
    """A line of an invoice (``line_item``): mirrored from the invoice's ``lines``."""

    STRIPE_OBJECT: ClassVar[str] = "line_item"
    EMBEDDED_ONLY: ClassVar[bool] = True
    NOT_IN_STRIPE: ClassVar[frozenset[str]] = frozenset({"created"})

    invoice_id = ref("invoice")
    invoice = link("Invoice", "invoice_id", related_name="lines")
    subscription_id = ref(
        (
            old(line_subscription, before="2018-05-21"),
            "subscription",
            "parent.subscription_item_details.subscription",
        )
    )
    subscription = link("Subscription", "subscription_id", related_name="invoice_lines")
    price_id = ref(PRICE)
    price = link("Price", "price_id", related_name="invoice_lines")
    description = text("description")
    currency = code("currency")
    amount = integer("amount")
    quantity = integer("quantity")
    proration = flag(("parent.subscription_item_details.proration", old("proration", before=BASIL)))
    period_start = timestamp("period.start")
    period_end = timestamp("period.end")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_line_item"


class InvoiceItem(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "invoiceitem"
    NOT_IN_STRIPE: ClassVar[frozenset[str]] = frozenset({"created"})

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="invoice_items")
    invoice_id = ref("invoice")
    invoice = link("Invoice", "invoice_id", related_name="invoice_items")
    subscription_id = ref(INVOICE_SUBSCRIPTION)
    price_id = ref(PRICE)
    description = text("description")
    currency = code("currency")
    amount = integer("amount")
    quantity = integer("quantity")
    proration = flag("proration")
    date = timestamp("date")
    period_start = timestamp("period.start")
    period_end = timestamp("period.end")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_invoiceitem"


class InvoicePayment(StripeModel):
    """How an invoice was paid (API 2025-03-31 and later)."""

    STRIPE_OBJECT: ClassVar[str] = "invoice_payment"
    NOT_IN_STRIPE: ClassVar[frozenset[str]] = frozenset({"metadata"})

    invoice_id = ref("invoice")
    invoice = link("Invoice", "invoice_id", related_name="payments")
    payment_intent_id = ref("payment.payment_intent")
    payment_intent = link("PaymentIntent", "payment_intent_id", related_name="invoice_payments")
    charge_id = ref("payment.charge")
    charge = link("Charge", "charge_id", related_name="invoice_payments")
    status = code("status", index=True)
    currency = code("currency")
    amount_paid = integer("amount_paid")
    amount_requested = integer("amount_requested")
    is_default = flag("is_default")
    paid_at = timestamp("status_transitions.paid_at")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_invoice_payment"


class CreditNote(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "credit_note"

    invoice_id = ref("invoice")
    invoice = link("Invoice", "invoice_id", related_name="credit_notes")
    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="credit_notes")
    status = code("status", index=True)
    number = text("number")
    type = code("type")
    reason = code("reason")
    currency = code("currency")
    amount = integer("amount")
    total = integer("total")
    voided_at = timestamp("voided_at")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_credit_note"


class Quote(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "quote"

    customer_id = ref("customer")
    customer = link("Customer", "customer_id", related_name="quotes")
    invoice_id = ref("invoice")
    invoice = link("Invoice", "invoice_id", related_name="quotes")
    subscription_id = ref("subscription")
    subscription = link("Subscription", "subscription_id", related_name="quotes")
    status = code("status", index=True)
    number = text("number")
    currency = code("currency")
    amount_subtotal = integer("amount_subtotal")
    amount_total = integer("amount_total")
    expires_at = timestamp("expires_at")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_quote"
