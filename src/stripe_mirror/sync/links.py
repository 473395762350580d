"""Stage 5e: the invoice <-> payment links, the same whichever API version rendered them.

Before API version 2025-03-31 an invoice named its ``payment_intent`` and ``charge``, and
charges and payment intents named their ``invoice``. Since then none of them does: an
``invoice_payment`` object (events ``invoice_payment.*``) links an invoice to a payment
intent (or a charge), and a charge names its payment intent.

The rule: a link column that the row's own object renders (the key is in its JSON, even
null) holds what the object says. One it does not render is DERIVED from what the mirrored
objects of the same payment render (their "facts"), never from other derived columns:

* Invoice.payment_intent: the invoice's invoice payments (paid first, then the default one,
  then any not canceled; ties by id), else a payment intent or charge that names the invoice;
* Invoice.charge: a charge-type invoice payment's charge, else the latest charge of the
  invoice's payment intent (the intent's ``latest_charge``, else its newest mirrored charge),
  else the newest charge that names the invoice;
* PaymentIntent.invoice: the invoice of the invoices or invoice payments naming the intent;
* Charge.invoice: the invoice naming or paid by the charge, else the invoice of its intent.

So each derived value is a function of the rows' current states, and it is recomputed
whenever one of the payment's rows is written: it ends the same whatever order the events
arrived in. Two transactions writing two rows of one payment concurrently cannot see each
other's row, so on databases with row locks the links are recomputed once more after
commit, under locks on the rows they write: the last of these sees every committed row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import DatabaseError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.dateparse import parse_datetime

from .. import rowsql
from ..failures import describe
from ..models import Charge, Invoice, InvoicePayment, PaymentIntent, StripeModel

logger = logging.getLogger("stripe_mirror.sync")

#: The models whose rows carry payment links.
LINKED: tuple[type[StripeModel], ...] = (Invoice, InvoicePayment, PaymentIntent, Charge)

_MAX_ROUNDS = 4
_SETTLE_ATTEMPTS = 3

#: A fact's sort key (lower wins) and the id it points to.
Ranked = tuple[tuple[Any, ...], str]


@dataclass(frozen=True, slots=True)
class _Scope:
    account: str
    livemode: bool


@dataclass(slots=True)
class _Ids:
    """The ids of one payment's objects, as far as they are known."""

    invoices: set[str] = field(default_factory=set)
    intents: set[str] = field(default_factory=set)
    charges: set[str] = field(default_factory=set)

    def add(self, invoice: str | None, intent: str | None, charge: str | None) -> None:
        for ids, value in (
            (self.invoices, invoice),
            (self.intents, intent),
            (self.charges, charge),
        ):
            if value:
                ids.add(value)

    def update(self, other: _Ids) -> None:
        self.invoices |= other.invoices
        self.intents |= other.intents
        self.charges |= other.charges

    def size(self) -> int:
        return len(self.invoices) + len(self.intents) + len(self.charges)

    def copy(self) -> _Ids:
        return _Ids(set(self.invoices), set(self.intents), set(self.charges))

    def minus(self, other: _Ids) -> _Ids:
        return _Ids(
            self.invoices - other.invoices,
            self.intents - other.intents,
            self.charges - other.charges,
        )

    def __str__(self) -> str:
        return ", ".join(sorted(self.invoices | self.intents | self.charges))


