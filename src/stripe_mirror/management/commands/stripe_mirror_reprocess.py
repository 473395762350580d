"""Process given events again, now, whatever their status.

    manage.py stripe_mirror_reprocess evt_1AbC evt_2DeF
    manage.py stripe_mirror_reprocess --status dead          # every dead event
    manage.py stripe_mirror_reprocess --status failed --type invoice.paid

Every handler runs again (``completed_handlers`` is cleared), the mirror sync included.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stripe_mirror.dispatch import Outcome
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.tasks import process


class Command(BaseCommand):
    help = "Reprocess Stripe events from the inbox by id, or by status and type."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("event_ids", nargs="*", help="Stripe event ids (evt_...).")
        parser.add_argument("--status", choices=[s.value for s in Status if s != Status.SKIPPED])
        parser.add_argument("--type", dest="event_type", help="Only events of this type.")

    def handle(self, *args: Any, **options: Any) -> None:
        ids: list[str] = options["event_ids"]
        if not ids and not options["status"]:
            raise CommandError("give event ids, or --status (and optionally --type)")
        queryset = InboxEvent.objects.exclude(status=Status.SKIPPED)
        if ids:
            queryset = queryset.filter(stripe_id__in=ids)
            missing = set(ids) - set(queryset.values_list("stripe_id", flat=True))
            for stripe_id in sorted(missing):
                self.stderr.write(f"{stripe_id}: not in the inbox (or a skipped thin event)")
        if options["status"]:
            queryset = queryset.filter(status=options["status"])
        if options["event_type"]:
            queryset = queryset.filter(type=options["event_type"])
        rows = list(queryset.order_by("created", "id").values_list("pk", "stripe_id"))
        failures = 0
        for index, (pk, stripe_id) in enumerate(rows, start=1):
            outcome = process(pk, force=True)
            # SKIPPED: another processor holds the event, so its handlers did not run again.
            failures += outcome is not Outcome.PROCESSED
            self.stdout.write(f"[{index}/{len(rows)}] {stripe_id}: {outcome.value}")
        self.stdout.write(f"reprocessed {len(rows)} events, {failures} not processed")
        if failures or (ids and len(rows) < len(set(ids))):
            raise CommandError("some events were not processed; see above")
