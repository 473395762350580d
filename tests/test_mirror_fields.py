"""Field coverage: do the typed models read Stripe's fields, and read them right?

* Every typed column is checked against Stripe's own example of the object (fixtures3.json),
  synced through the real endpoint: once as the fixture is, once with every column's field set
  to a value of its own (so that a column reading its neighbour's field, or converting it the
  wrong way, fails). The expected values are computed here from the declared source paths with
  this module's own path walk and conversions, not with the sync's.
* Every declared source path is checked against objects.json: a current path must be a
  current property of the object type, so that a renamed or removed field is noticed; an older
  shape (``old(...)``) must agree with objects.json on when it was removed.
* Objects rendered by older API versions: tests/test_mirror_old_shapes.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import models

from stripe_mirror.models import TYPED_MODELS, StripeModel
from stripe_mirror.models.base import ABSENT, Old, old_sources, source_of
from stripe_mirror.sync import DELETABLE
from tests import stripe_data

pytestmark = pytest.mark.django_db

#: Columns whose only source is a field removed from the current API, and why no current
#: path can replace it.
OLD_ONLY: dict[tuple[str, str], str] = {
    ("invoice", "payment_intent_id"): "since 2025-03-31 an invoice_payment links them (links.py)",
    ("invoice", "charge_id"): "since 2025-03-31 an invoice_payment links them (links.py)",
    ("charge", "invoice_id"): "since 2025-03-31 an invoice_payment links them (links.py)",
    ("payment_intent", "invoice_id"): "since 2025-03-31 an invoice_payment links them (links.py)",
}
#: Declared paths into documented sub-structures that fixtures3's placeholder example leaves
#: out (it renders only the ``type`` of ``payment`` and ``pricing``).
FIXTURE_GAPS: frozenset[tuple[str, str]] = frozenset(
    {
        ("invoice_payment", "payment.payment_intent"),
        ("invoice_payment", "payment.charge"),
        ("invoiceitem", "pricing.price_details.price"),
        ("line_item", "pricing.price_details.price"),
    }
)
#: Unix times that objects.json does not mark ``format: unix-time`` (its inference missed
#: them; the description reads "The start/end time of this subscription item's current
#: billing period").
UNMARKED_TIMES: frozenset[tuple[str, str]] = frozenset(
    {
        ("subscription_item", "current_period_start"),
        ("subscription_item", "current_period_end"),
    }
)
MISSING: Any = object()
#: The oldest API version objects.json knows the removed properties of.
REMOVED_SINCE = "2023-08-16"


# --- what the models declare -------------------------------------------------------------


def sourced_fields(
    model: type[StripeModel],
) -> list[tuple[models.Field[Any, Any], tuple[str, ...]]]:
    """Each sourced column with its declared paths (current and older; not derivations)."""
    found = []
    for field in model._meta.concrete_fields:
        sources = source_of(field)
        if sources is not None:
            found.append((field, tuple(p for p in sources if isinstance(p, str))))
    return found


def old_shapes(field: models.Field[Any, Any]) -> dict[str, Old]:
    """The column's older paths, by path."""
    return {o.source: o for o in old_sources(field) if isinstance(o.source, str)}


def is_old(field: models.Field[Any, Any], path: str) -> bool:
    return path in old_shapes(field)


def all_columns() -> Iterator[tuple[str, models.Field[Any, Any], tuple[str, ...]]]:
    for object_type, model in sorted(TYPED_MODELS.items()):
        for field, paths in sourced_fields(model):
            yield object_type, field, paths


def properties(object_type: str) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = stripe_data.objects()[object_type]["properties"]
    return spec


def removed(object_type: str) -> Mapping[str, Any]:
    spec = stripe_data.objects()[object_type].get("removed_since_2023_08_16") or {}
    return dict(spec)


def is_current(object_type: str, path: str) -> bool:
    return path.split(".", maxsplit=1)[0] in properties(object_type)


# --- this module's own reading of Stripe objects -----------------------------------------


