"""Stage 5d: objects embedded in another object's snapshot, mirrored from it.

A subscription carries its items, an invoice its lines, and (in API versions before
2022-11-15) a charge its refunds. When the parent's snapshot is applied, its embedded list
is applied too, under the parent's event. A complete list (``has_more`` false) also tells
which children are gone: rows of that parent not in the list are marked deleted, unless the
parent's snapshot won its same-second tie by a guess (then it may be an older one, and a
deletion is final). A deleted parent takes along the children that live only inside it (a
deleted draft invoice's lines).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from ..models import LineItem, Refund, StripeModel, SubscriptionItem
from . import bulk, sql
from .origin import Origin
from .upsert import upsert


@dataclass(frozen=True, slots=True)
class Embedded:
    #: Key of the list object in the parent (``items``).
    key: str
    model: type[StripeModel]
    #: The child's column naming its parent (``subscription_id``).
    parent_column: str
    #: True when the parent's snapshot is the only source of the child (no events of its
    #: own): a same-second parent snapshot that won the ordering guard wins for the child too.
    authoritative: bool
    #: Mark children missing from a complete list deleted.
    prune: bool


EMBEDDED: Mapping[str, tuple[Embedded, ...]] = {
    "subscription": (Embedded("items", SubscriptionItem, "subscription_id", True, True),),
    "invoice": (Embedded("lines", LineItem, "invoice_id", True, True),),
    "charge": (Embedded("refunds", Refund, "charge_id", False, False),),
}


def sync_embedded(parent: Mapping[str, Any], origin: Origin, *, prune: bool = True) -> None:
    """Apply the embedded lists of a parent snapshot that was just applied; ``prune=False``
    leaves the children missing from them alone."""
    for spec in EMBEDDED.get(str(parent.get("object", "")), ()):
        listing = parent.get(spec.key)
        if not isinstance(listing, Mapping) or not isinstance(listing.get("data"), list):
            continue  # not rendered in this API version, or not expanded
        child_origin = replace(origin, previous=None)
        _sync_list(spec, str(parent["id"]), listing, child_origin, prune=prune)


def sync_embedded_created(parents: Sequence[Mapping[str, Any]], origin: Origin) -> bool:
    """``sync_embedded`` for parents of one type just created together with ``origin`` (a
    backfill page's new rows): the children without a row are inserted at once, the others go
    through ``upsert``; complete lists prune in one statement per list type. False (nothing
    done) where the database cannot insert several rows at once: call ``sync_embedded``."""
    specs = EMBEDDED.get(str(parents[0].get("object", ""))) if parents else None
    child_origin = replace(origin, previous=None)
    for spec in specs or ():
        lists: list[tuple[str, Mapping[str, Any]]] = [
            (str(p["id"]), v) for p in parents if _listed(v := p.get(spec.key))
        ]
        parent_of = {str(c["id"]): pid for pid, v in lists for c in v["data"] if _child(c)}
        children = {str(c["id"]): c for _, v in lists for c in v["data"] if _child(c)}
        column = (spec.parent_column, parent_of)
        created = bulk.create_missing(
            list(children.values()), child_origin, model=spec.model, parents=column
        )
        if created is None:
            return False
        for child_id, child in children.items():
            if child_id not in created:
                _sync_child(spec, parent_of[child_id], child, child_origin)
        complete = [pid for pid, v in lists if v.get("has_more") is False]
        if spec.prune and complete:
            _prune_many(spec, complete, list(children), child_origin)
    return True


def _listed(listing: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(listing, Mapping) and isinstance(listing.get("data"), list)


def _child(child: object) -> bool:
    return isinstance(child, Mapping) and isinstance(child.get("id"), str)


def prune_embedded(parent: Mapping[str, Any], origin: Origin) -> None:
    """Mark deleted the children missing from the complete embedded lists of ``parent``, a
    snapshot the row already holds (``Result.CONFIRMED``): its lists were applied when it
    was written, but not allowed to delete then."""
    for spec in EMBEDDED.get(str(parent.get("object", "")), ()):
        listing = parent.get(spec.key)
        if not spec.prune or not isinstance(listing, Mapping):
            continue
        data = listing.get("data")
        if isinstance(data, list) and listing.get("has_more") is False:
            seen = [
                c["id"] for c in data if isinstance(c, Mapping) and isinstance(c.get("id"), str)
            ]
            _prune(spec, str(parent["id"]), seen, origin)


def bury_embedded(parent: Mapping[str, Any], origin: Origin) -> None:
    """Mark deleted the children that exist only inside ``parent``, which was just deleted."""
    for spec in EMBEDDED.get(str(parent.get("object", "")), ()):
        if spec.authoritative:
            spec.model.objects.filter(
                **{spec.parent_column: parent["id"]},
                account=origin.account,
                livemode=origin.livemode,
                deleted=False,
            ).update(deleted=True, deleted_at=origin.created)


def _sync_list(
    spec: Embedded,
    parent_id: str,
    listing: Mapping[str, Any],
    origin: Origin,
    *,
    prune: bool,
) -> None:
    seen: list[str] = []
    for child in listing["data"]:
        if not _child(child):
            continue
        seen.append(child["id"])
        _sync_child(spec, parent_id, child, origin)
    if prune and spec.prune and listing.get("has_more") is False:
        _prune(spec, parent_id, seen, origin)


def _sync_child(spec: Embedded, parent_id: str, child: Mapping[str, Any], origin: Origin) -> None:
    outcome = upsert(child, origin, model=spec.model, authoritative=spec.authoritative)
    row = outcome.row
    if row is not None and getattr(row, spec.parent_column) is None:
        # Older API versions do not name the parent inside the child.
        setattr(row, spec.parent_column, parent_id)
        sql.update(spec.model, row.pk, {spec.parent_column: parent_id})


def _prune_many(spec: Embedded, parent_ids: list[str], keep: list[str], origin: Origin) -> None:
    """``_prune`` of several parents at once (a child belongs to one parent)."""
    scope = (origin.account, origin.livemode)
    sql.prune_children(
        spec.model, spec.parent_column, parent_ids, keep, scope=scope, created=origin.created
    )


def _prune(spec: Embedded, parent_id: str, keep: list[str], origin: Origin) -> None:
    scope = (origin.account, origin.livemode)
    sql.prune_children(
        spec.model, spec.parent_column, [parent_id], keep, scope=scope, created=origin.created
    )
