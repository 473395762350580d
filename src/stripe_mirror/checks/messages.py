"""How every check reports: an Error with a stable id, ``stripe_mirror.E0xx``."""

from __future__ import annotations

from django.core.checks import Error

HINT_DOCS = "See docs/settings.md."


def error(code: str, message: str, hint: str = HINT_DOCS) -> Error:
    return Error(message, hint=hint, id=f"stripe_mirror.{code}")
