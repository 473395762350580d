"""django-stripe-mirror: Stripe webhooks received, verified, recorded, dispatched, mirrored.

Public API: ``on`` (register a handler), ``StripeEvent`` (what a handler receives).
"""

from .dispatch.registry import on
from .events import EventData, StripeEvent

__all__ = ["EventData", "StripeEvent", "on"]
__version__ = "0.1.0.dev0"
