"""Stage 5a: make a Stripe object storable on every supported database before it is mirrored.

A signed event can carry what a database refuses, and then it would fail on every attempt
until it is dead, and its user handlers would never run:

- a NUL character (``\\u0000`` in the JSON): PostgreSQL refuses it in ``text`` and ``jsonb``.
  It is replaced by U+FFFD (the replacement character) in the mirror's copy;
- nesting deeper than MariaDB's JSON_VALID accepts (31 nested arrays or objects; 32 is
  refused): deeper values are replaced by ``null``. The same bound on every database keeps
  the mirror's content independent of the database, and bounds the recursion of the tie
  rules (``ordering.py``) and of the JSON encoders.

Only the mirror's copy changes: the inbox keeps the body byte for byte (the escape
``\\u0000`` is six ASCII characters there), and handlers receive the event as it was sent.
What was changed is returned as notes, which the processor records on the event
(docs/mirror.md, "What the mirror cannot store").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

#: Most nested arrays or objects (the object itself included) MariaDB's JSON_VALID accepts.
MAX_DEPTH = 31
_NUL = "\x00"
_REPLACEMENT = "\ufffd"

NUL_REPLACED = "NUL characters replaced by U+FFFD"
TOO_DEEP = f"values nested deeper than {MAX_DEPTH} levels replaced by null"


@dataclass(frozen=True, slots=True)
class Storable:
    value: Any
    #: What had to change (``NUL_REPLACED``, ``TOO_DEEP``); empty when nothing did.
    notes: tuple[str, ...] = ()


def storable(value: Any) -> Storable:
    """``value`` as the mirror can store it. The same object when nothing has to change."""
    if _plainly_storable(value):  # the common case
        return Storable(value)
    found: set[str] = set()
    cleaned = _clean(value, 1, found)
    return Storable(cleaned, tuple(sorted(found)))


def _clean(value: Any, depth: int, found: set[str]) -> Any:
    """Recursion is bounded by ``MAX_DEPTH``: nothing deeper is visited."""
    if isinstance(value, str):
        if _NUL in value:
            found.add(NUL_REPLACED)
            return value.replace(_NUL, _REPLACEMENT)
        return value
    if not isinstance(value, Mapping | list | tuple):
        return value
    if depth > MAX_DEPTH:
        found.add(TOO_DEEP)
        return None
    return _clean_container(value, depth, found)


def _clean_container(value: Any, depth: int, found: set[str]) -> Any:
    if isinstance(value, Mapping):
        items = {_clean(k, depth, found): _clean(v, depth + 1, found) for k, v in value.items()}
        same = len(items) == len(value) and all(
            items.get(k, _MISSING) is v for k, v in value.items()
        )
        return value if same else items
    elements = [_clean(v, depth + 1, found) for v in value]
    if all(a is b for a, b in zip(elements, value, strict=True)):
        return value
    return elements


_MISSING = object()

#: A backslash and the character it escapes (then every quote delimits a string).
_ESCAPES = re.compile(rb"\\.")
#: Every bracket as a parenthesis (JSON's brackets match), everything else deleted.
_SHAPE = bytes.maketrans(b"{[}]", b"(())")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"{[}]"))


def _plainly_storable(value: Any) -> bool:
    """Whether ``value`` surely holds no NUL and no nesting deeper than ``MAX_DEPTH``,
    found from its JSON by C code (orjson, bytes methods) instead of a walk in Python,
    which costs several times as much. False: ``_clean`` has to look (a read-only
    ``FrozenJSON`` is not encoded: always False)."""
    try:
        text = orjson.dumps(value)
    except TypeError:  # deeper than orjson goes, or not plain JSON
        return False
    if b"\\u0000" in text:  # how orjson writes a NUL (or, rarely, a backslash before u0000)
        return False
    if b"\\" in text:
        text = _ESCAPES.sub(b"", text)
    outside_strings = b"".join(text.split(b'"')[::2])
    shape = outside_strings.translate(_SHAPE, _NOT_BRACKETS)
    # Each round removes the containers that hold no container: as many rounds as levels.
    for _ in range(MAX_DEPTH):
        shape = shape.replace(b"()", b"")
        if not shape:
            return True
    return False
