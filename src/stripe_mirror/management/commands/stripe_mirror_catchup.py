"""``manage.py stripe_mirror_catchup``: record the events webhooks missed, from the Events API.

    manage.py stripe_mirror_catchup                      # once, the platform, test mode
    manage.py stripe_mirror_catchup --accounts all --live --every 5m
    manage.py stripe_mirror_catchup --since 2026-01-01T12:00
    manage.py stripe_mirror_catchup --accounts all --jobs 2   # a long outage, two processes

Lists ``/v1/events`` for each mode's account from the newest event the inbox holds for it,
or the end of the last completed run if older, minus ``CATCHUP_MARGIN`` (or ``--since``;
with an empty inbox and no run, Stripe's whole 30-day retention), records every event the
inbox does not hold under the endpoint name "(events-api)" and processes it through the
normal dispatch, oldest first. Safe to run next to webhooks, workers and another catch-up
(docs/operations.md, Recovering missed events). Each mode and account's run is stored
(``CatchupRun``: in the admin and ``stripe_mirror_status``), from its start, whether it
ends done, failed or interrupted.
"""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import stripe
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections, connections, router

from stripe_mirror import conf
from stripe_mirror.api import ApiNotConfigured, client_for
from stripe_mirror.management.catchup import Run, catch_up, window
from stripe_mirror.management.catchup_display import Display, summary
from stripe_mirror.management.catchup_lanes import LaneFailed, can_fork
from stripe_mirror.management.catchup_runs import Stored, resume
from stripe_mirror.management.selection import accounts, moment
from stripe_mirror.models import CatchupStatus, InboxEvent

_UNITS = {"s": 1, "m": 60, "h": 3600}


class Command(BaseCommand):
    help = "Record and process the events that Stripe's Events API lists and the inbox lacks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--accounts",
            default="",
            help="'all' (the platform and every connected account) or comma-separated "
            "connected account ids (default: the platform only)",
        )
        parser.add_argument(
            "--since",
            default="",
            help="a date or ISO date-time (UTC unless it says) to list from, instead of the "
            "newest recorded event minus the margin",
        )
        parser.add_argument(
            "--margin",
            type=float,
            default=None,
            help="seconds listed again before the newest recorded event "
            "(default: the CATCHUP_MARGIN setting)",
        )
        parser.add_argument("--live", action="store_true", help="live mode (default: test)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="one catch-up, then exit (default)")
        mode.add_argument("--every", default="", help="catch up every 30s, 5m, 1h... until Ctrl-C")
        parser.add_argument(
            "--jobs",
            type=int,
            default=1,
            help="processes that record and process the missing events, each those of its "
            "share of the customers (default 1; PostgreSQL and MySQL/MariaDB only)",
        )
        parser.add_argument("--plain", action="store_true", help="plain lines, no progress bars")

    def handle(self, *args: Any, **options: Any) -> None:
        since = moment(options["since"], "--since")
        every = _interval(options["every"])
        margin = conf.catchup_margin() if options["margin"] is None else options["margin"]
        livemode = bool(options["live"])
        self.jobs = self._jobs(options["jobs"])
        try:
            chosen = accounts(options["accounts"], livemode)
        except ApiNotConfigured as exc:
            raise CommandError(str(exc)) from exc
        # The stream under Django's OutputWrapper, which would end each of tqdm's writes
        # with a newline.
        self.stream: TextIO = getattr(self.stdout, "_out", sys.stdout)
        self.bars = not options["plain"] and self.stream.isatty()
        if every is None:
            try:
                self.round(chosen, livemode, since, timedelta(seconds=margin), loop=False)
            except KeyboardInterrupt as exc:
                raise CommandError("interrupted", returncode=130) from exc
            return
        try:
            self.loop(chosen, livemode, since, timedelta(seconds=margin), every)
        except KeyboardInterrupt:
            self.stdout.write("stopped")

    def _jobs(self, jobs: int) -> int:
        """``--jobs``, or 1 where several processes cannot run or would gain nothing."""
        if jobs < 1:
            raise CommandError(f"--jobs: at least 1, not {jobs}")
        if jobs == 1:
            return 1
        vendor = connections[router.db_for_write(InboxEvent)].vendor
        if vendor == "sqlite":
            self.stderr.write(
                f"--jobs {jobs}: SQLite lets one process write at a time; catching up in one"
            )
            return 1
        if not can_fork():
            self.stderr.write(f"--jobs {jobs}: this platform cannot fork; catching up in one")
            return 1
        return jobs

    def loop(
        self,
        chosen: list[str],
        livemode: bool,
        since: datetime | None,
        margin: timedelta,
        every: float,
    ) -> None:
        """Catch up every ``every`` seconds; ``--since`` applies to the first round only (the
        next ones start from what the inbox holds then)."""
        while True:
            started = time.monotonic()
            self.round(chosen, livemode, since, margin, loop=True)
            since = None
            time.sleep(max(0.0, every - (time.monotonic() - started)))

    def round(
        self,
        chosen: list[str],
        livemode: bool,
        since: datetime | None,
        margin: timedelta,
        *,
        loop: bool,
    ) -> None:
        """One catch-up of every account; in a loop, an account that fails is reported and
        tried again at the next round, once, it ends the command."""
        runs: list[Run] = []
        failed = 0
        for account in chosen:
            try:
                start = resume(livemode, account, margin) if since is None else since
                run = window(livemode, account, start, margin, datetime.now(UTC))
            except DatabaseError as exc:
                failed += 1
                where = f"{account or 'platform'} ({'live' if livemode else 'test'})"
                self.stderr.write(f"{where}: catch-up failed: {_message(exc)}")
                close_old_connections()
                continue
            if not self.catch_up(run):
                failed += 1
            runs.append(run)
        self.stdout.write(summary(runs))
        if failed and not loop:
            raise CommandError(f"{failed} account(s) failed (see above); run again to retry")

    def catch_up(self, run: Run) -> bool:
        """Catch up one mode and account, its run stored (``CatchupRun``) from its start to
        its end, whatever the end; False when it failed."""
        display = Display(self.stream, bars=self.bars)
        stored = Stored(then=display)
        status, error = CatchupStatus.DONE, ""
        try:
            # In the try: a Ctrl-C just after the row was created still finishes it.
            stored.start(run)
            catch_up(client_for(run.livemode, run.account), run, stored, jobs=self.jobs)
        except (stripe.StripeError, DatabaseError, LaneFailed) as exc:
            status, error = CatchupStatus.FAILED, _message(exc)
            self.stderr.write(f"{run.where}: catch-up failed: {error}")
            if isinstance(exc, DatabaseError):
                close_old_connections()  # a broken connection: the run's row needs another
        except KeyboardInterrupt:
            status = CatchupStatus.INTERRUPTED
            raise
        finally:
            display.close()
            stored.finish(run, status, error)
        return status == CatchupStatus.DONE


def _message(exc: Exception) -> str:
    user_message = getattr(exc, "user_message", None)
    return str(user_message or exc)


def _interval(value: str) -> float | None:
    if not value:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", value.strip())
    if match is None or float(match[1]) <= 0:
        raise CommandError(f"--every: not a duration such as 30s, 5m or 1h: {value!r}")
    return float(match[1]) * _UNITS[match[2] or "s"]
