"""The outcome's UPDATE carries its transaction's COMMIT (``db.update(ending=True)``) on
PostgreSQL's ``SessionCursor``: one round trip less per event. Only the outermost atomic block
of the attempt commits so: a site's or a test's transaction around ``process`` is left to
the site, and a COMMIT that fails (a foreign key checked at commit) is recorded apart like
any failed commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction

from stripe_mirror import StripeEvent, prepared
from stripe_mirror.dispatch import Outcome, process
from stripe_mirror.models import Customer, InboxEvent, Status
from stripe_mirror.testing import build_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the COMMIT goes with a statement on PostgreSQL's SessionCursor only")
    monkeypatch.setattr(prepared, "_gave_up", False)


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The commands psycopg sends by itself (its COMMIT and ROLLBACK), in order."""
    import psycopg

    sent: list[bytes] = []
    own = psycopg.Connection._exec_command

    def spy(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(command if isinstance(command, bytes) else str(command).encode())
        return own(self, command, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "_exec_command", spy)
    return sent


def _customer_event(name: str) -> dict[str, Any]:
    event = build_event("customer.updated")
    event["data"]["object"] = {"id": "cus_commit", "object": "customer", "name": name}
    return event


def test_the_outcome_commits_the_event_in_its_own_message(
    record: Callable[..., Any], commands: list[bytes]
) -> None:
    recorded = record(_customer_event("Ada"))
    commands.clear()

    assert process(recorded.pk) is Outcome.PROCESSED

    assert not any(c.startswith(b"COMMIT") for c in commands), commands
    row = InboxEvent.objects.get(pk=recorded.pk)
    assert (row.status, row.attempts) == (Status.PROCESSED, 1)
    assert Customer.objects.get(stripe_id="cus_commit").name == "Ada"
    assert _status_seen_by_another_session(recorded.pk) == Status.PROCESSED.value


def _status_seen_by_another_session(pk: int) -> str:
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params) as other:
        found = other.execute(
            f"SELECT status FROM {InboxEvent._meta.db_table} WHERE id = %s", [pk]
        ).fetchone()
    assert found is not None
    return str(found[0])


def test_a_sites_transaction_around_process_is_the_sites(
    record: Callable[..., Any], commands: list[bytes]
) -> None:
    recorded = record(_customer_event("Grace"))

    with transaction.atomic():
        assert process(recorded.pk) is Outcome.PROCESSED
        transaction.set_rollback(True)  # the site changes its mind: nothing was committed

    row = InboxEvent.objects.get(pk=recorded.pk)
    assert (row.status, row.attempts) == (Status.PENDING, 0)
    assert not Customer.objects.filter(stripe_id="cus_commit").exists()
    assert process(recorded.pk) is Outcome.PROCESSED  # still due, and processed once now


def test_a_commit_that_fails_with_the_outcome_is_recorded_apart(
    record: Callable[..., Any], handle: Any
) -> None:
    @handle("customer.updated")
    def dangling_reference(event: StripeEvent) -> None:
        # PostgreSQL checks this foreign key at COMMIT: the outcome's message fails.
        Permission.objects.create(name="x", codename=event.id, content_type_id=2_000_000_000)

    recorded = record(_customer_event("Edsger"))

    assert process(recorded.pk) is Outcome.FAILED

    row = InboxEvent.objects.get(pk=recorded.pk)
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert row.last_error.startswith("[(commit)]")
    assert IntegrityError.__name__ in row.last_error
    assert not Permission.objects.filter(codename=recorded.stripe_id).exists()
    assert not Customer.objects.filter(stripe_id="cus_commit").exists()  # rolled back with it
