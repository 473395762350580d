"""System checks of the database: it must hold the inbox (run by ``migrate`` and ``check
--database``: they connect)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.checks import CheckMessage, Tags, register
from django.db import connections, router

from .messages import error as _error


@register(Tags.database)
def check_database(
    app_configs: Iterable[Any] | None = None, databases: Iterable[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """The inbox needs INSERT ... RETURNING and SKIP LOCKED (run by ``migrate`` and
    ``check --database``: it connects)."""
    from ..models import InboxEvent

    messages: list[CheckMessage] = []
    for alias in databases or ():
        if not router.allow_migrate_model(alias, InboxEvent):
            continue
        connection = connections[alias]
        problem = unsupported_database(
            connection.vendor,
            _server_version(connection),
            is_mariadb=bool(getattr(connection, "mysql_is_mariadb", False)),
        )
        if problem:
            messages.append(
                _error(
                    "E012",
                    f"Database {alias!r}: {problem}",
                    "Supported: PostgreSQL, MariaDB >= 10.6, SQLite >= 3.35.",
                )
            )
    return messages


def unsupported_database(vendor: str, version: tuple[int, ...], *, is_mariadb: bool) -> str | None:
    """Why this database cannot hold the inbox, or None when it can."""
    if vendor == "postgresql":
        return None
    if vendor == "sqlite":
        return None if version >= (3, 35) else "SQLite older than 3.35 has no RETURNING."
    if vendor == "mysql":
        if not is_mariadb:
            return "MySQL has no INSERT ... RETURNING; use MariaDB or PostgreSQL."
        return None if version >= (10, 6) else "MariaDB older than 10.6 has no SKIP LOCKED."
    return f"the {vendor!r} backend is not supported."


def _server_version(connection: Any) -> tuple[int, ...]:
    if connection.vendor == "sqlite":
        import sqlite3

        return tuple(sqlite3.sqlite_version_info)
    if connection.vendor == "mysql":
        return tuple(connection.mysql_version)
    return ()
