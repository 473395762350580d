"""django-stripe-mirror: Stripe webhooks received, verified, recorded, dispatched, mirrored.

Public API: ``on`` (register a handler), ``StripeEvent`` (what a handler receives;
``ThinEvent`` for a v2 event), ``apply_api_object`` (read-your-writes: mirror an object your
own API call returned).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .dispatch.registry import on
from .events import EventData, StripeEvent, ThinEvent

if TYPE_CHECKING:
    import stripe

    from .sync import Outcome

__all__ = ["EventData", "StripeEvent", "ThinEvent", "apply_api_object", "on"]
__version__ = "0.1.0.dev0"


def apply_api_object(
    obj: Mapping[str, Any] | stripe.StripeObject,
    *,
    started_at: datetime | None = None,
    livemode: bool | None = None,
    account: str | None = None,
) -> Outcome:
    """Write an object your own Stripe API call returned to the mirror, as a state read when
    the call started (``started_at``; see ``sync.reads.apply_api_object`` and
    docs/mirror.md), so that you see your write before its webhook arrives."""
    from .sync.reads import apply_api_object as apply  # the models load after the app's setup

    return apply(obj, started_at=started_at, livemode=livemode, account=account)
