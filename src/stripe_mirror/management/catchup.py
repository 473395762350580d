"""Catch-up: record the events that webhooks did not bring, read from Stripe's Events API.

For one mode and account: list ``/v1/events`` from a start (``--since``, or the newest event
the inbox holds for that mode and account minus ``CATCHUP_MARGIN``, or the whole retention
window), keep those whose id the inbox does not hold, and deliver them oldest first by
Stripe's ``created``, ``CHUNK`` at a time, as the webhook endpoint would have: recorded with
the event's JSON as the body, under the reserved endpoint name ``ENDPOINT`` (the inbox has
no column for an event's source: the endpoint name is it), in one transaction per chunk
(``inbox.record_many``, the endpoint's upsert for many rows); ``event_recorded`` for each once
the chunk is committed; then processed through the normal dispatch as one batch, as a
worker's (``tasks.process_listed``: grouped by object, each object's events oldest first,
and one transaction per event when the batch is rolled back), before the next chunk is
recorded. So handlers see each object's events oldest first, and the events of a chunk before
those of the next (a worker running meanwhile may take some of a chunk's events first, and
processes them by the same rules); the mirror does not depend on the order (docs/mirror.md).

Safe next to webhooks, workers and other catch-ups: the inbox deduplicates by event id (a
webhook that brings the same event afterwards is a duplicate, and one that came first makes
catch-up's record a duplicate), and an event is processed under its row's claim, so its
handlers run once whichever path brought it first (an event a worker or a webhook is
processing is skipped by the catch-up's claim).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import orjson
import stripe
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Max

from .. import signals, tasks
from ..api.events import RETENTION, event_pages
from ..dispatch import inbox
from ..dispatch.outcome import Outcome
from ..errors import WebhookRejected
from ..events import Envelope
from ..failures import describe
from ..logs import event_extra
from ..models import InboxEvent
from ..verification import envelope
from .catchup_lanes import deliver_in_lanes

logger = logging.getLogger("stripe_mirror.catchup")

#: The endpoint name events recorded by catch-up carry in the inbox: their source. The
#: parentheses keep it apart from any endpoint a URL can name (``ENDPOINTS`` keys are URL
#: path segments, and the admin and the status command show it as it is).
ENDPOINT = "(events-api)"
#: Listed events recorded in one transaction, then processed as one batch: a chunk. Chunks
#: are delivered oldest first, each processed before the next one is recorded.
CHUNK = 500


@dataclass
class Run:
    """One catch-up of one mode and account: its window, and what it found."""

    livemode: bool
    account: str
    #: The first second listed, and when the listing started (the window's end).
    start: datetime
    end: datetime
    #: The start asked for (``--since`` or the inbox's cursor) when Stripe's retention cut
    #: it: the events between ``asked`` and ``start`` can no longer be listed.
    asked: datetime | None = None
    listed: int = 0
    recorded: int = 0
    #: Listed events the inbox already held, or that a webhook brought meanwhile.
    present: int = 0
    #: Listed events that are not events (the inbox refuses them as a webhook would).
    unreadable: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)

    @property
    def where(self) -> str:
        return f"{self.account or 'platform'} ({'live' if self.livemode else 'test'})"


def window(
    livemode: bool, account: str, since: datetime | None, margin: timedelta, now: datetime
) -> Run:
    """The run's window: from ``since``, or from the newest event recorded for this mode and
    account minus ``margin`` (events are not listed strictly in the order they arrive, and a
    webhook may still be in flight: what the margin lists again is found present, at the
    cost of one query a page), or, with nothing recorded, the whole retention window;
    bounded by Stripe's retention."""
    if since is None:
        rows = InboxEvent.objects.filter(livemode=livemode, account=account)
        newest = rows.aggregate(newest=Max("created"))["newest"]
        since = now - RETENTION if newest is None else newest - margin
    oldest = now - RETENTION
    cut = since if since < oldest else None
    return Run(livemode, account, start=max(since, oldest), end=now, asked=cut)


