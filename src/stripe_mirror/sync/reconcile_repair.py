"""Stage 5: ``reconcile --repair``: the API's state written through the guard.

Each finding is written in a transaction of its own (no network call in it: the API's answer
was read by the check), as a state read when its request started (``reads.py``):

- missing and stale objects: ``reads.apply_read``, the write of any API read. The guard keeps
  a row written by an event newer than the read (``Result.SKIPPED_OLDER``: not repaired, and
  right: the event is newer);
- objects deleted in Stripe: ``upsert.tombstone`` with the deleted stub (or, after a
  ``resource_missing``, a stub made here), and the children that live only inside it are
  tombstoned too (a deleted draft invoice's lines), as a ``*.deleted`` event's rule does;
- tombstones alive in Stripe: never written. Deletion is final in the mirror; repairing one
  would resurrect it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import router, transaction

from .children import bury_embedded
from .reads import apply_read, read_origin
from .upsert import Outcome, model_for, tombstone

if TYPE_CHECKING:  # (reconcile imports this module)
    from .reconcile import Check, Finding, Tally

#: The kinds that a repair writes.
REPAIRED_KINDS = ("missing", "stale", "deleted_in_stripe")


def repair(check: Check, tally: Tally) -> None:
    """Write the API's state of each repairable finding; counts the rows written."""
    alias = router.db_for_write(model_for(check.object_type))
    for finding in tally.findings:
        if finding.kind not in REPAIRED_KINDS or finding.started is None:
            continue
        with transaction.atomic(using=alias):
            outcome = _write(check, finding)
        tally.repaired += outcome.applied


def _write(check: Check, finding: Finding) -> Outcome:
    assert finding.started is not None  # (every finding has its answer's time)
    origin = read_origin(
        finding.started, label=check.label, account=check.account, livemode=check.livemode
    )
    if finding.kind != "deleted_in_stripe":
        assert finding.obj is not None
        return apply_read(finding.obj, origin)
    stub: dict[str, Any] = finding.obj or {
        "id": finding.stripe_id,
        "object": check.object_type,
        "deleted": True,
    }
    outcome = tombstone(stub, origin, model=model_for(check.object_type))
    if outcome.applied:  # as a ``*.deleted`` event's rule does (``handlers.base``)
        bury_embedded(stub, origin)
    return outcome


__all__ = ["REPAIRED_KINDS", "repair"]
