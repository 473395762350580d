"""Model fields shared by the inbox and the mirror."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class StripeIdField(models.CharField):  # type: ignore[type-arg]
    """A Stripe id, compared byte for byte on every database.

    Stripe ids are case-sensitive (``evt_1AbC`` and ``evt_1abc`` are two events; a coupon
    ``SUMMER`` is not ``summer``), but MariaDB's default collations ignore case, which would
    merge them in unique indexes and lookups. On MariaDB the column gets the binary collation
    of utf8mb4; PostgreSQL and SQLite compare bytes already.

    On PostgreSQL the type is spelled ``character varying(n)`` (the same type as
    ``varchar(n)``) so that Django does not add a second ``varchar_pattern_ops`` index to
    every indexed id column: ids are looked up by equality, never with LIKE, and each extra
    index costs every insert.
    """

    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        if connection.vendor == "postgresql" and self.max_length is not None:
            return f"character varying({int(self.max_length)})"
        return super().db_type(connection)

    def db_parameters(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        params = super().db_parameters(connection)
        if connection.vendor == "mysql" and not self.db_collation:
            params["collation"] = "utf8mb4_bin"
        return params
