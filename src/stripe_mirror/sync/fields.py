"""Stage 5a: read typed column values out of a Stripe object, as the model declares them.

Each column of a mirror model names the path(s) it is read from (``models.base.sourced``).
A path is dotted (``invoice_settings.default_payment_method``); a numeric segment indexes a
list (``items.data.0.current_period_end``). A column may also declare a derivation from an
older shape of the object (``models/legacy.py``), which answers ABSENT when the object is not
in that shape. Of several sources the first one PRESENT in the object wins; a path that is
present with a null value gives null. When no source is present (a field this API version
does not render), the column is left as it is: absent is "unknown", not "empty".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from django.db import models

from ..models.base import ABSENT, Derivation, StripeModel, rendered_key, source_of

#: Marks a path that is not in the object (the same marker as a derivation's ABSENT).
MISSING: Any = ABSENT

Converter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Column:
    attname: str
    #: Paths split into segments, and derivations, in the declared order.
    paths: tuple[tuple[str, ...] | Derivation, ...]
    convert: Converter


def lookup(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path``, or MISSING. Never raises on odd shapes."""
    value: Any = obj
    for segment in path:
        if isinstance(value, Mapping):
            if segment not in value:
                return MISSING
            value = value[segment]
        elif isinstance(value, list | tuple) and segment.isdigit():
            index = int(segment)
            if index >= len(value):
                return MISSING
            value = value[index]
        elif value is None:
            return None  # a null parent: the field is known to be empty
        else:
            return MISSING
    return value


def extract(model: type[StripeModel], obj: Mapping[str, Any]) -> dict[str, Any]:
    """Typed column values present in ``obj`` (absent columns are not in the result), and
    the ``renders`` flags."""
    values: dict[str, Any] = {}
    for column in columns(model):
        raw = read(column, obj)
        if raw is not MISSING:
            values[column.attname] = column.convert(raw)
    for attname, key in presence_columns(model):
        values[attname] = key in obj
    return values


def read(column: Column, obj: Mapping[str, Any]) -> Any:
    """The column's raw value in ``obj``: from its first source present, else MISSING."""
    for path in column.paths:
        raw = lookup(obj, path) if isinstance(path, tuple) else path(obj)
        if raw is not MISSING:
            return raw
    return MISSING


@cache
def presence_columns(model: type[StripeModel]) -> tuple[tuple[str, str], ...]:
    """The model's ``renders`` columns: (attname, the key whose presence they tell)."""
    return tuple(
        (field.attname, key)
        for field in model._meta.concrete_fields
        if (key := rendered_key(field)) is not None
    )


@cache
def columns(model: type[StripeModel]) -> tuple[Column, ...]:
    """The model's sourced columns with their converters (computed once per model)."""
    found = []
    for field in model._meta.concrete_fields:
        paths = source_of(field)
        if paths is None:
            continue
        found.append(
            Column(
                attname=field.attname,
                paths=tuple(tuple(p.split(".")) if isinstance(p, str) else p for p in paths),
                convert=_converter(field),
            )
        )
    return tuple(found)


# --- converters: Stripe JSON value -> column value ---------------------------------------
# Lenient by design: a value of an unexpected shape is stored as null (or "") rather than
# failing the event; the full object is in ``data`` anyway.


def _converter(field: models.Field[Any, Any]) -> Converter:
    for field_class, converter in _BY_FIELD_CLASS:
        if isinstance(field, field_class):
            return converter
    if isinstance(field, models.CharField | models.TextField):
        if field.null:  # ids: null stays null
            return _as_id
        max_length = field.max_length
        return lambda value: _as_text(value, max_length)
    raise TypeError(f"no Stripe converter for {type(field).__name__} {field.name}")


def _as_json(value: Any) -> Any:
    return value


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 253_402_300_800:
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def _as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(2**63) <= value < 2**63 else None
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
        return number if number.is_finite() and abs(number) < Decimal(10) ** 18 else None
    return None


def _as_id(value: Any) -> str | None:
    """An object id: a string, or an expanded object reduced to its id."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, str):
        return value[:255]
    return None


def _as_text(value: Any, max_length: int | None) -> str:
    if isinstance(value, Mapping):
        value = value.get("id", "")
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[:max_length] if max_length else text


_BY_FIELD_CLASS: tuple[tuple[type[models.Field[Any, Any]], Converter], ...] = (
    (models.JSONField, _as_json),
    (models.DateTimeField, _as_datetime),
    (models.BooleanField, _as_bool),
    (models.DecimalField, _as_decimal),
    (models.FloatField, _as_float),
    (models.IntegerField, _as_int),
)
