"""Foundation: the texts ``SessionCursor`` sends (``session_cursor.py``): a statement as
``PREPARE name AS ...`` once per session, then ``EXECUTE name(values)``; the ``BEGIN`` that
opens a transaction with it.

Imports nothing of the library.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement text as this module sends it."""

    name: bytes
    #: ``PREPARE name AS <the text with $1, $2, ...>; ``
    prepare: bytes
    #: The text cut at its placeholders (a plain text: joined with the values' literals).
    pieces: tuple[bytes, ...]


_MARK = "%s"


@lru_cache(maxsize=4096)
def plan(query: str, bound: bool) -> Plan:
    """``query``'s plan; ``bound``: its ``%s`` are placeholders (``%%`` a ``%``), as psycopg
    reads a text given parameters."""
    pieces = [""]
    for part in re.split(r"(%%|%s)", query) if bound else [query]:
        if part == _MARK:
            pieces.append("")
        else:
            pieces[-1] += "%" if part == "%%" else part
    numbered = "".join(f"{p}${n}" for n, p in enumerate(pieces[:-1], 1)) + pieces[-1]
    name = "stripe_mirror_" + hashlib.sha256(numbered.encode()).hexdigest()[:16]
    return Plan(
        name.encode(),
        f"PREPARE {name} AS {numbered}; ".encode(),
        tuple(p.encode() for p in pieces),
    )


def execution(plan: Plan, values: list[bytes], *, prepare: bool, named: bool) -> bytes:
    """The statement in a message: ``[PREPARE ...; ]EXECUTE name(values)``, or, not prepared
    on this session (too many are), its text with its values."""
    if not (prepare or named):
        return inline(plan, values)
    arguments = b"(" + b", ".join(values) + b")" if values else b""
    return (plan.prepare if prepare else b"") + b"EXECUTE " + plan.name + arguments


@dataclass(frozen=True, slots=True)
class Sent:
    query: bytes


def inline(plan: Plan, values: list[bytes]) -> bytes:
    """The statement's text with its values' literals in it."""
    return b"".join(v for pair in zip(plan.pieces, [*values, b""], strict=True) for v in pair)


def begin(driver: Any) -> bytes:
    """The transaction's start, with the session's characteristics, as psycopg words it."""
    words = [b"BEGIN"]
    if driver.isolation_level is not None:
        words.append(b"ISOLATION LEVEL " + driver.isolation_level.name.replace("_", " ").encode())
    if driver.read_only is not None:
        words.append(b"READ ONLY" if driver.read_only else b"READ WRITE")
    if driver.deferrable is not None:
        words.append(b"DEFERRABLE" if driver.deferrable else b"NOT DEFERRABLE")
    return b" ".join(words) + b"; "
