"""Stages 4-5 entry point: bring the local mirror of Stripe objects up to date with an event.

The processor calls ``sync_event`` before any user handler, in the event's transaction.
"""

from __future__ import annotations

from .handlers import rules as _rules  # registers the built-in rules
from .handlers import sync_event

#: The name the mirror sync is recorded under in ``InboxEvent.completed_handlers``.
NAME = "stripe_mirror.mirror"

__all__ = ["NAME", "sync_event"]
del _rules
