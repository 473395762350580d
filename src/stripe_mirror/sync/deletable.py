"""Stage 5: which object types Stripe can delete (their deletion leaves a tombstone)."""

#: Object types Stripe can delete (objects.json ``deletable``): their ``*.deleted`` events
#: leave a tombstone. Other ``*.deleted`` events (customer.subscription.deleted) are updates.
DELETABLE = frozenset(
    {
        "account",
        "apple_pay_domain",
        "application",
        "bank_account",
        "card",
        "coupon",
        "customer",
        "discount",
        "invoice",
        "invoiceitem",
        "person",
        "plan",
        "price",
        "product",
        "product_feature",
        "radar.value_list",
        "radar.value_list_item",
        "subscription_item",
        "tax_id",
        "terminal.configuration",
        "terminal.location",
        "terminal.reader",
        "test_helpers.test_clock",
        "webhook_endpoint",
    }
)

__all__ = ["DELETABLE"]
