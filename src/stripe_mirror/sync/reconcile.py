"""Stage 5: is the mirror right? One object type of one mode and account compared with the API.

Without a sample, the type's list endpoint is walked (``api.listing``, a thread one page
ahead): a listed object without a row is **missing**, a row that differs is **stale**
(``drift.differences``), a tombstone that is listed is **alive in Stripe**. The rows the
listing did not show are retrieved by id (``api.retrieve``): ``deleted: true`` or
``resource_missing`` is **deleted in Stripe**, an answer is compared as above. With a sample,
only the sampled rows are retrieved (missing objects need the listing: none are reported).

A row is compared when the page (or retrieve) that read its object has answered, and only if
its watermark is not later than the read's (``reads.read_watermark``): a row written from an
event of the read's second or later may be newer than the read. At the end, every finding is
checked again: a row whose ``event_id`` (or tombstone) changed during the check was written
by an event meanwhile, and is not reported.

``repair`` writes the API's state of missing and stale objects as a read (``reads.apply_read``:
the guard never lets it overwrite a newer event) and tombstones objects deleted in Stripe
(``upsert.tombstone``). A tombstone alive in Stripe is only reported: deletion is final in the
mirror (docs/mirror.md), and such a row is a mirror bug or an object Stripe brought back,
which a person should look at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import stripe
from django.db.models import QuerySet

from ..api import listing
from ..api.retrieve import Found, Retrieved, retrieve
from ..models import StripeModel, StripeObject
from . import reconcile_repair
from .drift import differences
from .reads import read_watermark
from .upsert import model_for

#: Retrieves kept in flight ahead of the comparisons (by the fetching thread).
RETRIEVE_AHEAD = 8


@dataclass(frozen=True, slots=True)
class Check:
    """What to compare: one type in one mode and account, and which rows."""

    object_type: str
    livemode: bool = False
    account: str = ""
    #: Compare this many random rows (by retrieve) instead of walking the listing.
    sample: int | None = None
    #: Compare only rows last written before this time (missing objects are still reported).
    synced_before: datetime | None = None
    repair: bool = False
    label: str = "reconcile"


@dataclass(slots=True)
class Finding:
    kind: str  # one of models.DRIFT_KINDS
    stripe_id: str
    #: What differs (stale only): typed columns, then ``data.<key>``.
    fields: tuple[str, ...] = ()
    #: The API's answer (an object or a deleted stub; None for a ``resource_missing``).
    obj: dict[str, Any] | None = None
    started: datetime | None = None
    #: The row's ``event_id`` when it was compared (None: no row).
    event_id: str | None = None


@dataclass(slots=True)
class Tally:
    compared: int = 0
    findings: list[Finding] = field(default_factory=list)
    #: Rows not compared because an event newer than the read wrote them.
    newer: int = 0
    repaired: int = 0
    #: Retrieves that failed (their rows were not compared).
    errors: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for finding in self.findings if finding.kind == kind)


Report = Callable[[Tally], object]


def rows_of(check: Check) -> QuerySet[StripeModel]:
    """The mirrored rows in the check's mode and account (and type, in the generic table)."""
    model = model_for(check.object_type)
    rows = model.objects.filter(account=check.account, livemode=check.livemode)
    if model is StripeObject:
        rows = rows.filter(type=check.object_type)
    return rows


def reconcile(client: stripe.StripeClient, check: Check, report: Report | None = None) -> Tally:
    """Compare the check's rows with the API; repair them when asked. Raises
    ``stripe.StripeError`` when the listing fails (retrieve errors are counted)."""
    tally = Tally()
    scope = rows_of(check)
    if check.synced_before is not None:
        scope = scope.filter(synced_at__lt=check.synced_before)
    if check.sample is not None:
        unseen = list(scope.order_by("?").values_list("stripe_id", flat=True)[: check.sample])
    else:
        known = dict(scope.values_list("stripe_id", "deleted"))
        seen = _walk(client, check, tally, report)
        unseen = [sid for sid, deleted in known.items() if not deleted and sid not in seen]
    for answer in listing.ahead(_retrieved(client, check, unseen, tally), RETRIEVE_AHEAD):
        _compare(check, tally, [answer])
        if report is not None and tally.compared % 100 == 0:
            report(tally)
    _drop_changed(check, tally)
    if check.repair:
        reconcile_repair.repair(check, tally)
    if report is not None:
        report(tally)
    return tally


