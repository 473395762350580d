"""Example handlers: autodiscovered because this module is named stripe_handlers.py."""

import logging

from stripe_mirror import StripeEvent, on

logger = logging.getLogger("stripe_mirror.demo")


@on("customer.subscription.*")
def subscription_changed(event: StripeEvent) -> None:
    subscription = event.object
    logger.info(
        "subscription %s of %s is now %s",
        subscription.get("id"),
        subscription.get("customer"),
        subscription.get("status"),
    )


@on("invoice.paid", "invoice.payment_failed")
def invoice_outcome(event: StripeEvent) -> None:
    invoice = event.object
    logger.info("invoice %s: %s (%s)", invoice.get("id"), event.type, invoice.get("status"))


@on("*")
def every_event(event: StripeEvent) -> None:
    """A catch-all: runs for every event, types nobody anticipated included."""
    logger.info("event %s (%s) on endpoint %r", event.id, event.type, event.endpoint)
