"""Stage 3c: the handler registry. ``@on("invoice.paid")``, ``@on("customer.*")``, ``@on("*")``.

Handlers of one event run in a defined order (see docs/handlers.md): the library's mirror
sync first, then user handlers in the order they were registered (``INSTALLED_APPS`` order
for autodiscovered modules, then order of definition in each module). A handler matched by
several of its patterns runs once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType
from typing import Any, TypeVar

from ..patterns import matches as _match
from ..patterns import validate_pattern

#: A handler takes a ``StripeEvent`` (a v1 event's type) or a ``ThinEvent`` (a v2 event's type,
#: ``v1.billing.meter...``), as its patterns choose: typed ``Any`` so both kinds fit.
Handler = Callable[[Any], object]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Registration:
    patterns: tuple[str, ...]
    func: Handler
    #: Stable name, recorded in ``InboxEvent.completed_handlers``.
    name: str

    def matches(self, event_type: str) -> bool:
        return any(_match(pattern, event_type) for pattern in self.patterns)


def handler_name(func: Handler) -> str:
    module = getattr(func, "__module__", type(func).__module__)
    qualname = getattr(func, "__qualname__", type(func).__qualname__)
    return f"{module}.{qualname}"


def _is_reimport(existing: Registration, func: Handler) -> bool:
    """Whether ``func`` is ``existing``'s function again, possibly from a re-imported module.

    A module-level function's name identifies it, so a new function under it is a re-import.
    Other names are shared by distinct handlers, which must stay distinct: lambdas and
    factory-made functions (``<lambda>``, ``<locals>``), partials and callable instances
    (named after their class), bound methods of different instances.
    """
    if existing.func == func:  # ==, not is: each `obj.method` is a new, equal object
        return True
    return (
        isinstance(existing.func, FunctionType)
        and isinstance(func, FunctionType)
        and "<" not in existing.name
    )


def _free_name(func: Handler, namesakes: list[Registration]) -> str:
    """``func``'s name, with "#2", "#3"... for the second, third... distinct handler of that
    name: names must be unique (they record completed handlers) and stable across processes,
    which registration order, fixed by import order, is."""
    base = handler_name(func)
    taken = {r.name for r in namesakes}
    if base not in taken:
        return base
    return next(f"{base}#{n}" for n in itertools.count(2) if f"{base}#{n}" not in taken)


class Registry:
    def __init__(self) -> None:
        self._registrations: list[Registration] = []
        self._cache: dict[str, tuple[Registration, ...]] = {}

    def on(self, *patterns: str) -> Callable[[H], H]:
        """Decorator: run the function for events whose type matches any of ``patterns``."""
        if not patterns:
            raise ValueError("@on() needs at least one event pattern")
        checked = tuple(validate_pattern(p) for p in patterns)

        def decorator(func: H) -> H:
            self.register(func, *checked)
            return func

        return decorator

    def register(self, func: Handler, *patterns: str) -> Registration:
        if not patterns:
            raise ValueError("a handler needs at least one event pattern")
        checked = tuple(validate_pattern(p) for p in patterns)
        namesakes = self._namesakes(func)
        same = next((r for r in namesakes if _is_reimport(r, func)), None)
        if same is not None:
            # Registered again (a second @on, a module imported twice): merge, keep position.
            merged = tuple(dict.fromkeys(same.patterns + checked))
            registration = Registration(merged, func, same.name)
            self._registrations[self._registrations.index(same)] = registration
        else:
            registration = Registration(checked, func, _free_name(func, namesakes))
            self._registrations.append(registration)
        self._cache.clear()
        return registration

    def unregister(self, func: Handler) -> None:
        """Remove ``func`` (or the function it re-imports)."""
        gone = [r for r in self._namesakes(func) if _is_reimport(r, func)]
        self._registrations = [r for r in self._registrations if all(r is not g for g in gone)]
        self._cache.clear()

    def _namesakes(self, func: Handler) -> list[Registration]:
        base = handler_name(func)
        return [r for r in self._registrations if r.name.split("#")[0] == base]

    def handlers_for(self, event_type: str) -> tuple[Registration, ...]:
        """The registrations matching ``event_type``, in run order."""
        found = self._cache.get(event_type)
        if found is None:
            found = tuple(r for r in self._registrations if r.matches(event_type))
            self._cache[event_type] = found
        return found

    def registrations(self) -> tuple[Registration, ...]:
        return tuple(self._registrations)


#: The registry user handlers go to.
registry = Registry()
on = registry.on
