"""PREPARED_STATEMENTS (``prepared.py``): on PostgreSQL with psycopg 3 the library's own
statements are prepared on each session and sent as ``EXECUTE`` texts (the first of a
transaction with its ``BEGIN``), Django's are left as the site configured them; statements
found lost are prepared again, a pooler that keeps losing them turns it off for the process,
and nothing is lost meanwhile."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings

from stripe_mirror import db, prepared
from stripe_mirror.dispatch.sql import prepared_record
from stripe_mirror.dispatch.sql import record as record_sql
from stripe_mirror.models import Customer, InboxEvent, Status
from stripe_mirror.testing import build_event, post_event

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_test_primary"


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with prepared statements allowed, and a new connection."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    monkeypatch.setattr(prepared, "_gave_up", False)
    connection.close()
    yield
    connection.close()  # its prepared statements go with it


def _prepared_texts() -> list[str]:
    """The statements this connection's session has prepared."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [text for (text,) in cursor.fetchall()]


def _post(client: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
    event = event or build_event("customer.created")
    assert post_event(client, event, secret=SECRET).status_code == 200
    return event


def test_the_librarys_statements_are_prepared_and_djangos_are_not(client: Any) -> None:
    for _ in range(3):
        _post(client)
    texts = _prepared_texts()
    # The claim and the outcome's update, prepared on the session by their first run.
    assert any('FROM "stripe_mirror_inbox"' in t and "FOR UPDATE" in t for t in texts), texts
    assert any('AS UPDATE "stripe_mirror_inbox"' in t for t in texts), texts
    # Each in the message of its first run (the record's: in its bounded statement list).
    assert all(t.startswith(("PREPARE stripe_mirror_", "BEGIN", "SET LOCAL")) for t in texts)
    assert all("$1" in t or "%s" not in t for t in texts)  # bound on the server
    # The ORM's statements stay bound on the client: never prepared.
    for _ in range(3):
        assert Customer.objects.filter(email="nobody@example.com").count() == 0
    assert not any("nobody@example.com" in t for t in _prepared_texts())
    assert InboxEvent.objects.filter(status=Status.PROCESSED).count() == 3


def _in_a_transaction(sql: str, params: list[Any] | None = None) -> Any:
    with transaction.atomic(), db.cursor(connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def test_the_first_statement_of_a_transaction_opens_it_as_the_site_configured_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The library's statement that opens a transaction carries its BEGIN: the transaction
    has the connection's isolation level, and holds what the statement did."""
    import psycopg

    level = "SELECT current_setting('transaction_isolation')"
    assert _in_a_transaction(level) == ("read committed",)
    monkeypatch.setitem(
        connection.settings_dict["OPTIONS"], "isolation_level", psycopg.IsolationLevel.SERIALIZABLE
    )
    connection.close()
    assert _in_a_transaction(level) == ("serializable",)
    assert _in_a_transaction(level) == ("serializable",)  # prepared, then executed
    with db.cursor(connection) as cursor:  # outside any transaction: no BEGIN
        cursor.execute("SELECT now() = statement_timestamp()")
        assert cursor.fetchone() == (True,)
    driver = connection.connection
    assert driver is not None
    assert driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE


@pytest.mark.parametrize(
    ("setting", "entry"),
    [
        ({"PREPARED_STATEMENTS": False}, {}),
        ({}, {"DISABLE_SERVER_SIDE_CURSORS": True}),
    ],
)
def test_a_site_that_says_no_gets_no_prepared_statements(
    client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, setting: Any, entry: Any
) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, **setting}
    for key, value in entry.items():
        monkeypatch.setitem(connection.settings_dict, key, value)
    assert not prepared.enabled(connection)
    for _ in range(3):
        _post(client)
    assert _prepared_texts() == []
    assert InboxEvent.objects.filter(status=Status.PROCESSED).count() == 3


def _lose_them() -> None:
    """What a pooler in transaction mode does: the next statement runs on a server session
    that never saw this client's prepared statements (psycopg is not told)."""
    driver = connection.connection
    assert driver is not None
    driver.pgconn.exec_(b"DEALLOCATE ALL")


def test_a_statement_whose_first_run_failed_stays_prepared() -> None:
    """Its ``PREPARE`` succeeded though its ``EXECUTE`` failed: the next transaction runs it
    prepared (preparing it again would fail, and abort that transaction)."""
    from django.db import DataError

    with pytest.raises(DataError, match="division by zero"):
        _in_a_transaction("SELECT 1 / %s", [0])
    assert any("$1" in t and "SELECT 1 /" in t for t in _prepared_texts())
    assert _in_a_transaction("SELECT 1 / %s", [1]) == (1,)
    assert _in_a_transaction("SELECT 1 / %s", [1]) == (1,)


def _count_inbox() -> int:
    with db.cursor(connection) as cursor:
        cursor.execute('SELECT count(*) FROM "stripe_mirror_inbox" WHERE "id" > %s', [0])
        found: int = cursor.fetchone()[0]
        return found


def test_lost_prepared_statements_outside_a_transaction_are_prepared_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepared, "_losses", prepared.Losses())
    assert _count_inbox() == 0  # prepared by its first run
    assert any("stripe_mirror_inbox" in t for t in _prepared_texts())
    with caplog.at_level(logging.WARNING, logger="stripe_mirror.db"):
        for _ in range(prepared.Losses.LIMIT):
            _lose_them()
            assert _count_inbox() == 0  # found lost, prepared again at once
            assert any("stripe_mirror_inbox" in t for t in _prepared_texts())
        assert not prepared._gave_up
        assert caplog.text == ""
        _lose_them()  # one loss too many in the window: a pooler
        assert _count_inbox() == 0
    assert prepared._gave_up
    assert "pooler in transaction mode" in caplog.text
    assert not prepared.enabled(connection)
    _count_inbox(), _count_inbox()
    assert _prepared_texts() == []  # none prepared since


