"""Mirror rules for events that mean more than "this object changed".

Some of them change another row than the event's object (a discount event changes its
customer, a dispute its charge). Events arrive in any order, so such a change is made from
both sides: by the rule when its event comes after the other row, and by a hook on the other
row's writes when that row's (older) event comes after.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import Q

from ..models import Account, Charge, Customer, Discount, Dispute
from ..sync import sql
from .base import Change, after_write_of, apply_snapshot, object_ref, rule, update

# --- customer.discount.* ---------------------------------------------------------------
# A customer's ``discount`` is its customer-level discount. The customer's own snapshot says
# which one it is; a discount event newer than that snapshot (or of the same second: it is
# the more specific event) overrides it.

#: A discount naming one of these applies below the customer (not the customer's own).
_BELOW_CUSTOMER = ("subscription", "subscription_item", "invoice", "invoice_item")


def _customer_level(discount: Mapping[str, Any]) -> bool:
    return not any(discount.get(key) for key in _BELOW_CUSTOMER)


@rule("customer.discount.created", "customer.discount.updated", "customer.discount.deleted")
def customer_discount(change: Change) -> None:
    apply_snapshot(change)
    customer = object_ref(change.obj.get("customer"))
    if not customer or not _customer_level(change.obj):
        return
    origin = change.origin
    customers = Customer.objects.filter(
        account=origin.account, livemode=origin.livemode, stripe_id=customer
    ).exclude(event_created__gt=origin.created)
    if change.action == "deleted":
        customers.filter(discount_id=change.obj.get("id")).update(discount_id=None)
    else:
        customers.update(discount_id=change.obj["id"])


def _changed_at(discount: Discount) -> datetime:
    changed_at = discount.deleted_at if discount.deleted else discount.event_created
    assert changed_at is not None  # the query below only finds rows that have it
    return changed_at


@after_write_of(Customer)
def discount_events_after_snapshot(customers: list[Customer]) -> None:
    """Apply the discount events that are newer than each customer's snapshot just written
    (they were delivered before it): for all the customers of one scope, one query for those
    that some discount names (plain SQL), then one for their discounts."""
    scopes: dict[tuple[str, bool], list[Customer]] = {}
    for customer in customers:
        if customer.event_created is not None:
            scopes.setdefault((customer.account, customer.livemode), []).append(customer)
    for (account, livemode), scoped in scopes.items():
        ids = [c.stripe_id for c in scoped]
        named = sql.present(Discount, "customer_id", ids, account=account, livemode=livemode)
        group = [c for c in scoped if c.stripe_id in named]  # most customers have none
        if not group:
            continue
        since = min(c.event_created for c in group if c.event_created is not None)
        discounts = Discount.objects.filter(
            Q(deleted=False, event_created__gte=since) | Q(deleted=True, deleted_at__gte=since),
            account=account,
            livemode=livemode,
            customer_id__in=[c.stripe_id for c in group],
        )
        by_customer: dict[str | None, list[Discount]] = {}
        for discount in discounts:
            by_customer.setdefault(discount.customer_id, []).append(discount)
        for customer in group:
            _apply_discounts(customer, by_customer.get(customer.stripe_id, []))


def _apply_discounts(customer: Customer, discounts: list[Discount]) -> None:
    since = customer.event_created
    assert since is not None
    value = customer.discount_id
    # In the order they happened (of one second: a removal after an addition).
    newer = [d for d in discounts if _changed_at(d) >= since]
    for discount in sorted(newer, key=lambda d: (_changed_at(d), d.deleted)):
        if not _customer_level(discount.data):
            continue
        if not discount.deleted:
            value = discount.stripe_id
        elif value == discount.stripe_id:
            value = None
    if value != customer.discount_id:
        customer.discount_id = value
        Customer.objects.filter(pk=customer.pk).update(discount_id=value)


# --- customer.source.deleted -------------------------------------------------------------


@rule("customer.source.deleted")
def customer_source_removed(change: Change) -> None:
    """A card or bank account removed from a customer is deleted; a ``source`` or a
    connected ``account`` removed from a customer still exists (it was only detached)."""
    if change.obj.get("object") in ("bank_account", "card"):
        apply_snapshot(change)
    else:
        update(change)


# --- charge.dispute.* --------------------------------------------------------------------
# A charge stays ``disputed`` once disputed. A dispute event may come before an older event
# of its charge, whose snapshot still says ``disputed: false``.


@rule("charge.dispute.*")
def dispute(change: Change) -> None:
    apply_snapshot(change)
    charge = object_ref(change.obj.get("charge"))
    if charge:
        Charge.objects.filter(
            account=change.origin.account, livemode=change.origin.livemode, stripe_id=charge
        ).exclude(disputed=True).update(disputed=True)


@after_write_of(Charge)
def charge_disputed(charges: list[Charge]) -> None:
    """A charge whose dispute was mirrored before it is disputed: one query per scope."""
    scopes: dict[tuple[str, bool], list[Charge]] = {}
    for charge in charges:
        if not charge.disputed:
            scopes.setdefault((charge.account, charge.livemode), []).append(charge)
    for (account, livemode), group in scopes.items():
        ids = [c.stripe_id for c in group]
        disputed = sql.present(Dispute, "charge_id", ids, account=account, livemode=livemode)
        for charge in group:
            if charge.stripe_id in disputed:
                charge.disputed = True
                Charge.objects.filter(pk=charge.pk).update(disputed=True)


# --- account.application.* ---------------------------------------------------------------


@rule("account.application.deauthorized", "account.application.authorized")
def connect_authorization(change: Change) -> None:
    """The connected account (``event.account``) disconnected or reconnected the platform."""
    apply_snapshot(change)  # the application object itself, in the generic table
    account, origin = change.origin.account, change.origin
    if not account:
        return
    row, _ = Account.objects.select_for_update().get_or_create(
        account=account, livemode=origin.livemode, stripe_id=account
    )
    changed_at = row.authorization_changed_at
    if changed_at and changed_at > origin.created:
        return  # a later (de)authorization was already applied
    row.deauthorized = change.action == "deauthorized"
    row.authorization_changed_at = origin.created
    row.save(update_fields=("deauthorized", "authorization_changed_at", "synced_at"))
