"""Stages 4-5 entry point: the mirror as the dispatcher's first step.

``apps.py`` plugs ``STEP`` into the dispatcher (``dispatch/steps.py``) at ``ready()``: it runs
before any user handler, in the event's transaction, and brings the local mirror of Stripe
objects up to date with the event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .. import conf
from ..events import AnyEvent, ThinEvent
from ..sync import DELETABLE, absent, links
from . import rules as _rules  # registers the built-in rules
from . import thin
from .base import after_writes, apply_fetched, rules_for, sync_event

#: The name the mirror sync is recorded under in ``InboxEvent.completed_handlers``.
NAME = "stripe_mirror.mirror"


def writes_snapshot(event_type: str) -> bool:
    """Whether the event's sync is the default rule: write its object's snapshot (or, for a
    deletion of a deletable object, its tombstone) and what follows from it, nothing else."""
    return not rules_for(event_type)


def deletes(event_type: str, object_type: str) -> bool:
    """Whether the event leaves a tombstone (final, whatever its time)."""
    return event_type.endswith(".deleted") and object_type in DELETABLE


class MirrorStep:
    """The mirror, as ``dispatch.steps.FirstStep``. Each call looks ``sync_event`` up in this
    module (tests replace it there)."""

    name = NAME

    def run(self, event: AnyEvent, payload: dict[str, Any], *, tied: bool) -> tuple[str, ...]:
        if isinstance(event, ThinEvent):
            return thin.mirror(event) if conf.mirror_enabled() else ()
        return sync_event(event, payload=payload, tied=tied)

    def fetch_thin(self, payload: dict[str, Any], *, endpoint: str) -> ThinEvent:
        return thin.fetch(payload, endpoint=endpoint)

    def writes_snapshot(self, event_type: str) -> bool:
        return writes_snapshot(event_type)

    @contextmanager
    def batch(self, objects: Iterable[tuple[str, str, str, bool]]) -> Iterator[None]:
        """Which objects have no row yet (``sync.absent``); the payment links of every row
        the batch's first steps write, computed at once at ``flush`` (``sync.links``)."""
        with absent.batch(objects), links.deferred():
            yield

    def flush(self) -> None:
        links.flush()

    def deletes(self, event_type: str, object_type: str) -> bool:
        return deletes(event_type, object_type)


STEP = MirrorStep()

__all__ = [
    "NAME",
    "STEP",
    "after_writes",
    "apply_fetched",
    "deletes",
    "sync_event",
    "writes_snapshot",
]
del _rules