def _walk(
    client: stripe.StripeClient, check: Check, tally: Tally, report: Report | None
) -> set[str]:
    seen: set[str] = set()
    for page in listing.ahead(listing.pages(client, check.object_type)):
        answers = [(str(o["id"]), Retrieved(Found.ALIVE, o, page.started)) for o in page.objects]
        seen.update(stripe_id for stripe_id, _ in answers)
        _compare(check, tally, answers)
        if report is not None:
            report(tally)
    return seen


Answer = tuple[str, Retrieved]


def _retrieved(
    client: stripe.StripeClient, check: Check, ids: list[str], tally: Tally
) -> Iterator[Answer]:
    for stripe_id in ids:
        try:
            yield stripe_id, retrieve(client, check.object_type, stripe_id)
        except stripe.StripeError:
            tally.errors += 1  # (counted by the fetching thread, which ends before the report)


def _compare(check: Check, tally: Tally, answers: list[Answer]) -> None:
    """Compare answers with their rows, read now (after the answers' requests started)."""
    ids = [stripe_id for stripe_id, _ in answers]
    rows = {row.stripe_id: row for row in rows_of(check).filter(stripe_id__in=ids)}
    for stripe_id, answer in answers:
        finding = _judge(check, rows.get(stripe_id), answer, tally)
        if finding is not None:
            finding.stripe_id, finding.obj, finding.started = stripe_id, answer.obj, answer.started
            tally.findings.append(finding)


def _judge(
    check: Check, row: StripeModel | None, answer: Retrieved, tally: Tally
) -> Finding | None:
    """The drift of one row against the API's answer, or None."""
    alive = answer.found is Found.ALIVE
    selected = row is None or check.synced_before is None or row.synced_at < check.synced_before
    if not selected:
        return None  # outside the selection (listed, but written since)
    tally.compared += 1
    if row is None or row.deleted:
        return _presence(row, alive)
    if row.event_created is not None and row.event_created > read_watermark(answer.started):
        tally.newer += 1  # an event of the read's second or later: maybe newer than the read
        return None
    if not alive:
        return Finding("deleted_in_stripe", "", event_id=row.event_id)
    assert answer.obj is not None
    fields = differences(row, answer.obj)
    return Finding("stale", "", tuple(fields), event_id=row.event_id) if fields else None


def _presence(row: StripeModel | None, alive: bool) -> Finding | None:
    """No row (missing when the API has the object) or a tombstone (alive in Stripe)."""
    if not alive:
        return None
    if row is None:
        return Finding("missing", "")
    return Finding("alive_in_stripe", "", event_id=row.event_id)


def _drop_changed(check: Check, tally: Tally) -> None:
    """Forget the findings whose row an event wrote (or created) during the check."""
    ids = [finding.stripe_id for finding in tally.findings]
    now: dict[str, tuple[str, bool]] = {}
    for start in range(0, len(ids), 500):
        rows = rows_of(check).filter(stripe_id__in=ids[start : start + 500])
        now.update(
            (sid, (eid, dead))
            for sid, eid, dead in rows.values_list("stripe_id", "event_id", "deleted")
        )
    kept = [f for f in tally.findings if _unchanged(f, now.get(f.stripe_id))]
    tally.newer += len(tally.findings) - len(kept)
    tally.findings = kept


def _unchanged(finding: Finding, now: tuple[str, bool] | None) -> bool:
    if finding.kind == "missing":
        return now is None
    if finding.kind == "alive_in_stripe":
        return True  # a tombstone is final: no event changes it
    return now is not None and now == (finding.event_id, False)


__all__ = ["Check", "Finding", "Tally", "reconcile", "rows_of"]
