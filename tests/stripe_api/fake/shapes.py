"""Objects in current Stripe shapes: built from fixtures3.json, rendered as Stripe answers.

An object is built from its fixture with a fresh id, ``created`` now (or given) and the fields
a test gives. A list field given as a Python list becomes a Stripe list object (its ``url``
the nested list endpoint); Stripe embeds at most ``EMBEDDED_LIMIT`` items of such a list in an
object (``has_more`` tells the rest is at its url), and so does ``render``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stripe_mirror.testing import DEFAULT_API_VERSION, build_event, event_id
from tests.stripe_data import event_types, fixture, fixtures, objects, unique_id

from .paths import collection_of

#: Items of an embedded list that Stripe includes in the object (invoice lines,
#: subscription items); the rest is read from the list's own endpoint.
EMBEDDED_LIMIT = 10

#: Where an embedded list's items are listed, when not at <collection>/<id>/<field>.
_LIST_URLS = {("subscription", "items"): "/v1/subscription_items?subscription={id}"}


def build(object_type: str, fields: Mapping[str, Any], *, livemode: bool = False) -> dict[str, Any]:
    """A new ``object_type`` object: its fixture, a fresh id, the given ``fields``."""
    if object_type in fixtures():
        obj = fixture(object_type)
    else:  # a type with no fixture: just what identifies it
        obj = {"id": unique_id(object_type.rsplit(".", maxsplit=1)[-1][:4]), "object": object_type}
    obj["object"] = object_type
    obj["created"] = int(time.time())
    if "livemode" in obj or "livemode" in _properties(object_type):
        obj["livemode"] = livemode
    for key, value in fields.items():
        obj[key] = value
    return with_list_objects(obj)


def with_list_objects(obj: dict[str, Any]) -> dict[str, Any]:
    """Turn list fields given as Python lists into Stripe list objects with their url (new
    dicts: the lists of the object given are not changed)."""
    properties = _properties(obj["object"])
    for key, given in list(obj.items()):
        value = given
        if isinstance(given, list) and properties.get(key, {}).get("type") == "list":
            value = {"object": "list", "data": given}
        if isinstance(value, dict) and value.get("object") == "list" and "id" in obj:
            template = _LIST_URLS.get((obj["object"], key), "{collection}/{id}/{field}")
            url = template.format(collection=collection_of(obj["object"]), id=obj["id"], field=key)
            rest = {name: item for name, item in value.items() if name != "total_count"}
            obj[key] = {**rest, "has_more": False, "url": url}
    return obj


def _properties(object_type: str) -> dict[str, Any]:
    spec = objects().get(object_type)
    return spec["properties"] if spec else {}


def filterable(object_type: str) -> frozenset[str]:
    """The top-level properties of a type: the list filters the fake accepts for it."""
    return frozenset(_properties(object_type))


def render(obj: Mapping[str, Any], *, created: bool = False) -> dict[str, Any]:
    """``obj`` as Stripe answers it: embedded lists cut at ``EMBEDDED_LIMIT`` items, and the
    secret of a webhook endpoint only in the answer that ``created`` it. A shallow copy:
    what it shares with ``obj`` must not be changed (it is serialized, or handed to a test
    through ``copy.deepcopy``)."""
    shown = dict(obj)
    for key, value in shown.items():
        if isinstance(value, dict) and value.get("object") == "list":
            data = value.get("data") or []
            shown[key] = {
                **value,
                "data": data[:EMBEDDED_LIMIT],
                "has_more": len(data) > EMBEDDED_LIMIT,
            }
    if shown.get("object") == "webhook_endpoint" and not created:
        shown.pop("secret", None)
    return shown


def deleted_stub(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": obj["id"], "object": obj["object"], "deleted": True}


def event_type_for(object_type: str, action: str) -> str:
    """The v1 event type for an action on a type: ``customer.created``,
    ``customer.subscription.updated``..."""
    candidates = [
        name
        for name, spec in event_types().items()
        if spec["current"] and spec["object_types"] == [object_type] and spec["action"] == action
    ]
    if f"{object_type}.{action}" in candidates:
        return f"{object_type}.{action}"
    if len(candidates) != 1:
        raise ValueError(f"no single {action} event type for {object_type}: {candidates}")
    return candidates[0]


def event(
    event_type: str,
    obj: Mapping[str, Any],
    *,
    account: str | None,
    livemode: bool,
    created: int | None = None,
    api_version: str | None = DEFAULT_API_VERSION,
    previous_attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    built = build_event(
        event_type,
        render(obj),
        created=created,
        livemode=livemode,
        account=account,
        api_version=api_version,
        previous_attributes=previous_attributes,
    )
    built["pending_webhooks"] = 0
    return built


def thin_event(
    event_type: str,
    related: Mapping[str, Any] | None,
    *,
    context: str | None,
    livemode: bool,
    data: Mapping[str, Any] | None = None,
    created: datetime | None = None,
) -> dict[str, Any]:
    """A v2 event as ``GET /v2/core/events/{id}`` answers it (Stripe's API reference)."""
    when = created or datetime.now(UTC)
    related_object = None
    if related is not None:
        url = f"{collection_of(related['object'])}/{related['id']}"
        related_object = {"id": related["id"], "type": related["object"], "url": url}
    return {
        "id": event_id(),
        "object": "v2.core.event",
        "type": event_type,
        "created": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "livemode": livemode,
        "context": context,
        "reason": {"type": "request", "request": {"id": unique_id("req"), "idempotency_key": None}},
        "related_object": related_object,
        "data": dict(data) if data is not None else None,
        "changes": None,
    }


def thin_notification(full: Mapping[str, Any]) -> dict[str, Any]:
    """What Stripe POSTs to an event destination for a v2 event: no ``data``, no ``changes``."""
    return {key: value for key, value in full.items() if key not in ("data", "changes")}
