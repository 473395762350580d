"""Database outages at the webhook endpoint: 503s logged as a summary, never a flood of
tracebacks (issue 9, point 13), and a stalled database answered fast (point 14)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

from stripe_mirror.endpoint import outage
from stripe_mirror.models import InboxEvent
from stripe_mirror.testing import build_event, post_event
from tests import live

SECRET = "whsec_test_primary"
#: Put in every body, so that a log line quoting the body (or the statement) is caught.
MARKER = "body-marker-7d2e4a"


@pytest.fixture(autouse=True)
def fresh_outage_state(monkeypatch: pytest.MonkeyPatch) -> outage.OutageLog:
    """Each test starts outside an outage (the state is per process)."""
    state = outage.OutageLog()
    monkeypatch.setattr(outage, "_log", state)
    return state


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def marked_event() -> dict[str, Any]:
    return build_event("customer.updated", {"id": "cus_o1", "object": "customer", "note": MARKER})


def webhook_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the endpoint and Django's request logging said (not the test's own database
    setup, nor the handlers of the test app)."""
    return [r for r in caplog.records if r.name in ("stripe_mirror.webhook", "django.request")]


def assert_no_detail(records: list[logging.LogRecord]) -> None:
    for record in records:
        assert record.exc_info is None
        assert record.exc_text is None
        text = record.getMessage()
        assert "Traceback" not in text
        assert MARKER not in text
        assert "INSERT" not in text


@contextlib.contextmanager
def database_unreachable(tmp_path: Any) -> Iterator[None]:
    """The test database's connection settings point at nothing for the ``with`` block: a
    closed port (PostgreSQL, MariaDB), a file in a missing folder (SQLite). Connecting fails
    as in an outage."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(tmp_path / "missing" / "db.sqlite3")
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=live.free_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


# --- the summary ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _failure(code: str = "57P01") -> OperationalError:
    """What Django raises for a driver error: its own class, the driver's as the cause."""

    class DriverError(Exception):
        sqlstate = code

    error = OperationalError("connection lost: row (42, 'secret data')")
    error.__cause__ = DriverError("connection lost: row (42, 'secret data')")
    return error


def test_an_outage_is_one_line_then_a_summary_per_interval(
    fresh_outage_state: outage.OutageLog,
    logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "OUTAGE_LOG_INTERVAL": 10}
    clock = Clock()
    monkeypatch.setattr(outage.time, "monotonic", clock)
    for _ in range(30):  # 30 refusals a second for 25 s
        for _ in range(30):
            fresh_outage_state.refused(_failure())
        clock.now += 1
    fresh_outage_state.recorded()
    fresh_outage_state.recorded()  # only the first ends the outage

    lines = [(r.levelname, r.getMessage()) for r in logs.records]
    assert [level for level, _ in lines] == ["ERROR", "ERROR", "ERROR", "WARNING"]
    first = lines[0][1]
    assert "OperationalError" in first
    assert "DriverError" in first
    assert "SQLSTATE 57P01" in first
    assert "every 10 s" in first
    # At 10 s and 20 s; the refusals of the last 10 s are in the recovery line.
    assert lines[1][1].startswith("300 webhooks refused with 503 in the last 10 s: Operational")
    assert lines[2][1].startswith("300 webhooks refused with 503 in the last 10 s: ")
    assert "after 30.0 s; 900 webhooks were refused" in lines[3][1]
    assert "(299 since the last line)" in lines[3][1]
    assert not any("secret data" in text for _, text in lines)


def test_interval_zero_is_a_line_per_refusal(
    fresh_outage_state: outage.OutageLog, logs: pytest.LogCaptureFixture, settings: Any
) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "OUTAGE_LOG_INTERVAL": 0}
    for _ in range(5):
        fresh_outage_state.refused(_failure())
    assert len(logs.records) == 5


@pytest.mark.parametrize(
    ("cause", "described"),
    [
        (type("E", (Exception,), {"sqlstate": "55P03"})(), "SQLSTATE 55P03"),
        (type("E", (Exception,), {"pgcode": "57014"})(), "SQLSTATE 57014"),
        (type("E", (Exception,), {"sqlite_errorname": "SQLITE_BUSY"})(), "SQLITE_BUSY"),
        (Exception(1969, "Query execution was interrupted"), "error 1969"),
        (Exception("no code here"), "no error code"),
    ],
)
def test_describe_names_the_code_not_the_message(cause: Exception, described: str) -> None:
    error = OperationalError("the message")
    error.__cause__ = cause
    text = outage.describe(error)
    assert text.startswith("OperationalError (")
    assert described in text
    assert "message" not in text
    assert "here" not in text
    assert "interrupted" not in text


# --- through the endpoint -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_200_refusals_log_a_line_and_the_recovery_another(
    client: Client, logs: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    event = marked_event()
    with database_unreachable(tmp_path):
        statuses = {post_event(client, event, secret=SECRET).status_code for _ in range(200)}
    assert statuses == {503}
    refused = webhook_lines(logs)
    assert [(r.name, r.levelno) for r in refused] == [("stripe_mirror.webhook", logging.ERROR)]
    assert "database unavailable" in refused[0].getMessage()
    assert "OperationalError" in refused[0].getMessage()

    assert post_event(client, event, secret=SECRET).status_code == 200
    lines = webhook_lines(logs)
    assert len(lines) == 2
    assert "200 webhooks were refused with 503" in lines[1].getMessage()
    assert_no_detail(lines)
    assert InboxEvent.objects.get().delivery_count == 1


needs_locks = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite: the busy timeout bounds the wait"
)


@needs_locks
@pytest.mark.django_db(transaction=True)
def test_a_stalled_database_answers_503_within_the_timeout(
    client: Client, logs: pytest.LogCaptureFixture, settings: Any
) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "RECORD_TIMEOUT": 1}
    event = marked_event()
    with live.table_locked(InboxEvent._meta.db_table):
        started = time.monotonic()
        response = post_event(client, event, secret=SECRET)
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < 2.5
    assert not InboxEvent.objects.exists()
    [line] = webhook_lines(logs)
    # PostgreSQL: statement_timeout or lock_timeout (equal; the first armed usually fires
    # first); MariaDB: max_statement_time.
    codes = ("SQLSTATE 57014", "SQLSTATE 55P03", "error 1969")
    assert any(code in line.getMessage() for code in codes), line.getMessage()
    assert_no_detail([line])

    retried = post_event(client, event, secret=SECRET)
    assert retried.status_code == 200
    assert retried.json()["duplicate"] is False
    assert InboxEvent.objects.get().delivery_count == 1
