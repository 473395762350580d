"""The limits of the ordering rules: streams they cannot order without asking Stripe.

Each stream is delivered in EVERY order (and with a duplicate), each order on its own
Connect account so that they live side by side. Event ids keep their relative order on every
account, so the fallback (the greatest event id) is the same choice everywhere.

(a) Without an API key the result is deterministic (the same row whatever the order) and a
    warning says the tie was ambiguous.
(b) With an API key, the tie is settled by a GET from the (local, fake) Stripe API, sent with
    the key, the event's account and API version: the row ends in the true final state.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from stripe_mirror.models import Customer, PaymentIntent, Subscription, SubscriptionItem
from stripe_mirror.testing import build_event, post_event
from tests.streams import NEW_API, previous_attributes
from tests.streams.stripe_api import fake_stripe

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_test_primary"
T0, T1 = 1_760_000_000, 1_760_000_005


@dataclass(frozen=True)
class Step:
    """One event of a hand-written stream: ``base`` orders event ids (a < b < c ...)."""

    base: str
    type: str
    obj: dict[str, Any]
    created: int
    previous: dict[str, Any] | None = None


def chain(
    object_type: str, first: dict[str, Any], *changes: tuple[str, str, dict[str, Any]]
) -> list[Step]:
    """Steps from a created state through ``(id base, event type, changes)`` at T1, each
    ``*.updated`` with previous_attributes as Stripe computes them."""
    steps = [Step("evt_0", f"{object_type}.created", first, T0)]
    state = first
    for base, event_type, change in changes:
        new = {**state, **change}
        previous = previous_attributes(state, new) if event_type.endswith(".updated") else None
        steps.append(Step(base, event_type, new, T1, previous))
        state = new
    return steps


def deliver(client: Any, steps: list[Step], account: str) -> None:
    for step in [*steps, steps[0]]:  # and one duplicate
        event = build_event(
            step.type,
            step.obj,
            id=f"{step.base}_{account}",
            created=step.created,
            account=account,
            api_version=NEW_API,
            previous_attributes=step.previous,
        )
        assert post_event(client, event, secret=SECRET).status_code == 200


def _canonical(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def every_order(steps: list[Step]) -> list[tuple[str, list[Step]]]:
    """(account, delivery order) for each order of the steps."""
    return [(f"acct_order{n}", list(o)) for n, o in enumerate(itertools.permutations(steps))]


CUSTOMER = {
    "id": "cus_limit",
    "object": "customer",
    "email": "a@example.com",
    "name": "Ada",
    "metadata": {},
}

#: Within one second: an email changed and changed back, then the name.
BACK_AND_FORTH = chain(
    "customer",
    CUSTOMER,
    ("evt_3", "customer.updated", {"email": "b@example.com"}),
    ("evt_2", "customer.updated", {"email": "a@example.com"}),
    ("evt_1", "customer.updated", {"name": "Ada L."}),
)

#: Three changes of the email within one second; the middle one never arrives.
_EMAILS = chain(
    "customer",
    CUSTOMER,
    ("evt_2", "customer.updated", {"email": "b@example.com"}),
    ("evt_9", "customer.updated", {"email": "c@example.com"}),
    ("evt_1", "customer.updated", {"email": "d@example.com"}),
)
MISSING_LINK = [_EMAILS[0], _EMAILS[1], _EMAILS[3]]

#: Changes told only by events without previous_attributes, at the same rank.
PAYMENT_INTENT = {"id": "pi_limit", "object": "payment_intent", "status": "requires_payment_method"}
NO_PREVIOUS = chain(
    "payment_intent",
    PAYMENT_INTENT,
    ("evt_2", "payment_intent.requires_action", {"status": "requires_action"}),
    ("evt_1", "payment_intent.processing", {"status": "processing"}),
)

LIMITS = {
    "back_and_forth": (Customer, BACK_AND_FORTH),
    "missing_link": (Customer, MISSING_LINK),
    "no_previous_attributes": (PaymentIntent, NO_PREVIOUS),
}


@pytest.mark.parametrize("name", LIMITS)
def test_without_api_key_deterministic_and_warned(
    client: Any, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    model, steps = LIMITS[name]
    orders = every_order(steps)
    with caplog.at_level(logging.WARNING, logger="stripe_mirror.sync"):
        for account, order in orders:
            deliver(client, order, account)
    rows = {row.account: row for row in model.objects.all()}
    assert set(rows) == {account for account, _ in orders}
    assert len({_canonical(row.data) for row in rows.values()}) == 1, "depends on the order"
    assert len({row.event_id.split("_acct")[0] for row in rows.values()}) == 1
    assert next(iter(rows.values())).data in [s.obj for s in steps]
    warned = {r.getMessage() for r in caplog.records if "ambiguous order" in r.getMessage()}
    assert warned, "an ambiguous tie must be reported"


@pytest.mark.parametrize("name", LIMITS)
def test_with_api_key_the_refetch_settles(client: Any, settings: Any, name: str) -> None:
    model, steps = LIMITS[name]
    truth = {**steps[-1].obj, "description": "as Stripe has it now"}
    orders = every_order(steps)
    with fake_stripe() as api:
        for account, _ in orders:
            api.put(truth, api_version=NEW_API, account=account)
        settings.STRIPE_MIRROR = {
            **settings.STRIPE_MIRROR,
            "API_KEY": api.api_key,
            "API_BASE": api.url,
        }
        for account, order in orders:
            deliver(client, order, account)
    assert api.refused == []
    assert {account for _, account, _ in api.served} == {account for account, _ in orders}
    assert {version for _, _, version in api.served} == {NEW_API}
    for row in model.objects.all():
        assert row.data == truth, row.account
        assert row.event_id.endswith("+refetch")


def test_unrelated_fields_around_a_missing_event_need_no_refetch(client: Any) -> None:
    """The name changes, then (event missing) the email, then the phone: the last event's
    previous phone is the first one's, so it came after it, whatever arrives."""
    steps = chain(
        "customer",
        {**CUSTOMER, "phone": None},
        ("evt_2", "customer.updated", {"name": "Ada L."}),
        ("evt_9", "customer.updated", {"email": "c@example.com"}),
        ("evt_1", "customer.updated", {"phone": "+33 1 23 45 67 89"}),
    )
    received = [steps[0], steps[1], steps[3]]
    for account, order in every_order(received):
        deliver(client, order, account)
    assert [row.data for row in Customer.objects.all()] == [steps[3].obj] * 6


