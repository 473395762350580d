"""The progress of backfills (``manage.py stripe_mirror_backfill``): one row per mode, account
and object type, so that an interrupted run resumes where it stopped."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .fields import StripeIdField


class BackfillProgress(models.Model):
    """How far the listing of one type, in one mode and account, has been applied.

    The cursor and the counts are updated in the transaction that writes a page's objects, so
    a run killed at any point resumes after the last page it committed: no object is skipped,
    and none is counted twice."""

    livemode = models.BooleanField(default=False)
    account = StripeIdField(max_length=255, blank=True, default="")
    object_type = models.CharField(max_length=100)
    #: The ``created[gte]`` the listing was made with (``--created-since``; null: none). A run
    #: with another one starts this listing over.
    created_since = models.DateTimeField(null=True, blank=True)
    #: The id of the last object of the last page applied: the next page starts after it.
    cursor = StripeIdField(max_length=255, blank=True, default="")
    #: Objects listed, rows created, rows updated, objects skipped (the row held a newer
    #: state, or a deleted object).
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    #: ``total_count`` when the API gave one (not Stripe's, localstripe's).
    total = models.PositiveIntegerField(null=True, blank=True)
    #: Seconds spent in this listing, over every run that worked on it.
    seconds = models.FloatField(default=0.0)
    started_at = models.DateTimeField(default=timezone.now)
    #: Set when the last page was applied; null while the listing is under way.
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "stripe_mirror_backfill"
        verbose_name = "backfill progress"
        verbose_name_plural = "backfill progress"
        constraints = (
            models.UniqueConstraint(
                fields=("livemode", "account", "object_type"), name="stripe_mirror_backfill_key"
            ),
        )

    def __str__(self) -> str:
        where = self.account or "platform"
        state = "done" if self.finished_at else f"after {self.cursor or 'the start'}"
        return f"{self.object_type} ({where}, {'live' if self.livemode else 'test'}): {state}"
