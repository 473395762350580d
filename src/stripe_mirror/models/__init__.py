"""The app's models: the durable inbox (stage 3) and, later, the Stripe object mirror."""

from .inbox import DUE_STATUSES, InboxEvent, Status

__all__ = ["DUE_STATUSES", "InboxEvent", "Status"]
