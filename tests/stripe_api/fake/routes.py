"""Requests to answers: which endpoint a method and path name, and what it answers.

/v1: list, retrieve, nested lists (``/v1/invoices/{id}/lines``, ``/v1/customers/{id}/sources``,
``/v1/subscription_items?subscription=``), create, update, delete, for any object type.
/v2: ``GET /v2/core/events/{id}`` and ``GET /v2/core/events?object_id=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import errors, listing, paths, query, shapes
from .operations import Operations
from .store import Entry, Scope

#: Top-level lists whose items live in a parent's embedded list: type -> (filter, field).
_CHILD_LISTS = {"subscription_item": ("subscription", "items")}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, Any]
    scope: Scope


class Routes:
    def __init__(self, operations: Operations) -> None:
        self.ops = operations
        self.store = operations.store

    def answer(self, call: Call) -> dict[str, Any]:
        if call.path.startswith("/v2/"):
            return self._v2(call)
        target = paths.resolve(call.path)
        if target is None or (target.field is not None and call.method != "GET"):
            raise errors.unrecognized_url(call.method, call.path)
        if call.method == "GET":
            if target.id is None:
                return self._list(call, target)
            if target.field is None:
                return self._retrieve(call.scope, target)
            return self._nested_list(call, target)
        if call.method == "POST":
            return self._write(call, target)
        if call.method == "DELETE" and target.id is not None:
            return self.ops.delete(call.scope, self._own(call.scope, target).obj["id"])
        raise errors.unrecognized_url(call.method, call.path)

    # --- reads -------------------------------------------------------------------------

    def _list(self, call: Call, target: paths.Target) -> dict[str, Any]:
        if target.object_type in _CHILD_LISTS:
            parent_param, field = _CHILD_LISTS[target.object_type]
            if parent_param not in call.params:
                raise errors.invalid(parent_param, f"Missing required param: {parent_param}.")
            params = {k: v for k, v in call.params.items() if k != parent_param}
            parent = paths.Target(
                parent_param, paths.collection_of(parent_param), call.params[parent_param], field
            )
            return self._nested_list(
                Call("GET", call.path, params, call.scope), parent, url=target.collection
            )
        listing.check_parameters(call.params, target.object_type)
        matches = listing.matcher(call.params, target.object_type)
        scope, object_type = call.scope, target.object_type
        with self.store.lock:
            return listing.page(
                self.store.newest_first(scope, object_type),
                call.params,
                url=target.collection,
                object_type=object_type,
                boundary=lambda cursor, after: self.store.boundary(
                    scope, object_type, cursor, after
                ),
                keep=lambda entry: not entry.deleted and matches(entry.obj),
                render=_rendered,
            )

    def _retrieve(self, scope: Scope, target: paths.Target) -> dict[str, Any]:
        assert target.id is not None
        entry = self.store.get(scope, target.id)
        if entry is not None and entry.obj["object"] == target.object_type:
            return shapes.deleted_stub(entry.obj) if entry.deleted else _rendered(entry)
        found = self.store.child(scope, target.id)
        if found is not None and found[1].get("object") == target.object_type:
            return shapes.render(found[1])
        raise errors.no_such(target.object_type, target.id)

    def _nested_list(
        self, call: Call, target: paths.Target, url: str | None = None
    ) -> dict[str, Any]:
        parent = self._own(call.scope, target)
        embedded = parent.obj.get(target.field or "")
        if not isinstance(embedded, dict) or embedded.get("object") != "list":
            raise errors.unrecognized_url(call.method, call.path)
        items: list[dict[str, Any]] = list(embedded.get("data") or [])
        index = {item.get("id"): number for number, item in enumerate(items)}
        unknown = set(call.params) - {"limit", "starting_after", "ending_before", "expand"}
        if unknown:
            raise errors.unknown_parameter(min(unknown))

        def boundary(cursor: str, after: bool) -> int | None:
            found = index.get(cursor)
            return None if found is None else found + after

        return listing.page(
            items,
            call.params,
            url=url or embedded.get("url") or target.url,
            object_type=str(items[0].get("object", "")) if items else "",
            boundary=boundary,
            keep=lambda item: True,
            render=shapes.render,
        )

    def _own(self, scope: Scope, target: paths.Target) -> Entry:
        assert target.id is not None
        return self.ops.existing(scope, target.id, target.object_type)

    # --- writes ------------------------------------------------------------------------

    def _write(self, call: Call, target: paths.Target) -> dict[str, Any]:
        self.ops.check_writable(target.object_type, call.params)
        if target.id is None:
            fields = _coerced(call.params, shapes.build(target.object_type, {}))
            if target.object_type == "webhook_endpoint" and "url" not in fields:
                raise errors.invalid("url", "Missing required param: url.")
            return shapes.render(
                self.ops.create(call.scope, target.object_type, fields), created=True
            )
        entry = self._own(call.scope, target)
        changes = _coerced(call.params, entry.obj)
        return shapes.render(self.ops.update(call.scope, entry.obj["id"], changes))

    # --- v2 ----------------------------------------------------------------------------

    def _v2(self, call: Call) -> dict[str, Any]:
        parts = call.path.strip("/").split("/")
        if call.method != "GET" or parts[:3] != ["v2", "core", "events"] or len(parts) > 4:
            raise errors.ApiError(
                404, f"Unrecognized request URL ({call.method}: {call.path}).", code="not_found"
            )
        if len(parts) == 4:
            entry = self.store.get(call.scope, parts[3])
            if entry is None or entry.obj["object"] != "v2.core.event":
                raise errors.ApiError(404, f"No such event: '{parts[3]}'", code="not_found")
            return dict(entry.obj)
        return self._v2_list(call)

    def _v2_list(self, call: Call) -> dict[str, Any]:
        object_id = call.params.get("object_id")
        limit = query.integer(call.params, "limit", 20) or 20
        offset = query.integer(call.params, "page", 0) or 0
        events = [
            entry.obj
            for entry in self.store.newest_first(call.scope, "v2.core.event")
            if object_id is None or (entry.obj.get("related_object") or {}).get("id") == object_id
        ]
        chosen = events[offset : offset + limit]
        more = offset + limit < len(events)
        base = f"/v2/core/events?limit={limit}" + (f"&object_id={object_id}" if object_id else "")
        return {
            "data": [dict(event) for event in chosen],
            "next_page_url": f"{base}&page={offset + limit}" if more else None,
            "previous_page_url": f"{base}&page={max(offset - limit, 0)}" if offset else None,
        }


def _rendered(entry: Entry) -> dict[str, Any]:
    if entry.rendered is None:
        entry.rendered = shapes.render(entry.obj)
    return entry.rendered


def _coerced(params: Mapping[str, Any], like: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as the types of the values they replace."""
    return {key: query.coerce(value, like.get(key)) for key, value in params.items()}
