"""A source of snapshots besides webhooks: Stripe's API, through the official ``stripe`` SDK.

May import the foundations (``conf``, ``models``) and the generic sync; the webhook stages
never import it. ``client.py`` builds the one ``StripeClient`` per mode that every call uses.
"""

from __future__ import annotations

from .client import ApiNotConfigured, RateLimiter, client_for, rate_limiter

__all__ = ["ApiNotConfigured", "RateLimiter", "client_for", "rate_limiter"]
