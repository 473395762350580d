"""Handlers steered by the event itself, so that tests against a real server can ask for a
failure, a delay or a crash through the payload: data.object.metadata.test_behaviour.

metadata keys: test_behaviour ("sleep:<seconds>" or "crash": os._exit(17) unless flag_file
exists), flag_file (a path), started_file (a path: a line is appended to it when the handler
starts, so that a test can see from outside that processing has begun).
"""

import os
import time
from typing import Any

from stripe_mirror import StripeEvent, ThinEvent, on

from .models import HandlerCall


def _metadata(event: StripeEvent | ThinEvent) -> Any:
    return (event.object or {}).get("metadata") or {}  # a thin event may name no object


def _behaviour(event: StripeEvent | ThinEvent) -> str:
    return str(_metadata(event).get("test_behaviour", ""))


@on("*")
def record_call(event: StripeEvent | ThinEvent) -> None:
    started = _metadata(event).get("started_file")
    if started:
        with open(started, "a") as marker:
            marker.write(f"{event.id} {os.getpid()}\n")
    behaviour = _behaviour(event)
    if behaviour.startswith("sleep:"):
        time.sleep(float(behaviour.split(":", 1)[1]))
    if behaviour == "crash" and not os.path.exists(_flag(event)):
        os._exit(17)  # a worker killed mid-processing: nothing after this runs
    HandlerCall.objects.create(event_id=event.id, handler="record_call")


@on("test.fail", "test.fail_then_succeed")
def failing(event: StripeEvent) -> None:
    if event.type == "test.fail_then_succeed" and os.path.exists(_flag(event)):
        HandlerCall.objects.create(event_id=event.id, handler="failing")
        return
    raise RuntimeError(f"handler failed on purpose for {event.id}")


def _flag(event: StripeEvent | ThinEvent) -> str:
    return str(_metadata(event).get("flag_file", "/nonexistent"))
