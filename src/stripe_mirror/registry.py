"""Stage 3c: the handler registry. ``@on("invoice.paid")``, ``@on("customer.*")``, ``@on("*")``.

Handlers of one event run in a defined order (see docs/handlers.md): the library's mirror
sync first, then user handlers in the order they were registered (``INSTALLED_APPS`` order
for autodiscovered modules, then order of definition in each module). A handler matched by
several of its patterns runs once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .events import StripeEvent

Handler = Callable[[StripeEvent], object]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Registration:
    patterns: tuple[str, ...]
    func: Handler
    #: Stable name, recorded in ``InboxEvent.completed_handlers``.
    name: str

    def matches(self, event_type: str) -> bool:
        return any(_match(pattern, event_type) for pattern in self.patterns)


def _match(pattern: str, event_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def validate_pattern(pattern: str) -> str:
    """Return the pattern, or raise ValueError explaining what is wrong with it."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("an event pattern must be a non-empty string")
    star = pattern.find("*")
    if star != -1 and not (pattern == "*" or (pattern.endswith(".*") and star == len(pattern) - 1)):
        raise ValueError(
            f"invalid event pattern {pattern!r}: use an exact type ('invoice.paid'), "
            "a prefix ending in '.*' ('customer.subscription.*') or '*'"
        )
    if pattern != pattern.strip() or " " in pattern:
        raise ValueError(f"invalid event pattern {pattern!r}: no spaces allowed")
    return pattern


def handler_name(func: Handler) -> str:
    module = getattr(func, "__module__", type(func).__module__)
    qualname = getattr(func, "__qualname__", type(func).__qualname__)
    return f"{module}.{qualname}"


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
        checked = tuple(validate_pattern(p) for p in patterns)
        name = handler_name(func)
        for index, existing in enumerate(self._registrations):
            if existing.name == name:
                # Re-registration (a module imported twice, autoreload): merge, keep position.
                merged = tuple(dict.fromkeys(existing.patterns + checked))
                registration = Registration(merged, func, name)
                self._registrations[index] = registration
                self._cache.clear()
                return registration
        registration = Registration(checked, func, name)
        self._registrations.append(registration)
        self._cache.clear()
        return registration

    def unregister(self, func: Handler) -> None:
        name = handler_name(func)
        self._registrations = [r for r in self._registrations if r.name != name]
        self._cache.clear()

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
