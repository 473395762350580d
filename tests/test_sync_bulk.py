"""sync/bulk.py and the statement under it (``sql.insert_many``): a page's new rows inserted at
once hold what inserting each value as a bound parameter holds. On PostgreSQL the page goes as
one JSON document (``json_populate_recordset``); the same rows bound value by value (the path
of SQLite, and of the values JSON cannot carry) must give the same columns."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from stripe_mirror.models import TYPED_MODELS, Customer, Price, StripeModel
from stripe_mirror.sync import bulk, sql
from stripe_mirror.sync.origin import Origin
from stripe_mirror.sync.reads import read_origin
from stripe_mirror.sync.storable import storable
from tests.stripe_data import fixture, fixtures

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor not in ("postgresql", "sqlite"),
        reason="no bulk insert: each new row goes through upsert (MariaDB)",
    ),
]

#: Set when the row is written, not from the object.
_WRITE_TIME = {"id", "stripe_id", "synced_at"}


#: One moment for every read of this module: two inserts a test compares must not straddle a
#: second (the watermark of an API read is the second before it started).
_READ_AT = datetime.now(UTC)


def origin() -> Origin:
    return read_origin(_READ_AT, label="backfill", account="", livemode=False)


def columns(row: StripeModel) -> dict[str, Any]:
    row.refresh_from_db()
    fields = type(row)._meta.concrete_fields
    return {f.attname: getattr(row, f.attname) for f in fields if f.attname not in _WRITE_TIME}


def insert(objects: list[dict[str, Any]]) -> list[StripeModel]:
    created = bulk.create_missing([storable(obj).value for obj in objects], origin())
    assert created is not None
    assert set(created) == {obj["id"] for obj in objects}
    return [created[obj["id"]].row for obj in objects]


@pytest.mark.parametrize(
    "object_type",
    sorted(t for t in TYPED_MODELS if t in fixtures() and isinstance(fixtures()[t].get("id"), str)),
)
def test_a_page_as_json_holds_what_bound_values_hold(
    object_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_json = insert([fixture(object_type), fixture(object_type)])
    monkeypatch.setattr(sql, "_as_json", lambda rows, connection: None)
    bound = insert([fixture(object_type), fixture(object_type)])
    for one, other in zip(as_json, bound, strict=True):
        mine, theirs = columns(one), columns(other)
        mine.pop("data"), theirs.pop("data")  # (their ids differ)
        assert mine == theirs


def test_json_columns_keep_their_values_and_nulls() -> None:
    obj = fixture("customer")
    obj.update(metadata={}, discount=None, description='a "quoted" \\ line\nand more')
    (row,) = insert([obj])
    stored = columns(row)
    assert stored["metadata"] == {}
    assert stored["discount_id"] is None
    assert stored["description"] == obj["description"]
    assert Customer.objects.get(pk=row.pk).data == storable(obj).value


def test_decimals_are_read_back_exactly() -> None:
    obj = fixture("price")
    obj["unit_amount_decimal"] = "1234.56789"
    (row,) = insert([obj])
    assert Price.objects.get(pk=row.pk).unit_amount_decimal == Decimal("1234.56789")


def test_a_value_json_cannot_carry_is_bound_instead() -> None:
    obj = fixture("customer")
    obj["metadata"] = {"n": str(2**70)}
    obj["x_big"] = 2**70  # beyond 64 bits: orjson cannot encode it, the field's encoder can
    (row,) = insert([obj])
    assert Customer.objects.get(pk=row.pk).data["x_big"] == 2**70


def test_rows_that_exist_are_left_to_the_guard() -> None:
    first = fixture("customer")
    insert([first])
    created = bulk.create_missing([storable(first).value, fixture("customer")], origin())
    assert created is not None
    assert first["id"] not in created
    assert len(created) == 1
