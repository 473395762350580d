"""Stage 3 storage: the durable inbox. One row per Stripe event id, written before the 2xx."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import orjson
from django.db import models
from django.utils import timezone

from .fields import StripeIdField


class Status(models.TextChoices):
    """Where an event is in its life. A claim on an event is a row lock held by the
    transaction that processes it, not a stored state: a worker that dies releases its
    claim with its connection, so no event can be left stuck "in progress"."""

    #: Recorded; waiting for the task backend or a worker to process it.
    PENDING = "pending", "pending"
    #: The mirror sync and every handler succeeded. ``last_error`` then holds the mirror's
    #: note if it had to change the object to store it (docs/mirror.md).
    PROCESSED = "processed", "processed"
    #: A handler raised; processing is retried at ``next_attempt_at``.
    FAILED = "failed", "failed"
    #: Failed ``MAX_ATTEMPTS`` times; only a redelivery or a manual reprocess runs it again.
    DEAD = "dead", "dead"
    #: Recorded only: a v2 thin event notification, which this version stores but does
    #: not process yet.
    SKIPPED = "skipped", "skipped"


#: Statuses a worker picks up when ``next_attempt_at`` has passed.
DUE_STATUSES = (Status.PENDING, Status.FAILED)


class InboxEvent(models.Model):
    """A Stripe event as it was delivered, and what became of it."""

    id = models.BigAutoField(primary_key=True)
    stripe_id = StripeIdField("event id", max_length=255, unique=True)
    kind = models.CharField(max_length=16, default="snapshot")
    type = models.CharField(max_length=255)
    api_version = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(help_text="When Stripe created the event.")
    livemode = models.BooleanField(default=False)
    #: Indexed by ``stripe_mirror_inbox_newest`` (its first column).
    account = StripeIdField(
        max_length=255,
        blank=True,
        default="",
        help_text="The Connect account the event belongs to; empty for the platform account.",
    )
    endpoint = models.CharField(max_length=100)
    object_id = StripeIdField(max_length=255, blank=True, default="", db_index=True)
    object_type = models.CharField(max_length=100, blank=True, default="")
    #: The request body exactly as Stripe sent (and signed) it.
    body = models.TextField()

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_received_at = models.DateTimeField(default=timezone.now)
    delivery_count = models.PositiveIntegerField(default=1)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    #: Handlers that already succeeded for this event; a retry skips them.
    completed_handlers = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "stripe_mirror_inbox"
        verbose_name = "inbox event"
        ordering = ("-received_at",)
        indexes = (
            # The worker's "what is due?" query: status IN (...) AND next_attempt_at <= now.
            models.Index(fields=("status", "next_attempt_at"), name="stripe_mirror_inbox_due"),
            # Not db_index=True: on PostgreSQL that adds an unused LIKE index too.
            models.Index(fields=("type",), name="stripe_mirror_inbox_type"),
            # Throughput figures (ops/status.py): events processed in the last minutes.
            models.Index(fields=("processed_at",), name="stripe_mirror_inbox_processed"),
            # Catch-up's start (management/catchup.py): the newest event of a mode and
            # account, MAX(created) WHERE account = ... AND livemode = ..., read from the end of
            # the account's part of the index, not from every row of the account. The account
            # comes first: SQLite cannot search ``NOT livemode`` (Django's spelling of
            # livemode = false there) as an equality, but still reads only this account's
            # entries; and it serves every lookup by account (the admin's filter) alone.
            models.Index(
                fields=("account", "livemode", "created"), name="stripe_mirror_inbox_newest"
            ),
        )

    def __str__(self) -> str:
        return f"{self.stripe_id} ({self.type})"

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The parsed body."""
        value: dict[str, Any] = orjson.loads(self.body)
        return value
