"""A simulated SaaS, played out with tests/streams' World: customers signing up over months,
a monthly subscription each, renewals (some failing, retried days apart, then paid or the
subscription canceled), refunds, plan changes, churn, customer updates; on the platform and
a few connected accounts.

The World keeps each object's final state and the payment links Stripe would report, so the
mirror can be checked against it (tests/streams/check.py). Each customer's whole life is
played before the next one's: a customer owns a contiguous run of the world's events and
lives, which is what lets a benchmark take a smaller, still complete, sub-stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.streams import NEW_API, OLD_API, World
from tests.streams.billing import (
    _embed_items,
    _items,
    _subscription_change,
    create_invoice,
    finalize,
    pay,
    void,
)
from tests.streams.payments import Payment, refunds
from tests.streams.world import START, Clock, Life, Scope, edit, listing, metadata_change

DAY = 86_400
MONTH = 30 * DAY
#: Connect accounts of the platform's customers (most sign up on the platform itself).
ACCOUNTS = ("", "", "", "", "", "", "acct_1SaasConnectedA", "acct_1SaasConnectedB")


@dataclass
class Owner:
    """What one customer's life added to the world: its events and lives (index ranges)."""

    events: range
    lives: range


@dataclass
class Saas:
    world: World
    owners: list[Owner] = field(default_factory=list)
    #: Index ranges of world.events that are one payment attempt (charge, intent, invoice,
    #: invoice payment): for the same-second statistics.
    payments: list[range] = field(default_factory=list)


@dataclass(frozen=True)
class Mix:
    """Monthly probabilities of what happens to a customer."""

    churn: float = 0.04  # asks to cancel at the end of the period
    failure: float = 0.12  # a renewal's first attempt fails
    lost: float = 0.3  # after a failure, every retry fails: the subscription is canceled
    refund: float = 0.03  # a paid invoice is refunded (in part or in full)
    change: float = 0.15  # a plan change, quantity, metadata
    update: float = 0.3  # the customer's email, name, metadata, payment method


def build(
    seed: int, customers: int, months: int, *, burst: float = 0.75, mix: Mix | None = None
) -> Saas:
    """A reproducible SaaS: the same seed, customers and months give the same stream."""
    saas = Saas(World(seed, strict=True, burst=burst))
    world, mix = saas.world, mix or Mix()
    end = START + months * MONTH
    for _ in range(customers):
        first_event, first_life = len(world.events), len(world.lives)
        account = world.rng.choice(ACCOUNTS)
        version = NEW_API if world.rng.random() < 0.7 else OLD_API
        scope = Scope(world, account=account, livemode=False, api_version=version)
        signup = START + world.rng.randint(0, max(1, end - START - DAY))
        customer_life(saas, scope, Clock(signup, world.rng, burst), end, mix)
        saas.owners.append(
            Owner(range(first_event, len(world.events)), range(first_life, len(world.lives)))
        )
    return saas


def customer_life(saas: Saas, scope: Scope, clock: Clock, end: int, mix: Mix) -> None:
    """Sign-up, the first payment, then a month at a time until churn, loss or the end."""
    rng = scope.rng
    customer = _new_customer(scope, clock)
    sub = _subscribe(saas, scope, clock, customer)
    renewal = clock.now + MONTH
    while renewal < end:
        _between_renewals(scope, clock, customer, sub, renewal, mix=mix)
        clock.now = max(clock.now + 1, renewal + rng.randint(0, 3600))
        if sub.state["cancel_at_period_end"]:
            _end_subscription(scope, clock, sub, "cancellation_requested")
            break
        if not _renew(saas, scope, clock, sub, customer.key.id, mix=mix):
            break
        renewal += MONTH
    if sub.state["status"] == "canceled" and rng.random() < 0.15:
        clock.now += rng.randint(DAY, 10 * DAY)
        scope.world.delete(clock, customer, "customer.deleted")


def _new_customer(scope: Scope, clock: Clock) -> Life:
    world, rng = scope.world, scope.rng
    cid = world.new_id("cus_")
    obj: dict[str, Any] = {
        "id": cid,
        "object": "customer",
        "created": clock.now,
        "email": f"{cid.lower()}@example.com",
        "name": rng.choice(("Ada Lovelace", "Grace Hopper", "Alan Turing", None)),
        "description": None,
        "phone": None,
        "balance": 0,
        "currency": None,
        "delinquent": False,
        "default_source": None,
        "discount": None,
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
        "metadata": {"signup": rng.choice(("web", "sales", "partner"))},
    }
    customer = scope.create(clock, "customer.created", obj)
    pm = world.new_id("pm_")
    world.change(
        clock,
        customer,
        "customer.updated",
        edit(customer, invoice_settings__default_payment_method=pm),
    )
    return customer


def _subscribe(saas: Saas, scope: Scope, clock: Clock, customer: Life) -> Life:
    """customer.subscription.created (incomplete), its first invoice paid, then active."""
    world = scope.world
    sid = world.new_id("sub_")
    obj = _subscription(scope, sid, customer.key.id, clock.now)
    sub = scope.create(clock, "customer.subscription.created", obj)
    _embed_items(scope, sub)
    invoice = create_invoice(
        scope, clock, customer.key.id, subscription=sid, items=_items(scope, sub)
    )
    world.change(
        clock, sub, "customer.subscription.updated", edit(sub, latest_invoice=invoice.key.id)
    )
    payment = finalize(scope, clock, invoice)
    clock.step()
    _pay(saas, scope, clock, payment, succeed=True)
    world.change(
        clock, sub, "customer.subscription.updated", edit(sub, status="active"), advance=True
    )
    return sub


