"""Stage 5: the rows of a backfill page that the mirror does not have yet, inserted at once.

Most objects of a first backfill have no row: one ``INSERT ... ON CONFLICT DO NOTHING``
creates them all (PostgreSQL: the page's rows as one JSON document; SQLite: a multi-row
``VALUES``; ``sql.insert_many``), as ``upsert`` would create each (the same
columns, the same watermark: with no row, the guard lets any snapshot in). An object whose row
exists, or was inserted meanwhile by an event, is left to ``upsert`` and its guard. What follows
a write (embedded lists, links, hooks) then runs for each created row as after any write
(``sources.after_write``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import StripeModel
from . import sql
from .origin import Origin
from .upsert import Outcome, Result, _assign, _key, model_for


def create_missing(
    objects: list[Mapping[str, Any]],
    origin: Origin,
    *,
    model: type[StripeModel] | None = None,
    parents: tuple[str, Mapping[str, str]] | None = None,
) -> dict[str, Outcome] | None:
    """Insert the rows of ``objects`` (of one type, with distinct ids) that do not exist, with
    ``origin``'s watermark; their outcomes (``Result.CREATED``) by id. None where the database
    cannot say which rows it inserted in one statement (MariaDB): use ``upsert`` for each.
    ``parents``: a column and the value it takes for each id (embedded children whose older
    shapes do not name their parent)."""
    if not objects:
        return {}
    model = model or model_for(objects[0].get("object"))
    rows: list[StripeModel] = []
    for obj in objects:
        row = model(**_key(model, str(obj["id"]), obj, origin))
        _assign(row, obj, origin)
        if parents is not None and getattr(row, parents[0]) is None:
            setattr(row, parents[0], parents[1].get(str(obj["id"])))
        rows.append(row)
    inserted = sql.insert_many(rows)
    if inserted is None:
        return None
    by_id = {str(obj["id"]): obj for obj in objects}
    return {
        row.stripe_id: Outcome(Result.CREATED, row, by_id[row.stripe_id], origin)
        for row in inserted
    }
