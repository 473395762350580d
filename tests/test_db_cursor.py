"""db.cursor: the one cursor the library's statements run on, per connection: used again while
the connection lasts, made again after it is closed, and made anew when query logging is
switched on (so that ``CaptureQueriesContext`` and DEBUG see the library's statements)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stripe_mirror import db

pytestmark = pytest.mark.django_db(transaction=True)


def one(sql: str = "SELECT 1") -> object:
    with db.cursor(connection) as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def made() -> object:
    with db.cursor(connection) as cursor:
        return cursor


def test_the_cursor_is_used_again_while_its_connection_lasts() -> None:
    assert one() == 1
    first = made()
    assert made() is first
    assert one("SELECT 2") == 2
    assert made() is first


def test_a_closed_connection_gets_a_new_cursor_on_a_new_connection() -> None:
    first = made()
    connection.close()
    assert one() == 1
    assert made() is not first


def test_statements_are_logged_once_logging_is_on() -> None:
    one()
    with CaptureQueriesContext(connection) as captured:
        one("SELECT 3")
    assert [q["sql"] for q in captured.captured_queries] == ["SELECT 3"]
    with CaptureQueriesContext(connection) as again:
        pass
    one("SELECT 4")  # logging off again: not logged anywhere, and still run
    assert again.captured_queries == []
