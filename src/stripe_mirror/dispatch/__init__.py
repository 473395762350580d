"""Stage 3, inbox and dispatch: record events durably, claim them, run the first step (the
mirror, plugged in) and the ``@on`` handlers, record outcomes. May import the foundation only.

The names below are loaded on first use: ``import stripe_mirror`` (for ``on``, from
``dispatch.registry``) runs this file before Django's app registry is ready, when the modules
that use the models cannot be imported yet.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import Outcome, due_count, lock_conflict, process, process_due, reset

#: Public name -> the module of this package that defines it.
_EXPORTS = {
    "Outcome": "run",
    "due_count": "run",
    "lock_conflict": "run",
    "process": "run",
    "process_due": "run",
    "reset": "run",
}

__all__ = ["Outcome", "due_count", "lock_conflict", "process", "process_due", "reset"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
