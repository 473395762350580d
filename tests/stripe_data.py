"""Stripe's reference data for tests, and events built from it.

tests/data/ holds three files from Stripe's MIT-licensed repositories (licences alongside):
fixtures3.json (stripe/openapi: one example of every API object), objects.json (every object
type: its top-level properties, whether it can be deleted, what changed since 2023-08-16) and
event_types.json (every webhook event type and the object type(s) it carries).

    from tests.stripe_data import build_event_for, build_events

    event = build_event_for("invoice.paid")                # an invoice with a fresh id
    events = build_events("customer.source.created")       # one per object type it can carry

The fixtures are shapes, not data: their ids are placeholders shared between objects, so every
object built here gets a fresh id (and so do the children listed inside it), so that rows
never collide. Objects that Stripe sends without an id (invoice.upcoming's invoice, balance)
are built without one.
"""

from __future__ import annotations

import copy
import itertools
import json
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from stripe_mirror.models import TYPED_MODELS, StripeModel
from stripe_mirror.sync import Origin, upsert
from stripe_mirror.testing import build_event

DATA = Path(__file__).parent / "data"

_counter = itertools.count(1)


@cache
def _load(name: str) -> Mapping[str, Any]:
    loaded: Mapping[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


def fixtures() -> Mapping[str, Any]:
    """fixtures3.json's resources, by name (mostly the object type). Do not mutate."""
    resources: Mapping[str, Any] = _load("fixtures3.json")["resources"]
    return resources


def objects() -> Mapping[str, Any]:
    """objects.json's object types, by ``object`` value. Do not mutate."""
    found: Mapping[str, Any] = _load("objects.json")["objects"]
    return found


def event_types() -> Mapping[str, Any]:
    """event_types.json's event types (current and removed), by name. Do not mutate."""
    found: Mapping[str, Any] = _load("event_types.json")["event_types"]
    return found


def current_event_types() -> list[str]:
    """The event types of the current API version, sorted."""
    return sorted(name for name, spec in event_types().items() if spec["current"])


def object_types_of(event_type: str) -> tuple[str, ...]:
    """The object type(s) an event type carries (several for customer.source.*)."""
    return tuple(event_types()[event_type]["object_types"])


def deletable_types() -> frozenset[str]:
    """Object types Stripe can delete, according to objects.json."""
    return frozenset(name for name, spec in objects().items() if spec["deletable"])


def sent_without_id(event_type: str, object_type: str) -> bool:
    """True when Stripe sends this event's object without an id: objects that never have one
    (balance, cash_balance, ...), and invoice.upcoming, whose invoice does not exist yet."""
    if "id" not in objects()[object_type]["properties"]:
        return True
    description = event_types()[event_type].get("description") or ""
    return "will not have an invoice ID" in description


def unique_id(like: str) -> str:
    """A fresh id with the prefix of ``like`` (``cus_QXg1...`` -> ``cus_t000042...``)."""
    prefix = like.split("_", 1)[0] if "_" in like else like
    return f"{prefix}_t{next(_counter):06d}{secrets.token_hex(4)}"


def fixture(object_type: str, *, id: str | None = None) -> dict[str, Any]:
    """A fresh copy of the fixture of ``object_type`` with a new id (``id`` or a unique one).

    Lists embedded in the object (a subscription's items, an invoice's lines) get new ids too,
    and their back references to the parent follow the parent's new id.
    """
    obj: dict[str, Any] = copy.deepcopy(fixtures()[object_type])
    old_id = obj.get("id")
    if not isinstance(old_id, str):
        return obj
    obj["id"] = id or unique_id(old_id)
    for value in obj.values():
        if isinstance(value, dict) and value.get("object") == "list":
            _renumber_children(value.get("data") or [], old_id, obj["id"])
    return obj


def _renumber_children(children: list[Any], old_parent: str, new_parent: str) -> None:
    for child in children:
        if not isinstance(child, dict) or not isinstance(child.get("id"), str):
            continue
        child["id"] = unique_id(child["id"])
        for key, value in child.items():
            if value == old_parent:
                child[key] = new_parent


def object_for(event_type: str, object_type: str | None = None) -> dict[str, Any]:
    """The object an ``event_type`` event carries, built from its fixture."""
    types = object_types_of(event_type)
    object_type = object_type or types[0]
    if object_type not in types:
        raise ValueError(f"{event_type} does not carry {object_type} (only {types})")
    obj = fixture(object_type)
    if sent_without_id(event_type, object_type):
        obj.pop("id", None)
    return obj


def build_event_for(
    event_type: str, object_type: str | None = None, **event_kwargs: Any
) -> dict[str, Any]:
    """One event of ``event_type`` carrying a fresh object of ``object_type`` (default: the
    first type it carries). ``event_kwargs`` go to ``stripe_mirror.testing.build_event``."""
    return build_event(event_type, object_for(event_type, object_type), **event_kwargs)


def build_events(event_type: str, **event_kwargs: Any) -> list[dict[str, Any]]:
    """One event per object type that ``event_type`` can carry."""
    return [
        build_event_for(event_type, object_type, **event_kwargs)
        for object_type in object_types_of(event_type)
    ]


def event_type_carrying(object_type: str) -> str | None:
    """A current event type that carries ``object_type`` as a plain snapshot (preferably
    ``<x>.updated``), or None when no event carries it (line_item, balance_transaction)."""
    candidates = [
        name
        for name in current_event_types()
        if object_type in object_types_of(name)
        and name.rsplit(".", 1)[1] not in ("deleted", "upcoming")
        and len(object_types_of(name)) == 1
    ]
    updated = [name for name in candidates if name.endswith(".updated")]
    return (updated or candidates or [None])[0]


def sync(post: Callable[..., Any], obj: Mapping[str, Any], **event_kwargs: Any) -> StripeModel:
    """Mirror ``obj`` through the endpoint (``post``: the conftest fixture) or, for types no
    event carries, through the sync, and return its row. ``event_kwargs`` go to build_event
    (``api_version=...``)."""
    object_type = str(obj["object"])
    model = TYPED_MODELS[object_type]
    event_type = event_type_carrying(object_type)
    if event_type is None:
        origin = Origin(
            event_id="evt_fields",
            event_type=f"{object_type}.updated",
            created=datetime.now(tz=UTC),
            account="",
            livemode=False,
            api_version=event_kwargs.get("api_version"),
        )
        upsert(obj, origin)
    else:
        assert post(build_event(event_type, obj, **event_kwargs)).status_code == 200
    return model.objects.get(stripe_id=obj["id"])
