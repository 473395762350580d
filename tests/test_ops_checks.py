"""ops/checks.py: the retention and health settings are checked at start-up."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks as django_checks

from stripe_mirror.ops.checks import check_operations


def _ids(settings: Any, **keys: Any) -> list[str]:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, **keys}
    return [message.id or "" for message in check_operations()]


def test_defaults_and_good_values_are_clean(settings: Any) -> None:
    assert check_operations() == []
    assert _ids(settings, RETENTION_BODY_DAYS=0, RETENTION_ROW_DAYS=30, HEALTH_MAX_LAG=0.5) == []
    assert _ids(settings, RETENTION_BODY_DAYS=None, RETENTION_ROW_DAYS=None) == []


@pytest.mark.parametrize("value", [-1, "30", True, [30]])
def test_bad_body_days_or_lag(settings: Any, value: Any) -> None:
    assert _ids(settings, RETENTION_BODY_DAYS=value) == ["stripe_mirror.E030"]
    assert _ids(settings, RETENTION_BODY_DAYS=30, HEALTH_MAX_LAG=value) == ["stripe_mirror.E030"]


@pytest.mark.parametrize("value", [29, 0, -5, "90", False])
def test_rows_kept_for_the_dedupe_window(settings: Any, value: Any) -> None:
    assert _ids(settings, RETENTION_ROW_DAYS=value) == ["stripe_mirror.E031"]


@pytest.mark.django_db
def test_registered_with_django(settings: Any) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "RETENTION_ROW_DAYS": 7}
    assert "stripe_mirror.E031" in [m.id for m in django_checks.run_checks()]
