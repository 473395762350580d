"""System checks of the operations settings (retention, health)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.checks import CheckMessage, Error, register

from .. import conf
from .prune import MIN_ROW_DAYS

_HINT = "See docs/settings.md and docs/operations.md (Retention, Health)."


def _number_or_none(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


@register()
def check_operations(app_configs: Iterable[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    body, row, lag = (
        conf.get(key) for key in ("RETENTION_BODY_DAYS", "RETENTION_ROW_DAYS", "HEALTH_MAX_LAG")
    )
    for key, value in (("RETENTION_BODY_DAYS", body), ("HEALTH_MAX_LAG", lag)):
        if not _number_or_none(value) or (value is not None and value < 0):
            errors.append(
                Error(
                    f"STRIPE_MIRROR[{key!r}] must be None or a number >= 0.",
                    _HINT,
                    id="stripe_mirror.E030",
                )
            )
    if not _number_or_none(row) or (row is not None and row < MIN_ROW_DAYS):
        errors.append(
            Error(
                f"STRIPE_MIRROR['RETENTION_ROW_DAYS'] must be None or at least {MIN_ROW_DAYS} "
                "(days in which Stripe can redeliver an event or the Events API list it: a "
                "deleted id would be processed again).",
                _HINT,
                id="stripe_mirror.E031",
            )
        )
    return errors
