"""The ordering rules as pure functions: progress_key and newest (sync/ordering.py)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stripe_mirror.sync.ordering import Candidate, newest, progress_key
from tests.streams import previous_attributes


def snapshots(object_type: str, *states: dict[str, Any], first: str = "created") -> list[Candidate]:
    """Candidates for consecutive states of one object: the first told by ``<type>.<first>``,
    the others by ``<type>.updated`` events with previous_attributes. Event ids are random,
    so that their order says nothing."""
    rng = random.Random(repr(states))
    found = []
    before: dict[str, Any] = {}
    for n, state in enumerate(states):
        obj = {"id": "obj_1", "object": object_type, **state}
        if n == 0:
            found.append(Candidate(f"evt_{rng.random()}", f"{object_type}.created", obj))
        else:
            previous = previous_attributes(before, obj)
            found.append(Candidate(f"evt_{rng.random()}", f"{object_type}.updated", obj, previous))
        before = obj
    return found


def event(event_type: str, **obj: Any) -> Candidate:
    obj.setdefault("id", "obj_1")
    obj.setdefault("object", event_type.split(".", maxsplit=1)[0])
    return Candidate(f"evt_{event_type}_{sorted(obj.items())}", event_type, obj)


def every_order(candidates: list[Candidate]) -> set[tuple[str, bool]]:
    """The verdicts (event id, ambiguous) over every order of the candidates."""
    return {
        (v.newest.event_id, v.ambiguous) for v in map(newest, itertools.permutations(candidates))
    }


# --- progress_key ----------------------------------------------------------------------


def test_created_comes_first_and_deletion_last() -> None:
    created = progress_key(event("customer.created"))
    updated = progress_key(event("customer.updated"))
    deleted = progress_key(event("customer.deleted"))
    assert created < updated < deleted
    assert progress_key(event("payment_method.detached")) > progress_key(
        event("payment_method.updated")
    )


def test_a_canceled_subscription_is_not_last() -> None:
    """customer.subscription.deleted means canceled: metadata and cancellation_details may
    still change, so an update after it must be able to win."""
    canceled = event("customer.subscription.deleted", object="subscription", status="canceled")
    later = event("customer.subscription.updated", object="subscription", status="canceled")
    active = event("customer.subscription.updated", object="subscription", status="active")
    assert progress_key(canceled) == progress_key(later)
    assert progress_key(canceled) > progress_key(active)


@pytest.mark.parametrize(
    ("object_type", "life_cycle"),
    [
        ("invoice", ["draft", "open", "uncollectible", "paid"]),
        ("invoice", ["draft", "open", "void"]),
        ("subscription", ["incomplete", "active", "canceled"]),
        ("subscription", ["incomplete", "incomplete_expired"]),
        ("payment_intent", ["requires_payment_method", "succeeded"]),
        ("charge", ["pending", "succeeded"]),
        ("dispute", ["warning_needs_response", "warning_under_review", "needs_response"]),
        ("dispute", ["needs_response", "under_review", "won"]),
        ("checkout.session", ["open", "complete"]),
    ],
)
def test_statuses_rank_along_the_life_cycle(object_type: str, life_cycle: list[str]) -> None:
    keys = [
        progress_key(event(f"{object_type}.updated", object=object_type, status=status))
        for status in life_cycle
    ]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(
    ("object_type", "back_and_forth"),
    [
        ("subscription", ["active", "past_due"]),
        ("subscription", ["active", "trialing"]),
        ("payment_intent", ["requires_payment_method", "requires_action"]),
        ("payment_intent", ["requires_action", "processing"]),
        ("payout", ["paid", "failed"]),
        ("refund", ["succeeded", "failed"]),
    ],
)
def test_statuses_that_go_back_and_forth_tie(object_type: str, back_and_forth: list[str]) -> None:
    """A status that can come back must not rank above the one it comes back from."""
    keys = {
        progress_key(event(f"{object_type}.updated", object=object_type, status=status))
        for status in back_and_forth
    }
    assert len(keys) == 1


def test_counters_that_only_grow() -> None:
    first = event("invoice.payment_failed", object="invoice", status="open", attempt_count=1)
    second = event("invoice.payment_failed", object="invoice", status="open", attempt_count=2)
    assert progress_key(first) < progress_key(second)
    partly = event("charge.refunded", object="charge", amount_refunded=100)
    fully = event("charge.refunded", object="charge", amount_refunded=500)
    assert progress_key(partly) < progress_key(fully)


# --- newest ----------------------------------------------------------------------------


def test_no_candidates() -> None:
    with pytest.raises(ValueError, match="no candidates"):
        newest([])


def test_a_chain_of_updates_in_any_order() -> None:
    chain = snapshots("customer", {"email": "a"}, {"email": "b"}, {"email": "c", "name": "x"})
    assert every_order(chain) == {(chain[-1].event_id, False)}


def test_a_key_added_to_metadata() -> None:
    """Stripe tells an added hash key as null, a changed one key by key."""
    chain = snapshots(
        "customer",
        {"metadata": {}},
        {"metadata": {"plan": "gold"}},
        {"metadata": {"plan": "gold", "team": "x"}},
    )
    assert chain[1].previous == {"metadata": {"plan": None}}
    assert every_order(chain) == {(chain[-1].event_id, False)}


def test_the_status_decides_before_previous_attributes() -> None:
    """invoice.finalized and invoice.paid carry no previous_attributes: the status orders."""
    created = event("invoice.created", object="invoice", status="draft", amount_paid=0)
    finalized = event("invoice.finalized", object="invoice", status="open", amount_paid=0)
    paid = event("invoice.paid", object="invoice", status="paid", amount_paid=900)
    assert every_order([created, finalized, paid]) == {(paid.event_id, False)}


def test_identical_snapshots_are_interchangeable() -> None:
    """invoice.paid, invoice.payment_succeeded and invoice.updated carry the same snapshot."""
    state = {"object": "invoice", "status": "paid", "amount_paid": 900}
    same = [event(t, **state) for t in ("invoice.paid", "invoice.payment_succeeded")]
    verdicts = every_order([event("invoice.finalized", object="invoice", status="open"), *same])
    assert len(verdicts) == 1
    (winner, ambiguous), *_ = verdicts
    assert not ambiguous
    assert winner in {c.event_id for c in same}


def test_a_value_changed_back_and_forth_is_ambiguous() -> None:
    chain = snapshots(
        "customer",
        {"email": "a", "name": "x"},
        {"email": "b", "name": "x"},
        {"email": "a", "name": "x"},
        {"email": "a", "name": "y"},
    )
    verdicts = every_order(chain)
    assert len(verdicts) == 1, "the same answer whatever the order"
    assert next(iter(verdicts))[1] is True


def test_a_missing_link_of_the_same_field_is_ambiguous() -> None:
    a, _, c = snapshots("customer", {"email": "a"}, {"email": "b"}, {"email": "c"})
    assert every_order([a, c]) == {(c.event_id, False)}, "created comes first anyway"
    _, second, _, fourth = snapshots(
        "customer", {"email": "a"}, {"email": "b"}, {"email": "c"}, {"email": "d"}
    )
    verdicts = every_order([second, fourth])
    assert len(verdicts) == 1
    assert next(iter(verdicts))[1] is True


def test_changes_without_previous_attributes_at_one_rank_are_ambiguous() -> None:
    action = event("payment_intent.requires_action", status="requires_action")
    processing = event("payment_intent.processing", status="processing")
    verdicts = every_order([action, processing])
    assert len(verdicts) == 1
    assert next(iter(verdicts))[1] is True


# --- the claims of the docstring, on random chains ---------------------------------------

changes = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3)), min_size=1, max_size=7)


def _chain(steps: list[tuple[str, int]]) -> tuple[list[dict[str, int]], bool]:
    """The states a chain of changes goes through, and whether a value came back."""
    state = {"a": 0, "b": 0, "c": 0}
    states, seen = [dict(state)], set(state.items())
    returned = False
    for name, value in steps:
        if state[name] == value:
            continue
        returned = returned or (name, value) in seen
        seen.add((name, value))
        state[name] = value
        states.append(dict(state))
    return states, returned


@settings(max_examples=300, deadline=None)
@given(changes)
def test_every_event_received_never_wrong(steps: list[tuple[str, int]]) -> None:
    """With every event of the second: the newest, or (only if a value came back) ambiguous."""
    states, returned = _chain(steps)
    chain = snapshots("customer", *states)
    verdict = newest(chain)
    if verdict.ambiguous:
        assert returned
    else:
        assert dict(verdict.newest.obj) == {"id": "obj_1", "object": "customer", **states[-1]}


@settings(max_examples=300, deadline=None)
@given(changes, st.randoms(use_true_random=False))
def test_missing_events_never_wrong_without_returning_values(
    steps: list[tuple[str, int]], rng: random.Random
) -> None:
    """Some events missing: the newest of those received, or ambiguous, unless a value came
    back within the second (the one case the rule may get wrong without noticing)."""
    states, returned = _chain(steps)
    chain = snapshots("customer", *states)
    received = sorted(rng.sample(range(len(chain)), rng.randint(1, len(chain))))
    verdict = newest([chain[i] for i in received])
    if not verdict.ambiguous and not returned:
        assert verdict.newest.obj == chain[received[-1]].obj
