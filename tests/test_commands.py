"""manage.py stripe_mirror_worker and stripe_mirror_reprocess."""

from __future__ import annotations

import io
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from stripe_mirror.dispatch.inbox import Recorded
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event, event_id
from tests import live
from tests.testapp.models import HandlerCall

Record = Callable[..., Recorded]
SETTINGS = {
    "ENDPOINTS": {"default": {"SECRETS": ["whsec_test_primary"]}},
    "RETRY_BACKOFF": 60,
    "MAX_ATTEMPTS": 1,
}


def _run(command: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _statuses() -> dict[str, str]:
    return dict(InboxEvent.objects.values_list("stripe_id", "status"))


# --- worker ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_worker_once_drains_what_is_due_and_reports(record: Record) -> None:
    ids = [
        record(build_event("customer.updated", {"id": f"cus_{n}", "object": "customer"})).stripe_id
        for n in range(5)
    ]
    out, _ = _run("stripe_mirror_worker", "--once", "--batch-size", "2")
    assert _statuses() == dict.fromkeys(ids, Status.PROCESSED)
    lines = out.splitlines()
    assert lines[0] == "5 events due"
    progress = [int(re.match(r"(\d+) processed", line)[1]) for line in lines[1:-1]]  # type: ignore[index]
    assert progress == [2, 4, 5]
    assert lines[-1].startswith("done: 5 processed, 0 failed (will retry), 0 dead")


@pytest.mark.django_db
@override_settings(STRIPE_MIRROR=SETTINGS)
def test_worker_once_counts_failures_and_does_not_wait_for_retries(record: Record) -> None:
    record(build_event("customer.updated"))
    record(build_event("test.fail"))
    with override_settings(STRIPE_MIRROR={**SETTINGS, "MAX_ATTEMPTS": 5}):
        out, _ = _run("stripe_mirror_worker", "--once")
    assert "done: 1 processed, 1 failed (will retry), 0 dead" in out
    record(build_event("test.fail"))
    out, _ = _run("stripe_mirror_worker", "--once")  # MAX_ATTEMPTS 1: straight to dead
    assert "done: 0 processed, 0 failed (will retry), 1 dead" in out


@pytest.mark.django_db
@pytest.mark.parametrize("once", [True, False], ids=["once", "long-running"])
def test_worker_stops_after_max_events(record: Record, once: bool) -> None:
    for _ in range(4):
        record(build_event("customer.updated"))
    args = ["--max-events", "3", "--batch-size", "50", *(["--once"] if once else [])]
    out, _ = _run("stripe_mirror_worker", *args)
    assert sorted(_statuses().values()) == [Status.PENDING] + [Status.PROCESSED] * 3
    assert "done: 3 processed" in out


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_finishes_its_batch_on_sigterm(record: Record, tmp_path: Path) -> None:
    started = tmp_path / "started"
    slow = [
        record(live.steered_event(test_behaviour="sleep:0.5", started_file=str(started))).stripe_id
        for _ in range(2)
    ]
    worker = live.start_manage("stripe_mirror_worker", "--sleep", "0.1")
    try:
        live.wait_for(started.exists, "the worker to start processing")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.output()
        output = worker.output()
    finally:
        worker.stop()
    assert "finishing the current batch" in output
    assert "done: 2 processed" in output
    assert _statuses() == dict.fromkeys(slow, Status.PROCESSED)
    assert HandlerCall.objects.count() == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_idle_worker_exits_on_sigterm() -> None:
    worker = live.start_manage("stripe_mirror_worker", "--sleep", "0.2")
    try:
        live.wait_for(lambda: "waiting for events" in worker.output(), "the worker to start")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.output()
        assert "done: 0 processed" in worker.output()
    finally:
        worker.stop()


# --- reprocess ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_reprocess_by_id_runs_every_handler_again(record: Record) -> None:
    recorded = record(build_event("customer.updated"))
    _run("stripe_mirror_worker", "--once")
    out, _ = _run("stripe_mirror_reprocess", recorded.stripe_id)
    assert f"[1/1] {recorded.stripe_id}: processed" in out
    assert "reprocessed 1 events, 0 not processed" in out
    assert HandlerCall.objects.filter(event_id=recorded.stripe_id).count() == 2
    assert InboxEvent.objects.get(pk=recorded.pk).attempts == 2


@pytest.mark.django_db
@override_settings(STRIPE_MIRROR=SETTINGS)
def test_reprocess_by_status_and_type(record: Record, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    fixable = live.steered_event("test.fail_then_succeed", flag_file=str(flag))
    dead = [record({**fixable, "id": event_id()}).stripe_id for _ in range(2)]
    other = record(build_event("test.fail")).stripe_id
    done = record(build_event("customer.updated")).stripe_id
    _run("stripe_mirror_worker", "--once")
    assert _statuses() == {**dict.fromkeys([*dead, other], Status.DEAD), done: Status.PROCESSED}

    flag.touch()
    out, _ = _run("stripe_mirror_reprocess", "--status", "dead", "--type", "test.fail_then_succeed")
    assert "reprocessed 2 events, 0 not processed" in out
    assert _statuses() == {
        **dict.fromkeys(dead, Status.PROCESSED),
        other: Status.DEAD,
        done: Status.PROCESSED,
    }
    with pytest.raises(CommandError, match="not processed"):
        _run("stripe_mirror_reprocess", "--status", "dead")
    assert _statuses()[other] == Status.DEAD
    assert HandlerCall.objects.filter(event_id=done).count() == 1


@pytest.mark.django_db
def test_reprocess_reports_unknown_ids_and_still_does_the_others(record: Record) -> None:
    known = record(build_event("customer.updated")).stripe_id
    err = io.StringIO()
    with pytest.raises(CommandError, match="not processed"):
        call_command("stripe_mirror_reprocess", known, "evt_nope", stdout=io.StringIO(), stderr=err)
    assert "evt_nope: not in the inbox" in err.getvalue()
    assert _statuses() == {known: Status.PROCESSED}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_reprocess_reports_an_event_another_processor_holds(record: Record, tmp_path: Path) -> None:
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite has no row locks: a reprocess waits for the database lock of the "
            "processor holding the event, then runs it again, instead of skipping it"
        )
    started = tmp_path / "started"
    recorded = record(live.steered_event(test_behaviour="sleep:0.5", started_file=str(started)))
    holder = live.start_manage("stripe_mirror_worker", "--once")
    try:
        live.wait_for(started.exists, "the worker to hold the event")
        out = io.StringIO()
        with pytest.raises(CommandError, match="not processed"):
            call_command("stripe_mirror_reprocess", recorded.stripe_id, stdout=out)
        assert f"{recorded.stripe_id}: skipped" in out.getvalue()
        assert holder.wait() == 0
    finally:
        holder.stop()
    assert HandlerCall.objects.filter(event_id=recorded.stripe_id).count() == 1


@pytest.mark.django_db
def test_reprocess_needs_something_to_select() -> None:
    with pytest.raises(CommandError, match="give event ids"):
        _run("stripe_mirror_reprocess")


@pytest.mark.django_db
def test_reprocess_refuses_thin_events(record: Record) -> None:
    recorded = record(build_event("customer.updated"))
    InboxEvent.objects.filter(pk=recorded.pk).update(status=Status.SKIPPED, next_attempt_at=None)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "stripe_mirror_reprocess", recorded.stripe_id, stdout=io.StringIO(), stderr=err
        )
    assert "not in the inbox (or a skipped thin event)" in err.getvalue()
    assert InboxEvent.objects.get(pk=recorded.pk).status == Status.SKIPPED
