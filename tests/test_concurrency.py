"""Concurrent deliveries of one event: one inbox row, every delivery counted, one processing.

Stripe can deliver an event again while an earlier delivery is still being handled (a
timeout on its side, a manual resend). These tests send the same signed event many times at
once, (a) to Django's threaded live server (one process, one database connection per
request thread) and (b) to gunicorn (several worker processes), then read the outcome from
the database. The slow variant keeps the first processing transaction open while the
redeliveries arrive; the fast one lets redeliveries race the processing itself.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import encode
from tests import live
from tests.testapp.models import HandlerCall

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DELIVERIES = 16
BEHAVIOURS = pytest.mark.parametrize("behaviour", ["", "sleep:0.3"], ids=["fast", "slow-handler"])


def _deliver_at_once(url: str, bodies: list[bytes]) -> list[live.Response]:
    return live.concurrently([lambda body=body: live.post_event(url, body) for body in bodies])


def _assert_processed_once(event_id: str, responses: list[live.Response]) -> None:
    assert [r.status for r in responses] == [200] * len(responses), [r.body for r in responses]
    assert [r.json()["duplicate"] for r in responses].count(False) == 1
    row = InboxEvent.objects.get(stripe_id=event_id)
    assert row.delivery_count == len(responses)
    assert (row.status, row.attempts) == (Status.PROCESSED, 1)
    assert HandlerCall.objects.filter(event_id=event_id).count() == 1


@BEHAVIOURS
def test_threads_of_one_server(live_server: Any, behaviour: str) -> None:
    event = live.steered_event(test_behaviour=behaviour)
    responses = _deliver_at_once(live_server.url, [encode(event)] * DELIVERIES)
    assert InboxEvent.objects.count() == 1
    _assert_processed_once(event["id"], responses)


@BEHAVIOURS
def test_processes_of_gunicorn(site: live.Server, behaviour: str) -> None:
    event = live.steered_event(test_behaviour=behaviour)
    responses = _deliver_at_once(site.url, [encode(event)] * DELIVERIES)
    assert InboxEvent.objects.count() == 1
    _assert_processed_once(event["id"], responses)


def test_several_events_each_delivered_several_times(site: live.Server) -> None:
    events = [live.steered_event() for _ in range(6)]
    bodies = [encode(event) for event in events for _ in range(4)]
    random.shuffle(bodies)
    responses = _deliver_at_once(site.url, bodies)
    assert InboxEvent.objects.count() == len(events)
    for event in events:
        body = encode(event)
        _assert_processed_once(
            event["id"], [r for r, sent in zip(responses, bodies, strict=True) if sent == body]
        )