@dataclass(slots=True)
class _Rows:
    """The payment's mirrored rows, as plain dicts of the columns the links need."""

    invoices: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    intents: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[tuple[str, int]] = field(default_factory=set)

    def merge(self, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add the rows not loaded yet; returns them."""
        new = []
        for row in found:
            key = (row["_kind"], row["id"])
            if key not in self._seen:
                self._seen.add(key)
                getattr(self, row["_kind"]).append(row)
                new.append(row)
        return new


def reconcile(row: StripeModel) -> None:
    """Recompute the derived links of the payment ``row`` belongs to (an invoice, invoice
    payment, payment intent or charge that was just written)."""
    if not isinstance(row, LINKED):
        return
    scope = _Scope(row.account, row.livemode)
    ids = _seed(row)
    alias = router.db_for_write(type(row))
    derived = _derive(_discover(alias, scope, ids))  # ids grows to the whole payment
    if not connections[alias].features.has_select_for_update:
        _write(derived)  # one writer at a time (SQLite): nothing can race
        return
    # The row just written is locked by this transaction: its links are written now, so that
    # the event's handlers see them. The other rows of the payment are left to the pass
    # after commit, which locks them in a fixed order: writing them here, in whatever order
    # the events of a batch come, would let two workers deadlock.
    _write([d for d in derived if d[0] is type(row) and d[1]["id"] == row.pk])
    _settle_after_commit(alias, scope, ids)


def _seed(row: StripeModel) -> _Ids:
    ids = _Ids()
    if isinstance(row, Invoice):
        ids.add(row.stripe_id, row.payment_intent_id, row.charge_id)
    elif isinstance(row, InvoicePayment):
        ids.add(row.invoice_id, row.payment_intent_id, row.charge_id)
    elif isinstance(row, PaymentIntent):
        ids.add(row.invoice_id, row.stripe_id, row.latest_charge_id)
    elif isinstance(row, Charge):
        ids.add(row.invoice_id, row.payment_intent_id, row.stripe_id)
    return ids


# --- the after-commit pass ------------------------------------------------------------------

#: Attribute of a database connection: the payments whose links its transaction touched,
#: to settle once it commits (one pass for all the events of a worker's batch).
_PENDING = "_stripe_mirror_pending_links"


def _settle_after_commit(alias: str, scope: _Scope, ids: _Ids) -> None:
    connection = connections[alias]
    pending: dict[_Scope, _Ids] | None = getattr(connection, _PENDING, None)
    if pending is None:
        pending = {}
        setattr(connection, _PENDING, pending)
    pending.setdefault(scope, _Ids()).update(ids)
    # Registered each time: callbacks of a rolled-back savepoint are dropped, and the first
    # one run takes everything pending (the others find nothing left).
    transaction.on_commit(lambda: _settle_pending(alias), using=alias, robust=True)


def _settle_pending(alias: str) -> None:
    connection = connections[alias]
    pending: dict[_Scope, _Ids] = getattr(connection, _PENDING, None) or {}
    setattr(connection, _PENDING, None)
    for scope, ids in pending.items():
        _settle(scope, ids, alias)


def _settle(scope: _Scope, known: _Ids, alias: str) -> None:
    """Lock the payments' rows, then recompute their links from fresh reads."""
    ids = known.copy()
    failures = growths = 0
    while True:
        try:
            with transaction.atomic(using=alias):
                _locked_recompute(alias, scope, ids, final=growths >= _MAX_ROUNDS)
            return
        except _Grew:
            growths += 1
        except DatabaseError as exc:  # a deadlock with a worker's batch: try again
            failures += 1
            if failures == _SETTLE_ATTEMPTS:
                # Not the traceback: the database's message may quote the rows' data.
                logger.error("could not settle the payment links of %s: %s", known, describe(exc))
                return


class _Grew(Exception):
    """The payment has rows that were not locked: start again, locking them all in order."""


def _locked_recompute(alias: str, scope: _Scope, ids: _Ids, *, final: bool) -> None:
    """Lock the rows of every known id BEFORE reading what they derive from: a pass that read
    earlier could otherwise write an older answer over a newer one. Raises ``_Grew`` (unless
    ``final``) when the reads find more rows, or a row of a known id that did not exist yet
    when the locks were taken (another transaction committed it in between): locking those
    now, after the others, would break the order that keeps passes from deadlocking."""
    held = _lock(alias, scope, ids)
    locked = ids.copy()
    rows = _discover(alias, scope, ids)
    derived = _derive(rows)
    if not final and (
        ids.size() != locked.size() or any((m, r["id"]) not in held for m, r, _ in derived)
    ):
        raise _Grew
    _write(derived)


# --- loading a payment's rows -----------------------------------------------------------------


def _discover(alias: str, scope: _Scope, ids: _Ids) -> _Rows:
    """Load the rows naming any known id until no new id turns up (``ids`` grows). Each round
    queries only the ids the previous one found."""
    rows = _Rows()
    query = ids.copy()
    for _ in range(_MAX_ROUNDS + 1):
        before = ids.copy()
        for r in rows.merge(_load(alias, scope, query)):
            ids.add(*(r[column] for column in _NAMES[r["_kind"]]))
        query = ids.minus(before)
        if not query.size():
            break
    return rows


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

#: Of each kind of row, the columns holding its (invoice, payment intent, charge) ids.
_NAMES = {
    "invoices": ("stripe_id", "payment_intent_id", "charge_id"),
    "payments": ("invoice_id", "payment_intent_id", "charge_id"),
    "intents": ("invoice_id", "stripe_id", "latest_charge_id"),
    "charges": ("invoice_id", "payment_intent_id", "stripe_id"),
}


#: Every column any kind of row is loaded with, in the order of the union's branches.
_UNION_COLUMNS = tuple(dict.fromkeys(c for load in _LOADS.values() for c in load.columns))


def _load(alias: str, scope: _Scope, ids: _Ids) -> list[dict[str, Any]]:
    """The rows of every kind naming any of ``ids``: one statement, a UNION ALL of one SELECT
    per model (plain SQL: this runs for every payment event, and building it with the ORM
    cost more than running it)."""
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
        branches.append(f"{_branch(alias, kind)} AND ({match})")
        params.extend([scope.account, scope.livemode, *values])
    if not branches:
        return []
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(branches), params)
        fetched = cursor.fetchall()
    found = []
    for kind, *values in fetched:
        wanted = _LOADS[kind].columns
        row = {c: v for c, v in zip(_UNION_COLUMNS, values, strict=True) if c in wanted}
        found.append(_clean(row, kind))
    return found


