"""Foundation: event type patterns, as ``@on`` (dispatch) and ``@rule`` (the mirror) take
them: an exact type (``"invoice.paid"``), a prefix ending in ``".*"`` or ``"*"``.

Imports nothing of the package.
"""

from __future__ import annotations

import re


def matches(pattern: str, event_type: str) -> bool:
    """Whether ``event_type`` matches ``pattern`` (``validate_pattern``'s forms)."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


#: An exact type ("invoice.paid"), a prefix ending in ".*" ("customer.subscription.*") or "*":
#: dot-separated non-empty segments of visible characters, a "*" only as the last segment.
_PATTERN = re.compile(r"\*|[^\s.*]+(\.[^\s.*]+)*(\.\*)?")


def validate_pattern(pattern: str) -> str:
    """Return the pattern, or raise ValueError explaining what is wrong with it."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("an event pattern must be a non-empty string")
    if not (_PATTERN.fullmatch(pattern) and pattern.isprintable()):
        raise ValueError(
            f"invalid event pattern {pattern!r}: use an exact type ('invoice.paid'), "
            "a prefix ending in '.*' ('customer.subscription.*') or '*'; no spaces"
        )
    return pattern


__all__ = ["matches", "validate_pattern"]
