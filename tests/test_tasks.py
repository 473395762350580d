"""The hand-off from the endpoint to the tasks framework, with the default immediate backend.

The event is processed in the request, right after it is committed; whatever the handlers
do, the answer is 200 because the event is recorded and ours to retry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from stripe_mirror import signals, tasks
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event
from tests import live
from tests.testapp.models import HandlerCall

Post = Callable[..., Any]
# Imported at collection, so that @task() is checked against the test settings, not on a
# first request made under a test's altered TASKS (when this module runs alone).
TASK = tasks.process_event
SETTINGS = {
    "ENDPOINTS": {"default": {"SECRETS": ["whsec_test_primary"]}},
    "MAX_ATTEMPTS": 1,
}


def _state(stripe_id: str) -> tuple[str, int, int, int]:
    row = InboxEvent.objects.get(stripe_id=stripe_id)
    calls = HandlerCall.objects.filter(event_id=stripe_id).count()
    return row.status, row.attempts, row.delivery_count, calls


@pytest.mark.django_db
def test_event_is_processed_before_the_answer(post: Post) -> None:
    event = build_event("customer.updated")
    response = post(event)
    assert response.status_code == 200
    assert response.json() == {"received": True, "id": event["id"], "duplicate": False}
    assert _state(event["id"]) == (Status.PROCESSED, 1, 1, 1)


@pytest.mark.django_db
def test_without_a_task_backend_the_worker_processes_the_inbox(post: Post, settings: Any) -> None:
    from stripe_mirror.dispatch import Outcome, process_due

    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "TASK_BACKEND": None}
    events = [build_event("customer.updated"), build_event("test.fail")]
    for event in events:
        assert post(event).status_code == 200
    assert [_state(e["id"]) for e in events] == [(Status.PENDING, 0, 1, 0)] * 2
    assert dict(process_due()) == {
        events[0]["id"]: Outcome.PROCESSED,
        events[1]["id"]: Outcome.FAILED,
    }
    assert _state(events[0]["id"]) == (Status.PROCESSED, 1, 1, 1)


@pytest.mark.django_db
def test_answer_is_200_when_a_handler_fails(post: Post) -> None:
    event = build_event("test.fail")
    assert post(event).status_code == 200
    assert _state(event["id"])[:2] == (Status.FAILED, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("outcome", [Status.FAILED, Status.DEAD])
def test_redelivery_of_a_failed_or_dead_event_processes_it_again(
    post: Post, tmp_path: Path, outcome: Status
) -> None:
    flag = tmp_path / "fixed"
    event = live.steered_event("test.fail_then_succeed", flag_file=str(flag))
    with override_settings(
        STRIPE_MIRROR={**SETTINGS, "MAX_ATTEMPTS": 1 if outcome == "dead" else 5}
    ):
        post(event)
    assert _state(event["id"])[:2] == (outcome, 1)

    flag.touch()
    response = post(event)
    assert response.json()["duplicate"] is True
    # record_call succeeded on the first attempt and is not repeated; `failing` now succeeds.
    assert _state(event["id"]) == (Status.PROCESSED, 2, 2, 2)


@pytest.mark.django_db
def test_a_failed_enqueue_still_answers_200_and_leaves_the_event_due(
    post: Post, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A backend that refuses the task (its queue is not one the backend serves).
    backend = dict(settings.TASKS["default"], QUEUES=["elsewhere"])
    settings.TASKS = {"default": backend}
    event = build_event("customer.updated")
    assert post(event).status_code == 200
    assert _state(event["id"]) == (Status.PENDING, 0, 1, 0)
    assert "could not enqueue" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_event_recorded_signal_is_sent_once_the_event_is_committed(post: Post) -> None:
    seen: list[Any] = []

    def on_recorded(recorded: Any, envelope: Any, endpoint: str, **kwargs: Any) -> None:
        committed = live.in_other_connection(
            lambda: list(InboxEvent.objects.values_list("stripe_id", "delivery_count"))
        )
        seen.append((recorded.first_delivery, envelope.type, endpoint, committed))

    signals.event_recorded.connect(on_recorded)
    try:
        event = build_event("customer.updated")
        post(event)
        post(event)
    finally:
        signals.event_recorded.disconnect(on_recorded)
    assert seen == [
        (True, "customer.updated", "default", [(event["id"], 1)]),
        (False, "customer.updated", "default", [(event["id"], 2)]),
    ]
