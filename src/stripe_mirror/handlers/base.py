"""Routing events to mirror rules, and the default rule (apply the snapshot)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import conf
from ..events import StripeEvent, thaw
from ..models import Charge, Invoice, InvoicePayment, PaymentIntent, StripeModel
from ..patterns import validate_pattern
from ..sync import DELETABLE, Origin, Outcome, Result, links, tombstone, upsert
from ..sync.children import bury_embedded, prune_embedded, sync_embedded, sync_embedded_created
from ..sync.storable import storable


@dataclass(frozen=True, slots=True)
class Change:
    """An event as the mirror rules see it: the event, its object as plain JSON, its origin."""

    event: StripeEvent
    obj: dict[str, Any]
    origin: Origin
    #: Other snapshots of the object from the event's second are recorded and will not be
    #: written (``upsert``'s ``tied``).
    tied: bool = False

    @property
    def action(self) -> str:
        return self.event.type.rsplit(".", 1)[-1]


Rule = Callable[[Change], object]
_RULES: list[tuple[str, Rule]] = []
_CACHE: dict[str, tuple[Rule, ...]] = {}

#: What rows of one model imply for other rows, run after every write of such rows, with the
#: rows written together (one, or a backfill page's new rows).
Hook = Callable[[list[Any]], object]
_HOOKS: dict[type[StripeModel], list[Hook]] = {}


def rule(*patterns: str) -> Callable[[Rule], Rule]:
    """Register a mirror rule for event types matching any of ``patterns``."""
    checked = [validate_pattern(p) for p in patterns]

    def decorator(func: Rule) -> Rule:
        _RULES.extend((pattern, func) for pattern in checked)
        _CACHE.clear()
        return func

    return decorator


def after_write_of(model: type[StripeModel]) -> Callable[[Hook], Hook]:
    """Register a hook run with freshly written rows of ``model`` (whatever the event): for
    state that other events, possibly delivered earlier, have to add to the rows. It takes a
    list of rows: one after an event, many after a backfill page (one query for all)."""

    def decorator(func: Hook) -> Hook:
        _HOOKS.setdefault(model, []).append(func)
        return func

    return decorator


def rules_for(event_type: str) -> tuple[Rule, ...]:
    found = _CACHE.get(event_type)
    if found is None:
        matched = [
            f
            for p, f in _RULES
            if p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1]))
        ]
        found = tuple(dict.fromkeys(matched))
        _CACHE[event_type] = found
    return found


def origin_of(event: StripeEvent) -> Origin:
    previous = event.previous_attributes
    if previous is not None:  # compared level by level with the object in a tie
        previous = thaw(storable(previous).value)
    return Origin(
        event_id=event.id,
        event_type=event.type,
        created=event.created,
        account=event.account or "",
        livemode=event.livemode,
        api_version=event.api_version,
        previous=previous,
    )


def sync_event(
    event: StripeEvent, *, payload: Mapping[str, Any] | None = None, tied: bool = False
) -> tuple[str, ...]:
    """Apply one event to the mirror (the processor runs this before any user handler).

    ``payload``: the event as plain parsed JSON, when the caller has it (the processor parses
    the recorded body once, for this and for the handlers' read-only event): it saves copying
    the event back into dicts. It must be the same event; it is not kept, and never changed
    (rules and hooks included), since the handlers' event is a view of it. ``tied``: the
    event stands for other snapshots of its object from the same second, whose own sync does
    not run (a worker batch): the object gets the newest of them by the tie rules.

    Returns what the mirror had to change to store the object (``sync/storable.py``): notes
    the processor records on the event; empty when it is mirrored as it is."""
    if not conf.mirror_enabled():
        return ()
    if payload is not None:
        obj = storable(payload["data"]["object"])
        value = obj.value
    else:  # bounded first: ``thaw`` recurses as deep as the object goes
        obj = storable(event.object)
        value = thaw(obj.value)
    change = Change(event=event, obj=value, origin=origin_of(event), tied=tied)
    rules = rules_for(event.type)
    if not rules:
        apply_snapshot(change)
    for func in rules:
        func(change)
    return obj.notes


def apply_snapshot(change: Change) -> Outcome:
    """The default rule: write the event's object (tombstone it if it is a deletion of a
    deletable object), then what its snapshot says about embedded objects and links."""
    if change.action == "deleted" and change.obj.get("object") in DELETABLE:
        outcome = tombstone(change.obj, change.origin)
        if outcome.applied:
            bury_embedded(change.obj, change.origin)
        return outcome
    return update(change)


def update(change: Change) -> Outcome:
    """Write the event's object as its new state (never a deletion), and what follows."""
    outcome = upsert(change.obj, change.origin, tied=change.tied)
    after_write(outcome)
    return outcome


def apply_fetched(obj: dict[str, Any], origin: Origin) -> Outcome:
    """Write an object's state read from the Stripe API (``origin.fetched``: a refetch that
    settles a tie) as an event's snapshot is written: through the ordering guard, then what
    follows from it (``sync.sources`` is plugged with this in ``apps.py``)."""
    outcome = upsert(obj, origin)
    after_write(outcome)
    return outcome


_LINKED = (Invoice, InvoicePayment, PaymentIntent, Charge)


def after_write(outcome: Outcome) -> None:
    """What follows the write of one row: its embedded lists, links and hooks."""
    after_writes([outcome])


def after_writes(outcomes: Sequence[Outcome]) -> None:
    """What follows the writes of several rows (a backfill page's new rows): for each, its
    embedded lists and links; then the hooks, once per model with all its rows."""
    written: dict[type[StripeModel], list[StripeModel]] = {}
    embedded = _embedded_together(outcomes)
    for outcome in outcomes:
        row = _follow(outcome, embedded=not embedded)
        if row is not None:
            written.setdefault(type(row), []).append(row)
    for model, rows in written.items():
        for hook in _HOOKS.get(model, ()):
            hook(rows)


def _embedded_together(outcomes: Sequence[Outcome]) -> bool:
    """The embedded lists of rows created together with one origin (a backfill page's new
    rows of one type), synced at once; False when they were not (each row then does)."""
    first = outcomes[0] if outcomes else None
    if len(outcomes) < 2 or first is None or first.origin is None:
        return False
    if any(o.result is not Result.CREATED or o.origin != first.origin for o in outcomes):
        return False
    parents = [o.obj for o in outcomes if o.obj is not None]
    return sync_embedded_created(parents, first.origin)


def _follow(outcome: Outcome, *, embedded: bool = True) -> StripeModel | None:
    """The embedded lists (unless done already) and links of a write; the row written, if
    it was."""
    if outcome.obj is None or outcome.origin is None:
        return None
    if outcome.result is Result.CONFIRMED:
        prune_embedded(outcome.obj, outcome.origin)
        return None
    if not outcome.applied:
        return None
    if embedded:
        sync_embedded(outcome.obj, outcome.origin, prune=outcome.settled)
    if isinstance(outcome.row, _LINKED) and not outcome.links_kept:
        links.reconcile(outcome.row)
    return outcome.row


def object_ref(value: object) -> str | None:
    """An id from an expandable field (a string, or an expanded object)."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None
