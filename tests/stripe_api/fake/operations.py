"""What can happen to the fake's objects, from a test or through the API: create, update,
delete (each with its v1 event, as Stripe records one), thin v2 events, Connect accounts.

The API's POST create/update are generic: the type's fixture plus the parameters, top-level
keys replaced (metadata merged key by key, ``""`` removing one). That is enough for prices,
products, customers and webhook endpoints; it is not Stripe's business logic (use localstripe
for subscriptions that invoice and charge).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tests.stripe_data import objects

from . import errors, shapes
from .store import Entry, Scope, Store

#: Write-only parameters a create or update accepts beside the type's properties.
_WRITE_ONLY = {"webhook_endpoint": frozenset({"connect", "disabled"})}


class Operations:
    def __init__(self, store: Store) -> None:
        self.store = store
        #: Whether changes record v1 events (as Stripe does); a test may turn it off.
        self.record_events = True
        self.api_version = shapes.DEFAULT_API_VERSION

    # --- objects -----------------------------------------------------------------------

    def create(self, scope: Scope, object_type: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        obj = shapes.build(object_type, fields, livemode=scope.livemode)
        if object_type == "webhook_endpoint":
            _new_webhook_endpoint(obj)
        self.store.put(scope, obj)
        self._record(scope, "created", obj)
        return obj

    def put(self, scope: Scope, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as given (lists given as Python lists become list objects)."""
        if not isinstance(obj.get("id"), str) or not isinstance(obj.get("object"), str):
            raise ValueError("an object needs a string id and object")
        stored = shapes.with_list_objects(dict(obj))
        self.store.put(scope, stored)
        return stored

    def update(self, scope: Scope, object_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        entry = self.existing(scope, object_id)
        obj = dict(entry.obj)
        previous: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "metadata" and isinstance(value, Mapping):
                old = dict(obj.get("metadata") or {})
                previous["metadata"] = {name: old.get(name) for name in value}
                merged = {**old, **value}
                obj["metadata"] = {name: item for name, item in merged.items() if item != ""}
            elif obj.get(key) != value:
                previous[key] = obj.get(key)
                obj[key] = value
        if obj["object"] == "webhook_endpoint" and "disabled" in changes:
            obj["status"] = "disabled" if obj.pop("disabled") in (True, "true") else "enabled"
        self.store.put(scope, shapes.with_list_objects(obj))
        self._record(scope, "updated", obj, previous_attributes=previous)
        return obj

    def delete(self, scope: Scope, object_id: str) -> dict[str, Any]:
        """Stripe's DELETE: a deletable object becomes a ``deleted: true`` stub; a
        subscription is canceled (it stays, with status ``canceled``)."""
        entry = self.existing(scope, object_id)
        object_type = entry.obj["object"]
        if object_type == "subscription":
            now = int(time.time())
            canceled = {"status": "canceled", "canceled_at": now, "ended_at": now}
            obj = {**entry.obj, **canceled}
            self.store.put(scope, obj)
            self._record(scope, "deleted", obj)
            return obj
        if not objects().get(object_type, {}).get("deletable"):
            raise errors.unrecognized_url("DELETE", f"{object_type} {object_id}")
        self.store.mark_deleted(scope, object_id)
        self._record(scope, "deleted", entry.obj)
        return shapes.deleted_stub(entry.obj)

    def existing(self, scope: Scope, object_id: str, object_type: str = "") -> Entry:
        entry = self.store.get(scope, object_id)
        if entry is None or entry.deleted or object_type not in ("", entry.obj["object"]):
            raise errors.no_such(object_type or (entry.obj["object"] if entry else ""), object_id)
        return entry

    def check_writable(self, object_type: str, params: Mapping[str, Any]) -> None:
        allowed = shapes.filterable(object_type) | _WRITE_ONLY.get(object_type, frozenset())
        for name in params:
            if name not in allowed or name in ("id", "object", "created", "livemode"):
                raise errors.unknown_parameter(name)

    # --- events ------------------------------------------------------------------------

    def _record(self, scope: Scope, action: str, obj: Mapping[str, Any], **kwargs: Any) -> None:
        if not self.record_events or obj["object"] == "event":
            return
        try:
            event_type = shapes.event_type_for(obj["object"], action)
        except ValueError:
            return  # no event of Stripe's says this
        self.emit(scope, event_type, obj, **kwargs)

    def emit(
        self, scope: Scope, event_type: str, obj: Mapping[str, Any], **kwargs: Any
    ) -> dict[str, Any]:
        """Record a v1 event about ``obj`` (as it is now) in ``scope``'s /v1/events."""
        kwargs.setdefault("api_version", self.api_version)
        event = shapes.event(
            event_type, obj, account=scope.account, livemode=scope.livemode, **kwargs
        )
        self.store.put(scope, event)
        return event

    def thin_event(
        self,
        scope: Scope,
        event_type: str,
        related: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None = None,
        created: datetime | None = None,
    ) -> dict[str, Any]:
        """Record a v2 event (``GET /v2/core/events/{id}`` in its context, ``scope``)."""
        event = shapes.thin_event(
            event_type,
            related,
            context=scope.account,
            livemode=scope.livemode,
            data=data,
            created=created,
        )
        self.store.put(scope, event)
        return event

    # --- Connect -----------------------------------------------------------------------

    def connect(
        self, livemode: bool, account_id: str | None, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A connected account: listed at /v1/accounts, usable in ``Stripe-Account``."""
        given = {"id": account_id} if account_id else {}
        account = shapes.build("account", {**fields, **given}, livemode=livemode)
        self.store.put(Scope(livemode, None), account)
        return account

    def check_account(self, scope: Scope) -> bool:
        if scope.account is None:
            return True
        entry = self.store.get(Scope(scope.livemode, None), scope.account)
        return entry is not None and not entry.deleted


def _new_webhook_endpoint(obj: dict[str, Any]) -> None:
    obj["secret"] = "whsec_" + secrets.token_hex(16)
    obj["status"] = "disabled" if obj.pop("disabled", None) in (True, "true") else "enabled"
    obj.pop("connect", None)
    obj.setdefault("api_version", None)
