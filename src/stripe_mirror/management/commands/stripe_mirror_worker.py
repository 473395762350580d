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

from stripe_mirror.dispatch import Outcome, due_count
from stripe_mirror.tasks import process_due

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
            "--batch-size",
            type=int,
            default=50,
            help="Due events per transaction (default 50), plus up to as many more about the "
            "same objects.",
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
        self._batch_size: int = max(1, options["batch_size"])
        self._limit: int | None = options["max_events"] or None
        self._totals: Counter[Outcome] = Counter()
        self._started = time.monotonic()
        if options["once"]:
            self._drain()
        else:
            self._serve(options["sleep"])
        self._say("done: " + self._progress())

    def _drain(self) -> None:
        """--once: process what is due, reporting each batch; a database error ends it."""
        try:
            self._say(f"{due_count()} events due")
            while not self._stopping and self._batch():
                self._say(self._progress())
        except DatabaseError as exc:
            raise CommandError(f"database error: {exc}") from exc

    def _serve(self, sleep: float) -> None:
        """Long-running: poll every ``sleep`` seconds when idle, ride out database errors."""
        self._say(f"waiting for events (batch size {self._batch_size}); stop with SIGTERM")
        last_report = self._started
        while not self._stopping and self._room() > 0:
            try:
                busy = self._batch()
            except DatabaseError as exc:
                self.stderr.write(f"database error, retrying in {sleep} s: {exc}")
                close_old_connections()
                busy = False
            if busy and time.monotonic() - last_report >= _REPORT_EVERY:
                self._say(self._progress())
                last_report = time.monotonic()
            if not busy and not self._stopping:
                time.sleep(sleep)

    def _batch(self) -> bool:
        """Process one batch; whether there was anything to process."""
        room = self._room()
        if room <= 0:
            return False
        results = process_due(room, related=self._room_beyond(room))
        self._totals.update(outcome for _, outcome in results)
        return bool(results)

    def _room(self) -> int:
        """How many events the next batch may claim: never more than --max-events allows,
        since a claimed event is processed."""
        if self._limit is None:
            return self._batch_size
        return min(self._batch_size, self._limit - _done(self._totals))

    def _room_beyond(self, room: int) -> int:
        """How many more events about the batch's objects it may take: as many again, within
        what --max-events allows."""
        if self._limit is None:
            return room
        return max(0, min(room, self._limit - _done(self._totals) - room))

    def _progress(self) -> str:
        totals = self._totals
        seconds = time.monotonic() - self._started
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