def test_lost_prepared_statements_fail_an_attempt_and_lose_no_event(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from stripe_mirror.tasks import process

    for _ in range(2):
        _post(client)  # the claim and the outcome's update are prepared now
    with override_settings(STRIPE_MIRROR={**_settings(), "TASK_BACKEND": None}):
        event = _post(client)  # recorded only
    row = InboxEvent.objects.get(stripe_id=event["id"])
    assert row.status == Status.PENDING
    _lose_them()
    first = process(row.pk, force=True)  # its claim finds the statement lost: aborted
    row.refresh_from_db()
    assert (first.value, row.status, row.attempts) == ("failed", Status.FAILED, 1)
    assert not prepared._gave_up
    assert process(row.pk, force=True).value == "processed"  # prepared again
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.PROCESSED, 2)
    assert any("stripe_mirror_inbox" in t for t in _prepared_texts())


def _settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.STRIPE_MIRROR)


def _record_prepared() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE %s",
            ["stripe_mirror_record_%"],
        )
        return bool(cursor.fetchone()[0])


def test_the_bounded_record_is_prepared_once_per_connection_and_again_when_lost(
    client: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "RECORD_TIMEOUT": 2}
    _post(client)
    assert _record_prepared()  # by the first record's statement list
    _post(client)
    driver = connection.connection
    assert driver is not None
    name = prepared_record.name(record_sql._upsert_sql("postgresql"))
    driver.pgconn.exec_(f"DEALLOCATE {name}".encode())  # lost, as a DEALLOCATE ALL loses it
    assert not _record_prepared()
    with caplog.at_level(logging.WARNING, logger="stripe_mirror.db"):
        _post(client)  # prepared again, in its statement list
    assert _record_prepared()
    assert not prepared._gave_up
    assert not [r for r in caplog.records if r.name == "stripe_mirror.db"]
    with connection.cursor() as cursor:  # the bounds ended with each record's transaction
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
        )
        assert cursor.fetchone() == ("0", "0")
    assert InboxEvent.objects.filter(status=Status.PROCESSED).count() == 3


