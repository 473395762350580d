"""``manage.py stripe_mirror_backfill``: load the mirror with what Stripe's API lists.

    manage.py stripe_mirror_backfill                       # every typed type, the platform
    manage.py stripe_mirror_backfill --types customer,subscription --accounts all
    manage.py stripe_mirror_backfill --accounts acct_1,acct_2 --created-since 2025-01-01 --live

Every object is written as a state read from the API when its page was requested
(docs/mirror.md): it never overwrites a row written from a newer event, and an older event
delivered later never overwrites it. Progress is stored per mode, account and type: a run
that is interrupted resumes on the next invocation; ``--restart`` starts over. See
docs/operations.md for adopting the library on an existing account.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import stripe
from django.core.management.base import BaseCommand, CommandError, CommandParser

from stripe_mirror.api import ApiNotConfigured, client_for
from stripe_mirror.api.listing import LISTABLE
from stripe_mirror.management.backfill_display import Display, summary, where
from stripe_mirror.management.options import accounts, moment
from stripe_mirror.models import TYPED_MODELS, BackfillProgress
from stripe_mirror.sync.backfill import Listing, backfill

#: What is listed without ``--types``: every typed model that has a list endpoint.
DEFAULT_TYPES = tuple(t for t in LISTABLE if t in TYPED_MODELS)


class Command(BaseCommand):
    help = "List objects from Stripe's API into the mirror (resumable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--types",
            default="",
            help="comma-separated object types (default: every typed model with a list "
            f"endpoint); any of: {', '.join(sorted(LISTABLE))}",
        )
        parser.add_argument(
            "--accounts",
            default="",
            help="'all' (the platform and every connected account) or comma-separated "
            "connected account ids (default: the platform only)",
        )
        parser.add_argument("--created-since", default="", help="a date or ISO date-time")
        parser.add_argument("--live", action="store_true", help="live mode (default: test)")
        parser.add_argument("--restart", action="store_true", help="start every listing over")
        parser.add_argument("--plain", action="store_true", help="plain lines, no progress bars")

    def handle(self, *args: Any, **options: Any) -> None:
        types = _types(options["types"])
        since = moment(options["created_since"], "--created-since")
        livemode = bool(options["live"])
        try:
            chosen = accounts(options["accounts"], livemode)
        except ApiNotConfigured as exc:
            raise CommandError(str(exc)) from exc
        label = f"backfill:{datetime.now(UTC):%Y%m%dT%H%M%S}"
        # The stream under Django's OutputWrapper, which would end each of tqdm's writes
        # with a newline.
        self.stream: TextIO = getattr(self.stdout, "_out", sys.stdout)
        bars = not options["plain"] and self.stream.isatty()
        done: list[tuple[BackfillProgress, str]] = []
        failed = 0
        try:
            for account in chosen:
                for object_type in types:
                    if object_type == "account" and account:
                        continue  # connected accounts are listed by the platform only
                    job = Listing(object_type, livemode, account, since)
                    note = self.run(job, restart=options["restart"], label=label, bars=bars)
                    failed += note.startswith("failed")
                    done.append((BackfillProgress.objects.get(**_key(job)), note))
        except KeyboardInterrupt as exc:
            self.stdout.write(summary(done))
            message = "interrupted: run the command again to resume"
            raise CommandError(message, returncode=130) from exc
        self.stdout.write(summary(done))
        if failed:
            raise CommandError(f"{failed} listing(s) failed (see above); run again to resume")

    def run(self, job: Listing, *, restart: bool, label: str, bars: bool) -> str:
        """Backfill one listing; returns what this run did to it, for the summary."""
        display = Display(self.stream, bars=bars)
        before = BackfillProgress.objects.filter(**_key(job), finished_at__isnull=False)
        finished_before = before.exists() and not restart
        try:
            client = client_for(job.livemode, job.account)
            progress = backfill(client, job, restart=restart, label=label, report=display)
        except stripe.StripeError as exc:
            display.close()
            message = f"failed: {exc.user_message or exc}"
            self.stderr.write(f"{job.account or 'platform'} {job.object_type}: {message}")
            return "failed"
        display.close()
        if finished_before and progress.created_since == job.created_since:
            self.stdout.write(f"{where(progress)}: already done (--restart to read it again)")
            return "already done"
        return "done"


def _key(job: Listing) -> dict[str, Any]:
    return {"livemode": job.livemode, "account": job.account, "object_type": job.object_type}


def _types(value: str) -> tuple[str, ...]:
    if not value:
        return DEFAULT_TYPES
    chosen = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in chosen if t not in LISTABLE]
    if unknown:
        raise CommandError(
            f"no list endpoint known for {', '.join(unknown)}; known: {', '.join(sorted(LISTABLE))}"
        )
    return chosen
