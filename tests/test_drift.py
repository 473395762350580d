"""sync/drift.py: what reconcile calls stale, on unsaved rows (no database)."""

from __future__ import annotations

from typing import Any

from stripe_mirror.models import Customer, StripeObject, Subscription
from stripe_mirror.sync.drift import differences
from stripe_mirror.sync.fields import extract


def row_of(model: Any, obj: dict[str, Any]) -> Any:
    """A row as the sync writes it from ``obj``."""
    row = model(stripe_id=obj["id"], data=obj)
    for attname, value in extract(model, obj).items():
        setattr(row, attname, value)
    return row


CUSTOMER = {
    "id": "cus_1",
    "object": "customer",
    "email": "a@example.com",
    "livemode": False,
    "metadata": {"plan": "gold"},
    "preferred_locales": ["fr"],
    "created": 1_700_000_000,
}


def test_the_same_object_is_no_drift() -> None:
    assert differences(row_of(Customer, CUSTOMER), dict(CUSTOMER)) == []


def test_typed_columns_by_name_then_other_keys_of_data() -> None:
    row = row_of(Customer, CUSTOMER)
    answered = {**CUSTOMER, "email": "b@example.com", "preferred_locales": ["de"]}
    assert differences(row, answered) == ["email", "data.preferred_locales"]


def test_a_key_only_one_side_has_is_drift_but_livemode_and_object_are_not() -> None:
    row = row_of(Customer, CUSTOMER)
    assert differences(row, {**CUSTOMER, "new_field": None}) == ["data.new_field"]
    assert differences(row, {**CUSTOMER, "livemode": True}) == []


def test_a_cut_embedded_list_proves_nothing() -> None:
    items = {"object": "list", "data": [{"id": "si_1"}], "has_more": True, "url": "/v1/x"}
    sub = {"id": "sub_1", "object": "subscription", "status": "active", "items": items}
    whole = {**items, "data": [{"id": "si_1"}, {"id": "si_2"}], "has_more": False}
    assert differences(row_of(Subscription, sub), {**sub, "items": whole}) == []
    complete = {**items, "has_more": False}
    changed = differences(row_of(Subscription, {**sub, "items": complete}), {**sub, "items": whole})
    assert changed == ["data.items"]


def test_the_generic_table_compares_data_only() -> None:
    rate = {"id": "shr_1", "object": "shipping_rate", "display_name": "Ground"}
    row = row_of(StripeObject, rate)
    assert differences(row, {**rate, "display_name": "Air"}) == ["data.display_name"]


def test_nul_characters_are_compared_as_the_mirror_stores_them() -> None:
    obj = {**CUSTOMER, "name": "A\u0000B"}
    row = row_of(Customer, {**CUSTOMER, "name": "A\ufffdB"})
    assert differences(row, obj) == []
