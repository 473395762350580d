"""Stage 5: self-healing. What an event could not tell is read from the Stripe API once its
transaction commits (docs/mirror.md, "Self-healing").

Two reasons to read an object:

- the ordering guard had to guess which snapshot is the newest: an ambiguous same-second tie
  (``upsert._break_tie`` calls ``settle_later``; the guess stands until the read, and
  deletes nothing);
- an embedded list of the object an event mirrors was cut by Stripe (``has_more: true``: an
  invoice's lines past the first 10, a subscription's items): the children past the first
  page are missing, and the list cannot tell which children are gone
  (``children.sync_embedded`` calls ``complete_later``).

With an API key for the event's mode and a type the API retrieves by id
(``refetch.RESOURCE_PATHS``), the object is queued. A queue serves one outermost transaction of
one database connection: one entry per object (mode, account, type, id) holding the newest
origin that wants it, and one ``on_commit`` callback that reads each object once
(``refetch.fetch``: in the event's API version, its cut lists read whole) and writes it
through the guard as a fetched state (``Origin.fetched``), under the newest wanting event's
watermark. A worker's batch with five events about one invoice makes one read; a transaction
that rolls back makes none (Django drops its callback; the batch's one-by-one attempts queue
the objects again). Outside a transaction (autocommit) the read is made at once, as Django runs
an ``on_commit`` callback then, but for a tie, whose read would come before the guess is
written. No network call while row locks are held; a failed read leaves what the events wrote.

A state read from the API (a backfill, a read-your-write, a heal itself) is never healed: its
lists were read whole when they could be. Without a key, a cut list is kept as it is, and
logged once per object and transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from django.db import DatabaseError, connections, models, router, transaction

from .. import conf
from ..failures import describe
from ..logs import origin_extra
from . import refetch, sources
from .origin import REFETCHED, Origin
from .storable import storable

logger = logging.getLogger("stripe_mirror.sync")

#: One object as the API retrieves it: (livemode, account, object type, id).
Key = tuple[bool, str, str, str]

#: Attribute of a database connection: the queue of its open transaction (``_Queue``).
_QUEUE = "_stripe_mirror_heal"

#: How often a fetched state is written when the write loses a deadlock.
_WRITE_ATTEMPTS = 3


class _Queue:
    """The objects one transaction wants read, read by ``flush`` (its ``on_commit``)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.wanted: dict[Key, Origin] = {}
        #: Objects whose cut list was logged already (no key).
        self.noted: set[Key] = set()
        self.ran = False
        self.callback = self.flush  # one bound method, found again in ``run_on_commit``

    def want(self, key: Key, origin: Origin) -> None:
        held = self.wanted.get(key)
        if held is None or (origin.created, origin.event_id) >= (held.created, held.event_id):
            self.wanted[key] = origin

    def flush(self) -> None:
        self.ran = True
        wanted, self.wanted = self.wanted, {}
        heal(wanted, self.alias)


def _queue(alias: str) -> _Queue | None:
    """The queue of the transaction open on ``alias`` (made and registered with
    ``on_commit`` at its first use), or None outside a transaction."""
    connection = connections[alias]
    if not connection.in_atomic_block:
        return None
    queue: _Queue | None = getattr(connection, _QUEUE, None)
    # A queue serves the transaction whose callbacks hold it. Once it ran (a commit), or was
    # dropped by a rollback (of the transaction, or of the savepoint it was made in), the
    # transaction is another one: a new queue. (An object queued inside a savepoint that rolls
    # back, in a queue made before it, is still read: useless, but a read is always safe.)
    if (
        queue is None
        or queue.ran
        or not any(entry[1] is queue.callback for entry in connection.run_on_commit)
    ):
        queue = _Queue(alias)
        setattr(connection, _QUEUE, queue)
        transaction.on_commit(queue.callback, using=alias, robust=True)
    return queue