def catch_up(
    client: stripe.StripeClient, run: Run, report: Callable[[Run], None], *, jobs: int = 1
) -> Run:
    """List the run's window, then deliver every event the inbox does not hold, oldest first,
    ``CHUNK`` at a time; ``report`` is called after each page and each chunk. With ``jobs``
    above 1 and more than a chunk to deliver, in that many processes, each the events of its
    share of the customers (``catchup_lanes``)."""
    missing: list[dict[str, Any]] = []
    for page in event_pages(client, int(run.start.timestamp())):
        ids = [str(event.get("id")) for event in page]
        held = set(InboxEvent.objects.filter(stripe_id__in=ids).values_list("stripe_id", flat=True))
        run.listed += len(page)
        run.present += len(held)
        missing.extend(event for event in page if str(event.get("id")) not in held)
        report(run)
    # Stripe lists newest first: reversed, then a stable sort by ``created`` keeps its order
    # among the events of one second.
    missing.reverse()
    missing.sort(key=lambda event: int(event.get("created") or 0))
    if jobs > 1 and len(missing) > CHUNK and not _in_transaction():
        fresh = partial(Run, run.livemode, run.account, run.start, run.end)
        deliver_in_lanes(
            missing, run, jobs=jobs, size=CHUNK, deliver=deliver, report=report, fresh=fresh
        )
        return run
    for start in range(0, len(missing), CHUNK):
        deliver(missing[start : start + CHUNK], run)
        report(run)
    return run


def _in_transaction() -> bool:
    """Whether the caller holds a transaction open (``call_command`` inside ``atomic``): lane
    processes would not see what it wrote, and closing its connection to fork would end it,
    so the run stays in this process."""
    if any(connection.in_atomic_block for connection in connections.all(initialized_only=True)):
        logger.info("catch-up: inside a transaction; delivering in this process (no --jobs)")
        return True
    return False


def deliver(events: list[dict[str, Any]], run: Run) -> None:
    """Record a chunk of listed events (oldest first) as webhook deliveries of them would be,
    in one transaction (``_record``); once it is committed, send ``event_recorded`` for
    each; then process those that need it as one batch of the normal dispatch, in that order
    (``tasks.process_listed``: the batch's fallbacks included)."""
    readable = _readable(events, run)
    recorded = _record(readable)
    for (parsed, _), delivery in zip(readable, recorded, strict=True):
        if delivery.first_delivery:
            run.recorded += 1
        else:
            run.present += 1
        for receiver, result in signals.event_recorded.send_robust(
            sender=Run, recorded=delivery, envelope=parsed, endpoint=ENDPOINT
        ):
            if isinstance(result, Exception):
                extra = event_extra(parsed, inbox_id=delivery.pk)
                logger.error("event_recorded receiver %r raised %r", receiver, result, extra=extra)
    due = [delivery.pk for delivery in recorded if delivery.needs_processing]
    run.outcomes.update(tasks.process_listed(due))


def _readable(events: list[dict[str, Any]], run: Run) -> list[tuple[Envelope, bytes]]:
    """The chunk's events as a webhook would bring them (the body, parsed); one the inbox
    refuses, as it would refuse the webhook, is counted unreadable, and an id listed twice
    is present the second time."""
    readable: list[tuple[Envelope, bytes]] = []
    seen: set[str] = set()
    for listed in events:
        event = listed
        if run.account and not event.get("account"):
            # A Connect webhook names its account; a listing through Stripe-Account may not.
            event = {**event, "account": run.account}
        body = orjson.dumps(event)
        try:
            parsed = envelope.parse(body)
        except WebhookRejected as exc:
            run.unreadable += 1
            logger.warning("catch-up: event %s not recorded: %s", event.get("id"), exc.detail)
            continue
        if parsed.id in seen:
            run.present += 1
            continue
        seen.add(parsed.id)
        readable.append((parsed, body))
    return readable


def _record(readable: list[tuple[Envelope, bytes]]) -> list[inbox.Recorded]:
    """The chunk in the inbox, committed together. Should that fail (a deadlock with another
    catch-up recording the same events in another order, a statement too large), the events
    are recorded one at a time as the endpoint records them, each committed by itself."""
    if not readable:
        return []
    alias = router.db_for_write(InboxEvent)
    try:
        with transaction.atomic(using=alias):
            return inbox.record_many(readable, ENDPOINT)
    except DatabaseError as exc:
        logger.info(
            "catch-up: %d events not recorded together (%s); recording them one at a time",
            len(readable),
            describe(exc),
        )
        return [inbox.record(parsed, ENDPOINT, body) for parsed, body in readable]
