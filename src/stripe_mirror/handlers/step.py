"""Stages 4-5 entry point: bring the local mirror of Stripe objects up to date with an event.

The processor calls ``sync_event`` before any user handler, in the event's transaction.
"""

from __future__ import annotations

from ..sync import DELETABLE
from . import rules as _rules  # registers the built-in rules
from .base import apply_fetched, rules_for, sync_event

#: The name the mirror sync is recorded under in ``InboxEvent.completed_handlers``.
NAME = "stripe_mirror.mirror"


def writes_snapshot(event_type: str) -> bool:
    """Whether the event's sync is the default rule: write its object's snapshot (or, for a
    deletion of a deletable object, its tombstone) and what follows from it, nothing else."""
    return not rules_for(event_type)


def deletes(event_type: str, object_type: str) -> bool:
    """Whether the event leaves a tombstone (final, whatever its time)."""
    return event_type.endswith(".deleted") and object_type in DELETABLE


__all__ = ["NAME", "apply_fetched", "deletes", "sync_event", "writes_snapshot"]
del _rules
