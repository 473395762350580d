"""Stage 3: every statement on the inbox table, and the dispatcher's only branches per database
(PostgreSQL, MariaDB, SQLite). They run for every event or batch, and say what the ORM cannot:

- ``record.record``: insert an event or count its redelivery, in one statement (``inbox.py``);
- ``process.take_write_lock``: SQLite has no row locks: a claim takes the database's;
- ``process.save_processed``: a batch's processed events in one statement or a few;
- ``ties.same_second_snapshots``: the candidates of a tie, for the sync (``sync/sources.py``,
  plugged in by ``apps.py``, so that the sync does not read this table).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections

from ...models import InboxEvent


def columns(alias: str, names: Sequence[str]) -> dict[str, str]:
    """Each field's column, quoted."""
    quote = connections[alias].ops.quote_name
    columns = {name: getattr(InboxEvent._meta.get_field(name), "column", None) for name in names}
    assert all(isinstance(column, str) for column in columns.values())
    return {name: quote(str(column)) for name, column in columns.items()}
