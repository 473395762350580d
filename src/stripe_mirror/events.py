"""The event as the stages pass it on: ``Envelope``, what the endpoint parsed (stage 2 hands it
to the inbox, stage 3), and ``StripeEvent``, what handlers receive, built from the recorded
body. Typed and immutable."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson


class EventKind(enum.StrEnum):
    SNAPSHOT = "snapshot"  # v1 event: data.object carries the object
    THIN = "thin"  # v2 event notification: related_object names it


@dataclass(frozen=True, slots=True)
class Envelope:
    """The checked fields of an event, plus the parsed payload (not to be mutated)."""

    kind: EventKind
    id: str
    type: str
    created: datetime
    livemode: bool
    account: str | None
    api_version: str | None
    object_id: str | None
    object_type: str | None
    payload: Mapping[str, Any]


def freeze(value: Any) -> Any:
    """A read-only deep copy of parsed JSON: dicts become mappingproxies, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value


class FrozenJSON(Mapping[str, Any]):
    """A read-only view of a parsed JSON object that nobody else holds: what ``freeze``
    gives, made as it is read (nested dicts are wrapped, lists turned into tuples, when they
    are looked up) instead of all at once. A handler usually reads a few fields of a large
    event: freezing all of it up front cost more than the rest of building the event."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return _view(self._data[key])

    def get(self, key: str, default: Any = None) -> Any:
        value = self._data.get(key, _MISSING)
        return default if value is _MISSING else _view(value)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenJSON):
            return self._data == other._data
        if isinstance(other, Mapping):
            return bool(self._data == thaw(other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # (like a dict)

    def __repr__(self) -> str:
        return f"FrozenJSON({self._data!r})"


_MISSING = object()


def _view(value: Any) -> Any:
    if isinstance(value, dict):
        return FrozenJSON(value)
    if isinstance(value, list):
        return tuple(_view(item) for item in value)
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
        """Build from a parsed v1 event (already checked by ``envelope.parse``); the event
        holds a copy of it (later changes to ``payload`` do not reach it)."""
        try:
            copy = orjson.loads(orjson.dumps(payload, default=thaw))
        except TypeError:  # not JSON (an integer beyond 64 bits, say): copy it by hand
            copy = thaw(payload)
        return cls._own(copy, endpoint)

    @classmethod
    def from_json(cls, body: str | bytes, *, endpoint: str = "") -> StripeEvent:
        return cls._own(orjson.loads(body), endpoint)

    @classmethod
    def _own(cls, payload: dict[str, Any], endpoint: str) -> StripeEvent:
        """Build from a parsed event that nobody else holds (it is not copied)."""
        if payload.get("object") != "event":
            raise ValueError("not a v1 snapshot event (thin v2 notifications have no data)")
        frozen = FrozenJSON(payload)
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


def shared_event(payload: dict[str, Any], *, endpoint: str = "") -> StripeEvent:
    """The event as a read-only view over ``payload``, a parsed v1 event that the caller
    keeps and shares but never changes (the dispatcher gives the same parse to the mirror,
    which only reads it): nothing is copied."""
    return StripeEvent._own(payload, endpoint)


@dataclass(frozen=True, slots=True)
class ThinEvent:
    """A v2 (thin) event, as a handler sees it: the notification's fields, and what the
    mirror fetched before any handler ran (eagerly, in the attempt: ``docs/handlers.md``)."""

    id: str
    #: The v2 type, e.g. ``v1.billing.meter.error_report_triggered``.
    type: str
    created: datetime
    livemode: bool
    #: The Connect account the event happened in (``context``); None for the platform.
    context: str | None
    #: ``{"id", "type", "url"}`` of the object the event is about; None if it names none.
    related_object: Mapping[str, Any] | None
    #: The notification as Stripe sent it, read-only.
    payload: Mapping[str, Any]
    #: The full event from ``GET /v2/core/events/{id}``; None before it is fetched (only
    #: in ``event_failed`` when the fetch itself failed).
    fetched: Mapping[str, Any] | None = None
    #: The related object from its ``url``, fetched (None if there is none, or not fetched).
    object: Mapping[str, Any] | None = None
    #: When the fetch started (UTC): the object is at least that new (``sync/reads.py``).
    fetched_at: datetime | None = None
    endpoint: str = ""

    @property
    def account(self) -> str | None:
        """``context``, under the name a ``StripeEvent`` gives it (logs, shared handlers)."""
        return self.context

    @property
    def data(self) -> Mapping[str, Any] | None:
        """The fetched event's ``data`` (None when it has none, or was not fetched)."""
        return self.fetched.get("data") if self.fetched is not None else None

    @classmethod
    def from_notification(
        cls,
        payload: dict[str, Any],
        *,
        endpoint: str = "",
        fetched: dict[str, Any] | None = None,
        obj: dict[str, Any] | None = None,
        fetched_at: datetime | None = None,
    ) -> ThinEvent:
        """Build from a parsed notification (checked by ``envelope.parse``) that nobody else
        changes, and what was fetched for it."""
        frozen = FrozenJSON(payload)
        return cls(
            id=frozen["id"],
            type=frozen["type"],
            created=datetime.fromisoformat(frozen["created"]).astimezone(UTC),
            livemode=frozen["livemode"],
            context=frozen.get("context"),
            related_object=frozen.get("related_object"),
            payload=frozen,
            fetched=None if fetched is None else FrozenJSON(fetched),
            object=None if obj is None else FrozenJSON(obj),
            fetched_at=fetched_at,
            endpoint=endpoint,
        )


#: What the dispatcher hands to ``@on`` handlers.
AnyEvent = StripeEvent | ThinEvent
