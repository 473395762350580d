"""Stage 5e: find every mirrored row of one payment, from the ids known so far."""

from __future__ import annotations

from . import sql
from .payment import _Ids, _Rows, _Scope

#: How many rounds of queries may follow the first (a payment has few objects).
_MAX_ROUNDS = 4


def _discover(alias: str, scope: _Scope, ids: _Ids) -> _Rows:
    """Load the rows naming any known id until no new id turns up (``ids`` grows). Each round
    queries only the ids the previous one found."""
    rows = _Rows()
    query = ids.copy()
    for _ in range(_MAX_ROUNDS + 1):
        before = ids.copy()
        for r in rows.merge(sql.load_rows(alias, scope, query)):
            ids.add(*(r[column] for column in _NAMES[r["_kind"]]))
        query = ids.minus(before)
        if not query.size():
            break
    return rows


#: Of each kind of row, the columns holding its (invoice, payment intent, charge) ids.
_NAMES = {
    "invoices": ("stripe_id", "payment_intent_id", "charge_id"),
    "payments": ("invoice_id", "payment_intent_id", "charge_id"),
    "intents": ("invoice_id", "stripe_id", "latest_charge_id"),
    "charges": ("invoice_id", "payment_intent_id", "stripe_id"),
}
