"""``manage.py stripe_mirror_reconcile``: is the mirror right? Compare it with Stripe's API.

    manage.py stripe_mirror_reconcile                        # every typed type, the platform
    manage.py stripe_mirror_reconcile --types customer,subscription --sample 200
    manage.py stripe_mirror_reconcile --synced-before 2026-01-01 --accounts all --repair

Reports per type the objects missing in the mirror, stale rows (with the fields that differ),
rows alive in the mirror but deleted in Stripe, and tombstones alive in Stripe
(``sync/reconcile.py``); ``--repair`` writes the API's state through the ordering guard (never
resurrecting a tombstone). Each run's figures are stored (``ReconcileRun``, in the admin).
Exit status: 0 clean, 1 drift found, 2 a listing or retrieve failed (docs/operations.md).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import stripe
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from stripe_mirror.api import ApiNotConfigured, client_for
from stripe_mirror.management import selection
from stripe_mirror.management.reconcile_display import Display, record, summary, where
from stripe_mirror.models import ReconcileRun
from stripe_mirror.sync.reconcile import Check, Tally, reconcile


class Command(BaseCommand):
    help = "Compare the mirror with Stripe's API and report (or --repair) the drift."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--types", default="", help=selection.TYPES_HELP)
        parser.add_argument("--accounts", default="", help=selection.ACCOUNTS_HELP)
        parser.add_argument("--live", action="store_true", help="live mode (default: test)")
        parser.add_argument(
            "--sample", type=int, default=None, help="compare N random rows per type (by id)"
        )
        parser.add_argument(
            "--synced-before", default="", help="compare rows last written before this time"
        )
        parser.add_argument("--repair", action="store_true", help="write the API's state")
        parser.add_argument("--plain", action="store_true", help="plain lines, no progress bars")

    def handle(self, *args: Any, **options: Any) -> None:
        livemode = bool(options["live"])
        types = selection.types(options["types"])
        before = selection.moment(options["synced_before"], "--synced-before")
        if options["sample"] is not None and options["sample"] < 1:
            raise CommandError("--sample: at least 1")
        try:
            accounts = selection.accounts(options["accounts"], livemode)
        except ApiNotConfigured as exc:
            raise CommandError(str(exc)) from exc
        run = ReconcileRun.objects.create(
            livemode=livemode,
            accounts=",".join(a or "platform" for a in accounts),
            types=",".join(types),
            selection=_selection(options["sample"], before),
            repair=bool(options["repair"]),
        )
        label = f"reconcile:{datetime.now(UTC):%Y%m%dT%H%M%S}"
        self.stream: TextIO = getattr(self.stdout, "_out", sys.stdout)
        bars = not options["plain"] and self.stream.isatty()
        for account in accounts:
            for object_type in types:
                if object_type == "account" and account:
                    continue  # connected accounts are listed by the platform only
                check = Check(
                    object_type,
                    livemode,
                    account,
                    options["sample"],
                    before,
                    bool(options["repair"]),
                    label,
                )
                record(run, check, self.compare(check, bars=bars))
        run.finished_at = timezone.now()
        run.save(update_fields=["finished_at"])
        self.stdout.write(summary(run))
        _exit(run)

    def compare(self, check: Check, *, bars: bool) -> Tally:
        display = Display(self.stream, check, bars=bars)
        try:
            tally = reconcile(client_for(check.livemode, check.account), check, report=display)
        except stripe.StripeError as exc:
            tally = Tally(errors=1)
            self.stderr.write(f"{where(check)}: failed: {exc.user_message or exc}")
        display.close(tally)
        return tally


def _selection(sample: int | None, before: datetime | None) -> str:
    chosen = [] if sample is None else [f"sample {sample}"]
    if before is not None:
        chosen.append(f"synced before {before.isoformat()}")
    return ", ".join(chosen) or "all"


def _exit(run: ReconcileRun) -> None:
    if run.errors:
        raise CommandError(f"{run.errors} request(s) failed: the check is incomplete", returncode=2)
    if run.drift:
        what = f"found (repaired: {run.repaired})" if run.repair else "found"
        raise CommandError(f"{run.drift} drift {what}", returncode=1)
