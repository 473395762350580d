"""PostgreSQL's plans for the sync's hot statements on a table without statistics (new, or
autovacuum off): the index on ``account`` alone, which in a one-account mirror holds every
row, must not serve them (it costs the same as the key's index there, and was picked: a full
read of the table per event)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection

from stripe_mirror.models import Charge, LineItem
from stripe_mirror.sync import sql
from stripe_mirror.sync.links import sql as link_sql
from stripe_mirror.sync.links.payment import _Ids, _Scope

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner"),
]


def plan(statement: str, params: list[Any]) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {statement}", params)
        return "\n".join(line for (line,) in cursor.fetchall())


@pytest.fixture
def charges() -> None:
    Charge.objects.bulk_create(
        Charge(stripe_id=f"ch_{n}", invoice_id=f"in_{n}", data={"pad": "x" * 1500})
        for n in range(600)
    )
    LineItem.objects.bulk_create(
        LineItem(stripe_id=f"il_{n}", invoice_id=f"in_{n}", data={}) for n in range(600)
    )


def _account_index(text: str) -> bool:
    return "_account_" in text


@pytest.mark.usefixtures("charges")
def test_locked_row_reads_by_the_key() -> None:
    key = {"stripe_id": "ch_7", "account": "", "livemode": False}
    statement = sql._select_sql(Charge, tuple(key), ("data",), "default")
    text = plan(statement, list(key.values()))
    assert not _account_index(text), text
    assert sql.locked_row(Charge, key) is not None


@pytest.mark.usefixtures("charges")
def test_mark_missing_reads_by_the_parent() -> None:
    statement = sql._mark_missing_sql(LineItem, "invoice_id", 1, 1, "default")
    when = datetime.now(UTC)
    text = plan(statement, [True, when, "in_7", "", False, False, when, "il_x"])
    assert not _account_index(text), text


@pytest.mark.usefixtures("charges")
def test_link_rows_are_loaded_and_locked_by_their_ids() -> None:
    ids = _Ids(invoices={"in_7"}, intents=set(), charges={"ch_7"})
    rows = link_sql.load_rows("default", _Scope("", False), ids)
    assert {(r["_kind"], r["stripe_id"]) for r in rows} == {("charges", "ch_7")}
    assert link_sql.load_rows("default", _Scope("acct_other", False), ids) == []
    assert link_sql.load_rows("default", _Scope("", True), ids) == []
    held = link_sql.lock_rows("default", _Scope("", False), ids)
    assert {model for model, _ in held} == {Charge}
