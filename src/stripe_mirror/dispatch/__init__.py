"""Stage 3, inbox and dispatch: record events durably, claim them, run the first step (the
mirror, plugged in) and the ``@on`` handlers, record outcomes. May import the foundation only.

``process`` and ``process_due`` leave a failed event's retry to its ``next_attempt_at`` (the
worker command finds it due); ``tasks.process`` and ``tasks.process_due`` also hand it to a
queue backend that can defer tasks.

The names below are loaded on first use: ``import stripe_mirror`` (for ``on``, from
``dispatch.registry``) runs this file before Django's app registry is ready, when the modules
that use the models cannot be imported yet.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch import process_due
    from .claim import due_count, lock_conflict, reset
    from .outcome import Outcome
    from .run import process

#: Public name -> the module of this package that defines it.
_EXPORTS = {
    "Outcome": "outcome",
    "due_count": "claim",
    "lock_conflict": "claim",
    "process": "run",
    "process_due": "batch",
    "reset": "claim",
}

__all__ = ["Outcome", "due_count", "lock_conflict", "process", "process_due", "reset"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
