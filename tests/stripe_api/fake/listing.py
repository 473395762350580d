"""List endpoints: Stripe's filters and cursor pagination.

Lists are newest first (``created``, then insertion order). ``starting_after=X`` answers the
``limit`` objects after X in that order (older ones), ``ending_before=X`` the ``limit`` objects
just before X (newer ones, still newest first); ``has_more`` says whether more lie beyond in
that direction. A cursor may name an object that filters or a deletion hide; one that never
existed is an error, as in Stripe.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from . import errors, query
from .shapes import filterable

T = TypeVar("T")
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
_PAGING = frozenset({"limit", "starting_after", "ending_before", "expand"})
#: List parameters that are not properties of the objects listed.
_EXTRA_FILTERS = {"event": frozenset({"types", "delivery_success"})}
#: Subscriptions that a list without ``status`` leaves out (Stripe: "all subscriptions that
#: have not been canceled"); ``status=all`` lists every one, ``ended`` the finished ones.
_STATUS_GROUPS = {"all": None, "ended": {"canceled", "incomplete_expired"}}


def check_parameters(params: Mapping[str, Any], object_type: str) -> None:
    allowed = _PAGING | filterable(object_type) | _EXTRA_FILTERS.get(object_type, frozenset())
    for name in params:
        if name not in allowed:
            raise errors.unknown_parameter(name)


def matcher(params: Mapping[str, Any], object_type: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for the objects that the list's filters keep."""
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    for name, wanted in params.items():
        if name in _PAGING:
            continue
        if isinstance(wanted, dict):
            tests.append(_range(name, wanted))
        elif name == "status" and object_type == "subscription":
            tests.append(_subscription_status(wanted))
        elif name == "type" and object_type == "event":
            tests.append(_event_type([wanted]))
        elif name == "types" and object_type == "event":
            tests.append(_event_type(wanted if isinstance(wanted, list) else [wanted]))
        elif name != "delivery_success":
            tests.append(_equal(name, wanted))
    if object_type == "subscription" and "status" not in params:
        tests.append(lambda obj: obj.get("status") != "canceled")
    return lambda obj: all(test(obj) for test in tests)


def _range(name: str, bounds: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    limits = {op: query.integer(dict(bounds), op) for op in bounds}
    if set(limits) - {"gt", "gte", "lt", "lte"}:
        raise errors.invalid(name, f"Invalid {name}: use gt, gte, lt or lte")

    def within(obj: Mapping[str, Any]) -> bool:
        value = obj.get(name)
        if not isinstance(value, int):
            return False
        return all(
            {
                "gt": value > bound,
                "gte": value >= bound,
                "lt": value < bound,
                "lte": value <= bound,
            }[op]
            for op, bound in limits.items()
            if bound is not None
        )

    return within


def _subscription_status(wanted: str) -> Callable[[Mapping[str, Any]], bool]:
    if wanted in _STATUS_GROUPS:
        group = _STATUS_GROUPS[wanted]
        return lambda obj: group is None or obj.get("status") in group
    return lambda obj: obj.get("status") == wanted


def _event_type(patterns: Sequence[str]) -> Callable[[Mapping[str, Any]], bool]:
    def matches(obj: Mapping[str, Any]) -> bool:
        name = str(obj.get("type"))
        return any(
            name == pattern or (pattern.endswith(".*") and name.startswith(pattern[:-1]))
            for pattern in patterns
        )

    return matches


def _equal(name: str, wanted: Any) -> Callable[[Mapping[str, Any]], bool]:
    def matches(obj: Mapping[str, Any]) -> bool:
        value = obj.get(name)
        if isinstance(value, dict):  # an expanded reference
            value = value.get("id")
        if isinstance(value, bool):
            value = str(value).lower()
        return value is not None and str(value) == str(wanted)

    return matches


def page(
    items: Sequence[T],
    params: Mapping[str, Any],
    *,
    url: str,
    object_type: str,
    boundary: Callable[[str, bool], int | None],
    keep: Callable[[T], bool],
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """One page of ``items`` (in list order) as a Stripe list object. ``boundary(id, after)``
    is the index where the items after (``after``) or from (not ``after``) the object a cursor
    names begin, or None when there is no such object; ``keep`` says which items the filters
    leave. Only the items the page needs are looked at."""
    limit = _limit(params)
    after, before = params.get("starting_after"), params.get("ending_before")
    if after is not None and before is not None:
        message = "You may only specify one of these parameters: starting_after, ending_before."
        raise errors.invalid("ending_before", message)
    if before is not None:
        end = _cursor(boundary, before, False, "ending_before", object_type)
        newer = _first(reversed(items[:end]), keep, limit + 1)  # nearest the cursor first
        chosen, has_more = newer[:limit][::-1], len(newer) > limit
    else:
        start = (
            0 if after is None else _cursor(boundary, after, True, "starting_after", object_type)
        )
        found = _first(items[start:], keep, limit + 1)
        chosen, has_more = found[:limit], len(found) > limit
    data = [render(item) for item in chosen]
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _first(items: Iterable[T], keep: Callable[[T], bool], count: int) -> list[T]:
    return list(itertools.islice((item for item in items if keep(item)), count))


def _limit(params: Mapping[str, Any]) -> int:
    limit = query.integer(dict(params), "limit", DEFAULT_LIMIT)
    assert limit is not None
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.invalid(
            "limit", f"This value must be between 1 and {MAX_LIMIT} (it currently is {limit})."
        )
    return limit


def _cursor(
    boundary: Callable[[str, bool], int | None],
    object_id: str,
    after: bool,
    param: str,
    object_type: str,
) -> int:
    found = boundary(object_id, after)
    if found is None:
        raise errors.no_such(object_type, object_id, param=param)
    return found
