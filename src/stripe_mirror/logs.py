"""Structured fields for log records about one event (the foundation: any stage may use it).

Every log line the library writes about an event carries them as ``extra``, so that a JSON
log formatter gets them as fields: ``stripe_event_id``, ``stripe_event_type``,
``stripe_account``, ``stripe_livemode``, ``stripe_attempt``, ``stripe_handler`` and
``stripe_inbox_id`` (the inbox row's primary key), each only when known. Never a secret, a
body or an object's data.
"""

from __future__ import annotations

from typing import Any, Protocol


class _EventLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def account(self) -> str | None: ...

    @property
    def livemode(self) -> bool: ...


#: The fields a caller may give one by one (those of ``event`` come from it).
FIELDS = ("event_id", "event_type", "account", "livemode", "inbox_id", "attempt", "handler")


def event_extra(event: _EventLike | None = None, **known: Any) -> dict[str, Any]:
    """The ``extra`` of a log call about ``event`` (a StripeEvent or a parsed Envelope) and
    the ``known`` fields (``FIELDS``; None values are left out)."""
    if event is not None:
        known = {
            "event_id": event.id,
            "event_type": event.type,
            "account": event.account or "",
            "livemode": event.livemode,
            **known,
        }
    unknown = set(known) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown log fields: {sorted(unknown)}")
    return {f"stripe_{name}": value for name, value in known.items() if value is not None}


def origin_extra(origin: Any) -> dict[str, Any]:
    """The fields of the event a mirrored snapshot came from (``sync.origin.Origin``)."""
    return event_extra(
        event_id=origin.event_id,
        event_type=origin.event_type,
        account=origin.account,
        livemode=origin.livemode,
    )