def walk(obj: Any, path: str) -> Any:
    """The value at a dotted path (digits index lists); MISSING when absent; None when an
    object on the way is null."""
    for segment in path.split("."):
        if obj is None:
            return None
        if isinstance(obj, dict):
            obj = obj.get(segment, MISSING)
        elif isinstance(obj, list) and segment.isdigit() and int(segment) < len(obj):
            obj = obj[int(segment)]
        else:
            return MISSING
        if obj is MISSING:
            return MISSING
    return obj


def put(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted path, creating missing or null objects on the way."""
    *parents, leaf = path.split(".")
    node: Any = obj
    for segment in parents:
        if isinstance(node, list):
            node = node[int(segment)]
            continue
        if not isinstance(node.get(segment), dict | list):
            node[segment] = {}
        node = node[segment]
    node[leaf] = value


def drop(obj: dict[str, Any], path: str) -> None:
    """Remove the field at a dotted path, if it is there."""
    *parents, leaf = path.split(".")
    parent = walk(obj, ".".join(parents)) if parents else obj
    if isinstance(parent, dict):
        parent.pop(leaf, None)


def is_ref(field: models.Field[Any, Any]) -> bool:
    return isinstance(field, models.CharField) and field.null


#: How Stripe's JSON value becomes a column's value, by column type (first match wins).
#: None stays None, except in non-null text columns (below).
CONVERSIONS: tuple[tuple[type[models.Field[Any, Any]], Callable[[Any], Any]], ...] = (
    (models.JSONField, lambda raw: raw),
    (models.DateTimeField, lambda raw: datetime.fromtimestamp(raw, tz=UTC)),
    (models.DecimalField, Decimal),
    (models.FloatField, float),
    (models.BooleanField, lambda raw: raw),
    (models.BigIntegerField, lambda raw: raw),
)


def expected_value(field: models.Field[Any, Any], raw: Any) -> Any:
    """What a column must hold after syncing ``raw`` (MISSING: the column keeps its default)."""
    if raw is MISSING:
        return field.get_default()
    for field_class, convert in CONVERSIONS:
        if isinstance(field, field_class):
            return None if raw is None else convert(raw)
    if is_ref(field):  # an id, or an expanded object: its id
        return raw["id"] if isinstance(raw, dict) else raw
    return "" if raw is None else raw


def first_present(obj: Mapping[str, Any], field: models.Field[Any, Any]) -> Any:
    """The raw value of the first declared source present in ``obj`` (paths walked here,
    derivations called), else MISSING."""
    for source in source_of(field) or ():
        raw = walk(obj, source) if isinstance(source, str) else source(obj)
        if raw is not MISSING and raw is not ABSENT:
            return raw
    return MISSING


def expected_row(model: type[StripeModel], obj: Mapping[str, Any]) -> dict[str, Any]:
    """Every sourced column's value for ``obj``: the first declared source present wins."""
    return {
        field.attname: expected_value(field, first_present(obj, field))
        for field, _ in sourced_fields(model)
    }


#: A Stripe value of each column type, made distinct by the column's index.
OWN_VALUES: tuple[tuple[type[models.Field[Any, Any]], Callable[[int], Any]], ...] = (
    (models.JSONField, lambda i: {"own": i}),
    (models.DateTimeField, lambda i: 1_500_000_000 + 86_400 * i),
    (models.DecimalField, lambda i: f"{1000 + i}.25"),
    (models.FloatField, lambda i: 0.5 + i),
    (models.BooleanField, lambda i: True),
    (models.BigIntegerField, lambda i: 70_000 + i),
)


def own_value(field: models.Field[Any, Any], index: int) -> Any:
    """A Stripe value for the column's field that no other column of the object holds."""
    for field_class, make in OWN_VALUES:
        if isinstance(field, field_class):
            return make(index)
    return f"own{index}_{field.name}"


def with_own_values(
    model: type[StripeModel], obj: dict[str, Any], *, expand: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``obj`` with every column's field (its first path present, else its first path) set
    to a value of the column's own, and those values by column. An expanded object keeps its
    shape and gets an id of its own; ``expand`` expands every expandable field read."""
    obj = copy.deepcopy(obj)
    owned: dict[str, Any] = {}
    for index, (field, paths) in enumerate(sourced_fields(model)):
        path = next((p for p in paths if walk(obj, p) is not MISSING), paths[0])
        value = own_value(field, index)
        current = walk(obj, path)
        if is_ref(field) and expand and (target := expands_to(str(obj["object"]), path)):
            value = {"id": value, "object": target}
        elif is_ref(field) and isinstance(current, dict):
            current["id"] = value
            value = current
        elif isinstance(field, models.BooleanField) and isinstance(current, bool):
            value = not current
        put(obj, path, value)
        owned[field.attname] = expected_value(field, value)
    return obj, owned


def expands_to(object_type: str, path: str) -> str | None:
    """The object type a top-level expandable field expands to (None if it is not one)."""
    spec = properties(object_type).get(path) or removed(object_type).get(path) or {}
    return spec["expandable_to"][0] if spec.get("type") == "expandable" else None


# --- syncing -----------------------------------------------------------------------------

sync = stripe_data.sync


def mismatches(row: StripeModel, expected: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        name: (getattr(row, name), value)
        for name, value in expected.items()
        if getattr(row, name) != value or type(getattr(row, name)) is not type(value)
    }


# --- the declarations against objects.json ------------------------------------------------


def test_typed_models_mirror_current_object_types() -> None:
    for object_type, model in TYPED_MODELS.items():
        assert object_type in stripe_data.objects(), object_type
        assert stripe_data.objects()[object_type]["in_current_sdk"], object_type
        assert object_type == model.STRIPE_OBJECT


def test_deletable_types_are_stripes() -> None:
    assert stripe_data.deletable_types() == DELETABLE


def _path_problem(object_type: str, field: models.Field[Any, Any], path: str) -> str | None:
    first = path.split(".", maxsplit=1)[0]
    if is_old(field, path):
        return _old_path_problem(object_type, path, old_shapes(field)[path])
    if first in properties(object_type):
        return None
    if first in removed(object_type):
        return f"{path}: removed from the API: declare it old(..., before=...)"
    return f"{path}: no such property"


def _old_path_problem(object_type: str, path: str, shape: Old) -> str | None:
    """An older path agrees with objects.json: removed since 2023-08-16 if it says so, from
    an earlier version if objects.json does not know it at all."""
    first = path.split(".", maxsplit=1)[0]
    if first in properties(object_type):
        return None  # another current field, read when the column's own is not rendered
    if first in removed(object_type):
        return None if shape.before > REMOVED_SINCE else f"{path}: removed after {shape.before}"
    return None if shape.before < REMOVED_SINCE else f"{path}: unknown to objects.json"


Check = Callable[[str, Any, str], str | None]  # (object type, field, path) -> problem


def problems(object_type: str, check: Check) -> list[str]:
    """What ``check`` finds wrong with each declared path of the object type's model."""
    return [
        f"{field.name}: {problem}"
        for field, paths in sourced_fields(TYPED_MODELS[object_type])
        for path in paths
        if (problem := check(object_type, field, path))
    ]


@pytest.mark.parametrize("object_type", sorted(TYPED_MODELS))
def test_source_paths_are_stripe_properties(object_type: str) -> None:
    assert problems(object_type, _path_problem) == []


def test_old_only_columns_are_still_old_only() -> None:
    old_only = {
        (object_type, field.attname)
        for object_type, field, paths in all_columns()
        if not any(is_current(object_type, p) for p in paths)
    }
    assert old_only == set(OLD_ONLY)


def _kind_problem(object_type: str, field: models.Field[Any, Any], path: str) -> str | None:
    """Does the column's type fit the Stripe property's type (top-level paths only)?"""
    first, _, rest = path.partition(".")
    spec = properties(object_type).get(first) or removed(object_type).get(first)
    if spec is None:
        return None  # reported by test_source_paths_are_stripe_properties
    kind = spec["type"]
    if rest:
        fits = kind in ("object", "list", "array", "expandable")
    elif isinstance(field, models.JSONField):
        fits = kind == "object"
    elif isinstance(field, models.DateTimeField):
        fits = kind == "integer" and (
            spec.get("format") == "unix-time" or (object_type, first) in UNMARKED_TIMES
        )
    elif isinstance(field, models.BooleanField):
        fits = kind == "boolean"
    elif isinstance(field, models.BigIntegerField):
        fits = kind == "integer" and spec.get("format") is None
    elif isinstance(field, models.FloatField):
        fits = kind == "number"
    elif isinstance(field, models.DecimalField):
        fits = kind == "string" and spec.get("format") == "decimal"
    elif is_ref(field):
        fits = kind in ("expandable", "string") or bool(spec.get("object_types"))
    else:
        fits = kind == "string" and spec.get("format") is None
    return None if fits else f"{type(field).__name__} reads {path} of type {kind}"


@pytest.mark.parametrize("object_type", sorted(TYPED_MODELS))
def test_column_types_fit_stripe_types(object_type: str) -> None:
    assert problems(object_type, _kind_problem) == []


def _named_after(field: models.Field[Any, Any], path: str) -> bool:
    """A column is named after the field it reads, maybe with its parent's name in front
    (``card_brand`` <- ``card.brand``, ``coupon_id`` <- ``source.coupon``)."""
    stem = field.name.removesuffix("_id") if is_ref(field) else field.name
    segments = [s for s in path.split(".") if not s.isdigit() and s != "data"]
    last = segments[-1]
    return stem in (last, "_".join(segments[-2:])) or stem.endswith("_" + last)


def test_columns_are_named_after_their_fields() -> None:
    misnamed = [
        f"{object_type}.{field.name} <- {path}"
        for object_type, field, paths in all_columns()
        for path in paths
        if not is_old(field, path) and not _named_after(field, path)
    ]
    assert misnamed == []


# --- the fixtures through the sync -------------------------------------------------------


def test_every_declared_path_is_in_the_fixture() -> None:
    """Each column's current paths are in Stripe's example (present, maybe null), except in
    sub-structures the example leaves out."""
    absent = [
        f"{object_type}.{field.name} <- {path}"
        for object_type, field, paths in all_columns()
        for path in paths
        if is_current(object_type, path)
        and walk(stripe_data.fixtures()[object_type], path) is MISSING
        and (object_type, path) not in FIXTURE_GAPS
    ]
    assert absent == []


@pytest.mark.parametrize("object_type", sorted(TYPED_MODELS))
def test_fixture_syncs_into_every_column(post: Callable[..., Any], object_type: str) -> None:
    model = TYPED_MODELS[object_type]
    obj = stripe_data.fixture(object_type)

    row = sync(post, obj)

    assert row.data == obj
    assert mismatches(row, expected_row(model, obj)) == {}


@pytest.mark.parametrize("object_type", sorted(TYPED_MODELS))
def test_each_column_reads_its_own_field(post: Callable[..., Any], object_type: str) -> None:
    model = TYPED_MODELS[object_type]
    obj, expected = with_own_values(model, stripe_data.fixture(object_type))
    # Two columns reading one field would have overwritten each other's value.
    assert expected_row(model, obj) == expected

    row = sync(post, obj)

    assert mismatches(row, expected) == {}


EXPANDING = [
    object_type
    for object_type, field, paths in all_columns()
    if is_ref(field) and any(expands_to(object_type, p) for p in paths)
]


@pytest.mark.parametrize("object_type", sorted(set(EXPANDING)))
def test_expanded_objects_are_read_as_their_id(post: Callable[..., Any], object_type: str) -> None:
    model = TYPED_MODELS[object_type]
    obj, expected = with_own_values(model, stripe_data.fixture(object_type), expand=True)
    assert any(isinstance(walk(obj, p), dict) for _, paths in sourced_fields(model) for p in paths)

    row = sync(post, obj)

    assert mismatches(row, expected) == {}
