"""What the API commands (backfill, reconcile) are asked to read: types, accounts, times."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils.dateparse import parse_date, parse_datetime

from ..api import client_for
from ..api.listing import LISTABLE, connected_accounts
from ..models import TYPED_MODELS

#: What is read without ``--types``: every typed model that has a list endpoint.
DEFAULT_TYPES = tuple(t for t in LISTABLE if t in TYPED_MODELS)

TYPES_HELP = (
    "comma-separated object types (default: every typed model with a list endpoint); any of: "
    + ", ".join(sorted(LISTABLE))
)
ACCOUNTS_HELP = (
    "'all' (the platform and every connected account) or comma-separated connected account "
    "ids (default: the platform only)"
)


def types(value: str) -> tuple[str, ...]:
    """``--types``: the types named (known to have a list endpoint), or ``DEFAULT_TYPES``."""
    if not value:
        return DEFAULT_TYPES
    chosen = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in chosen if t not in LISTABLE]
    if unknown:
        raise CommandError(
            f"no list endpoint known for {', '.join(unknown)}; known: {', '.join(sorted(LISTABLE))}"
        )
    return chosen


def accounts(selection: str, livemode: bool) -> list[str]:
    """``--accounts``: "" is the platform. Raises ``ApiNotConfigured`` without a key."""
    if selection == "all":
        return ["", *connected_accounts(client_for(livemode))]
    chosen = [a.strip() for a in selection.split(",") if a.strip()]
    client_for(livemode)  # fails early when no key is configured for the mode
    return chosen or [""]


def moment(value: str, option: str) -> datetime | None:
    """A date or ISO date-time option (UTC unless it says otherwise); None when empty."""
    if not value:
        return None
    found = parse_datetime(value)
    if found is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{option}: not a date or date-time: {value!r}")
        found = datetime(day.year, day.month, day.day)
    return found if found.tzinfo else found.replace(tzinfo=UTC)
