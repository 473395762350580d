"""Payment intents, charges and refunds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .world import Clock, Life, Scope, edit

# --- payments ------------------------------------------------------------------------------


@dataclass(slots=True)
class Payment:
    """A payment intent, its charges, and the invoice it pays (if any)."""

    intent: Life
    charges: list[Life] = field(default_factory=list)
    invoice: Life | None = None


def start_payment(
    scope: Scope, clock: Clock, customer: str, amount: int, invoice: Life | None = None
) -> Payment:
    world = scope.world
    obj: dict[str, Any] = {
        "id": world.new_id("pi_"),
        "object": "payment_intent",
        "created": clock.now,
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "currency": "eur",
        "customer": customer,
        "status": "requires_payment_method",
        "latest_charge": None,
        "payment_method": None,
        "capture_method": "automatic",
        "canceled_at": None,
        "cancellation_reason": None,
        "description": None,
        "last_payment_error": None,
        "metadata": {},
    }
    if scope.old:
        obj["invoice"] = invoice.key.id if invoice else None
    return Payment(scope.create(clock, "payment_intent.created", obj), invoice=invoice)


def attempt(scope: Scope, clock: Clock, payment: Payment, *, succeed: bool) -> None:
    """One attempt to pay: maybe 3-D Secure first, then a charge that succeeds or fails."""
    world, rng, intent = scope.world, scope.rng, payment.intent
    amount = intent.state["amount"]
    pm = world.new_id("pm_")
    if rng.random() < 0.25:
        world.change(
            clock,
            intent,
            "payment_intent.requires_action",
            edit(intent, status="requires_action", payment_method=pm),
        )
        clock.step()
        if rng.random() < 0.5:
            world.change(
                clock, intent, "payment_intent.processing", edit(intent, status="processing")
            )
            clock.step()
    charge_obj: dict[str, Any] = {
        "id": world.new_id("ch_"),
        "object": "charge",
        "created": clock.now,
        "amount": amount,
        "amount_captured": amount if succeed else 0,
        "amount_refunded": 0,
        "currency": "eur",
        "customer": intent.state["customer"],
        "payment_intent": intent.key.id,
        "payment_method": pm,
        "status": "succeeded" if succeed else "failed",
        "paid": succeed,
        "captured": succeed,
        "refunded": False,
        "disputed": False,
        "failure_code": None if succeed else "card_declined",
        "description": None,
        "receipt_email": None,
        "balance_transaction": world.new_id("txn_") if succeed else None,
        "metadata": {},
    }
    if scope.old:
        charge_obj["invoice"] = payment.invoice.key.id if payment.invoice else None
    charge = scope.create(clock, "charge.succeeded" if succeed else "charge.failed", charge_obj)
    payment.charges.append(charge)
    if succeed:
        new = edit(
            intent,
            status="succeeded",
            amount_received=amount,
            latest_charge=charge.key.id,
            payment_method=pm,
            last_payment_error=None,
        )
        world.change(clock, intent, "payment_intent.succeeded", new, advance=True)
    else:
        new = edit(
            intent,
            status="requires_payment_method",
            latest_charge=charge.key.id,
            payment_method=None,
            last_payment_error={"code": "card_declined", "type": "card_error"},
        )
        world.change(clock, intent, "payment_intent.payment_failed", new)


def refunds(scope: Scope, clock: Clock, charge: Life) -> None:
    """Partial refunds, then maybe the rest: amount_refunded grows; refunds have events."""
    world, rng = scope.world, scope.rng
    left = charge.state["amount"]
    for _ in range(rng.randint(1, 2)):
        clock.step(big=rng.random() < 0.5)
        amount = left if rng.random() < 0.4 else max(1, left // 3)
        left -= amount
        refund = scope.create(
            clock,
            "refund.created",
            {
                "id": world.new_id("re_"),
                "object": "refund",
                "created": clock.now,
                "amount": amount,
                "charge": charge.key.id,
                "payment_intent": charge.state["payment_intent"],
                "currency": "eur",
                "status": "pending",
                "reason": "requested_by_customer",
                "balance_transaction": None,
                "metadata": {},
            },
        )
        new = edit(
            charge,
            amount_refunded=charge.state["amount"] - left,
            refunded=left == 0,
        )
        world.change(clock, charge, "charge.refunded", new, advance=True)
        clock.step()
        done = edit(refund, status="succeeded", balance_transaction=world.new_id("txn_"))
        world.change(
            clock, refund, "refund.updated", done, advance=True, aliases=("charge.refund.updated",)
        )
        if left == 0:
            break


def one_off_payment(scope: Scope) -> None:
    """A payment intent without an invoice: maybe a failure first, maybe refunds after."""
    world, rng = scope.world, scope.rng
    clock = world.clock()
    payment = start_payment(scope, clock, world.new_id("cus_"), rng.choice((990, 2500, 12000)))
    clock.step()
    if rng.random() < 0.3:
        attempt(scope, clock, payment, succeed=False)
        clock.step()
    if rng.random() < 0.15:
        canceled = edit(
            payment.intent,
            status="canceled",
            canceled_at=clock.now,
            cancellation_reason="abandoned",
        )
        world.change(clock, payment.intent, "payment_intent.canceled", canceled, advance=True)
        return
    attempt(scope, clock, payment, succeed=True)
    if rng.random() < 0.5:
        clock.step()
        charge = payment.charges[-1]
        described = edit(charge, description=rng.choice(("Order 1", "Order 2")))
        world.change(clock, charge, "charge.updated", described)
    if rng.random() < 0.4:
        refunds(scope, clock, payment.charges[-1])
