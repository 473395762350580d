"""Stage 4: the mirror's per-event-type rules.

Every event reaches ``sync_event``. Most need nothing but the generic sync of the object they
carry (stage 5), whatever its type: a typed model, or the generic table. The rules in
``rules.py`` handle the events that mean more than "here is the object's new state":
discounts that change a customer, disputes that mark a charge, a Connect account that
disconnects the platform. Rules are registered with ``@rule(<event pattern>)``. May import
the sync (stage 5) and the foundation; ``step.py`` is how the dispatcher runs it (plugged in).
"""

from .base import Change, after_write_of, apply_snapshot, rule, rules_for, sync_event, update

__all__ = [
    "Change",
    "after_write_of",
    "apply_snapshot",
    "rule",
    "rules_for",
    "sync_event",
    "update",
]
