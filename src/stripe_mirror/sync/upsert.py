"""Stage 5c: the generic sync. Create, update or tombstone one mirrored row from a Stripe object.

Every write happens under a lock on the object's row (``SELECT ... FOR UPDATE``; SQLite's
database write lock, which the processor already holds), so concurrent events about one
object are applied one at a time, and the ordering guard (``ordering.py``) decides whether
the incoming snapshot is newer than the row's. No Stripe API call is made, except to settle
an ambiguous same-second tie when an API key is configured (``heal.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson
from django.db import IntegrityError, transaction

from ..models import TYPED_MODELS, StripeModel, StripeObject
from . import absent, heal, links, sources, sql
from .fields import extract
from .ordering import Candidate, newest
from .origin import REFETCHED, Origin
from .storable import storable


class Result(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    SKIPPED_OLDER = "skipped_older"  # the row holds a newer snapshot
    #: The row already holds its second's newest snapshot, and the rules (or a refetch) now
    #: say so. It may have won its tie by the fallback guess earlier, which deletes nothing:
    #: its embedded lists may delete now. (The row itself is not written again.)
    CONFIRMED = "confirmed"
    SKIPPED_DELETED = "skipped_deleted"  # the object was deleted; never resurrected
    NO_ID = "no_id"  # objects without an id (invoice.upcoming) are not stored


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    #: The row as written (or as found, when skipped); None for NO_ID.
    row: StripeModel | None = None
    #: The snapshot the row now holds, and where it came from (None when skipped).
    obj: Mapping[str, Any] | None = None
    origin: Origin | None = None
    #: False when that snapshot won an ambiguous same-second tie by the fallback (greatest
    #: event id) rather than by the ordering rules or a refetch: a guess, which must not
    #: delete anything (the embedded children it lacks are kept).
    settled: bool = True
    #: An update that changed none of the values the payment links derive from (nor the
    #: row's derived links): its payment's links stay as they are (``links.facts``).
    links_kept: bool = False

    @property
    def applied(self) -> bool:
        return self.result in (Result.CREATED, Result.UPDATED, Result.DELETED)


def model_for(object_type: object) -> type[StripeModel]:
    """The typed model of an object type, or the generic table."""
    return TYPED_MODELS.get(str(object_type), StripeObject)


def upsert(
    obj: Mapping[str, Any],
    origin: Origin,
    *,
    model: type[StripeModel] | None = None,
    authoritative: bool = True,
    tied: bool = False,
) -> Outcome:
    """Bring the object's row up to ``obj`` unless the row holds a newer snapshot.

    ``authoritative=False`` is for copies embedded in another object's event (a charge's
    refunds): they create missing rows and win only when strictly newer, never on a tie.
    ``tied=True`` says that other snapshots of the object from the same second are recorded
    (a worker batch holding several writes only one): the row then gets the newest of all
    of them by the tie rules, even when it is older than that second or missing.
    """
    stripe_id = obj.get("id")
    if not isinstance(stripe_id, str) or not stripe_id:
        return Outcome(Result.NO_ID)
    model = model or model_for(obj.get("object"))
    missing = absent.take(model, stripe_id, origin.account, origin.livemode)
    row = None if missing else _locked_row(model, stripe_id, obj, origin)
    if row is None:
        first = _break_tie(stripe_id, None, obj, origin) if tied else _Choice(obj, origin)
        assert first is not None  # (nothing to keep: some candidate wins)
        created = _create(model, stripe_id, first.obj, first.origin)
        if created is not None:
            return Outcome(Result.CREATED, created, first.obj, first.origin, first.settled)
        row = _locked_row(model, stripe_id, obj, origin)  # lost a race with another creator
        assert row is not None
    if row.deleted:
        return Outcome(Result.SKIPPED_DELETED, row)
    chosen = _choose(row, obj, origin, authoritative=authoritative, tied=tied)
    if chosen is None:
        return Outcome(Result.SKIPPED_OLDER, row)
    if chosen.confirms:
        return Outcome(Result.CONFIRMED, row, chosen.obj, chosen.origin)
    before = links.facts(row)
    _write(row, chosen.obj, chosen.origin)
    kept = before is not None and before == links.facts(row)
    return Outcome(
        Result.UPDATED, row, chosen.obj, chosen.origin, settled=chosen.settled, links_kept=kept
    )


def tombstone(
    obj: Mapping[str, Any], origin: Origin, *, model: type[StripeModel] | None = None
) -> Outcome:
    """Mark the object deleted (creating the row if needed). Deletion is final: it wins over
    any snapshot, older or newer, and nothing ever clears it."""
    stripe_id = obj.get("id")
    if not isinstance(stripe_id, str) or not stripe_id:
        return Outcome(Result.NO_ID)
    model = model or model_for(obj.get("object"))
    row = _locked_row(model, stripe_id, obj, origin)
    if row is None:
        row = _create(model, stripe_id, obj, origin, deleted=True)
        if row is not None:
            return Outcome(Result.DELETED, row, obj, origin)
        row = _locked_row(model, stripe_id, obj, origin)
        assert row is not None
    if row.deleted:
        return Outcome(Result.SKIPPED_DELETED, row)
    row.deleted = True
    row.deleted_at = origin.created
    full = not obj.get("deleted")  # a {"id", "object", "deleted": true} stub carries no state
    if full and (row.event_created is None or origin.created >= row.event_created):
        _write(row, obj, origin)
    else:
        sql.save_fields(row, ("deleted", "deleted_at", "synced_at"))
    return Outcome(Result.DELETED, row, obj, origin)


# --- reading and writing rows -----------------------------------------------------------


def _key(
    model: type[StripeModel], stripe_id: str, obj: Mapping[str, Any], origin: Origin
) -> dict[str, Any]:
    scope = {"account": origin.account, "livemode": origin.livemode}
    key: dict[str, Any] = {"stripe_id": stripe_id, **scope}
    if model is StripeObject:
        key["type"] = str(obj.get("object", ""))[:100]
    return key


def _locked_row(
    model: type[StripeModel], stripe_id: str, obj: Mapping[str, Any], origin: Origin
) -> StripeModel | None:
    """The object's row, locked, without ``data`` (the sync replaces it, and it is the bulk
    of the row)."""
    return sql.locked_row(model, _key(model, stripe_id, obj, origin), exclude=("data",))


def _create(
    model: type[StripeModel],
    stripe_id: str,
    obj: Mapping[str, Any],
    origin: Origin,
    *,
    deleted: bool = False,
) -> StripeModel | None:
    """Insert the row; None if a concurrent transaction inserted it first."""
    row = model(**_key(model, stripe_id, obj, origin))
    _assign(row, obj, origin)
    if deleted:
        row.deleted = True
        row.deleted_at = origin.created
    inserted = sql.insert_new(row)
    if inserted is not None:
        return row if inserted else None
    try:  # no INSERT ... ON CONFLICT DO NOTHING here (MariaDB)
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return None
    return row


def _write(row: StripeModel, obj: Mapping[str, Any], origin: Origin) -> None:
    fields = _assign(row, obj, origin)
    sql.save_fields(
        row, (*fields, "data", "event_created", "event_id", "synced_at", "deleted", "deleted_at")
    )


def _assign(row: StripeModel, obj: Mapping[str, Any], origin: Origin) -> list[str]:
    values = extract(type(row), obj)
    for attname, value in values.items():
        setattr(row, attname, value)
    row.data = dict(obj)
    row.event_created = origin.created
    row.event_id = origin.event_id
    return list(values)


# --- the ordering guard -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Choice:
    obj: Mapping[str, Any]
    origin: Origin
    settled: bool = True
    #: The row holds this snapshot already (``Result.CONFIRMED``): nothing to write.
    confirms: bool = False


def _choose(
    row: StripeModel,
    obj: Mapping[str, Any],
    origin: Origin,
    *,
    authoritative: bool,
    tied: bool = False,
) -> _Choice | None:
    """The snapshot the row should hold now, or None to leave it as it is."""
    watermark = row.event_created
    if watermark is None or origin.created > watermark:
        if tied and authoritative:
            return _break_tie(row.stripe_id, None, obj, origin)
        return _Choice(obj, origin)
    if origin.created < watermark or not authoritative:
        return None
    if origin.fetched:  # read from the API after this second's events were recorded
        return _Choice(obj, origin)
    if row.event_id.endswith(REFETCHED):
        # Fetched after this second's events were recorded: at least as new as any of them.
        return None
    return _break_tie(row.stripe_id, row.event_id, obj, origin)


def _break_tie(
    stripe_id: str, current: str | None, obj: Mapping[str, Any], origin: Origin
) -> _Choice | None:
    """The same-second case: the newest of all the second's recorded snapshots, or None if
    it is the one the row holds (event id ``current``: None when the row is older); when the
    row holds it and the rules (or a refetch) settle it, a choice that ``confirms`` it: the
    row may have won by a guess earlier, when fewer of the second's events were recorded.
    Confirming it costs nothing for the row, but its embedded lists may now delete."""
    candidates = _same_second_candidates(stripe_id, obj, origin)
    verdict = newest(candidates)
    # Settled by a refetch after commit (never a network call while the batch holds its row
    # locks): until then, the guess, which deletes nothing.
    if verdict.ambiguous:
        model = model_for(obj.get("object"))
        heal.settle_later(
            obj, origin, model, candidates=len(candidates), keeping=verdict.newest.event_id
        )
    winner = verdict.newest
    settled = not verdict.ambiguous
    if winner.event_id == current:
        if not settled:
            return None
        held = replace(origin, event_id=winner.event_id, event_type=winner.event_type)
        return _Choice(winner.obj, held, confirms=True)
    if winner.event_id == origin.event_id:
        return _Choice(obj, origin, settled)
    chosen = replace(
        origin, event_id=winner.event_id, event_type=winner.event_type, previous=winner.previous
    )
    return _Choice(winner.obj, chosen, settled)


def _same_second_candidates(
    stripe_id: str, obj: Mapping[str, Any], origin: Origin
) -> list[Candidate]:
    """Every recorded snapshot of this object in the incoming one's second, itself included."""
    candidates = [Candidate(origin.event_id, origin.event_type, obj, origin.previous)]
    object_type = str(obj.get("object", ""))
    if model_for(object_type).EMBEDDED_ONLY:  # no events of its own: nothing else to find
        return candidates
    tied = sources.same_second()(
        object_type,
        stripe_id,
        account=origin.account,
        livemode=origin.livemode,
        created=origin.created,
        other_than=origin.event_id,
    )
    for event_id, event_type, body in tied:
        # As their own events mirror them: storable, and bounded for the tie rules.
        data = orjson.loads(body).get("data", {})
        previous = data.get("previous_attributes")
        candidates.append(
            Candidate(
                event_id,
                event_type,
                storable(data.get("object", {})).value,
                None if previous is None else storable(previous).value,
            )
        )
    return candidates