def test_a_guess_never_deletes_an_embedded_child(client: Any) -> None:
    """An ambiguous tie broken by the guess may pick an older snapshot that lacks an item;
    the item must survive it (a deletion is final), since the next second names it again."""
    item1 = {"id": "si_1", "object": "subscription_item", "subscription": "sub_g", "quantity": 1}
    item2 = {**item1, "id": "si_2"}

    def items(*data: dict[str, Any]) -> dict[str, Any]:
        return {"object": "list", "data": list(data), "has_more": False, "url": "/v1/x"}

    first = {"id": "sub_g", "object": "subscription", "status": "active", "metadata": {"m": "a"}}
    steps = chain(
        "customer.subscription",
        {**first, "items": items(item1)},
        ("evt_2", "customer.subscription.updated", {"metadata": {"m": "b"}}),
        ("evt_5", "customer.subscription.updated", {"metadata": {"m": "c"}}),  # never arrives
        (
            "evt_1",
            "customer.subscription.updated",
            {"metadata": {"m": "d"}, "items": items(item1, item2)},
        ),
    )
    later = {**steps[3].obj, "cancel_at_period_end": True}
    next_second = Step(
        "evt_6",
        "customer.subscription.updated",
        later,
        T1 + 1,
        previous_attributes(steps[3].obj, later),
    )
    received = [steps[0], steps[1], steps[3], next_second]
    for account, order in every_order(received):
        deliver(client, order, account)
    for sub in Subscription.objects.all():
        assert sub.data == later
        alive = SubscriptionItem.objects.filter(account=sub.account, deleted=False)
        assert sorted(alive.values_list("stripe_id", flat=True)) == ["si_1", "si_2"], sub.account


def test_a_guess_confirmed_by_the_rules_later_deletes_what_its_list_lacks(client: Any) -> None:
    """Of a second's three snapshots, the first and the last arrive: they cannot be ordered
    yet, and the guess (the greatest event id) happens to pick the last one, whose item list
    lacks si_1: not deleted on a guess. When the middle one arrives, the rules confirm that
    pick; the row already holds it, but si_1 must now be deleted."""
    item1 = {"id": "si_1", "object": "subscription_item", "subscription": "sub_c", "quantity": 1}
    item2, item3 = {**item1, "id": "si_2"}, {**item1, "id": "si_3"}

    def items(*data: dict[str, Any]) -> dict[str, Any]:
        return {"object": "list", "data": list(data), "has_more": False, "url": "/v1/x"}

    first = {"id": "sub_c", "object": "subscription", "status": "incomplete", "metadata": {}}
    steps = chain(
        "customer.subscription",
        {**first, "items": items(item1)},
        ("evt_1", "customer.subscription.updated", {"status": "active"}),
        ("evt_2", "customer.subscription.updated", {"items": items(item1, item2)}),
        ("evt_9", "customer.subscription.updated", {"items": items(item2, item3)}),
    )
    for account, order in every_order(steps):
        deliver(client, order, account)
    for sub in Subscription.objects.all():
        assert sub.data == steps[3].obj, sub.account
        alive = SubscriptionItem.objects.filter(account=sub.account, deleted=False)
        assert sorted(alive.values_list("stripe_id", flat=True)) == ["si_2", "si_3"], sub.account
