"""Stage 5e: the link statements: load a payment's rows (one UNION ALL), lock the rows links
are written to. Their vendor branches (PostgreSQL's typed NULLs and binary collation, raw
values as each database returns them) are here only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.dateparse import parse_datetime

from ...db import cursor as statement_cursor
from ...db import equals, lock_order, run_each
from ...models import Charge, Invoice, InvoicePayment, PaymentIntent, StripeModel
from .payment import _Ids, _Scope


@dataclass(frozen=True, slots=True)
class _Load:
    """How one model's rows of a payment are found, and what of them the links need."""

    model: type[StripeModel]
    #: column -> the known ids (``invoices``, ``intents`` or ``charges``) it is matched with.
    match: dict[str, str]
    extra: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return ("id", *self.match, *self.extra)


_LOADS = {
    "invoices": _Load(
        Invoice,
        {"stripe_id": "invoices", "payment_intent_id": "intents", "charge_id": "charges"},
        extra=("renders_payment_intent", "renders_charge"),
    ),
    "payments": _Load(
        InvoicePayment,
        {"invoice_id": "invoices", "payment_intent_id": "intents", "charge_id": "charges"},
        extra=("stripe_id", "status", "is_default"),
    ),
    "intents": _Load(
        PaymentIntent,
        {"stripe_id": "intents", "invoice_id": "invoices", "latest_charge_id": "charges"},
        extra=("renders_invoice",),
    ),
    "charges": _Load(
        Charge,
        {"stripe_id": "charges", "payment_intent_id": "intents", "invoice_id": "invoices"},
        extra=("created", "renders_invoice"),
    ),
}


@cache
def fact_columns(model: type[StripeModel]) -> tuple[str, ...] | None:
    """The columns of ``model`` that the links load (what a payment's links derive from,
    and the derived ones), or None for a model without payment links."""
    for load in _LOADS.values():
        if load.model is model:
            return tuple(c for c in load.columns if c != "id")
    return None


#: Every column any kind of row is loaded with, in the order of the union's branches.
_UNION_COLUMNS = tuple(dict.fromkeys(c for load in _LOADS.values() for c in load.columns))


def load_rows(alias: str, scope: _Scope, ids: _Ids) -> list[dict[str, Any]]:
    """The rows of every kind naming any of ``ids``: one statement, a UNION ALL of one SELECT
    per model (plain SQL: this runs for every payment event, and building it with the ORM
    cost more than running it).

    The scope (account, mode) is checked here, not in the WHERE: next to it, a planner
    without statistics (a new table, autovacuum off) picks the index on ``account`` alone,
    which in a one-account mirror reads every row of the table, for every payment event."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    branches: list[str] = []
    params: list[Any] = []
    for kind, load in _LOADS.items():
        clauses: list[str] = []
        values: list[Any] = []
        for column, known in load.match.items():
            some = sorted(getattr(ids, known))
            if some:
                clauses.append(f"{quote(column)} IN ({', '.join(['%s'] * len(some))})")
                values.extend(some)
        if not clauses:
            continue
        match = " OR ".join(clauses)
        branches.append(f"{_branch(alias, kind)} {match}")
        params.extend(values)
    if not branches:
        return []
    with statement_cursor(connection) as cursor:
        cursor.execute(" UNION ALL ".join(branches), params)
        fetched = cursor.fetchall()
    found = []
    for kind, account, livemode, *values in fetched:
        if account != scope.account or bool(livemode) != scope.livemode:
            continue
        wanted = _LOADS[kind].columns
        row = {c: v for c, v in zip(_UNION_COLUMNS, values, strict=True) if c in wanted}
        found.append(_clean(row, kind))
    return found


@cache
def _branch(alias: str, kind: str) -> str:
    """The start of the union's SELECT for one kind of row, up to its WHERE."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    load = _LOADS[kind]
    columns = ", ".join(
        quote(c) if c in load.columns else _null(connection, c) for c in _UNION_COLUMNS
    )
    table = quote(load.model._meta.db_table)
    scope = f"{quote('account')}, {quote('livemode')}"
    return f"SELECT '{kind}', {scope}, {columns} FROM {table} WHERE"  # noqa: S608


def _null(connection: BaseDatabaseWrapper, column: str) -> str:
    """A NULL standing for a column a model lacks. PostgreSQL resolves the types of a union's
    columns branch by branch, so its NULL has to say its type."""
    if connection.vendor != "postgresql":
        return "NULL"
    for load in _LOADS.values():
        if column in load.columns:
            return f"NULL::{load.model._meta.get_field(column).db_type(connection)}"
    raise LookupError(column)


def _clean(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """Raw values as every database returns them: booleans may be 0/1, datetimes strings."""
    row["_kind"] = kind
    for name in ("renders_payment_intent", "renders_charge", "renders_invoice"):
        if name in row:
            row[name] = bool(row[name])
    if "is_default" in row and row["is_default"] is not None:
        row["is_default"] = bool(row["is_default"])
    if "created" in row:
        row["created"] = _epoch(row["created"])
    return row


def _epoch(value: object) -> float:
    """Seconds since the epoch of a datetime column's raw value (0 when null)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return 0.0
    if value.tzinfo is None:  # stored in UTC without a zone (SQLite, MariaDB)
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _lock_sql(connection: Any, model: type[StripeModel], count: int) -> str:
    quote = connection.ops.quote_name
    table, key = quote(model._meta.db_table), quote("stripe_id")
    account = equals(connection, quote("account"), "account")
    scoped = f"{account} AND {quote('livemode')} = %s"
    match = f"{key} IN ({', '.join(['%s'] * count)})"
    # In code point order, as lock_order sorts (a PostgreSQL database's collation, en_US
    # say, may order mixed-case ids otherwise).
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    order = f"ORDER BY {key}{collate} {connection.ops.for_update_sql()}"
    return f"SELECT {quote('id')} FROM {table} WHERE {scoped} AND {match} {order}"  # noqa: S608


def lock_rows(alias: str, scope: _Scope, ids: _Ids) -> set[tuple[type[StripeModel], int]]:
    """Lock the rows the links are written to, in the order of ``db.lock_order`` (by object
    type, then id), as a worker's batch does: no deadlock between two settling passes, or
    with a batch. Returns the rows locked (model, primary key)."""
    held: set[tuple[type[StripeModel], int]] = set()
    connection = connections[alias]
    by_type: list[tuple[type[StripeModel], set[str]]] = [
        (Charge, ids.charges),
        (Invoice, ids.invoices),
        (PaymentIntent, ids.intents),
    ]
    ordered = [
        (model, stripe_ids)
        for model, stripe_ids in lock_order(by_type, lambda entry: (entry[0].STRIPE_OBJECT, ""))
        if stripe_ids
    ]
    statements = [
        (
            _lock_sql(connection, model, len(stripe_ids)),
            [scope.account, scope.livemode, *sorted(stripe_ids)],
        )
        for model, stripe_ids in ordered
    ]
    # One message on PostgreSQL: its statements run one after the other, in this order.
    for (model, _), rows in zip(ordered, run_each(connection, statements), strict=True):
        held.update((model, pk) for (pk,) in rows)
    return held
