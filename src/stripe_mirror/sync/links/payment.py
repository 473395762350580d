"""Stage 5e: one payment as the link passes see it: its scope, its objects' ids, its rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class _Scope:
    account: str
    livemode: bool


@dataclass(slots=True)
class _Ids:
    """The ids of one payment's objects, as far as they are known."""

    invoices: set[str] = field(default_factory=set)
    intents: set[str] = field(default_factory=set)
    charges: set[str] = field(default_factory=set)

    def add(self, invoice: str | None, intent: str | None, charge: str | None) -> None:
        for ids, value in (
            (self.invoices, invoice),
            (self.intents, intent),
            (self.charges, charge),
        ):
            if value:
                ids.add(value)

    def update(self, other: _Ids) -> None:
        self.invoices |= other.invoices
        self.intents |= other.intents
        self.charges |= other.charges

    def size(self) -> int:
        return len(self.invoices) + len(self.intents) + len(self.charges)

    def copy(self) -> _Ids:
        return _Ids(set(self.invoices), set(self.intents), set(self.charges))

    def minus(self, other: _Ids) -> _Ids:
        return _Ids(
            self.invoices - other.invoices,
            self.intents - other.intents,
            self.charges - other.charges,
        )

    def __str__(self) -> str:
        return ", ".join(sorted(self.invoices | self.intents | self.charges))


@dataclass(slots=True)
class _Rows:
    """The payment's mirrored rows, as plain dicts of the columns the links need."""

    invoices: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    intents: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[tuple[str, int]] = field(default_factory=set)

    def merge(self, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add the rows not loaded yet; returns them."""
        new = []
        for row in found:
            key = (row["_kind"], row["id"])
            if key not in self._seen:
                self._seen.add(key)
                getattr(self, row["_kind"]).append(row)
                new.append(row)
        return new
