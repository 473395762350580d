"""ops/prune.py and stripe_mirror_prune: retention strips and deletes only old processed or
skipped events, in batches, and dedupe still recognises a stripped event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from stripe_mirror.dispatch import Outcome, process
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.ops import prune
from stripe_mirror.testing import build_event, build_thin_event
from tests import live
from tests.testapp.models import HandlerCall

pytestmark = pytest.mark.django_db


def _aged(record: Callable[..., Any], status: Status, days: float, thin: bool = False) -> str:
    event = (
        build_thin_event("v1.billing.meter.error_report_triggered")
        if thin
        else build_event("customer.updated", {"id": "cus_old", "object": "customer"})
    )
    recorded = record(event)
    if status != Status.SKIPPED:
        InboxEvent.objects.filter(pk=recorded.pk).update(status=status)
    InboxEvent.objects.filter(pk=recorded.pk).update(
        received_at=timezone.now() - timedelta(days=days)
    )
    return str(event["id"])


@pytest.fixture
def inbox(record: Callable[..., Any]) -> dict[str, list[str]]:
    """Events of every status at several ages (days since received)."""
    return {
        "processed_100": [_aged(record, Status.PROCESSED, 100) for _ in range(3)],
        "skipped_100": [_aged(record, Status.SKIPPED, 100, thin=True)],
        "processed_40": [_aged(record, Status.PROCESSED, 40) for _ in range(5)],
        "skipped_40": [_aged(record, Status.SKIPPED, 40, thin=True)],
        "processed_1": [_aged(record, Status.PROCESSED, 1)],
        "kept": [
            _aged(record, status, 100) for status in (Status.PENDING, Status.FAILED, Status.DEAD)
        ]
        + [_aged(record, status, 40) for status in (Status.PENDING, Status.FAILED, Status.DEAD)],
    }


def _bodies(ids: list[str]) -> list[str]:
    return list(InboxEvent.objects.filter(stripe_id__in=ids).values_list("body", flat=True))


def _prune(*args: str) -> str:
    out = StringIO()
    call_command("stripe_mirror_prune", *args, stdout=out)
    return out.getvalue()


def test_dry_run_counts_and_changes_nothing(inbox: dict[str, list[str]]) -> None:
    before = list(InboxEvent.objects.order_by("pk").values_list("pk", "status", "body"))
    out = _prune("--dry-run")
    assert "done: 4 events would be deleted, 6 bodies would be stripped" in out
    assert list(InboxEvent.objects.order_by("pk").values_list("pk", "status", "body")) == before


def test_prune_deletes_and_strips_only_old_processed_and_skipped(
    inbox: dict[str, list[str]],
) -> None:
    out = _prune("--batch-size", "2", "-v", "2")
    assert "done: 4 events were deleted, 6 bodies were stripped" in out
    # Batches of 2: 4 rows deleted in 2 batches, 6 bodies stripped in 3.
    assert "batch 2: 4 rows deleted" in out
    assert "batch 3: 6 bodies stripped" in out
    gone = inbox["processed_100"] + inbox["skipped_100"]
    assert not InboxEvent.objects.filter(stripe_id__in=gone).exists()
    stripped = inbox["processed_40"] + inbox["skipped_40"]
    assert _bodies(stripped) == [""] * 6
    rows = InboxEvent.objects.filter(stripe_id__in=stripped)
    assert {(r.type != "", r.created is not None) for r in rows} == {(True, True)}
    kept = inbox["kept"] + inbox["processed_1"]
    assert len(_bodies(kept)) == 7
    assert all(_bodies(kept))
    assert "done: 0 events were deleted, 0 bodies were stripped" in _prune()


def test_a_stripped_event_is_still_deduplicated_and_never_run_again(
    post: Callable[..., Any],
) -> None:
    event = build_event("customer.updated", {"id": "cus_strip", "object": "customer"})
    assert post(event).status_code == 200
    row = InboxEvent.objects.get(stripe_id=event["id"])
    assert row.status == Status.PROCESSED
    InboxEvent.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(days=31))
    _prune()
    assert _bodies([event["id"]]) == [""]

    again = post(event)  # Stripe redelivers, or a catch-up lists it again
    assert again.json()["duplicate"] is True
    assert HandlerCall.objects.filter(event_id=event["id"]).count() == 1
    # A reprocess cannot run handlers on an empty body: it skips the event.
    assert process(row.pk, force=True) is Outcome.SKIPPED
    assert InboxEvent.objects.get(pk=row.pk).delivery_count == 2


def test_rows_are_kept_for_the_dedupe_window(inbox: dict[str, list[str]]) -> None:
    with pytest.raises(CommandError, match="at least 30 days"):
        _prune("--row-days", "29")
    with pytest.raises(ValueError, match="at least 30 days"):
        prune.delete_rows(timezone.now() - timedelta(days=10))
    assert InboxEvent.objects.count() == 17


def test_settings_choose_the_ages(inbox: dict[str, list[str]], settings: Any) -> None:
    settings.STRIPE_MIRROR = {
        **settings.STRIPE_MIRROR,
        "RETENTION_BODY_DAYS": None,
        "RETENTION_ROW_DAYS": 35,
    }
    assert "done: 10 events were deleted, 0 bodies were stripped" in _prune()
    assert all(_bodies(inbox["processed_1"]))


def test_retention_off(inbox: dict[str, list[str]], settings: Any) -> None:
    settings.STRIPE_MIRROR = {
        **settings.STRIPE_MIRROR,
        "RETENTION_BODY_DAYS": None,
        "RETENTION_ROW_DAYS": None,
    }
    assert "retention is off" in _prune()
    assert InboxEvent.objects.exclude(body="").count() == 17


@pytest.mark.django_db(transaction=True)
def test_each_batch_commits_before_the_next(inbox: dict[str, list[str]]) -> None:
    """While the walk goes on, another connection can write a row the first batch pruned (a
    redelivery counting itself): that batch's transaction is over, so its locks are gone. A
    walk in one long transaction would keep that writer waiting until the end."""
    seen: list[int] = []

    def after_batch(step: prune.Progress) -> None:
        if step.batch == 1:
            first = InboxEvent.objects.filter(body="").order_by("pk").values_list("pk", flat=True)
            pk = first.first()  # as this connection sees it: pruned, committed or not
            seen.append(live.in_other_connection(lambda: _count_a_delivery(pk)))

    assert (
        prune.strip_bodies(timezone.now() - timedelta(days=30), batch_size=2, progress=after_batch)
        == 10
    )
    assert seen == [1]


def _count_a_delivery(pk: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET lock_timeout = '2s'")
        elif connection.vendor == "mysql":
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 2")
    return InboxEvent.objects.filter(pk=pk).update(delivery_count=2)
