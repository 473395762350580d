"""Connect and money movement: accounts, payouts, transfers, application fees."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from .base import StripeModel, code, flag, integer, link, old, ref, text, timestamp


class Account(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "account"

    email = text("email")
    country = code("country")
    type = code("type")
    business_type = code(("business_type", old("legal_entity.type", before="2019-02-19")))
    default_currency = code("default_currency")
    charges_enabled = flag("charges_enabled")
    payouts_enabled = flag("payouts_enabled")
    details_submitted = flag("details_submitted")
    #: Set by account.application.deauthorized: the account disconnected the platform
    #: (cleared by account.application.authorized).
    deauthorized = models.BooleanField(default=False)
    #: When the last of those two events happened (orders them).
    authorization_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_account"


class Payout(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "payout"

    status = code("status", index=True)
    type = code("type")
    method = code("method")
    currency = code("currency")
    amount = integer("amount")
    automatic = flag("automatic")
    arrival_date = timestamp("arrival_date")
    destination_id = ref("destination")
    balance_transaction_id = ref("balance_transaction")
    balance_transaction = link("BalanceTransaction", "balance_transaction_id", related_name="+")
    failure_code = code("failure_code")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_payout"


class Transfer(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "transfer"

    destination_id = ref("destination")
    destination_payment_id = ref("destination_payment")
    source_transaction_id = ref("source_transaction")
    source_transaction = link("Charge", "source_transaction_id", related_name="transfers")
    balance_transaction_id = ref("balance_transaction")
    currency = code("currency")
    amount = integer("amount")
    amount_reversed = integer("amount_reversed")
    reversed = flag("reversed")
    transfer_group = text("transfer_group", index=True)
    description = text("description")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_transfer"


class ApplicationFee(StripeModel):
    STRIPE_OBJECT: ClassVar[str] = "application_fee"
    NOT_IN_STRIPE: ClassVar[frozenset[str]] = frozenset({"metadata"})

    #: The connected account the fee was collected from (the object's ``account`` field).
    connected_account_id = ref("account")
    charge_id = ref("charge")
    charge = link("Charge", "charge_id", related_name="application_fees")
    application_id = ref("application")
    balance_transaction_id = ref("balance_transaction")
    currency = code("currency")
    amount = integer("amount")
    amount_refunded = integer("amount_refunded")
    refunded = flag("refunded")

    class Meta(StripeModel.Meta):
        db_table = "stripe_mirror_application_fee"