def settle_later(
    obj: Mapping[str, Any],
    origin: Origin,
    model: type[models.Model],
    *,
    candidates: int,
    keeping: str,
) -> None:
    """An ambiguous tie of ``candidates`` same-second snapshots, guessed to be ``keeping``'s:
    read the object (of ``model``) after commit; or, when it cannot be, warn that the guess
    stays."""
    why = _want(obj, origin, model, tie=True)
    if why:
        logger.warning(
            "ambiguous order of %d same-second events about %s %s; keeping %s (%s)",
            candidates,
            obj.get("object"),
            obj.get("id"),
            keeping,
            why,
            extra=origin_extra(origin),
        )


def complete_later(
    parent: Mapping[str, Any], origin: Origin, model: type[models.Model], lists: Sequence[str]
) -> None:
    """The embedded ``lists`` of ``parent`` (of ``model``), just applied, were cut
    (``has_more: true``): read the parent after commit, its lists whole; or, when it cannot
    be, say so once per object and transaction."""
    if origin.fetched:
        return  # read from the API: its lists were read whole when they could be
    why = _want(parent, origin, model, tie=False)
    if not why:
        return
    queue = _queue(router.db_for_write(model))
    key = _key(parent, origin)
    if queue is not None:
        if key in queue.noted:
            return
        queue.noted.add(key)
    if why == _NO_KEY:
        why = "no API_KEY: set STRIPE_MIRROR['API_KEY'] to complete it from the API"
    logger.warning(
        "%s %s: its embedded %s list is incomplete (has_more: true); kept as it is (%s)",
        parent.get("object"),
        parent.get("id"),
        " and ".join(lists),
        why,
        extra=origin_extra(origin),
    )


_NO_KEY = "no API_KEY"


def _key(obj: Mapping[str, Any], origin: Origin) -> Key:
    return (origin.livemode, origin.account, str(obj.get("object", "")), str(obj.get("id")))


def _want(obj: Mapping[str, Any], origin: Origin, model: type[models.Model], *, tie: bool) -> str:
    """Queue the object's read; "" when it is queued (or done), else why it cannot be."""
    if not conf.api_key(origin.livemode):
        return _NO_KEY
    object_type = str(obj.get("object", ""))
    if object_type not in refetch.RESOURCE_PATHS or not isinstance(obj.get("id"), str):
        return "not retrievable from the API"
    if sources.apply_fetched() is None:
        return "the mirror is not set up"
    alias = router.db_for_write(model)
    queue = _queue(alias)
    if queue is not None:
        queue.want(_key(obj, origin), origin)
    elif tie:
        return "outside a transaction"  # a read now would be overwritten by the guess
    else:
        heal({_key(obj, origin): origin}, alias)  # autocommit: at once, after the write
    return ""


def heal(wanted: Mapping[Key, Origin], alias: str) -> None:
    """Read each object once and write what Stripe says. Never raises: a failure is logged
    (without a traceback: it may show data) and leaves what the events wrote."""
    for key, origin in wanted.items():
        try:
            _heal_one(key, origin, alias)
        except Exception as exc:  # one object's failure must not stop the others
            logger.error("could not heal %s %s: %s", key[2], key[3], describe(exc))


def _heal_one(key: Key, origin: Origin, alias: str) -> None:
    _, _, object_type, stripe_id = key
    what = f"{object_type} {stripe_id}"
    fetched = refetch.fetch({"object": object_type, "id": stripe_id}, origin)
    apply = sources.apply_fetched()
    if fetched is None or apply is None:
        logger.warning("%s was not read from the API; the mirror keeps what events wrote", what)
        return
    fetched = storable(fetched).value  # as an event's object is mirrored
    read = replace(origin, event_id=f"{origin.event_id}{REFETCHED}", previous=None)
    for attempt in range(1, _WRITE_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=alias):
                apply(fetched, read)
            return
        except DatabaseError as exc:  # a deadlock with a worker's batch: try again
            if attempt == _WRITE_ATTEMPTS:
                # Not the traceback: the database's message may quote the rows' data.
                logger.error("could not write the refetched %s: %s", what, describe(exc))
