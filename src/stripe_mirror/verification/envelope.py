"""Stage 2b: JSON parsing and event-envelope checks. Pure functions over bytes.

Two kinds of notification reach a webhook endpoint:

* a classic v1 *snapshot* event (``"object": "event"``) whose ``data.object`` is the
  object's state when the event happened;
* a v2 *thin* event notification (``"object": "v2.core.event"``) that only names a
  ``related_object``. These are recorded, and processed by fetching the event and its
  object from Stripe (``handlers/thin.py``) when an API key is configured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import InvalidEnvelope, InvalidJson, NotAnObject, NotUtf8
from ..events import Envelope, EventKind

# Limits match the inbox columns (models/inbox.py): a value that the database would refuse
# must be refused here, with a 400 naming it, not fail the insert with a 503 that Stripe
# would retry for days.
_MAX_ID_LENGTH = 255
_MAX_TYPE_LENGTH = 255
_MAX_API_VERSION_LENGTH = 64
_MAX_OBJECT_TYPE_LENGTH = 100
_MAX_UNIX_TIME = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second datetime can hold
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Stripe ids and API versions: visible ASCII, no spaces (a space or a NUL would compare
#: equal to a shorter id under MariaDB's PAD SPACE collations, or be refused by PostgreSQL).
_TOKEN = re.compile(r"[!-~]+")


def parse(body: bytes) -> Envelope:
    """Decode and check a webhook body.

    Raises NotUtf8, InvalidJson, NotAnObject or InvalidEnvelope; nothing else.
    """
    payload = _decode(body)
    kind = payload.get("object")
    if kind == "event":
        return _snapshot(payload)
    if kind == "v2.core.event":
        return _thin(payload)
    raise InvalidEnvelope('"object" must be "event" or "v2.core.event"')


def _decode(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise NotUtf8("body is not valid UTF-8") from None
        raise InvalidJson(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise NotAnObject("body is JSON but not an object")
    return payload


def _snapshot(payload: dict[str, Any]) -> Envelope:
    event_id = _identifier(payload, "id", prefix="evt_")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidEnvelope('"data" must be an object')
    obj = data.get("object")
    if not isinstance(obj, dict):
        raise InvalidEnvelope('"data.object" must be an object')
    previous = data.get("previous_attributes")
    if previous is not None and not isinstance(previous, dict):
        raise InvalidEnvelope('"data.previous_attributes" must be an object')
    created = payload.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise InvalidEnvelope('"created" must be a unix timestamp')
    if not 0 <= created <= _MAX_UNIX_TIME:
        raise InvalidEnvelope('"created" is out of range')
    return Envelope(
        kind=EventKind.SNAPSHOT,
        id=event_id,
        type=_event_type(payload),
        created=datetime.fromtimestamp(created, tz=UTC),
        livemode=_livemode(payload),
        account=_optional_token(payload, "account", _MAX_ID_LENGTH),
        api_version=_optional_token(payload, "api_version", _MAX_API_VERSION_LENGTH),
        object_id=_informational(obj, "id", _MAX_ID_LENGTH),
        object_type=_informational(obj, "object", _MAX_OBJECT_TYPE_LENGTH),
        payload=payload,
    )


def _thin(payload: dict[str, Any]) -> Envelope:
    related = payload.get("related_object")
    if related is not None and not isinstance(related, dict):
        raise InvalidEnvelope('"related_object" must be an object')
    related = related or {}
    return Envelope(
        kind=EventKind.THIN,
        id=_identifier(payload, "id", prefix="evt_"),
        type=_event_type(payload),
        created=_rfc3339(payload.get("created")),
        livemode=_livemode(payload),
        account=_optional_token(payload, "context", _MAX_ID_LENGTH),
        api_version=None,
        object_id=_informational(related, "id", _MAX_ID_LENGTH),
        object_type=_informational(related, "type", _MAX_OBJECT_TYPE_LENGTH),
        payload=payload,
    )


def _rfc3339(value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidEnvelope('"created" must be an RFC 3339 timestamp')
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEnvelope('"created" must be an RFC 3339 timestamp') from None
    if when.tzinfo is None:
        raise InvalidEnvelope('"created" must carry a time zone')
    try:
        # Year 1 or 9999 shifted by its offset leaves datetime's range.
        when = when.astimezone(UTC)
    except OverflowError:
        raise InvalidEnvelope('"created" is out of range') from None
    if when < _EPOCH:
        raise InvalidEnvelope('"created" is out of range')
    return when


def _identifier(payload: Mapping[str, Any], key: str, *, prefix: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.startswith(prefix):
        raise InvalidEnvelope(f'"{key}" must be a string starting with "{prefix}"')
    if len(value) > _MAX_ID_LENGTH or not _TOKEN.fullmatch(value):
        raise InvalidEnvelope(f'"{key}" is not a valid Stripe id')
    return value


def _event_type(payload: Mapping[str, Any]) -> str:
    value = payload.get("type")
    if not isinstance(value, str) or not value or len(value) > _MAX_TYPE_LENGTH:
        raise InvalidEnvelope('"type" must be a non-empty string')
    if not value.isprintable():
        raise InvalidEnvelope('"type" must be printable')
    return value


def _livemode(payload: Mapping[str, Any]) -> bool:
    value = payload.get("livemode")
    if not isinstance(value, bool):
        raise InvalidEnvelope('"livemode" must be true or false')
    return value


def _optional_token(payload: Mapping[str, Any], key: str, max_length: int) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _TOKEN.fullmatch(value) or len(value) > max_length:
        raise InvalidEnvelope(f'"{key}" must be null or an id of at most {max_length} characters')
    return value


def _informational(obj: Mapping[str, Any], key: str, max_length: int) -> str | None:
    """The object's id or type for the inbox's index columns, or None when it has none
    that fits. The event is authentic: an odd object is kept, not refused."""
    value = obj.get(key)
    if isinstance(value, str) and _TOKEN.fullmatch(value) and len(value) <= max_length:
        return value
    return None
