"""CONN_HEALTH_CHECKS (the example site's setting, and so the tests'): Django checks a
persistent connection with ``SELECT 1`` before a request's first statement. A webhook's
first statement is its record, which can be run again: it is its own check
(``dispatch/inbox.py``, ``_checked_by_use``), and a connection the server ended is replaced
when the record fails on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import close_old_connections, connection

from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event, post_event
from tests import live

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_test_primary"


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The answers of this thread's connection's usability checks, as they are made."""
    if not connection.settings_dict.get("CONN_HEALTH_CHECKS"):
        pytest.skip("the site's connection has no health checks (SQLite)")
    made: list[bool] = []
    real: Callable[[], bool] = connection.is_usable

    def is_usable() -> bool:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(connection, "is_usable", is_usable)
    return made


def _post(client: Any) -> str:
    """A delivery, as a server handles it: Django's test client leaves out what a request's
    start does to the connections (``close_old_connections``: a persistent connection is due
    its health check again), done here."""
    close_old_connections()
    event = build_event("customer.created")
    assert post_event(client, event, secret=SECRET).status_code == 200
    row = InboxEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.delivery_count) == (Status.PROCESSED, 1)
    return str(event["id"])


def test_a_webhook_on_a_healthy_connection_sends_no_check_first(
    client: Any, checks: list[bool]
) -> None:
    _post(client)  # connects (a new connection needs no check)
    driver = connection.connection
    _post(client)
    _post(client)
    assert connection.connection is driver  # persistent (CONN_MAX_AGE)
    assert checks == []


def test_a_webhook_on_a_connection_the_server_ended_is_recorded_on_a_new_one(
    client: Any, checks: list[bool]
) -> None:
    _post(client)
    driver = connection.connection
    live.lose_connection()
    _post(client)
    assert checks == [False]  # asked once, after the record failed on it
    assert connection.connection is not driver
    _post(client)
    assert checks == [False]
