"""The first step of every event, plugged in: the dispatcher runs it before the ``@on``
handlers without knowing what it is. ``apps.py`` plugs the mirror in at ``ready()``
(``handlers/step.py``), so that stage 3 imports nothing of stages 4 and 5.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

from ..events import AnyEvent, ThinEvent


class FirstStep(Protocol):
    """What the dispatcher needs of the step that runs first, in the event's transaction."""

    #: Its name in ``InboxEvent.completed_handlers`` (and in ``last_error``).
    name: str

    def run(self, event: AnyEvent, payload: dict[str, Any], *, tied: bool) -> tuple[str, ...]:
        """Apply the event (a thin one as ``fetch_thin`` returned it). ``payload`` is the
        event as parsed JSON, shared with the read-only ``event`` (not to be changed).
        ``tied``: the event stands for other snapshots of its object from its second, whose
        own step does not run. Returns notes to record."""
        ...

    def fetch_thin(self, payload: dict[str, Any], *, endpoint: str) -> ThinEvent:
        """The thin event whose notification is ``payload``, with the full event and its
        related object fetched from Stripe (the network: the dispatcher has no client).
        Raises on any failure to fetch: the attempt fails and is retried."""
        ...

    def writes_snapshot(self, event_type: str) -> bool:
        """Whether the step only writes the object's newest snapshot for this type: then a
        batch may skip it for a snapshot that a newer one of the batch supersedes."""
        ...

    def deletes(self, event_type: str, object_type: str) -> bool:
        """Whether the event's step is final whatever its time (never skipped)."""
        ...

    def batch(self, objects: Iterable[tuple[str, str, str, bool]]) -> AbstractContextManager[None]:
        """Entered around a worker's batch, in its transaction, with the objects its events
        are about (object type, id, account, livemode): what the step may look up at once,
        and what it may leave to ``flush``."""
        ...

    def flush(self) -> None:
        """Called inside ``batch`` once the first steps of all its events have run, before
        any of their handlers: finish what the first steps left to do together."""
        ...


_plugged: list[FirstStep] = []


def plug(step: FirstStep) -> None:
    """Make ``step`` the first step of every event (``AppConfig.ready()``)."""
    _plugged[:] = [step]


def first_step() -> FirstStep:
    if not _plugged:
        raise ImproperlyConfigured(
            "no first step is plugged into the dispatcher: is 'stripe_mirror' in INSTALLED_APPS?"
        )
    return _plugged[0]
