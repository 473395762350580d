"""Objects rendered by older API versions fill the same typed columns as today's.

* Every older shape a column declares (``old(...)`` in the models) has a case here: the
  column's current fields are taken out of Stripe's example of the object, the old shape is
  put in, and the object goes through the endpoint in an old API version.
* The derivations (old fields of another encoding) are checked value by value.
* Whole objects as API version 2017-08-15 renders them (the oldest version still in use) fill
  every column whose field existed then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import models

from stripe_mirror.models import TYPED_MODELS
from stripe_mirror.models.base import Old, old_sources, source_of
from stripe_mirror.models.legacy import invoice_status
from tests import stripe_data
from tests.test_mirror_fields import drop

pytestmark = pytest.mark.django_db

T = 1_500_000_000  # 2017-07-14
OLD_VERSION = "2017-08-15"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _plan(plan_id: str = "basic_monthly") -> dict[str, Any]:
    return {"id": plan_id, "object": "plan", "amount": 900, "currency": "usd", "interval": "month"}


#: (object type, column, old source: a path or a derivation's name) -> (the old shape put into
#: the object, the column's value). Every ``old(...)`` of the models has one case at least.
CASES: dict[tuple[str, str, str], tuple[dict[str, Any], Any]] = {
    ("account", "business_type", "legal_entity.type"): (
        {"legal_entity": {"type": "company", "business_name": "Ann's"}},
        "company",
    ),
    ("charge", "disputed", "charge_disputed"): ({"dispute": "dp_old"}, True),
    ("charge", "invoice_id", "invoice"): ({"invoice": "in_old"}, "in_old"),
    ("charge", "payment_method_id", "source"): (
        {"source": {"id": "card_old", "object": "card", "last4": "4242"}},
        "card_old",
    ),
    ("coupon", "percent_off", "percent_off_precise"): (
        {"percent_off": 13, "percent_off_precise": 12.5},
        12.5,
    ),
    ("customer", "balance", "account_balance"): ({"account_balance": -500}, -500),
    ("discount", "coupon_id", "coupon"): (
        {"coupon": {"id": "SUMMER", "object": "coupon"}},
        "SUMMER",
    ),
    ("invoice", "charge_id", "charge"): ({"charge": "ch_old"}, "ch_old"),
    ("invoice", "collection_method", "billing"): ({"billing": "send_invoice"}, "send_invoice"),
    ("invoice", "created", "date"): ({"date": T}, at(T)),
    ("invoice", "finalized_at", "finalized_at"): ({"finalized_at": T + 60}, at(T + 60)),
    ("invoice", "payment_intent_id", "payment_intent"): ({"payment_intent": "pi_old"}, "pi_old"),
    ("invoice", "status", "invoice_status"): (
        {"paid": False, "forgiven": True, "attempted": True, "closed": True},
        "uncollectible",
    ),
    ("invoice", "subscription_id", "subscription"): ({"subscription": "sub_old"}, "sub_old"),
    ("invoiceitem", "price_id", "plan"): ({"plan": _plan()}, "basic_monthly"),
    ("invoiceitem", "price_id", "price"): ({"price": {"id": "price_old"}}, "price_old"),
    ("invoiceitem", "subscription_id", "subscription"): ({"subscription": "sub_old"}, "sub_old"),
    ("line_item", "price_id", "plan"): ({"plan": _plan()}, "basic_monthly"),
    ("line_item", "price_id", "price"): ({"price": {"id": "price_old"}}, "price_old"),
    ("line_item", "proration", "proration"): ({"proration": True}, True),
    ("line_item", "subscription_id", "line_subscription"): (
        {"id": "sub_old", "type": "subscription", "subscription": None},
        "sub_old",
    ),
    ("payment_intent", "invoice_id", "invoice"): ({"invoice": "in_old"}, "in_old"),
    ("payment_intent", "latest_charge_id", "charges.data.0"): (
        {
            "charges": {
                "object": "list",
                "has_more": False,
                "data": [{"id": "ch_retry", "object": "charge"}, {"id": "ch_first"}],
            }
        },
        "ch_retry",
    ),
    ("payment_intent", "payment_method_id", "source"): ({"source": "card_old"}, "card_old"),
    ("payment_intent", "status", "intent_status"): (
        {"status": "requires_source_action"},
        "requires_action",
    ),
    ("promotion_code", "coupon_id", "coupon"): (
        {"coupon": {"id": "SUMMER", "object": "coupon"}},
        "SUMMER",
    ),
    ("subscription", "collection_method", "billing"): ({"billing": "send_invoice"}, "send_invoice"),
    ("subscription", "current_period_end", "current_period_end"): (
        {"current_period_end": T + 86_400},
        at(T + 86_400),
    ),
    ("subscription", "current_period_start", "current_period_start"): (
        {"current_period_start": T},
        at(T),
    ),
    ("subscription", "start_date", "created"): ({"created": T}, at(T)),
    ("subscription_item", "price_id", "plan"): ({"plan": _plan()}, "basic_monthly"),
    ("subscription_schedule", "end_behavior", "renewal_behavior"): (
        {"renewal_behavior": "renew"},
        "renew",
    ),
}


def _name(shape: Old) -> str:
    return shape.source if isinstance(shape.source, str) else shape.source.__name__


def declared_shapes() -> Iterator[tuple[str, models.Field[Any, Any], Old]]:
    for object_type, model in sorted(TYPED_MODELS.items()):
        for field in model._meta.concrete_fields:
            for shape in old_sources(field):
                yield object_type, field, shape


def test_every_old_shape_has_a_case() -> None:
    declared = {(t, field.attname, _name(shape)) for t, field, shape in declared_shapes()}
    assert declared == set(CASES)


def test_old_shapes_say_until_when() -> None:
    """``before`` is an API version (or the month a field reached every version)."""
    wrong = [
        f"{t}.{field.name}: {shape.before}"
        for t, field, shape in declared_shapes()
        if not re.fullmatch(r"20\d\d-\d\d(-\d\d)?", shape.before) or shape.before < OLD_VERSION
    ]
    assert wrong == []


def _as_old_version_renders(object_type: str, column: str, shape: str) -> dict[str, Any]:
    """Stripe's example without the column's newer fields, which an older version lacks: its
    sources declared before ``shape``, and its current paths."""
    field = TYPED_MODELS[object_type]._meta.get_field(column)
    obj = stripe_data.fixture(object_type)
    olds = {_name(o): o.source for o in old_sources(field)}
    for source in source_of(field) or ():
        if source is olds[shape]:
            break
        if isinstance(source, str):
            drop(obj, source)
    for source in source_of(field) or ():
        if isinstance(source, str) and source not in olds.values():
            drop(obj, source)
    return obj


@pytest.mark.parametrize(
    ("object_type", "column", "shape"),
    sorted(CASES),
    ids=["-".join(case) for case in sorted(CASES)],
)
def test_old_shape_fills_the_column(
    post: Callable[..., Any], object_type: str, column: str, shape: str
) -> None:
    fragment, expected = CASES[object_type, column, shape]
    obj = _as_old_version_renders(object_type, column, shape)
    obj.update(fragment)

    row = stripe_data.sync(post, obj, api_version=OLD_VERSION)

    assert getattr(row, column) == expected


# --- derivations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ({"paid": True, "forgiven": False, "attempted": True, "closed": True}, "paid"),
        ({"paid": False, "forgiven": True, "attempted": True, "closed": True}, "uncollectible"),
        ({"paid": False, "forgiven": False, "attempted": False, "closed": False}, "draft"),
        # closed only stopped automatic collection: still unpaid and payable.
        ({"paid": False, "forgiven": False, "attempted": True, "closed": True}, "open"),
        ({"paid": False, "forgiven": False, "attempted": True, "closed": False}, "open"),
        ({"paid": False, "forgiven": False, "attempted": False, "closed": True}, "draft"),
    ],
)
def test_invoice_status_before_2018_11_08(flags: dict[str, bool], status: str) -> None:
    assert invoice_status({"object": "invoice", **flags}) == status


def test_current_fields_win_over_old_ones(post: Callable[..., Any]) -> None:
    """Objects of the versions in between render both shapes: the current one is read."""
    invoice = stripe_data.fixture("invoice") | {
        "status": "void",
        "paid": False,
        "attempted": False,
        "created": T + 5,
        "date": T,
        "collection_method": "send_invoice",
        "billing": "charge_automatically",
    }
    row = stripe_data.sync(post, invoice)
    assert (row.status, row.created, row.collection_method) == ("void", at(T + 5), "send_invoice")

    intent = stripe_data.fixture("payment_intent") | {
        "status": "succeeded",
        "payment_method": "pm_current",
        "source": "card_old",
    }
    row = stripe_data.sync(post, intent)
    assert (row.status, row.payment_method_id) == ("succeeded", "pm_current")
