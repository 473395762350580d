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
from typing import Any

from django.db import DatabaseError, connections, router, transaction
from django.db.models import BooleanField, Case, Q, Value, When

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

    invoices: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    intents: list[dict[str, Any]]
    charges: list[dict[str, Any]]


def reconcile(row: StripeModel) -> None:
    """Recompute the derived links of the payment ``row`` belongs to (an invoice, invoice
    payment, payment intent or charge that was just written)."""
    if not isinstance(row, LINKED):
        return
    scope = _Scope(row.account, row.livemode)
    ids = _seed(row)
    _write(_derive(_discover(scope, ids)))  # ids grows to the whole payment
    alias = router.db_for_write(type(row))
    if connections[alias].features.has_select_for_update:
        transaction.on_commit(lambda: _settle(scope, ids, alias), using=alias, robust=True)


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


def _settle(scope: _Scope, known: _Ids, alias: str) -> None:
    """The after-commit pass: lock the payment's rows, then recompute from fresh reads."""
    for attempt in range(1, _SETTLE_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=alias):
                _locked_recompute(scope, known.copy())
            return
        except DatabaseError:  # a deadlock with a worker's batch: try again
            if attempt == _SETTLE_ATTEMPTS:
                logger.exception("could not settle the payment links of %s", known)


def _locked_recompute(scope: _Scope, ids: _Ids) -> None:
    """Lock the rows of every known id BEFORE reading what they derive from: a pass that read
    earlier could otherwise write an older answer over a newer one."""
    locked = _Ids()
    for _ in range(_MAX_ROUNDS):
        _lock(scope, ids.minus(locked))
        locked = ids.copy()
        rows = _discover(scope, ids)
        if ids.size() == locked.size():
            break
    _write(_derive(rows))


def _discover(scope: _Scope, ids: _Ids) -> _Rows:
    """Load the rows naming any known id until no new id turns up (``ids`` grows)."""
    rows = _load(scope, ids)
    for _ in range(_MAX_ROUNDS):
        before = ids.size()
        for r in rows.invoices:
            ids.add(r["stripe_id"], r["payment_intent_id"], r["charge_id"])
        for r in rows.payments:
            ids.add(r["invoice_id"], r["payment_intent_id"], r["charge_id"])
        for r in rows.intents:
            ids.add(r["invoice_id"], r["stripe_id"], r["latest_charge_id"])
        for r in rows.charges:
            ids.add(r["invoice_id"], r["payment_intent_id"], r["stripe_id"])
        if ids.size() == before:
            break
        rows = _load(scope, ids)
    return rows


def _renders(key: str) -> Case:
    """True when the row's JSON has ``key`` (even null): its object renders that field."""
    return Case(
        When(data__has_key=key, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


@dataclass(frozen=True, slots=True)
class _Load:
    """How one model's rows of a payment are found, and what of them the links need."""

    model: type[StripeModel]
    #: column -> the known ids (``invoices``, ``intents`` or ``charges``) it is matched with.
    match: dict[str, str]
    extra: tuple[str, ...] = ()
    #: annotation -> JSON key whose presence it tells.
    renders: dict[str, str] = field(default_factory=dict)


_LOADS = {
    "invoices": _Load(
        Invoice,
        {"stripe_id": "invoices", "payment_intent_id": "intents", "charge_id": "charges"},
        renders={"renders_intent": "payment_intent", "renders_charge": "charge"},
    ),
    "payments": _Load(
        InvoicePayment,
        {"invoice_id": "invoices", "payment_intent_id": "intents", "charge_id": "charges"},
        extra=("stripe_id", "status", "is_default"),
    ),
    "intents": _Load(
        PaymentIntent,
        {"stripe_id": "intents", "invoice_id": "invoices", "latest_charge_id": "charges"},
        renders={"renders_invoice": "invoice"},
    ),
    "charges": _Load(
        Charge,
        {"stripe_id": "charges", "payment_intent_id": "intents", "invoice_id": "invoices"},
        extra=("created",),
        renders={"renders_invoice": "invoice"},
    ),
}


def _load(scope: _Scope, ids: _Ids) -> _Rows:
    return _Rows(**{name: _fetch(scope, ids, load) for name, load in _LOADS.items()})


def _fetch(scope: _Scope, ids: _Ids, load: _Load) -> list[dict[str, Any]]:
    match = _any(**{column: getattr(ids, known) for column, known in load.match.items()})
    if not match:
        return []
    queryset = load.model.objects.filter(match, account=scope.account, livemode=scope.livemode)
    annotations = {name: _renders(key) for name, key in load.renders.items()}
    columns = (*load.match, *load.extra)
    return list(queryset.annotate(**annotations).values("pk", *columns, *annotations))


def _any(**in_sets: set[str]) -> Q:
    match = Q()
    for column, values in in_sets.items():
        if values:
            match |= Q(**{f"{column}__in": sorted(values)})
    return match


def _lock(scope: _Scope, ids: _Ids) -> None:
    """Lock the rows the links are written to, always in the same order (no deadlock between
    two settling passes)."""
    for model, stripe_ids in (
        (Invoice, ids.invoices),
        (PaymentIntent, ids.intents),
        (Charge, ids.charges),
    ):
        if stripe_ids:
            list(
                model.objects.select_for_update()
                .filter(
                    account=scope.account, livemode=scope.livemode, stripe_id__in=sorted(stripe_ids)
                )
                .order_by("pk")
                .values_list("pk", flat=True)
            )


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
        if r["renders_intent"]:
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
        newest_first = (-(r["created"].timestamp() if r["created"] else 0),)
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
        if not r["renders_intent"]:
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
            model.objects.filter(pk=row["pk"]).update(**changed)
