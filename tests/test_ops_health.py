"""ops/health.py: off by default; 200 while the database answers and the lag is under the
threshold; 503 when lagging or when the database is away."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from stripe_mirror.models import InboxEvent
from stripe_mirror.testing import build_event

pytestmark = pytest.mark.django_db

URL = "/stripe/health/"


@pytest.fixture
def enabled(settings: Any) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "HEALTH_MAX_LAG": 60}


def test_off_by_default(client: Any) -> None:
    response = client.get(URL)
    assert response.status_code == 404
    assert response.json()["error"] == "health_disabled"


def test_healthy(client: Any, enabled: None) -> None:
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "healthy": True,
        "database": "ok",
        "lag_seconds": 0.0,
        "max_lag_seconds": 60.0,
    }
    assert "no-cache" in response["Cache-Control"]


def test_lagging(client: Any, enabled: None, record: Callable[..., Any]) -> None:
    recorded = record(build_event("invoice.paid"))
    InboxEvent.objects.filter(pk=recorded.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=90)
    )
    response = client.get(URL)
    assert response.status_code == 503
    body = response.json()
    assert (body["healthy"], body["problem"]) == (False, "lag")
    assert body["lag_seconds"] > 89
    # A web process's readiness probe asks about the database only.
    assert client.get(URL, {"check": "database"}).json() == {"healthy": True, "database": "ok"}


@pytest.mark.django_db(transaction=True)  # the test closes the connection
def test_database_unavailable(client: Any, enabled: None, settings: Any) -> None:
    """A database that refuses connections (a port nothing listens on, for PostgreSQL and
    MariaDB; a file in a missing folder for SQLite)."""
    saved = dict(connection.settings_dict)
    try:
        connection.close()
        if connection.vendor == "sqlite":
            connection.settings_dict["NAME"] = "/nonexistent/folder/db.sqlite3"
        else:
            connection.settings_dict["HOST"] = "127.0.0.1"
            connection.settings_dict["PORT"] = "1"
        response = client.get(URL)
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json() == {"healthy": False, "database": "unavailable"}


def test_only_get_and_head(client: Any, enabled: None) -> None:
    assert client.head(URL).status_code == 200
    assert client.post(URL).status_code == 405
