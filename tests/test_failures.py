"""failures.py: a database error is logged and recorded by its class and code, never by its
message (which quotes the statement and its values: customers' data), on every database."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from stripe_mirror import StripeEvent
from stripe_mirror.dispatch import Outcome, process, process_due
from stripe_mirror.dispatch.inbox import Recorded
from stripe_mirror.dispatch.registry import registry
from stripe_mirror.failures import describe, format_traceback
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event

SECRET = "sk_live_51SecretLookingValue0000"


@pytest.fixture
def handler() -> Iterator[Callable[[Callable[[StripeEvent], object]], Any]]:
    added: list[Callable[[StripeEvent], object]] = []

    def register(func: Callable[[StripeEvent], object]) -> Any:
        registry.register(func, "test.leak")
        added.append(func)
        return func

    yield register
    for func in added:
        registry.unregister(func)


def _duplicate(event: StripeEvent) -> None:
    """An IntegrityError whose statement and message hold SECRET (a unique key twice)."""
    for _ in range(2):
        InboxEvent.objects.create(
            stripe_id=SECRET, type="x", created=timezone.now(), endpoint="default", body="{}"
        )


def _expected_code() -> str:
    return {
        "postgresql": "SQLSTATE 23505",
        "mysql": "error 1062",
        "sqlite": "SQLITE_CONSTRAINT_UNIQUE",
    }[connection.vendor]


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    handler = logging.Handler()
    handler.setFormatter(logging.Formatter())
    return "\n".join(handler.format(r) for r in caplog.records)


@pytest.mark.django_db
@pytest.mark.parametrize("batch", [False, True])
def test_a_database_error_in_a_handler_leaks_no_data(
    record: Callable[..., Recorded],
    handler: Any,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
    batch: bool,
) -> None:
    handler(_duplicate)
    recorded = record(build_event("test.leak", {"id": "cus_leak", "object": "customer"}))
    # The failure is logged once it is committed.
    with caplog.at_level(logging.DEBUG), django_capture_on_commit_callbacks(execute=True):
        if batch:
            assert dict(process_due()) == {recorded.stripe_id: Outcome.FAILED}
        else:
            assert process(recorded.pk) is Outcome.FAILED
    row = InboxEvent.objects.get(pk=recorded.pk)
    assert row.status == Status.FAILED
    logged = _logged(caplog)
    assert SECRET not in row.last_error
    assert SECRET not in logged
    assert f"IntegrityError ({_expected_code()})" in row.last_error
    assert f"IntegrityError ({_expected_code()})" in logged
    assert "_duplicate" in row.last_error  # the frames are still there


@pytest.mark.django_db
def test_postgresqls_statement_line_and_context_are_left_out() -> None:
    """PostgreSQL's message shows the statement (``LINE 1: ...``) around a refused value."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's messages")
    from django.db import DataError, transaction

    with pytest.raises(DataError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SELECT \'{{"key": "{SECRET}", }}\'::jsonb')
    assert SECRET in str(caught.value)  # what would have leaked
    assert SECRET not in describe(caught.value)
    assert SECRET not in format_traceback(caught.value)
    assert describe(caught.value).startswith("DataError (SQLSTATE 22P02)")


def test_other_exceptions_are_described_as_before() -> None:
    error = ValueError(f"the handler's own words {SECRET}")
    assert describe(error) == str(error)
    with pytest.raises(ValueError, match="own words") as caught:
        raise error
    assert format_traceback(caught.value).endswith(f"ValueError: {error}\n")
