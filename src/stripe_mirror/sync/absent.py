"""Stage 5c: the objects of a worker's batch that had no mirrored row when it began.

``upsert`` reads an object's row, locked, before writing it; for an object that has no row
yet that read finds nothing, and the INSERT follows. A batch knows its objects, so it looks
up which of them exist with one statement per model and scope (``batch``), and the first
upsert of an object found missing goes straight to the INSERT (``take``). The INSERT skips a
row that exists by then (created meanwhile, by this batch or another transaction: ``ON
CONFLICT DO NOTHING``), and the upsert then reads the row as it would have: a hint that is
out of date costs a statement, never a wrong write. Only where that INSERT exists
(PostgreSQL, SQLite); elsewhere a missing row is read first, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connections, router

from ..models import TYPED_MODELS, StripeModel
from . import sql

#: One object's key: (model, stripe id, account, livemode).
Key = tuple[type[StripeModel], str, str, bool]

_missing: ContextVar[set[Key] | None] = ContextVar("stripe_mirror_missing", default=None)


@contextmanager
def batch(objects: Iterable[tuple[str, str, str, bool]]) -> Iterator[None]:
    """While the batch runs, which of its ``objects`` (object type, id, account, livemode)
    had no row: one statement per model and scope."""
    wanted: dict[tuple[type[StripeModel], str, bool], set[str]] = {}
    for object_type, stripe_id, account, livemode in objects:
        model = TYPED_MODELS.get(object_type)
        if model is not None and stripe_id and _inserts_first(model):
            wanted.setdefault((model, account, livemode), set()).add(stripe_id)
    missing: set[Key] = set()
    for (model, account, livemode), ids in wanted.items():
        ordered = sorted(ids)
        found = sql.present(model, "stripe_id", ordered, account=account, livemode=livemode)
        missing.update((model, i, account, livemode) for i in ordered if i not in found)
    token = _missing.set(missing)
    try:
        yield
    finally:
        _missing.reset(token)


def take(model: type[StripeModel], stripe_id: str, account: str, livemode: bool) -> bool:
    """Whether the object had no row when the batch began, and this is the first ask."""
    missing = _missing.get()
    if not missing:
        return False
    key = (model, stripe_id, account, livemode)
    if key not in missing:
        return False
    missing.discard(key)
    return True


def _inserts_first(model: type[StripeModel]) -> bool:
    return connections[router.db_for_write(model)].vendor in ("postgresql", "sqlite")
