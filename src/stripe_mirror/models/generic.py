"""Every other object type that events carry, kept as JSON keyed by type and id."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from .base import StripeModel


class StripeObject(StripeModel):
    """A mirrored object without a typed model (``issuing.card``, ``topup``, ``card``, ...).

    ``StripeObject.objects.filter(type="topup")`` lists them; ``data`` holds the object.
    """

    STRIPE_OBJECT: ClassVar[str] = ""

    type = models.CharField(max_length=100, db_index=True)

    class Meta:
        db_table = "stripe_mirror_object"
        verbose_name = "other Stripe object"
        constraints = (
            models.UniqueConstraint(
                fields=("stripe_id", "account", "livemode", "type"), name="stripe_mirror_object_key"
            ),
        )
        ordering = ("-created", "-id")

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"
