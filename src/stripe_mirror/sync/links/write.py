"""Stage 5e: ``reconcile`` (called after a linked row is written), the pass after commit
that settles a payment's links under locks, and the writing of derived links."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import DatabaseError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from ...failures import describe
from ...models import Charge, Invoice, InvoicePayment, PaymentIntent, StripeModel
from ..sql import update
from . import sql
from .derive import Derived, _derive
from .load import _MAX_ROUNDS, _discover
from .payment import _Ids, _Scope

logger = logging.getLogger("stripe_mirror.sync")

#: The models whose rows carry payment links.
LINKED: tuple[type[StripeModel], ...] = (Invoice, InvoicePayment, PaymentIntent, Charge)

_SETTLE_ATTEMPTS = 3


def reconcile(row: StripeModel) -> None:
    """Recompute the derived links of the payment ``row`` belongs to (an invoice, invoice
    payment, payment intent or charge that was just written); inside ``deferred``, at its
    ``flush``, together with the other payments written meanwhile."""
    if not isinstance(row, LINKED):
        return
    scope = _Scope(row.account, row.livemode)
    alias = router.db_for_write(type(row))
    pending = _pending.get()
    if pending is not None and pending.active:
        pending.ids.setdefault((alias, scope), _Ids()).update(_seed(row))
        pending.written.add((type(row), row.pk))
        return
    _reconcile(alias, scope, _seed(row), {(type(row), row.pk)})


def _reconcile(alias: str, scope: _Scope, ids: _Ids, written: set[_Written]) -> None:
    """Derive the links of the payments of ``ids`` (which grows to all of their ids) and
    write those of the rows this transaction ``written`` (and so holds locked)."""
    derived = _derive(_discover(alias, scope, ids))
    if not connections[alias].features.has_select_for_update:
        _write(derived)  # one writer at a time (SQLite): nothing can race
        return
    # The rows just written are locked by this transaction: their links are written now, so
    # that the events' handlers see them. The other rows of the payments are left to the
    # pass after commit, which locks them in a fixed order: writing them here, in whatever
    # order the events of a batch come, would let two workers deadlock.
    _write([d for d in derived if (d[0], d[1]["id"]) in written])
    _settle_after_commit(alias, scope, ids)


# --- a batch's links, at once ---------------------------------------------------------------

#: A row written by this transaction: its model and primary key.
_Written = tuple[type[StripeModel], int]


@dataclass(slots=True)
class _Pending:
    """The payments written inside ``deferred`` and not flushed yet."""

    ids: dict[tuple[str, _Scope], _Ids] = field(default_factory=dict)
    written: set[_Written] = field(default_factory=set)
    #: False once flushed: rows written afterwards (by handlers) are reconciled at once.
    active: bool = True


_pending: ContextVar[_Pending | None] = ContextVar("stripe_mirror_links", default=None)


@contextmanager
def deferred() -> Iterator[None]:
    """Inside: the links of written rows wait for ``flush`` (or the end of the block), which
    loads every payment they belong to at once (a worker's batch, a catch-up chunk) instead
    of one payment per write. Left by an exception, nothing is flushed (the transaction is
    rolled back). Inside another such block, the outer one flushes."""
    outer = _pending.get()
    if outer is not None and outer.active:
        yield
        return
    pending = _Pending()
    token = _pending.set(pending)
    try:
        yield
        flush()
    finally:
        _pending.reset(token)


def flush() -> None:
    """Reconcile what ``deferred`` held back, one pass per database and scope; after it, the
    block reconciles each write at once."""
    pending = _pending.get()
    if pending is None or not pending.active:
        return
    pending.active = False
    for (alias, scope), ids in pending.ids.items():
        _reconcile(alias, scope, ids, pending.written)


def facts(row: StripeModel) -> tuple[Any, ...] | None:
    """The values of ``row`` that links load: what its payment's links derive from, and its
    derived links; None for a row without payment links. An update that leaves them as they
    were changes no link (``Outcome.links_kept``): its write needs no ``reconcile``."""
    columns = sql.fact_columns(type(row))
    return None if columns is None else tuple(getattr(row, c) for c in columns)


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
    if pending is None or not _settle_registered(connection):
        # None of the callbacks is left: the payments pending were those of a transaction
        # (or savepoints) rolled back since, whose rows are gone.
        pending = {}
        setattr(connection, _PENDING, pending)
    pending.setdefault(scope, _Ids()).update(ids)
    # Registered each time: callbacks of a rolled-back savepoint are dropped, and the first
    # one run takes everything pending (the others find nothing left).
    transaction.on_commit(partial(_settle_pending, alias), using=alias, robust=True)


def _settle_registered(connection: BaseDatabaseWrapper) -> bool:
    """Whether a settle of this module waits for the connection's commit."""
    return any(
        isinstance(entry[1], partial) and entry[1].func is _settle_pending
        for entry in connection.run_on_commit
    )


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
    held = sql.lock_rows(alias, scope, ids)
    locked = ids.copy()
    rows = _discover(alias, scope, ids)
    derived = _derive(rows)
    if not final and (
        ids.size() != locked.size() or any((m, r["id"]) not in held for m, r, _ in derived)
    ):
        raise _Grew
    _write(derived)


def _write(derived: Derived) -> None:
    for model, row, values in derived:
        changed = {column: value for column, value in values.items() if row[column] != value}
        if changed:
            update(model, row["id"], changed)
