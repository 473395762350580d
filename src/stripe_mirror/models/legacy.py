"""Values that older API versions encode differently, derived into today's columns.

Most renames are only a different path (``account_balance`` for ``balance``): the column
declares it with ``old(path, before=...)``. The functions here are for the few fields whose
old shape has another encoding. Each takes the object and returns the column's value, or
``ABSENT`` when the object is not in that old shape (the next declared source is then tried).
The first paragraph of each docstring is what docs/models.md shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import ABSENT

#: API versions that moved several fields (invoices' payments and subscription, billing
#: periods onto subscription items, prices into ``pricing``; coupons into ``source``).
BASIL = "2025-03-31"
CLOVER = "2025-09-30"

#: Payment intent statuses renamed by API version 2019-02-11.
_INTENT_STATUS_RENAMES = {
    "requires_source": "requires_payment_method",
    "requires_source_action": "requires_action",
}


def invoice_status(invoice: Mapping[str, Any]) -> Any:
    """from `forgiven`, `paid`, `attempted`: uncollectible, paid, draft (not attempted) or open"""
    # Before 2018-11-08 an invoice had no status. Stripe's own mapping: forgiven became the
    # uncollectible status. An invoice was not attempted during its first hour, while it
    # could still be edited: what finalization later called a draft. ``closed`` only
    # stopped automatic collection (today's auto_advance), so it does not change the status.
    if not isinstance(invoice.get("paid"), bool):
        return ABSENT
    if invoice.get("forgiven") is True:
        return "uncollectible"
    if invoice["paid"]:
        return "paid"
    return "draft" if invoice.get("attempted") is False else "open"


def charge_disputed(charge: Mapping[str, Any]) -> Any:
    """from `dispute` (the dispute's id, or null)"""
    if "dispute" not in charge:
        return ABSENT
    return charge["dispute"] is not None


def intent_status(intent: Mapping[str, Any]) -> Any:
    """`requires_source` and `requires_source_action`, renamed `requires_payment_method` and
    `requires_action`"""
    return _INTENT_STATUS_RENAMES.get(str(intent.get("status")), ABSENT)


def line_subscription(line: Mapping[str, Any]) -> Any:
    """the line's own `id` (`sub_...`), for a line of `type` subscription"""
    # Before 2018-05-21 a subscription's line on an invoice was identified by the
    # subscription's id.
    line_id = line.get("id")
    is_old_id = isinstance(line_id, str) and line_id.startswith("sub_")
    if line.get("type") == "subscription" and is_old_id and not line.get("subscription"):
        return line_id
    return ABSENT