def test_a_record_lost_again_and_again_is_sent_whole(
    client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As behind a pooler in transaction mode that hands each record to another session."""
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "RECORD_TIMEOUT": 2}
    monkeypatch.setattr(prepared_record, "_losses", prepared_record._Losses())
    name = prepared_record.name(record_sql._upsert_sql("postgresql"))
    with caplog.at_level(logging.WARNING, logger="stripe_mirror.db"):
        for _ in range(prepared_record._Losses.LIMIT + 1):
            _post(client)
            driver = connection.connection
            assert driver is not None
            assert _record_prepared()
            driver.pgconn.exec_(f"DEALLOCATE {name}".encode())
        assert prepared_record.steady()  # each loss was prepared again
        _post(client)  # the fourth loss
    assert not prepared_record.steady()
    assert "prepared record was lost 4 times" in caplog.text
    _post(client)
    assert not _record_prepared()  # sent whole
    assert (
        InboxEvent.objects.filter(status=Status.PROCESSED).count()
        == prepared_record._Losses.LIMIT + 3
    )


def _timestamps_read(sql: str, params: list[Any]) -> tuple[Any, Any]:
    """The first row of ``sql``, read by the library's cursor and by Django's."""
    with db.cursor(connection) as cursor:
        cursor.execute(sql, params)
        ours = cursor.fetchone()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        theirs = cursor.fetchone()
    return ours, theirs


@pytest.mark.parametrize("zone", [None, "Europe/Paris"])
def test_timestamps_read_by_the_library_are_djangos(
    client: Any, monkeypatch: pytest.MonkeyPatch, zone: str | None
) -> None:
    """The library's cursor loads ``timestamptz`` with psycopg's loader, not Django's Python
    one: the same values, in the same time zone object, for the default zone (UTC) and a
    database's own ``TIME_ZONE``."""
    monkeypatch.setitem(connection.settings_dict, "TIME_ZONE", zone)
    _post(client)
    table = InboxEvent._meta.db_table
    sql = f'SELECT "received_at", "processed_at", "next_attempt_at" FROM "{table}" WHERE "id" > %s'
    for _ in range(3):  # unprepared, then prepared
        ours, theirs = _timestamps_read(sql, [0])
        assert ours == theirs
        assert ours[0].tzinfo is theirs[0].tzinfo is connection.timezone
        assert ours[1].tzinfo is theirs[1].tzinfo
    row = InboxEvent.objects.get()
    assert ours[0] == row.received_at
    assert ours[0].tzinfo is row.received_at.tzinfo
    assert _loader(connection) is _psycopgs_loader()


def _loader(site: Any) -> Any:
    from psycopg.pq import Format

    with db.cursor(site) as cursor:
        adapters = cursor.cursor.adapters
        return adapters.get_loader(adapters.types["timestamptz"].oid, Format.TEXT)


def _psycopgs_loader() -> Any:
    import psycopg
    from psycopg.pq import Format

    return psycopg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, Format.TEXT)


def test_naive_timestamps_stay_djangos(client: Any, settings: Any) -> None:
    """With ``USE_TZ = False`` Django loads naive datetimes: so does the library's cursor."""
    settings.USE_TZ = False
    connection.close()
    now = "2026-01-02 03:04:05+00"
    ours, theirs = _timestamps_read("SELECT %s::timestamptz", [now])
    assert ours == theirs
    assert ours[0].tzinfo is None
    assert _loader(connection) is not _psycopgs_loader()


def test_statements_run_together_are_prepared_again_after_a_loss() -> None:
    """``db.run_each`` (the links pass's locks, in one message): a session that lost them
    fails that transaction, and the next one prepares them again."""
    from django.db import ProgrammingError

    table = InboxEvent._meta.db_table
    statements = [
        (f'SELECT count(*) FROM "{table}" WHERE "id" > %s', [0]),
        (f'SELECT count(*) FROM "{table}" WHERE "id" < %s', [0]),
    ]

    def run() -> list[list[tuple[Any, ...]]]:
        with transaction.atomic():
            return db.run_each(connection, statements)

    assert run() == [[(0,)], [(0,)]]
    _lose_them()
    with pytest.raises(ProgrammingError):
        run()
    assert run() == [[(0,)], [(0,)]]
    assert len([t for t in _prepared_texts() if table in t]) == 2
