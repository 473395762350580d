"""Stage 5b: the ordering guard. Which of several snapshots of one object is the newest?

Stripe delivers events at least once and in any order, and ``created`` has a resolution of
one second, so several events about one object often share a timestamp (an invoice is
created, finalized and paid within a second). The rule (docs/mirror.md):

1. A snapshot from a later second beats one from an earlier second.
2. Within one second, the candidates are ALL the recorded events about the object in that
   second (read from the inbox), so that the answer depends on which events exist, never on
   the order they arrived in. Among them, in turn:
   a. the object's progress key: ``*.created`` events come first and deletions (and
      ``payment_method.detached``) last; then the rank of its status along its life cycle
      (an invoice goes draft -> open -> uncollectible -> paid/void and never back); then
      counters that only grow (amount_paid, attempt_count, amount_refunded, ...). Every
      component only grows over an object's life, so a higher key always means a later
      snapshot, and only the candidates with the highest key stay in the running;
   b. ``previous_attributes`` (only ``*.updated`` events have them): a candidate whose
      previous attributes are another candidate's values (and differ from its own) is the
      change that came after that other one, so the other one is not the newest;
   c. identical snapshots are interchangeable.
3. If that still leaves different candidates, the result is ambiguous: the object is
   refetched from Stripe when an API key is configured, and otherwise the candidate with
   the greatest event id is taken (arbitrary but independent of arrival order) and a
   warning is logged.

Why this is safe: 2a is sound because every component of the key only grows. 2b can only be
fooled by a value that returns to an earlier value within the second (``a -> b -> a``).
Once every event of the second has been received, each candidate but the newest is followed
by its successor: a candidate with at least its key, which drops it if it carries previous
attributes (if not, both stay: ambiguous). A returning value can drop the newest as well,
which leaves no candidate standing (a cycle): ambiguous again, never wrong. Before all events
have arrived, or when the endpoint does not receive every event type that changes the
object, a candidate whose successor is missing stays standing next to the newest: ambiguous.
The one case the rule can get wrong without noticing is a value that returned within the
second AND an event of that second that never arrives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

#: Rank of each status in its object's life cycle. Only statuses that never go back may
#: rank higher than others (a payment intent can return to requires_payment_method after a
#: failed attempt, so only its final states rank higher).
STATUS_RANKS: Mapping[str, Mapping[str, int]] = {
    "invoice": {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3},
    # A subscription leaves "incomplete" once and for all (to active, trialing or expired);
    # active, past_due, unpaid, paused and trialing go back and forth.
    "subscription": {"incomplete": 0, "canceled": 2, "incomplete_expired": 2},
    "payment_intent": {"succeeded": 2, "canceled": 2},
    "setup_intent": {"succeeded": 2, "canceled": 2},
    "charge": {"pending": 0, "succeeded": 1, "failed": 1},
    "checkout.session": {"open": 0, "complete": 1, "expired": 1},
    "quote": {"draft": 0, "open": 1, "accepted": 2, "canceled": 2},
    "payout": {"pending": 0, "in_transit": 1, "paid": 2, "failed": 2, "canceled": 2},
    "refund": {"pending": 0, "requires_action": 0, "succeeded": 1, "failed": 1, "canceled": 1},
    "credit_note": {"issued": 0, "void": 1},
    "subscription_schedule": {
        "not_started": 0,
        "active": 1,
        "completed": 2,
        "released": 2,
        "canceled": 2,
    },
    "invoice_payment": {"open": 0, "paid": 1, "canceled": 1},
    # An inquiry (warning_*) may be escalated to a chargeback (needs_response) at any stage,
    # never the other way round.
    "dispute": {
        "warning_needs_response": 0,
        "warning_under_review": 1,
        "warning_closed": 2,
        "needs_response": 2,
        "under_review": 3,
        "won": 4,
        "lost": 4,
        "prevented": 4,
    },
}
#: Default rank of a status not listed for its type (1: "somewhere in the middle").
_DEFAULT_STATUS_RANK = 1

#: Integer fields that never decrease over an object's life.
GROWING_COUNTERS: Mapping[str, tuple[str, ...]] = {
    "invoice": ("amount_paid", "attempt_count"),
    "charge": ("amount_captured", "amount_refunded"),
    "payment_intent": ("amount_received",),
    "transfer": ("amount_reversed",),
    "application_fee": ("amount_refunded",),
    "coupon": ("times_redeemed",),
    "promotion_code": ("times_redeemed",),
}

#: Event actions that can only be an object's last...
_LAST_ACTIONS = ("deleted", "detached")
#: ...except these: a canceled subscription still takes metadata and cancellation_details
#: updates (its status rank keeps it after every earlier snapshot).
_NOT_LAST = frozenset({"customer.subscription.deleted"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """One snapshot of an object: the event that carried it and the object itself."""

    event_id: str
    event_type: str
    obj: Mapping[str, Any]
    previous: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    newest: Candidate
    #: True when the rules could not tell the candidates apart (the refetch case).
    ambiguous: bool


def progress_key(candidate: Candidate) -> tuple[int, ...]:
    """A key that never decreases over the object's life (rule 2a)."""
    action = candidate.event_type.rsplit(".", 1)[-1]
    last = action in _LAST_ACTIONS and candidate.event_type not in _NOT_LAST
    action_rank = 0 if action == "created" else 2 if last else 1
    obj = candidate.obj
    object_type = str(obj.get("object", ""))
    ranks = STATUS_RANKS.get(object_type, {})
    status_rank = ranks.get(str(obj.get("status")), _DEFAULT_STATUS_RANK) if ranks else 0
    counters = tuple(_int(obj.get(name)) for name in GROWING_COUNTERS.get(object_type, ()))
    return (action_rank, status_rank, *counters)


def newest(candidates: Sequence[Candidate]) -> Verdict:
    """The newest of several same-second snapshots of one object (rules 2 and 3)."""
    if not candidates:
        raise ValueError("no candidates")
    unique = {c.event_id: c for c in candidates}
    ordered = sorted(unique.values(), key=lambda c: c.event_id)
    top = max(progress_key(c) for c in ordered)
    leaders = [c for c in ordered if progress_key(c) == top]
    # Rule 2b: drop every leader that another leader came after.
    latest = [c for c in leaders if not any(_came_after(o, c) for o in leaders if o is not c)]
    if not latest:  # a cycle: values changed back and forth within the second
        latest = leaders
    distinct = {_fingerprint(c.obj) for c in latest}
    return Verdict(newest=latest[-1], ambiguous=len(distinct) > 1)


def _came_after(later: Candidate, earlier: Candidate) -> bool:
    """True when ``later``'s previous attributes are ``earlier``'s values and differ from
    ``later``'s own: ``later`` is the change that followed ``earlier``'s state."""
    previous = later.previous
    if not previous:
        return False
    return _matches(earlier.obj, previous) and not _matches(later.obj, previous)


def _matches(obj: Mapping[str, Any], partial: Mapping[str, Any]) -> bool:
    """Does ``obj`` hold every value in ``partial``? Nested dicts compare key by key."""
    for key, expected in partial.items():
        actual = obj.get(key) if isinstance(obj, Mapping) else None
        if isinstance(expected, Mapping) and isinstance(actual, Mapping):
            if not _matches(actual, expected):
                return False
        elif actual != expected:
            return False
    return True


def _fingerprint(obj: Mapping[str, Any]) -> str:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1
