"""The fake's objects, per scope: test or live mode, and the platform or a connected account.

Every object is kept whole (its embedded lists complete: the server truncates them when it
answers); a deleted object stays as a tombstone, so that a list cursor naming it still works
and a retrieve can answer Stripe's ``deleted: true`` stub. Children of embedded lists (a
subscription's items, an invoice's lines) can be found by their own id.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple


class Scope(NamedTuple):
    """Whose objects: Stripe keeps test and live data, and each connected account's, apart."""

    livemode: bool = False
    account: str | None = None  # None: the platform account


@dataclass
class Entry:
    obj: dict[str, Any]  # never changed once stored: a change stores a new entry
    seq: int  # insertion order: the tie-break among objects created in the same second
    deleted: bool = False
    rendered: dict[str, Any] | None = None  # as the API shows it, made at the first answer

    @property
    def order(self) -> tuple[int, int]:
        """Lists are sorted newest first by this key."""
        created = self.obj.get("created")
        return (created if isinstance(created, int) else 0, self.seq)


class Child(NamedTuple):
    parent_id: str
    field: str  # "items", "lines": the parent's embedded list that holds it


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._seq = itertools.count(1)
        self._entries: dict[Scope, dict[str, Entry]] = {}
        self._children: dict[Scope, dict[str, Child]] = {}
        self._sorted: dict[tuple[Scope, str], tuple[list[Entry], list[tuple[int, int]]]] = {}

    def put(self, scope: Scope, obj: dict[str, Any]) -> Entry:
        """Store (a copy of) ``obj``, replacing the object with its id and reviving it if it
        was deleted; its place in lists stays that of its ``created`` and first insertion."""
        obj = copy.deepcopy(obj)
        with self.lock:
            entries = self._entries.setdefault(scope, {})
            previous = entries.get(obj["id"])
            entry = Entry(obj, previous.seq if previous else next(self._seq))
            entries[obj["id"]] = entry
            self._index_children(scope, obj)
            self._sorted.pop((scope, obj["object"]), None)
            return entry

    def _index_children(self, scope: Scope, obj: dict[str, Any]) -> None:
        children = self._children.setdefault(scope, {})
        for field, value in obj.items():
            if isinstance(value, dict) and value.get("object") == "list":
                for child in value.get("data") or []:
                    if isinstance(child, dict) and isinstance(child.get("id"), str):
                        children[child["id"]] = Child(obj["id"], field)

    def get(self, scope: Scope, object_id: str) -> Entry | None:
        with self.lock:
            return self._entries.get(scope, {}).get(object_id)

    def child(self, scope: Scope, object_id: str) -> tuple[Entry, dict[str, Any]] | None:
        """The parent entry and the child object of an embedded list, by the child's id."""
        with self.lock:
            found = self._children.get(scope, {}).get(object_id)
            parent = self.get(scope, found.parent_id) if found else None
            if found is None or parent is None or parent.deleted:
                return None
            for child in parent.obj.get(found.field, {}).get("data") or []:
                if child.get("id") == object_id:
                    return parent, child
            return None

    def mark_deleted(self, scope: Scope, object_id: str) -> Entry:
        with self.lock:
            entry = self._entries[scope][object_id]
            entry.deleted = True
            return entry

    def remove(self, scope: Scope, object_id: str) -> None:
        """Forget the object entirely: a retrieve answers 404 ``resource_missing``."""
        with self.lock:
            entry = self._entries.get(scope, {}).pop(object_id, None)
            if entry is not None:
                self._sorted.pop((scope, entry.obj["object"]), None)

    def newest_first(self, scope: Scope, object_type: str) -> list[Entry]:
        """Every entry of a type (tombstones included), newest first. Do not mutate."""
        return self._ordered(scope, object_type)[0]

    def boundary(self, scope: Scope, object_type: str, object_id: str, after: bool) -> int | None:
        """Where, in ``newest_first``, the entries older than an object (``after``) or from
        it on begin; None when no such object of that type is stored."""
        entry = self.get(scope, object_id)
        if entry is None or entry.obj.get("object") != object_type:
            return None
        with self.lock:
            descending = self._ordered(scope, object_type)[1]
            key = (-entry.order[0], -entry.order[1])
            return (bisect.bisect_right if after else bisect.bisect_left)(descending, key)

    def _ordered(self, scope: Scope, object_type: str) -> tuple[list[Entry], list[tuple[int, int]]]:
        with self.lock:
            key = (scope, object_type)
            if key not in self._sorted:
                of_type = [
                    entry
                    for entry in self._entries.get(scope, {}).values()
                    if entry.obj.get("object") == object_type
                ]
                of_type.sort(key=lambda e: e.order, reverse=True)
                self._sorted[key] = (of_type, [(-e.order[0], -e.order[1]) for e in of_type])
            return self._sorted[key]

    def scopes(self) -> Iterator[Scope]:
        with self.lock:
            yield from list(self._entries)
