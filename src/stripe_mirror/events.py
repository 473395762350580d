"""The event object handlers receive: typed, immutable, built from the recorded body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson


def freeze(value: Any) -> Any:
    """A read-only deep copy of parsed JSON: dicts become mappingproxies, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of ``freeze``: plain dicts and lists again (for json.dumps, say)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class EventData:
    #: The object's state when the event happened (``data.object``).
    object: Mapping[str, Any]
    #: For ``*.updated`` events, the changed fields' previous values; None otherwise.
    previous_attributes: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class StripeEvent:
    """One Stripe event, as a handler sees it."""

    id: str
    type: str
    created: datetime
    livemode: bool
    #: The Connect account the event happened on (``event.account``); None for the platform.
    account: str | None
    api_version: str | None
    data: EventData
    #: The whole event as Stripe sent it, read-only.
    payload: Mapping[str, Any]
    #: The name of the endpoint it was delivered to.
    endpoint: str = ""

    @property
    def object(self) -> Mapping[str, Any]:
        """Shortcut for ``event.data.object``."""
        return self.data.object

    @property
    def previous_attributes(self) -> Mapping[str, Any] | None:
        return self.data.previous_attributes

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, endpoint: str = "") -> StripeEvent:
        """Build from a parsed v1 event (already checked by ``envelope.parse``)."""
        if payload.get("object") != "event":
            raise ValueError("not a v1 snapshot event (thin v2 notifications have no data)")
        frozen = freeze(dict(payload))
        data = frozen["data"]
        return cls(
            id=frozen["id"],
            type=frozen["type"],
            created=datetime.fromtimestamp(frozen["created"], tz=UTC),
            livemode=frozen["livemode"],
            account=frozen.get("account"),
            api_version=frozen.get("api_version"),
            data=EventData(
                object=data["object"], previous_attributes=data.get("previous_attributes")
            ),
            payload=frozen,
            endpoint=endpoint,
        )

    @classmethod
    def from_json(cls, body: str | bytes, *, endpoint: str = "") -> StripeEvent:
        return cls.from_payload(orjson.loads(body), endpoint=endpoint)
