"""The figures of each reconcile run (``manage.py stripe_mirror_reconcile``), for the admin and
for whoever asks "when was the mirror last checked, and what was wrong?"."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

#: The kinds of drift a run reports (the keys of ``counts`` and ``samples``).
DRIFT_KINDS = ("missing", "stale", "deleted_in_stripe", "alive_in_stripe")


class ReconcileRun(models.Model):
    """One run: what it compared, in which mode and accounts, and the drift it found."""

    started_at = models.DateTimeField(default=timezone.now)
    #: Null while the run is under way (or when it was killed).
    finished_at = models.DateTimeField(null=True, blank=True)
    livemode = models.BooleanField(default=False)
    #: Comma-separated: ``platform`` and connected account ids.
    accounts = models.TextField(default="platform")
    #: Comma-separated object types.
    types = models.TextField(default="")
    #: ``all``, ``sample N`` or ``synced before <time>``.
    selection = models.CharField(max_length=100, default="all")
    repair = models.BooleanField(default=False)
    #: Objects compared (rows and listed objects), and drift found, over every type.
    compared = models.PositiveIntegerField(default=0)
    drift = models.PositiveIntegerField(default=0)
    repaired = models.PositiveIntegerField(default=0)
    #: Listings or retrieves that failed (the run's figures are then incomplete).
    errors = models.PositiveIntegerField(default=0)
    #: ``{"<account>/<type>": {"compared": n, "missing": n, "stale": n, ...}}``.
    counts = models.JSONField(default=dict, blank=True)
    #: A bounded sample per kind: ``{"stale": ["customer cus_1 (email, data.name)", ...]}``.
    samples = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "stripe_mirror_reconcile"
        ordering = ("-started_at",)
        verbose_name = "reconcile run"

    def __str__(self) -> str:
        state = "under way" if self.finished_at is None else f"{self.drift} drift"
        return f"reconcile {self.started_at:%Y-%m-%d %H:%M} ({self.types}): {state}"
