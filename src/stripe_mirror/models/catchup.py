"""The figures of each catch-up run (``manage.py stripe_mirror_catchup``), one row per mode and
account caught up, for the admin and the status command: when the Events API was last read,
over which window, and how many missed events it recorded."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .fields import StripeIdField


class CatchupStatus(models.TextChoices):
    #: Under way; a row left ``running`` with no ``finished_at`` was killed (SIGKILL, a crash).
    RUNNING = "running", "running"
    DONE = "done", "done"
    #: A Stripe API or database error ended it (``error`` says which); the next run retries.
    FAILED = "failed", "failed"
    #: Ctrl-C (SIGINT) stopped it; what it recorded before stays recorded.
    INTERRUPTED = "interrupted", "interrupted"


class CatchupRun(models.Model):
    """One catch-up of one mode and account: its window and what it found."""

    started_at = models.DateTimeField(default=timezone.now)
    #: Null while the run is under way (or when it was killed).
    finished_at = models.DateTimeField(null=True, blank=True)
    livemode = models.BooleanField(default=False)
    #: The connected account; empty for the platform account.
    account = StripeIdField(max_length=255, blank=True, default="")
    #: The window listed: from its first second to when the listing started.
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    #: The start asked for when Stripe's 30-day retention cut it (the events between ``asked``
    #: and ``window_start`` could not be listed); null when nothing was cut.
    asked = models.DateTimeField(null=True, blank=True)
    #: Events listed; recorded (the inbox did not hold them); already present; unreadable.
    listed = models.PositiveIntegerField(default=0)
    recorded = models.PositiveIntegerField(default=0)
    present = models.PositiveIntegerField(default=0)
    unreadable = models.PositiveIntegerField(default=0)
    #: The outcomes of processing the recorded events: ``{"processed": n, "failed": n, ...}``.
    outcomes = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=CatchupStatus.choices, default=CatchupStatus.RUNNING
    )
    #: Why the run failed (the Stripe or database error); empty otherwise.
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "stripe_mirror_catchup"
        ordering = ("-started_at",)
        verbose_name = "catch-up run"
        indexes = (
            # The status command's "last run per mode and account": the greatest id of each.
            models.Index(fields=("livemode", "account", "id"), name="stripe_mirror_catchup_last"),
        )

    def __str__(self) -> str:
        return (
            f"catch-up {self.started_at:%Y-%m-%d %H:%M} {self.account or 'platform'} "
            f"({'live' if self.livemode else 'test'}): {self.status}, {self.recorded} recorded"
        )
