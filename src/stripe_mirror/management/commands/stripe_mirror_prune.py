"""Retention: strip the bodies of old processed events, delete the oldest rows.

    manage.py stripe_mirror_prune              # by RETENTION_BODY_DAYS / RETENTION_ROW_DAYS
    manage.py stripe_mirror_prune --dry-run    # count what it would do
    manage.py stripe_mirror_prune --body-days 7 --row-days 60 --batch-size 500

Only processed and skipped events are touched; rows are kept at least 30 days (the window in
which Stripe redelivers or the Events API lists an event). Run it daily, from cron.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stripe_mirror.ops import prune

#: Seconds between progress lines (-v 2: a line per batch).
_REPORT_EVERY = 2.0


class Command(BaseCommand):
    help = "Strip the bodies of old processed events and delete the oldest rows (retention)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--body-days", type=float, default=None, help="Override RETENTION_BODY_DAYS."
        )
        parser.add_argument(
            "--row-days",
            type=float,
            default=None,
            help=f"Override RETENTION_ROW_DAYS (at least {prune.MIN_ROW_DAYS}).",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows per transaction (default 1000)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be done; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rows_before = prune.row_cutoff(options["row_days"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        bodies_before = prune.body_cutoff(options["body_days"])
        size = max(1, options["batch_size"])
        dry = options["dry_run"]
        self._last_report = 0.0
        self._every = 0.0 if options["verbosity"] >= 2 else _REPORT_EVERY
        verb = "would be" if dry else "were"
        deleted = stripped = 0
        # Deleting first: the rows it removes need no stripping.
        if rows_before is not None:
            self._say(
                f"deleting processed/skipped events received before {rows_before:%Y-%m-%d %H:%M}"
            )
            deleted = prune.delete_rows(
                rows_before, batch_size=size, dry_run=dry, progress=self._progress
            )
        if bodies_before is not None:
            self._say(f"stripping bodies of events received before {bodies_before:%Y-%m-%d %H:%M}")
            stripped = prune.strip_bodies(
                bodies_before,
                since=rows_before,
                batch_size=size,
                dry_run=dry,
                progress=self._progress,
            )
        if rows_before is None and bodies_before is None:
            self._say("retention is off (RETENTION_BODY_DAYS and RETENTION_ROW_DAYS are None)")
        self._say(f"done: {deleted} events {verb} deleted, {stripped} bodies {verb} stripped")

    def _progress(self, step: prune.Progress) -> None:
        now = time.monotonic()
        if now - self._last_report >= self._every:
            self._last_report = now
            noun = "rows deleted" if step.action == "delete" else "bodies stripped"
            dry = " (dry run)" if step.dry_run else ""
            self._say(f"  batch {step.batch}: {step.rows} {noun}{dry}")

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
