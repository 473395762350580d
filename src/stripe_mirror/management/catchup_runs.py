"""Each catch-up run stored (``CatchupRun``): created when a mode and account's run starts, so
that a run under way is visible, its figures saved every few seconds while it runs, and
finished (done, failed or interrupted) when it ends; and where the next run starts.

A database error while saving a row is logged and the catch-up goes on: the row is a record,
and the cursor (``resume``) only goes back further without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import Error, connections, router
from django.db.models import Max, Min
from django.utils import timezone

from ..models import CatchupRun, CatchupStatus, InboxEvent
from .catchup import Run

logger = logging.getLogger("stripe_mirror.catchup")

#: Seconds between two saves of a running run's figures.
SAVE_EVERY = 5.0


def resume(livemode: bool, account: str, margin: timedelta) -> datetime | None:
    """Where the next run of this mode and account starts, once one finished ``done``: the
    end of the newest done run's window or the newest event the inbox holds, whichever is
    older, minus ``margin``. The inbox alone is not enough after an outage of the whole site:
    the first webhook after it moves the inbox's newest event past the events missed during
    it, while the last done run still ends before them. A run stored since, that did not
    finish done (failed, interrupted, killed, or still running), moves the start back to its
    own start: a run in several processes (``--jobs``) records each lane's events in order,
    not the whole run's, so the newest event it recorded says nothing of what a failed lane
    left. None when no run is stored: ``window`` then starts from the inbox alone."""
    runs = CatchupRun.objects.filter(livemode=livemode, account=account).order_by("-id")
    ended = runs.filter(status=CatchupStatus.DONE).values_list("id", "window_end").first()
    since = runs if ended is None else runs.filter(id__gt=ended[0])
    # Its start is the margin before its cursor already: not moved back again (a run failing
    # round after round would otherwise start a margin earlier each time).
    unfinished: datetime | None = since.exclude(status=CatchupStatus.DONE).aggregate(
        start=Min("window_start")
    )["start"]
    if ended is None:
        return unfinished
    newest = InboxEvent.objects.filter(livemode=livemode, account=account).aggregate(
        newest=Max("created")
    )["newest"]
    start = min(ended[1], newest or ended[1]) - margin
    return start if unfinished is None else min(start, unfinished)


def _values(run: Run) -> dict[str, object]:
    return {
        "livemode": run.livemode,
        "account": run.account,
        "window_start": run.start,
        "window_end": run.end,
        "asked": run.asked,
        "listed": run.listed,
        "recorded": run.recorded,
        "present": run.present,
        "unreadable": run.unreadable,
        "outcomes": {str(outcome): n for outcome, n in sorted(run.outcomes.items()) if n},
    }


class Stored:
    """The row of one run: ``start`` it, call it with the run as a progress report (it saves
    at most every ``SAVE_EVERY`` seconds, after ``then``), and ``finish`` it."""

    def __init__(self, then: Callable[[Run], None]) -> None:
        self.then = then
        self.row: CatchupRun | None = None
        self.started_at = timezone.now()
        self._saved = 0.0

    def start(self, run: Run) -> None:
        self.started_at = timezone.now()
        self._save(run, CatchupStatus.RUNNING)

    def __call__(self, run: Run) -> None:
        self.then(run)
        if time.monotonic() - self._saved >= SAVE_EVERY:
            self._save(run, CatchupStatus.RUNNING)

    def finish(self, run: Run, status: CatchupStatus, error: str = "") -> None:
        """Store how the run ended; when that fails (a Ctrl-C in the middle of a statement can
        leave the connection unusable), once more on a new connection."""
        finished_at = timezone.now()
        if not self._save(run, status, error=error, finished_at=finished_at):
            connection = connections[router.db_for_write(CatchupRun)]
            if not connection.in_atomic_block:  # the caller's transaction: not ours to drop
                connection.close()
                self._save(run, status, error=error, finished_at=finished_at)

    def _save(self, run: Run, status: CatchupStatus, **more: object) -> bool:
        self._saved = time.monotonic()
        values = {**_values(run), "status": status, **more}
        try:
            if self.row is None:
                self.row = self._created(run, values)
            else:
                CatchupRun.objects.filter(pk=self.row.pk).update(**values)
        except Error as exc:
            logger.warning("catch-up: %s: its run could not be stored: %s", run.where, exc)
            return False
        return True

    def _created(self, run: Run, values: dict[str, object]) -> CatchupRun:
        """The run's row, created; or updated, if it already exists: a row that could not be
        created at the start is created later, and a Ctrl-C can come after the row was
        committed, before ``create`` returned it."""
        row = CatchupRun.objects.filter(
            started_at=self.started_at, livemode=run.livemode, account=run.account
        ).first()
        if row is None:
            return CatchupRun.objects.create(started_at=self.started_at, **values)
        CatchupRun.objects.filter(pk=row.pk).update(**values)
        return row
