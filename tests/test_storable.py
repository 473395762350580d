"""sync/storable.py: what a database cannot store (a NUL, nesting deeper than MariaDB takes)
does not poison its event: the mirror stores what it can and says so, handlers run, the
event ends processed, and the inbox keeps the body byte for byte. On every database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from stripe_mirror.dispatch import Outcome, process, process_due
from stripe_mirror.dispatch.inbox import Recorded
from stripe_mirror.handlers import step as mirror
from stripe_mirror.models import Customer, InboxEvent, Status, StripeObject
from stripe_mirror.sync.storable import (
    MAX_DEPTH,
    NUL_REPLACED,
    TOO_DEEP,
    _clean,
    _plainly_storable,
    storable,
)
from stripe_mirror.testing import build_event
from tests.testapp.models import HandlerCall

Record = Callable[..., Recorded]


def _nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` nested objects around ``leaf``, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, dict):
        depth += 1
        value = value.get("a")
    return depth


def _deep_body(obj: dict[str, Any], depth: int, **kwargs: Any) -> bytes:
    """A customer event whose ``x`` is ``depth`` levels deep (orjson encodes at most 254: the
    nesting is spliced into the bytes)."""
    event = build_event("customer.created", {**obj, "x": "HERE"}, **kwargs)
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    return orjson.dumps(event).replace(b'"HERE"', nested)


def test_storable_returns_the_same_object_when_nothing_has_to_change() -> None:
    obj = {"id": "cus_1", "metadata": {"k": "v"}, "items": [{"a": [1, 2]}]}
    result = storable(obj)
    assert result.value is obj
    assert result.notes == ()


def test_storable_replaces_nul_in_keys_and_values_at_any_depth() -> None:
    obj = {"name": "a\x00b", "list": [{"k\x00": "\x00"}], "same": {"x": 1}}
    result = storable(obj)
    assert result.value == {"name": "a\ufffdb", "list": [{"k\ufffd": "\ufffd"}], "same": {"x": 1}}
    assert result.notes == (NUL_REPLACED,)
    assert obj["name"] == "a\x00b"  # the input is not changed


def test_storable_bounds_nesting_at_the_limit() -> None:
    kept = storable(_nested(MAX_DEPTH))
    assert kept.notes == ()
    assert _depth(kept.value) == MAX_DEPTH
    cut = storable(_nested(900))
    assert cut.notes == (TOO_DEEP,)
    assert _depth(cut.value) == MAX_DEPTH  # the container at level 32 became null
    assert storable([[[]]]).value == [[[]]]


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (_nested(MAX_DEPTH), True),
        (_nested(MAX_DEPTH + 1), False),
        (_nested(MAX_DEPTH, "]]]}}}"), True),  # brackets in strings nest nothing...
        (_nested(MAX_DEPTH + 1, '{{[[\\"]]'), False),  # ...nor do escaped quotes end them
        ({"k": '\\"{{{{' * 40, "l": [[[[]]]]}, True),
        ([[{"a": [1]}]] * 50, True),  # many containers, shallow
        ({"a": "\x00"}, False),
        ({"a\x00": 1}, False),
        ({"a": "\\u0000"}, False),  # a backslash before "u0000": looked at, nothing found
        ("scalar", True),
    ],
)
def test_the_fast_check_agrees_with_the_walk(value: Any, plain: bool) -> None:
    """``storable`` first asks C code (orjson, bytes) and walks the object only when that
    says there may be something to change: the two must agree on what needs no change."""
    assert _plainly_storable(value) is plain
    if plain:
        assert storable(value).value is value
    found: set[str] = set()
    _clean(value, 1, found)
    assert (not found) is (plain or value == {"a": "\\u0000"})


def _record_raw(record: Record, body: bytes) -> InboxEvent:
    recorded = record(body)
    return InboxEvent.objects.get(pk=recorded.pk)


def _handled(event_id: str) -> bool:
    return HandlerCall.objects.filter(event_id=event_id, handler="record_call").exists()


@pytest.mark.django_db
def test_a_nul_in_a_customer_name_is_mirrored_as_a_replacement_character(
    record: Record,
) -> None:
    obj = {"id": "cus_nul", "object": "customer", "name": "Ann\x00e", "metadata": {"k": "\x00"}}
    body = orjson.dumps(build_event("customer.created", obj))
    assert b"\\u0000" in body  # the JSON escape, six ASCII characters
    row = _record_raw(record, body)

    assert process(row.pk) is Outcome.PROCESSED
    row.refresh_from_db()
    assert row.body.encode() == body  # the inbox keeps what Stripe signed, byte for byte
    assert row.status == Status.PROCESSED
    assert row.last_error == f"[{mirror.NAME}] stored with changes: {NUL_REPLACED}"
    assert _handled(row.stripe_id)
    customer = Customer.objects.get(stripe_id="cus_nul")
    assert customer.name == "Ann\ufffde"
    assert customer.data["name"] == "Ann\ufffde"
    assert customer.metadata == {"k": "\ufffd"}


@pytest.mark.django_db
def test_an_object_nested_900_levels_is_mirrored_cut_at_the_limit(record: Record) -> None:
    obj = {"id": "cus_deep", "object": "customer", "email": "deep@example.com"}
    row = _record_raw(record, _deep_body(obj, 900))

    assert process(row.pk) is Outcome.PROCESSED
    row.refresh_from_db()
    assert row.status == Status.PROCESSED
    assert row.last_error == f"[{mirror.NAME}] stored with changes: {TOO_DEEP}"
    assert _handled(row.stripe_id)
    customer = Customer.objects.get(stripe_id="cus_deep")
    assert customer.email == "deep@example.com"  # the typed columns are all there
    assert _depth(customer.data["x"]) == MAX_DEPTH - 1  # the object itself is level 1


@pytest.mark.django_db
def test_the_deepest_object_kept_whole_is_stored_whole(record: Record) -> None:
    """MAX_DEPTH is what every database takes (MariaDB's JSON_VALID refuses 32 levels)."""
    obj = {"id": "obj_deepest", "object": "some_future_object"}
    row = _record_raw(record, _deep_body(obj, MAX_DEPTH - 1))

    assert process(row.pk) is Outcome.PROCESSED
    row.refresh_from_db()
    assert row.last_error == ""
    stored = StripeObject.objects.get(stripe_id="obj_deepest")
    assert _depth(stored.data["x"]) == MAX_DEPTH - 1


@pytest.mark.django_db
def test_deep_same_second_snapshots_go_through_the_tie_rules(record: Record) -> None:
    """Several deep snapshots of one object in one second: the tie rules compare them (and
    their deep previous attributes) without a RecursionError, in a batch and one by one."""
    obj = {"id": "cus_tie", "object": "customer", "metadata": {}}
    rows = []
    for n, name in enumerate(("first", "second", "third")):
        event = build_event(
            "customer.updated",
            {**obj, "name": name, "x": "HERE"},
            created=1_700_000_000,
            previous_attributes={"name": f"before {n}", "x": "HERE"},
        )
        nested = b'{"a":' * 900 + str(n).encode() + b"}" * 900
        rows.append(_record_raw(record, orjson.dumps(event).replace(b'"HERE"', nested)))

    assert process(rows[0].pk) is Outcome.PROCESSED
    outcomes = dict(process_due())
    assert set(outcomes.values()) == {Outcome.PROCESSED}
    notes = []
    for row in rows:
        row.refresh_from_db()
        assert row.status == Status.PROCESSED
        assert _handled(row.stripe_id)
        notes.append(row.last_error)
    # A batch does not write a superseded snapshot at all (no note for it): the other two.
    note = f"[{mirror.NAME}] stored with changes: {TOO_DEEP}"
    assert sorted(notes) == ["", note, note]
    assert Customer.objects.get(stripe_id="cus_tie").name in ("first", "second", "third")


@pytest.mark.django_db
def test_a_note_stays_when_a_handler_fails_and_the_retry_succeeds(
    record: Record, tmp_path: Path
) -> None:
    flag = tmp_path / "flag"
    obj = {"id": "cus_nul2", "object": "customer", "name": "\x00"}
    event = build_event("test.fail_then_succeed", {**obj, "metadata": {"flag_file": str(flag)}})
    row = _record_raw(record, orjson.dumps(event))
    note = f"[{mirror.NAME}] stored with changes: {NUL_REPLACED}"

    assert process(row.pk) is Outcome.FAILED
    row.refresh_from_db()
    assert row.last_error.startswith(f"{note}\n[tests.testapp.stripe_handlers.failing]\n")
    flag.touch()
    assert process(row.pk, force=False) is Outcome.SKIPPED  # not due yet
    InboxEvent.objects.filter(pk=row.pk).update(next_attempt_at=row.received_at)
    assert process(row.pk) is Outcome.PROCESSED
    row.refresh_from_db()
    assert row.last_error == note  # the mirror step did not run again, its note stands
