"""Stripe's URL paths and the object types they name.

``/v1/customers`` lists ``customer`` objects, ``/v1/checkout/sessions/cs_1`` is one
``checkout.session``, ``/v1/invoices/in_1/lines`` the ``lines`` list embedded in an invoice.
A path's collection is found by trying its longest prefix that names a known object type
(objects.json), so ids never need to be told apart from collection names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from tests.stripe_data import fixtures, objects

#: Older paths of a collection (the SDK uses /v1/balance_transactions).
_TYPE_OF_PATH = {"balance/history": "balance_transaction"}


@dataclass(frozen=True)
class Target:
    """What a /v1 path names: a collection, one object of it, or a list inside that object."""

    object_type: str
    collection: str  # "/v1/customers"
    id: str | None = None
    field: str | None = None  # "sources" in /v1/customers/cus_1/sources

    @property
    def url(self) -> str:
        if self.id is None:
            return self.collection
        return f"{self.collection}/{self.id}" + (f"/{self.field}" if self.field else "")


@cache
def known_types() -> frozenset[str]:
    return frozenset(objects()) | frozenset(
        name for name in fixtures() if not name.startswith("deleted_")
    )


def collection_of(object_type: str) -> str:
    """``customer`` -> ``/v1/customers``; ``billing.meter`` -> ``/v1/billing/meters``."""
    *namespace, name = object_type.split(".")
    plural = name[:-1] + "ies" if name.endswith("y") and name[-2:-1] not in "aeiou" else name + "s"
    return "/v1/" + "/".join([*namespace, plural])


def _type_of(segments: list[str]) -> str | None:
    joined = "/".join(segments)
    if joined in _TYPE_OF_PATH:
        return _TYPE_OF_PATH[joined]
    *namespace, plural = segments
    if plural.endswith("ies"):
        singular = plural[:-3] + "y"
    elif plural.endswith("s"):
        singular = plural[:-1]
    else:
        return None
    name = ".".join([*namespace, singular])
    return name if name in known_types() else None


def resolve(path: str) -> Target | None:
    """The target of a /v1 path, or None when no object type has such a collection."""
    segments = [part for part in path.split("/") if part]
    if len(segments) < 2 or segments[0] != "v1":
        return None
    segments = segments[1:]
    for size in range(len(segments), 0, -1):
        object_type = _type_of(segments[:size])
        if object_type is None:
            continue
        rest = segments[size:]
        if len(rest) > 2:
            return None
        collection = "/v1/" + "/".join(segments[:size])
        object_id = rest[0] if rest else None
        field = rest[1] if len(rest) == 2 else None
        return Target(object_type, collection, object_id, field)
    return None
