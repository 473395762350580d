"""Stage 5: where a snapshot came from (``Origin``): its ordering watermark and its scope.

Its own module so that every part of the sync (and the refetch, which reads the scope to ask
Stripe) can name it without importing ``upsert``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Suffix of the ``event_id`` of a state read from the Stripe API (an origin, and the row
#: that holds such a state): read after its second's events were recorded, it is at least as
#: new as any of them.
REFETCHED = "+refetch"


@dataclass(frozen=True, slots=True)
class Origin:
    """The event a snapshot came from: its ordering watermark and its scope."""

    event_id: str
    event_type: str
    created: datetime
    account: str
    livemode: bool
    api_version: str | None = None
    #: ``previous_attributes`` of the event, for its own object only.
    previous: Mapping[str, Any] | None = None

    @property
    def fetched(self) -> bool:
        """The snapshot was read from the Stripe API (``refetch.py``), not carried by an event."""
        return self.event_id.endswith(REFETCHED)
