"""Stages 4-5 entry point: bring the local mirror of Stripe objects up to date with an event.

The processor calls ``sync_event`` before any user handler, in its own savepoint. Until the
mirror models land (issue #3) it does nothing.
"""

from __future__ import annotations

from .events import StripeEvent

#: The name the mirror sync is recorded under in ``InboxEvent.completed_handlers``.
NAME = "stripe_mirror.mirror"


def sync_event(event: StripeEvent) -> None:
    """Apply ``event`` to the mirror. A no-op until the mirror models exist."""
    del event