@cache
def _branch(alias: str, kind: str) -> str:
    """The start of the union's SELECT for one kind of row, up to its WHERE's scope."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    load = _LOADS[kind]
    columns = ", ".join(
        quote(c) if c in load.columns else _null(connection, c) for c in _UNION_COLUMNS
    )
    table = quote(load.model._meta.db_table)
    scoped = f"{quote('account')} = %s AND {quote('livemode')} = %s"
    return f"SELECT '{kind}', {columns} FROM {table} WHERE {scoped}"  # noqa: S608


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


def _lock(alias: str, scope: _Scope, ids: _Ids) -> set[tuple[type[StripeModel], int]]:
    """Lock the rows the links are written to, always in the same order: by object type, then
    id, as a worker's batch does (no deadlock between two settling passes, or with a batch).
    Returns the rows locked (model, primary key)."""
    held: set[tuple[type[StripeModel], int]] = set()
    connection = connections[alias]
    quote = connection.ops.quote_name
    # The order of a worker's batch (processing._lock_order): by object type.
    for model, stripe_ids in (
        (Charge, ids.charges),
        (Invoice, ids.invoices),
        (PaymentIntent, ids.intents),
    ):
        if stripe_ids:
            table, key = quote(model._meta.db_table), quote("stripe_id")
            scoped = f"{quote('account')} = %s AND {quote('livemode')} = %s"
            match = f"{key} IN ({', '.join(['%s'] * len(stripe_ids))})"
            # In code point order, as Python sorts the batch (a PostgreSQL database's
            # collation, en_US say, may order mixed-case ids otherwise).
            collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
            order = f"ORDER BY {key}{collate} {connection.ops.for_update_sql()}"
            sql = f"SELECT {quote('id')} FROM {table} WHERE {scoped} AND {match} {order}"  # noqa: S608
            with connection.cursor() as cursor:
                cursor.execute(sql, [scope.account, scope.livemode, *sorted(stripe_ids)])
                held.update((model, pk) for (pk,) in cursor.fetchall())
    return held


# --- facts and derived links -------------------------------------------------------------


@dataclass(slots=True)
class _Facts:
    """What the payment's objects themselves render about each other."""

    intents_of_invoice: defaultdict[str, list[Ranked]] = field(
        default_factory=lambda: defaultdict(list)
    )
    invoices_of_intent: defaultdict[str, list[Ranked]] = field(
        default_factory=lambda: defaultdict(list)
    )
    charges_of_invoice: defaultdict[str, list[Ranked]] = field(
        default_factory=lambda: defaultdict(list)
    )
    invoices_of_charge: defaultdict[str, list[Ranked]] = field(
        default_factory=lambda: defaultdict(list)
    )
    charges_of_intent: defaultdict[str, list[Ranked]] = field(
        default_factory=lambda: defaultdict(list)
    )
    latest_charge: dict[str, str] = field(default_factory=dict)
    intent_of_charge: dict[str, str] = field(default_factory=dict)

    def pair(self, rank: tuple[Any, ...], invoice: str | None, intent: str | None) -> None:
        if invoice and intent:
            self.intents_of_invoice[invoice].append((rank, intent))
            self.invoices_of_intent[intent].append((rank, invoice))

    def charged(self, rank: tuple[Any, ...], invoice: str | None, charge: str | None) -> None:
        if invoice and charge:
            self.charges_of_invoice[invoice].append((rank, charge))
            self.invoices_of_charge[charge].append((rank, invoice))


