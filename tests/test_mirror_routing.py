"""Every current event type, built from Stripe's fixtures and posted through the real endpoint:
where did its object end up?

The expected object type of each event type is written down here (the event name without its
action, plus the exceptions below), independently of event_types.json, and checked against it:
a new or changed event type in Stripe's data fails ``test_table_covers_every_current_event_type``
until this table (and the mirror, if needed) says where its object goes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stripe_mirror.models import TYPED_MODELS, InboxEvent, Status, StripeModel, StripeObject
from tests import stripe_data
from tests.testapp.models import HandlerCall

pytestmark = pytest.mark.django_db

#: Event families whose name does not say the object they carry.
CARRIES: dict[str, tuple[str, ...]] = {
    "account.application": ("application",),
    "account.external_account": ("bank_account", "card"),
    "application_fee.refund": ("fee_refund",),
    "billing.alert": ("billing.alert_triggered",),
    "charge.dispute": ("dispute",),
    "charge.refund": ("refund",),
    "customer.discount": ("discount",),
    "customer.source": ("account", "bank_account", "card", "source"),
    "customer.subscription": ("subscription",),
    "customer.tax_id": ("tax_id",),
    "sigma.scheduled_query_run": ("scheduled_query_run",),
    "source.transaction": ("source_transaction",),
}
#: Event types that are not "<object>.<action>" at all.
CARRIES_EXACT: dict[str, tuple[str, ...]] = {
    "source.mandate_notification": ("source_mandate_notification",),
}
#: ``*.deleted`` events of a deletable type that do not delete their object: a connected
#: account removed from a customer's sources still exists.
NOT_A_DELETION = frozenset({("customer.source.deleted", "account")})


def carried(event_type: str) -> tuple[str, ...]:
    """The object type(s) an event of ``event_type`` carries, by the table above."""
    if event_type in CARRIES_EXACT:
        return CARRIES_EXACT[event_type]
    family = event_type.rsplit(".", 1)[0]
    if family in CARRIES:
        return CARRIES[family]
    if family.startswith("issuing_"):  # issuing_card.created carries an issuing.card
        return ("issuing." + family.removeprefix("issuing_"),)
    return (family,)


CASES = [
    (event_type, object_type)
    for event_type in stripe_data.current_event_types()
    for object_type in carried(event_type)
]


def _case_id(case: tuple[str, str]) -> str:
    event_type, object_type = case
    if len(carried(event_type)) > 1:
        return f"{event_type}[{object_type}]"
    return event_type


def test_table_covers_every_current_event_type() -> None:
    current = stripe_data.current_event_types()
    wrong = {
        name: (carried(name), stripe_data.object_types_of(name))
        for name in current
        if set(carried(name)) != set(stripe_data.object_types_of(name))
    }
    assert wrong == {}, "event types whose object this table does not know (table, Stripe)"
    families = {name.rsplit(".", 1)[0] for name in current}
    assert set(CARRIES) <= families, "exceptions for event families Stripe no longer has"
    assert set(CARRIES_EXACT) <= set(current)


def _mirror_models() -> list[type[StripeModel]]:
    return [*TYPED_MODELS.values(), StripeObject]


def _rows_with_id(stripe_id: str) -> list[tuple[type[StripeModel], StripeModel]]:
    return [
        (model, row)
        for model in _mirror_models()
        for row in model.objects.filter(stripe_id=stripe_id)
    ]


def _all_rows() -> int:
    return sum(model.objects.count() for model in _mirror_models())


def _assert_processed(event: dict[str, Any]) -> None:
    inbox = InboxEvent.objects.get(stripe_id=event["id"])
    assert (inbox.status, inbox.last_error) == (Status.PROCESSED, "")
    # The mirror ran first, then the user handlers: tests.testapp's "*" handler saw it.
    assert HandlerCall.objects.filter(event_id=event["id"], handler="record_call").count() == 1


@pytest.mark.parametrize(("event_type", "object_type"), CASES, ids=[_case_id(c) for c in CASES])
def test_event_reaches_its_place(
    post: Callable[..., Any], event_type: str, object_type: str
) -> None:
    event = stripe_data.build_event_for(event_type, object_type, created=1_700_000_000)
    obj = event["data"]["object"]

    assert post(event).status_code == 200

    _assert_processed(event)
    if "id" not in obj:
        assert _all_rows() == 0, "an object without an id is dispatched, never stored"
        return
    rows = _rows_with_id(obj["id"])
    expected_model = TYPED_MODELS.get(object_type, StripeObject)
    assert [model for model, _ in rows] == [expected_model]
    row = rows[0][1]
    if expected_model is StripeObject:
        assert row.type == object_type  # type: ignore[attr-defined]
    assert (row.account, row.livemode, row.event_id) == ("", False, event["id"])
    assert row.data == obj
    deletes = (
        event_type.endswith(".deleted")
        and object_type in stripe_data.deletable_types()
        and (event_type, object_type) not in NOT_A_DELETION
    )
    assert row.deleted is deletes
    assert (row.deleted_at is not None) is deletes
