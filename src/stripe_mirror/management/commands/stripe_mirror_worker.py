"""Process due inbox events: once (for cron) or as a long-running worker.

    manage.py stripe_mirror_worker            # run until SIGTERM/SIGINT
    manage.py stripe_mirror_worker --once     # drain what is due now, then exit

Several workers may run at once, on one machine or many: each event is claimed with a row
lock (SKIP LOCKED), so none is processed twice.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from stripe_mirror.processing import Outcome, due_count, process_due

#: Seconds between progress lines of a long-running worker.
_REPORT_EVERY = 10


def _done(totals: Counter[Outcome]) -> int:
    """Events processed, failed or dead: SKIPPED ones were taken by another processor."""
    return totals[Outcome.PROCESSED] + totals[Outcome.FAILED] + totals[Outcome.DEAD]


class Command(BaseCommand):
    help = "Process due Stripe events from the inbox (pending ones and failed ones to retry)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Process what is due now, then exit."
        )
        parser.add_argument(
            "--batch-size", type=int, default=50, help="Events per transaction (default 50)."
        )
        parser.add_argument(
            "--sleep",
            type=float,
            default=1.0,
            help="Seconds to wait when nothing is due (default 1).",
        )
        parser.add_argument(
            "--max-events",
            type=int,
            default=0,
            help="Exit after processing this many events (default: no limit).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        batch_size = max(1, options["batch_size"])
        limit: int | None = options["max_events"] or None
        once: bool = options["once"]
        totals: Counter[Outcome] = Counter()
        started = last_report = time.monotonic()
        if once:
            self._say(f"{due_count()} events due")
        else:
            self._say(f"waiting for events (batch size {batch_size}); stop with SIGTERM or Ctrl-C")
        while not self._stopping:
            # Never claim more than --max-events allows: a claimed event is processed.
            room = batch_size if limit is None else min(batch_size, limit - _done(totals))
            if room <= 0:
                break
            try:
                results = process_due(room)
            except DatabaseError as exc:
                if once:
                    raise CommandError(f"database error: {exc}") from exc
                self.stderr.write(f"database error, retrying in {options['sleep']} s: {exc}")
                close_old_connections()
                time.sleep(options["sleep"])
                continue
            totals.update(outcome for _, outcome in results)
            now = time.monotonic()
            if results and (once or now - last_report >= _REPORT_EVERY):
                self._say(self._progress(totals, now - started))
                last_report = now
            if not results:
                if once:
                    break
                time.sleep(options["sleep"])
        self._say("done: " + self._progress(totals, time.monotonic() - started))

    def _progress(self, totals: Counter[Outcome], seconds: float) -> str:
        rate = _done(totals) / seconds if seconds > 0 else 0.0
        return (
            f"{totals[Outcome.PROCESSED]} processed, {totals[Outcome.FAILED]} failed (will retry), "
            f"{totals[Outcome.DEAD]} dead, {rate:.0f} events/s"
        )

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        self.stderr.write(f"received signal {signum}; finishing the current batch")