def _facts(rows: _Rows) -> _Facts:
    facts = _Facts()
    for r in rows.invoices:  # API versions before 2025-03-31
        if r["renders_payment_intent"]:
            facts.pair((0,), r["stripe_id"], r["payment_intent_id"])
        if r["renders_charge"]:
            facts.charged((0,), r["stripe_id"], r["charge_id"])
    for r in rows.payments:
        status = r["status"]
        rank = (1, status != "paid", r["is_default"] is not True, status == "canceled")
        facts.pair(rank, r["invoice_id"], r["payment_intent_id"])
        facts.charged(rank, r["invoice_id"], r["charge_id"])
    for r in rows.intents:
        if r["renders_invoice"]:
            facts.pair((2,), r["invoice_id"], r["stripe_id"])
        if r["latest_charge_id"]:
            facts.latest_charge[r["stripe_id"]] = r["latest_charge_id"]
    for r in rows.charges:
        newest_first = (-r["created"],)
        if r["payment_intent_id"]:
            facts.intent_of_charge[r["stripe_id"]] = r["payment_intent_id"]
            facts.charges_of_intent[r["payment_intent_id"]].append((newest_first, r["stripe_id"]))
        if r["renders_invoice"]:
            facts.pair((3,), r["invoice_id"], r["payment_intent_id"])
            facts.charged((3, *newest_first), r["invoice_id"], r["stripe_id"])
    return facts


def _best(ranked: Iterable[Ranked]) -> str | None:
    found = min(ranked, default=None)
    return found[1] if found else None


#: A row (as loaded), its model and the values its derived link columns should hold.
Derived = list[tuple[type[StripeModel], dict[str, Any], dict[str, str | None]]]


def _derive(rows: _Rows) -> Derived:
    facts = _facts(rows)
    derived: Derived = []
    for r in rows.invoices:
        invoice = r["stripe_id"]
        values: dict[str, str | None] = {}
        intent = r["payment_intent_id"]
        if not r["renders_payment_intent"]:
            intent = values["payment_intent_id"] = _best(facts.intents_of_invoice[invoice])
        if not r["renders_charge"]:
            values["charge_id"] = _charge_of_invoice(facts, invoice, intent)
        derived.append((Invoice, r, values))
    for r in rows.intents:
        if not r["renders_invoice"]:
            invoice = _best(facts.invoices_of_intent[r["stripe_id"]])
            derived.append((PaymentIntent, r, {"invoice_id": invoice}))
    for r in rows.charges:
        if not r["renders_invoice"]:
            charge = r["stripe_id"]
            invoice = _best(facts.invoices_of_charge[charge])
            intent = facts.intent_of_charge.get(charge)
            if invoice is None and intent:
                invoice = _best(facts.invoices_of_intent[intent])
            derived.append((Charge, r, {"invoice_id": invoice}))
    return derived


def _charge_of_invoice(facts: _Facts, invoice: str, intent: str | None) -> str | None:
    direct = [(rank, c) for rank, c in facts.charges_of_invoice[invoice] if rank[0] < 3]
    if direct:
        return _best(direct)
    if intent:
        latest = facts.latest_charge.get(intent) or _best(facts.charges_of_intent[intent])
        if latest:
            return latest
    return _best(facts.charges_of_invoice[invoice])


def _write(derived: Derived) -> None:
    for model, row, values in derived:
        changed = {column: value for column, value in values.items() if row[column] != value}
        if changed:
            rowsql.update(model, row["id"], changed)