def _subscription(scope: Scope, sid: str, customer: str, now: int) -> dict[str, Any]:
    from tests.streams.billing import _item

    obj: dict[str, Any] = {
        "id": sid,
        "object": "subscription",
        "created": now,
        "customer": customer,
        "status": "incomplete",
        "currency": "eur",
        "collection_method": "charge_automatically",
        "cancel_at_period_end": False,
        "cancel_at": None,
        "canceled_at": None,
        "ended_at": None,
        "start_date": now,
        "trial_start": None,
        "trial_end": None,
        "default_payment_method": None,
        "latest_invoice": None,
        "schedule": None,
        "description": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "items": listing(f"/v1/subscription_items?subscription={sid}", [_item(scope, sid, now)]),
        "metadata": {},
    }
    if scope.old:
        obj.update(current_period_start=now, current_period_end=now + MONTH)
    return obj


def _pay(saas: Saas, scope: Scope, clock: Clock, payment: Payment, *, succeed: bool) -> None:
    """One attempt (tests/streams' pay), remembered as one payment's events."""
    first = len(scope.world.events)
    pay(scope, clock, payment, succeed=succeed)
    saas.payments.append(range(first, len(scope.world.events)))


def _between_renewals(
    scope: Scope, clock: Clock, customer: Life, sub: Life, renewal: int, *, mix: Mix
) -> None:
    """Customer updates, plan changes and a request to cancel, at random times of the month."""
    world, rng = scope.world, scope.rng
    moments = sorted(rng.randint(clock.now + 60, renewal - 60) for _ in range(3))
    if rng.random() < mix.update:
        clock.now = max(clock.now, moments[0])
        world.change(clock, customer, "customer.updated", _customer_update(scope, customer))
    if rng.random() < mix.change:
        clock.now = max(clock.now, moments[1])
        _subscription_change(scope, clock, sub)
    if rng.random() < mix.churn and not sub.state["cancel_at_period_end"]:
        clock.now = max(clock.now, moments[2])
        world.change(
            clock, sub, "customer.subscription.updated", edit(sub, cancel_at_period_end=True)
        )


def _customer_update(scope: Scope, customer: Life) -> dict[str, Any]:
    world, rng = scope.world, scope.rng
    roll = rng.random()
    if roll < 0.3:
        return edit(customer, email=f"{world.new_id('u', 8).lower()}@example.com")
    if roll < 0.5:
        return edit(customer, name=rng.choice(("Ada L.", "Grace H.", "Alan T.", "Edsger D.")))
    if roll < 0.8:
        return edit(customer, metadata=metadata_change(rng, customer.state["metadata"]))
    return edit(customer, invoice_settings__default_payment_method=world.new_id("pm_"))


def _renew(saas: Saas, scope: Scope, clock: Clock, sub: Life, customer: str, *, mix: Mix) -> bool:
    """A new period: the renewal invoice, finalized an hour later and paid, or failed and
    retried days apart (Smart Retries) until paid or given up (the subscription ends)."""
    world, rng = scope.world, scope.rng
    invoice = create_invoice(
        scope, clock, customer, subscription=sub.key.id, items=_items(scope, sub)
    )
    moved = _next_period(scope, sub, clock.now)
    moved["latest_invoice"] = invoice.key.id
    world.change(clock, sub, "customer.subscription.updated", moved)
    _embed_items(scope, sub)
    clock.now += rng.randint(3300, 3900)
    payment = finalize(scope, clock, invoice)
    failures = rng.randint(1, 3) if rng.random() < mix.failure else 0
    lost = failures > 0 and rng.random() < mix.lost
    for n in range(failures):
        _pay(saas, scope, clock, payment, succeed=False)
        if n == 0:
            world.change(clock, sub, "customer.subscription.updated", edit(sub, status="past_due"))
        clock.now += rng.randint(DAY, 3 * DAY)
    if lost:
        void(scope, clock, invoice, payment)
        _end_subscription(scope, clock, sub, "payment_failed")
        return False
    _pay(saas, scope, clock, payment, succeed=True)
    if sub.state["status"] == "past_due":
        world.change(clock, sub, "customer.subscription.updated", edit(sub, status="active"))
    if rng.random() < mix.refund:
        clock.now += rng.randint(3600, 5 * DAY)
        refunds(scope, clock, payment.charges[-1])
    return True


def _next_period(scope: Scope, sub: Life, start: int) -> dict[str, Any]:
    """The subscription's (before 2025-03-31) or its items' (after) period moves on."""
    if scope.old:
        return edit(sub, current_period_start=start, current_period_end=start + MONTH)
    items = [dict(item) for item in sub.state["items"]["data"]]
    for item in items:
        item.update(current_period_start=start, current_period_end=start + MONTH)
    return edit(sub, items=listing(sub.state["items"]["url"], items))


def _end_subscription(scope: Scope, clock: Clock, sub: Life, reason: str) -> None:
    ended = edit(
        sub,
        status="canceled",
        canceled_at=clock.now,
        ended_at=clock.now,
        cancellation_details={"comment": None, "feedback": None, "reason": reason},
    )
    scope.world.change(clock, sub, "customer.subscription.deleted", ended, advance=True)
