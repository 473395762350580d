"""Invoices (with their lines and payments) and subscriptions (with their items)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from .payments import Payment, attempt, start_payment
from .world import START, Clock, Key, Life, Scope, edit, listing, metadata_change

# --- invoices and subscriptions -----------------------------------------------------------


def _line(scope: Scope, invoice_id: str, amount: int, item: Life | None) -> dict[str, Any]:
    world = scope.world
    line: dict[str, Any] = {
        "id": world.new_id("il_"),
        "object": "line_item",
        "invoice": invoice_id,
        "amount": amount,
        "currency": "eur",
        "description": "1 x Gold plan",
        "quantity": 1,
        "period": {"start": START, "end": START + 2_592_000},
        "metadata": {},
    }
    if item is None:
        subscription = price = None
    else:
        subscription, price = item.state["subscription"], item.state["price"]["id"]
    if scope.old:
        line.update(subscription=subscription, proration=False, price=price and {"id": price})
        return line
    line["parent"] = item and {
        "type": "subscription_item_details",
        "subscription_item_details": {
            "subscription": subscription,
            "subscription_item": item.key.id,
            "proration": False,
        },
    }
    line["pricing"] = price and {"type": "price_details", "price_details": {"price": price}}
    return line


def create_invoice(
    scope: Scope,
    clock: Clock,
    customer: str,
    *,
    subscription: str | None = None,
    items: Sequence[Life] = (),
) -> Life:
    world, rng = scope.world, scope.rng
    iid = world.new_id("in_")
    amounts = [rng.choice((500, 1000, 2000)) for _ in items] or [rng.choice((700, 4200))]
    lines = [_line(scope, iid, a, i) for a, i in zip(amounts, [*items] or [None], strict=False)]
    total = sum(amounts)
    obj: dict[str, Any] = {
        "id": iid,
        "object": "invoice",
        "created": clock.now,
        "customer": customer,
        "status": "draft",
        "number": None,
        "currency": "eur",
        "billing_reason": "subscription_cycle" if subscription else "manual",
        "collection_method": "charge_automatically",
        "amount_due": total,
        "amount_paid": 0,
        "amount_remaining": total,
        "subtotal": total,
        "total": total,
        "attempt_count": 0,
        "attempted": False,
        "due_date": None,
        "period_start": clock.now - 2_592_000,
        "period_end": clock.now,
        "effective_at": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "status_transitions": {
            "finalized_at": None,
            "paid_at": None,
            "voided_at": None,
            "marked_uncollectible_at": None,
        },
        "lines": listing(f"/v1/invoices/{iid}/lines", lines),
        "metadata": {},
    }
    if scope.old:
        obj.update(subscription=subscription, payment_intent=None, charge=None, paid=False)
    else:
        obj["parent"] = (
            {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"subscription": subscription, "metadata": {}},
            }
            if subscription
            else None
        )
    invoice = scope.create(clock, "invoice.created", obj)
    _embed_lines(scope, invoice)
    return invoice


def _embed_lines(scope: Scope, invoice: Life) -> None:
    for line in invoice.state["lines"]["data"]:
        scope.world.embed(invoice, line)


def edit_draft(scope: Scope, clock: Clock, invoice: Life) -> None:
    """A draft gets another line, or a new description on its first line."""
    world, rng = scope.world, scope.rng
    lines = copy.deepcopy(invoice.state["lines"]["data"])
    if rng.random() < 0.5:
        extra = _line(scope, invoice.key.id, 300, None)
        extra["description"] = "Setup fee"
        lines.append(extra)
    else:
        lines[0]["description"] = rng.choice(("Gold plan, monthly", "Gold plan (prorated)"))
    total = sum(line["amount"] for line in lines)
    new = edit(
        invoice,
        lines=listing(invoice.state["lines"]["url"], lines),
        amount_due=total,
        amount_remaining=total,
        subtotal=total,
        total=total,
    )
    world.change(clock, invoice, "invoice.updated", new)
    _embed_lines(scope, invoice)


def finalize(scope: Scope, clock: Clock, invoice: Life) -> Payment:
    """Draft -> open; its payment intent is created at the same time."""
    world = scope.world
    payment = start_payment(
        scope, clock, invoice.state["customer"], invoice.state["amount_due"], invoice
    )
    changes: dict[str, Any] = {
        "status": "open",
        "number": f"INV-{world.rng.randint(1000, 9999)}",
        "effective_at": clock.now,
        "hosted_invoice_url": f"https://invoice.example/{invoice.key.id}",
        "invoice_pdf": f"https://invoice.example/{invoice.key.id}.pdf",
    }
    if scope.old:
        changes["payment_intent"] = payment.intent.key.id
    new = edit(invoice, status_transitions__finalized_at=clock.now, **changes)
    world.change(
        clock, invoice, "invoice.finalized", new, advance=True, aliases=("invoice.updated",)
    )
    return payment


def pay(scope: Scope, clock: Clock, payment: Payment, *, succeed: bool) -> None:
    """An attempt to pay the invoice: the charge, the intent, then the invoice (and, since
    2025-03-31, its invoice payment)."""
    world, invoice = scope.world, payment.invoice
    assert invoice is not None
    attempt(scope, clock, payment, succeed=succeed)
    if scope.rng.random() < 0.3:
        clock.step()
    charge = payment.charges[-1].key.id
    changes: dict[str, Any] = {
        "attempt_count": invoice.state["attempt_count"] + 1,
        "attempted": True,
    }
    if scope.old:
        changes["charge"] = charge
    if not succeed:
        new = edit(invoice, **changes)
        world.change(
            clock,
            invoice,
            "invoice.payment_failed",
            new,
            advance=True,
            aliases=("invoice.updated",),
        )
        return
    amount = invoice.state["amount_due"]
    changes.update(status="paid", amount_paid=amount, amount_remaining=0)
    if scope.old:
        changes["paid"] = True
    else:
        invoice_payment(scope, clock, payment, amount)
    new = edit(invoice, status_transitions__paid_at=clock.now, **changes)
    aliases = ("invoice.payment_succeeded", "invoice.updated")
    world.change(clock, invoice, "invoice.paid", new, advance=True, aliases=aliases)


def invoice_payment(scope: Scope, clock: Clock, payment: Payment, amount: int) -> None:
    world, invoice, intent = scope.world, payment.invoice, payment.intent
    assert invoice is not None
    scope.create(
        clock,
        "invoice_payment.paid",
        {
            "id": world.new_id("inpay_"),
            "object": "invoice_payment",
            "created": clock.now,
            "invoice": invoice.key.id,
            "is_default": True,
            "status": "paid",
            "amount_paid": amount,
            "amount_requested": amount,
            "currency": "eur",
            "payment": {"type": "payment_intent", "payment_intent": intent.key.id},
            "status_transitions": {"paid_at": clock.now, "canceled_at": None},
        },
    )
    # What Stripe's links now say about the payment (since 2025-03-31 only this event does).
    invoice.links["payment_intent_id"] = intent.key.id
    invoice.links["charge_id"] = payment.charges[-1].key.id
    intent.links["invoice_id"] = invoice.key.id
    for charge in payment.charges:
        charge.links["invoice_id"] = invoice.key.id


def void(scope: Scope, clock: Clock, invoice: Life, payment: Payment) -> None:
    world = scope.world
    new = edit(invoice, status="void", status_transitions__voided_at=clock.now, amount_remaining=0)
    world.change(clock, invoice, "invoice.voided", new, advance=True, aliases=("invoice.updated",))
    canceled = edit(
        payment.intent, status="canceled", canceled_at=clock.now, cancellation_reason="void_invoice"
    )
    world.change(clock, payment.intent, "payment_intent.canceled", canceled, advance=True)


def invoice_life(scope: Scope) -> None:
    """A one-off invoice: a draft (maybe edited, maybe deleted), finalized, then paid (maybe
    after failures) or voided."""
    world, rng = scope.world, scope.rng
    clock = world.clock()
    invoice = create_invoice(scope, clock, world.new_id("cus_"))
    if rng.random() < 0.5:
        clock.step()
        edit_draft(scope, clock, invoice)
    clock.step()
    if rng.random() < 0.25:
        world.delete(clock, invoice, "invoice.deleted")
        for line in invoice.state["lines"]["data"]:
            world.lives[Key("line_item", line["id"], scope.account, scope.livemode)].deleted = True
        return
    payment = finalize(scope, clock, invoice)
    settle(scope, clock, invoice, payment)


def settle(scope: Scope, clock: Clock, invoice: Life, payment: Payment) -> bool:
    """Attempts until paid (or voided): returns True when paid."""
    rng = scope.rng
    for _ in range(rng.choice((0, 0, 1, 2))):
        clock.step()
        pay(scope, clock, payment, succeed=False)
    clock.step()
    if rng.random() < 0.1:
        void(scope, clock, invoice, payment)
        return False
    pay(scope, clock, payment, succeed=True)
    return True


def subscription_life(scope: Scope) -> None:
    """A subscription from incomplete to active, renewals (some failing: past_due), item
    changes, metadata, and maybe its cancellation (``customer.subscription.deleted``)."""
    world, rng = scope.world, scope.rng
    clock = world.clock()
    customer = world.new_id("cus_")
    sid = world.new_id("sub_")
    item = _item(scope, sid, clock.now)
    obj: dict[str, Any] = {
        "id": sid,
        "object": "subscription",
        "created": clock.now,
        "customer": customer,
        "status": "incomplete",
        "currency": "eur",
        "collection_method": "charge_automatically",
        "cancel_at_period_end": False,
        "cancel_at": None,
        "canceled_at": None,
        "ended_at": None,
        "start_date": clock.now,
        "trial_start": None,
        "trial_end": None,
        "default_payment_method": None,
        "latest_invoice": None,
        "schedule": None,
        "description": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "items": listing(f"/v1/subscription_items?subscription={sid}", [item]),
        "metadata": {},
    }
    if scope.old:
        obj.update(current_period_start=clock.now, current_period_end=clock.now + 2_592_000)
    sub = scope.create(clock, "customer.subscription.created", obj)
    _embed_items(scope, sub)
    invoice = create_invoice(scope, clock, customer, subscription=sid, items=_items(scope, sub))
    world.change(
        clock, sub, "customer.subscription.updated", edit(sub, latest_invoice=invoice.key.id)
    )
    payment = finalize(scope, clock, invoice)
    clock.step()
    pay(scope, clock, payment, succeed=True)
    world.change(
        clock, sub, "customer.subscription.updated", edit(sub, status="active"), advance=True
    )
    for _ in range(rng.randint(0, 3)):
        clock.step()
        _subscription_change(scope, clock, sub)
    for _ in range(rng.randint(0, 2)):
        clock.step(big=True)
        _renewal(scope, clock, sub, customer)
    if rng.random() < 0.4:
        clock.step()
        ended = edit(
            sub,
            status="canceled",
            canceled_at=clock.now,
            ended_at=clock.now,
            cancellation_details={
                "comment": None,
                "feedback": None,
                "reason": "cancellation_requested",
            },
        )
        world.change(clock, sub, "customer.subscription.deleted", ended, advance=True)
        if rng.random() < 0.5:  # a canceled subscription still takes these updates
            clock.step()
            feedback = edit(sub, cancellation_details__feedback="too_expensive")
            world.change(clock, sub, "customer.subscription.updated", feedback)


def _item(scope: Scope, subscription: str, now: int) -> dict[str, Any]:
    world = scope.world
    price = world.new_id("price_")
    item: dict[str, Any] = {
        "id": world.new_id("si_"),
        "object": "subscription_item",
        "created": now,
        "subscription": subscription,
        "price": {"id": price, "object": "price", "product": world.new_id("prod_")},
        "quantity": 1,
        "metadata": {},
    }
    if not scope.old:
        item.update(current_period_start=now, current_period_end=now + 2_592_000)
    return item


def _items(scope: Scope, sub: Life) -> list[Life]:
    return [
        scope.world.lives[Key("subscription_item", i["id"], scope.account, scope.livemode)]
        for i in sub.state["items"]["data"]
    ]


def _embed_items(scope: Scope, sub: Life) -> None:
    for item in sub.state["items"]["data"]:
        scope.world.embed(sub, item)


def _with_items(sub: Life, items: list[dict[str, Any]]) -> dict[str, Any]:
    return edit(sub, items=listing(sub.state["items"]["url"], items))


def _subscription_change(scope: Scope, clock: Clock, sub: Life) -> None:
    world, rng = scope.world, scope.rng
    items = copy.deepcopy(sub.state["items"]["data"])
    roll = rng.random()
    if roll < 0.2:
        items[0]["quantity"] += 1
        new = _with_items(sub, items)
    elif roll < 0.35:
        items.append(_item(scope, sub.key.id, clock.now))
        new = _with_items(sub, items)
    elif roll < 0.6:
        # A plan change: the old item is deleted in Stripe, a new one takes its place.
        items = [*items[1:], _item(scope, sub.key.id, clock.now)]
        new = _with_items(sub, items)
    elif roll < 0.8:
        new = edit(sub, metadata=metadata_change(rng, sub.state["metadata"]))
    else:
        new = edit(sub, cancel_at_period_end=not sub.state["cancel_at_period_end"])
    before = {i["id"] for i in sub.state["items"]["data"]}
    world.change(clock, sub, "customer.subscription.updated", new)
    _embed_items(scope, sub)
    for gone in before - {i["id"] for i in sub.state["items"]["data"]}:
        world.lives[Key("subscription_item", gone, scope.account, scope.livemode)].deleted = True


def _renewal(scope: Scope, clock: Clock, sub: Life, customer: str) -> None:
    """A new period: the items' (or, before 2025-03-31, the subscription's) period moves, a
    renewal invoice is created, finalized and paid, maybe after failures (past_due)."""
    world, rng = scope.world, scope.rng
    start = clock.now
    if scope.old:
        moved = edit(sub, current_period_start=start, current_period_end=start + 2_592_000)
    else:
        items = copy.deepcopy(sub.state["items"]["data"])
        for item in items:
            item.update(current_period_start=start, current_period_end=start + 2_592_000)
        moved = _with_items(sub, items)
    invoice = create_invoice(
        scope, clock, customer, subscription=sub.key.id, items=_items(scope, sub)
    )
    moved["latest_invoice"] = invoice.key.id
    world.change(clock, sub, "customer.subscription.updated", moved)
    _embed_items(scope, sub)
    clock.step()
    payment = finalize(scope, clock, invoice)
    failures = rng.choice((0, 0, 1, 2))
    for n in range(failures):
        clock.step()
        pay(scope, clock, payment, succeed=False)
        if n == 0 and sub.state["status"] == "active":
            world.change(clock, sub, "customer.subscription.updated", edit(sub, status="past_due"))
    clock.step()
    pay(scope, clock, payment, succeed=True)
    if sub.state["status"] == "past_due":
        world.change(clock, sub, "customer.subscription.updated", edit(sub, status="active"))


#: Scenario name -> (function, weight).
