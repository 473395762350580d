"""Command-line options that the backfill and catch-up commands share."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils.dateparse import parse_date, parse_datetime

from ..api import client_for
from ..api.listing import connected_accounts


def accounts(selection: str, livemode: bool) -> list[str]:
    """The accounts ``--accounts`` names: "" (the platform) alone by default, the platform
    and every connected account for ``all``, or the ids given. Raises ``ApiNotConfigured``
    when no key is configured for the mode."""
    if selection == "all":
        return ["", *connected_accounts(client_for(livemode))]
    chosen = [a.strip() for a in selection.split(",") if a.strip()]
    client_for(livemode)  # fails early when no key is configured for the mode
    return chosen or [""]


def moment(value: str, option: str) -> datetime | None:
    """A date or ISO date-time given to ``option`` (UTC unless it says), or None when empty."""
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{option}: not a date or date-time: {value!r}")
        parsed = datetime(day.year, day.month, day.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
