"""Handlers steered by the event itself, so that tests against a real server can ask for a
failure, a delay or a crash through the payload: data.object.metadata.test_behaviour."""

import os
import time

from stripe_mirror import StripeEvent, on

from .models import HandlerCall


def _behaviour(event: StripeEvent) -> str:
    metadata = event.object.get("metadata") or {}
    return str(metadata.get("test_behaviour", ""))


@on("*")
def record_call(event: StripeEvent) -> None:
    behaviour = _behaviour(event)
    if behaviour.startswith("sleep:"):
        time.sleep(float(behaviour.split(":", 1)[1]))
    if behaviour == "crash":
        os._exit(17)  # a worker killed mid-processing: nothing after this runs
    HandlerCall.objects.create(event_id=event.id, handler="record_call")


@on("test.fail", "test.fail_then_succeed")
def failing(event: StripeEvent) -> None:
    if event.type == "test.fail_then_succeed" and os.path.exists(_flag(event)):
        HandlerCall.objects.create(event_id=event.id, handler="failing")
        return
    raise RuntimeError(f"handler failed on purpose for {event.id}")


def _flag(event: StripeEvent) -> str:
    return str((event.object.get("metadata") or {}).get("flag_file", "/nonexistent"))
