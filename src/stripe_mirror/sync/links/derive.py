"""Stage 5e: the links a payment's rows should hold, derived from what its objects render
(the rule is in the package's docstring)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...models import Charge, Invoice, PaymentIntent, StripeModel
from .payment import _Rows

#: A fact's sort key (lower wins) and the id it points to.
Ranked = tuple[tuple[Any, ...], str]


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
