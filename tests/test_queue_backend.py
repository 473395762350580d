"""Processing through a queue backend: django-tasks-db, whose workers are `manage.py db_worker`.

The endpoint only records the event and enqueues a task; a worker process processes it.
A failure is retried by a deferred task at the event's next_attempt_at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.tasks import TaskResultStatus
from stripe_mirror.testing import build_event
from tests import live
from tests.testapp.models import HandlerCall

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DATABASE_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def queue(settings: Any) -> Iterator[None]:
    """This process enqueues into the database; child processes use the same backend."""
    settings.TASKS = DATABASE_BACKEND
    return


def _db_worker() -> None:
    """Run django-tasks-db's worker until the queue holds nothing ready to run."""
    env = live.child_env(STRIPE_MIRROR_TASKS="database")
    done = live.manage("db_worker", "--batch", "--no-reload", "--no-startup-delay", env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def _tasks() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.order_by("enqueued_at"))


def test_endpoint_only_records_and_a_worker_processes(
    queue: None, post: Callable[..., Any]
) -> None:
    event = build_event("customer.updated")
    response = post(event)
    assert response.status_code == 200
    assert InboxEvent.objects.get().status == Status.PENDING
    [task] = _tasks()
    assert task.status == TaskResultStatus.READY
    assert task.args_kwargs["args"] == [InboxEvent.objects.get().pk]

    _db_worker()

    row = InboxEvent.objects.get()
    assert (row.status, row.attempts) == (Status.PROCESSED, 1)
    assert HandlerCall.objects.filter(event_id=event["id"]).count() == 1
    [task] = _tasks()
    assert task.status == TaskResultStatus.SUCCESSFUL
    assert task.return_value == "processed"


def test_redelivery_enqueues_nothing_for_a_processed_event(
    queue: None, post: Callable[..., Any]
) -> None:
    event = build_event("customer.updated")
    post(event)
    _db_worker()
    assert post(event).json()["duplicate"] is True
    assert len(_tasks()) == 1
    assert InboxEvent.objects.get().delivery_count == 2


def test_failure_is_retried_by_a_deferred_task(queue: None, post: Callable[..., Any]) -> None:
    event = build_event("test.fail")
    assert post(event).status_code == 200

    _db_worker()

    row = InboxEvent.objects.get()
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    first, retry = _tasks()
    # The task itself succeeded: the handler's failure is the event's, recorded in the inbox.
    assert (first.status, first.return_value) == (TaskResultStatus.SUCCESSFUL, "failed")
    assert retry.status == TaskResultStatus.READY
    # Rounded up to a whole second (tasks._whole_second): never run before it is due.
    assert row.next_attempt_at <= retry.run_after < row.next_attempt_at + timedelta(seconds=1)
    assert retry.run_after.microsecond == 0
    assert retry.args_kwargs["args"] == [row.pk]
