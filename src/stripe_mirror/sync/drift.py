"""Stage 5: how a mirrored row differs from the object the API answers (reconcile's "stale").

Two comparisons, both of the state the row would hold if the API object were written now:

- the **typed columns**: ``fields.extract`` of the API object (as the sync would write it,
  ``storable`` first) against the row's values, reported by column name (``email``,
  ``status``); a column the object does not render is not compared (absent is "unknown");
- the **top-level keys of ``data``** not already covered by a typed column, reported as
  ``data.<key>``. Ignored: ``VOLATILE_KEYS`` (below), and embedded lists that either side holds
  cut (``has_more: true``): an event's copy of a list is cut at 10 items, the API's is read
  whole, and the children are compared as their own rows where they have a list endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from ..models import StripeModel
from .fields import MISSING, columns, extract
from .storable import storable

#: Top-level keys that are not compared. ``livemode`` and ``object`` are the row's key (a row
#: of another mode or type is another row). Nothing else: Stripe sends an event for every
#: change of an object's top-level fields, so a difference anywhere else is drift.
VOLATILE_KEYS = frozenset({"object", "livemode"})


def differences(row: StripeModel, obj: Mapping[str, Any]) -> list[str]:
    """The names of what differs between ``row`` and the API's ``obj``: typed columns, then
    ``data.<key>``; empty when the row is right."""
    state = storable(dict(obj)).value
    model = type(row)
    found = [
        attname
        for attname, value in extract(model, state).items()
        if getattr(row, attname) != value
    ]
    data = row.data if isinstance(row.data, Mapping) else {}
    covered = _covered_keys(model)
    for key in sorted(set(data) | set(state)):
        if key in covered or key in VOLATILE_KEYS:
            continue
        if not _same(data.get(key, MISSING), state.get(key, MISSING)):
            found.append(f"data.{key}")
    return found


def _same(held: Any, answered: Any) -> bool:
    if _cut(held) or _cut(answered):
        return True  # a cut list proves nothing about the items it left out
    return bool(held == answered)


def _cut(value: Any) -> bool:
    return (
        isinstance(value, Mapping) and value.get("object") == "list" and bool(value.get("has_more"))
    )


@cache
def _covered_keys(model: type[StripeModel]) -> frozenset[str]:
    """Top-level keys whose value a typed column reads whole (a column reading a nested path
    covers only part of its key, which is then compared in ``data`` too)."""
    return frozenset(
        path[0]
        for column in columns(model)
        for path in column.paths
        if isinstance(path, tuple) and len(path) == 1
    )


__all__ = ["VOLATILE_KEYS", "differences"]
