"""Compare the mirror with a world's truth: every row, typed columns and JSON."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from stripe_mirror.models import StripeModel, StripeObject
from stripe_mirror.sync import model_for
from stripe_mirror.sync.fields import MISSING, columns, read

from .world import Life, World

#: Columns the mirror derives from other objects when the object does not render them.
LINK_COLUMNS = {
    "invoice": ("payment_intent_id", "charge_id"),
    "payment_intent": ("invoice_id",),
    "charge": ("invoice_id",),
}


def find_row(life: Life) -> StripeModel | None:
    model = model_for(life.key.type)
    rows = model.objects.filter(
        stripe_id=life.key.id, account=life.key.account, livemode=life.key.livemode
    )
    if model is StripeObject:
        rows = rows.filter(type=life.key.type)
    row: StripeModel | None = rows.first()
    return row


def differences(world: World, *, refetched: bool = False) -> list[str]:
    """Everything in the mirror that differs from the world's final states (empty: none).

    ``refetched``: a row may hold a state fetched from the API (its event id says so)."""
    problems: list[str] = []
    expected_rows: Counter[type[StripeModel]] = Counter()
    for life in world.objects():
        row = find_row(life)
        if row is not None:
            expected_rows[type(row)] += 1
        problems.extend(f"{life.key}: {p}" for p in _row_problems(life, row, refetched))
    for model, count in expected_rows.items():
        if model.objects.count() != count:
            problems.append(f"{model.__name__}: {model.objects.count()} rows, expected {count}")
    return problems


def _row_problems(life: Life, row: StripeModel | None, refetched: bool) -> list[str]:
    if row is None:
        # A removed child may never have been written (its parent's last state came first).
        return [] if life.deleted and life.embedded else ["no row"]
    if life.deleted:
        if not row.deleted:
            return ["not tombstoned"]
        # A child's last state is whichever parent snapshot last named it: not checked.
        return [] if life.embedded else _state_problems(life, row, refetched)
    if row.deleted:
        return ["tombstoned but alive"]
    return _state_problems(life, row, refetched)


def _state_problems(life: Life, row: StripeModel, refetched: bool) -> list[str]:
    problems = []
    if row.data != life.final:
        problems.append(f"data differs: {_diff(row.data, life.final)}")
    for name, (actual, expected) in _columns(life, row).items():
        if actual != expected:
            problems.append(f"{name} = {actual!r}, expected {expected!r}")
    if life.embedded:
        return problems
    if row.event_created != datetime.fromtimestamp(life.second, tz=UTC):
        problems.append(f"watermark {row.event_created}, expected second {life.second}")
    fetched = refetched and row.event_id.endswith("+refetch")
    if row.event_id not in life.final_events and not fetched:
        problems.append(f"event {row.event_id} does not carry the final state")
    return problems


def _columns(life: Life, row: StripeModel) -> dict[str, tuple[Any, Any]]:
    """Each typed column: (the row's value, the value the final state gives it)."""
    model = type(row)
    links = LINK_COLUMNS.get(life.key.type, ())
    found = {}
    for column in columns(model):
        raw = read(column, life.final)
        if raw is not MISSING:
            expected = column.convert(raw)
        elif column.attname in links:
            expected = life.links.get(column.attname)
        else:
            expected = model._meta.get_field(column.attname).get_default()
        found[column.attname] = (getattr(row, column.attname), expected)
    return found


def _diff(actual: Any, expected: Any, path: str = "") -> str:
    if isinstance(actual, dict) and isinstance(expected, dict):
        for key in sorted(set(actual) | set(expected)):
            if actual.get(key, MISSING) != expected.get(key, MISSING):
                return _diff(actual.get(key), expected.get(key), f"{path}.{key}")
    return f"{path or '.'}: {actual!r} != {expected!r}"
