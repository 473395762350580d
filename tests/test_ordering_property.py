"""The ordering guard, proven on generated streams (tests/streams).

Many objects live their lives (customers, catalog, subscriptions with items, invoices with
lines, payments with charges and refunds, on the platform and a connected account, in both
API shapes); their events are delivered shuffled, with duplicates, through the real pipeline
(signed POSTs to the endpoint), and then EVERY mirrored row is compared with the final state
of its object. The seed is in each test id: ``-k seed7`` reproduces a failure.

A soak run tries many more worlds: ``STRIPE_MIRROR_SOAK=200 pytest tests/test_ordering_property.py``
(200 seeds per test instead of a few).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from stripe_mirror import tasks
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import post_event
from tests.streams import World, build_world
from tests.streams.check import differences
from tests.streams.stripe_api import fake_stripe

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_test_primary"
ROOT = Path(__file__).resolve().parent.parent
SOAK = int(os.environ.get("STRIPE_MIRROR_SOAK", "0"))
#: A few fixed worlds in every run; a soak run adds many more.
SEEDS = [*range(1, 3), *range(1000, 1000 + SOAK)]
SCENARIOS = 16


def seeded(func: Callable[..., Any]) -> Callable[..., Any]:
    return pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")(func)


def deliver(client: Any, world: World) -> None:
    """POST every event of the world (shuffled, some two or three times), signed."""
    for body in world.delivery():
        response = post_event(client, body, secret=SECRET)
        assert response.status_code == 200, response.content


def drain() -> None:
    """Run the worker until nothing is due; wait out the backoff of failed events."""
    while InboxEvent.objects.filter(status__in=(Status.PENDING, Status.FAILED)).exists():
        call_command("stripe_mirror_worker", "--once", stdout=io.StringIO())
        waiting = InboxEvent.objects.filter(status=Status.FAILED).order_by("next_attempt_at")
        first = waiting.values_list("next_attempt_at", flat=True).first()
        if first is not None:
            time.sleep(max(0.0, (first - timezone.now()).total_seconds()) + 0.05)


def assert_mirrors(world: World, **options: Any) -> None:
    assert not InboxEvent.objects.exclude(status=Status.PROCESSED).exists(), list(
        InboxEvent.objects.exclude(status=Status.PROCESSED).values_list("type", "last_error")
    )
    problems = differences(world, **options)
    shown = "\n".join(problems[:30])
    assert not problems, f"seed {world.seed}: {len(problems)} problems\n{shown}"


def ambiguities(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "ambiguous order" in r.getMessage()]


@pytest.fixture
def deferred(settings: Any) -> None:
    """Record only: the dummy task backend never runs the task (a worker must)."""
    backend = "django.tasks" if tasks.find_spec("django.tasks") else "django_tasks"
    settings.TASKS = {"default": {"BACKEND": f"{backend}.backends.dummy.DummyBackend"}}


@seeded
def test_each_event_processed_on_arrival(client: Any, seed: int) -> None:
    """The immediate backend: each event is mirrored inside its own request, so most ties are
    first decided on part of their second's events, then again as the rest arrive."""
    world = build_world(seed, SCENARIOS)
    deliver(client, world)
    assert_mirrors(world)


@seeded
def test_recorded_first_then_worker(
    client: Any, deferred: None, seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything recorded, then the worker: each tie is decided on all its candidates, and
    the rules settle every one of these streams without a refetch (no ambiguity at all)."""
    world = build_world(seed, SCENARIOS)
    deliver(client, world)
    assert InboxEvent.objects.filter(status=Status.PENDING).count() == len(world.events)
    with caplog.at_level(logging.WARNING, logger="stripe_mirror.sync"):
        drain()
    assert_mirrors(world)
    assert ambiguities(caplog) == []


@seeded
def test_any_stream_settles_with_refetch(client: Any, settings: Any, seed: int) -> None:
    """Streams with anything Stripe could send within a second (changes told only by events
    without previous_attributes, values changing back and forth): with an API key, every
    ambiguous tie is settled by a refetch, so every row ends in its object's true state."""
    world = build_world(
        seed, SCENARIOS, strict=False, livemode=0.0, include=("customer_second_thoughts",) * 2
    )
    with fake_stripe() as api:
        api.publish(world)
        settings.STRIPE_MIRROR = {
            **settings.STRIPE_MIRROR,
            "API_KEY": api.api_key,
            "API_BASE": api.url,
        }
        deliver(client, world)
    assert api.refused == []
    assert api.served, "no tie needed a refetch: this world proves nothing"
    assert_mirrors(world, refetched=True)


def _worker_env() -> dict[str, str]:
    """The environment for a worker process on the test database."""
    db = connection.settings_dict
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[connection.vendor]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    url = f"{scheme}://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
    }


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS[1:], ids=lambda s: f"seed{s}")
def test_concurrent_workers(client: Any, deferred: None, seed: int) -> None:
    """Four worker processes drain the same shuffled inbox at the same time: the mirror ends
    in the same state, and every event is processed at its first attempt (a batch takes its
    row locks in one global order; an event that still loses a deadlock is rolled back and
    run again at once, not counted as a failed attempt)."""
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("SQLite has one writer at a time: there is no concurrency to test")
    world = build_world(seed, 24)
    deliver(client, world)
    command = [sys.executable, str(ROOT / "example/manage.py"), "stripe_mirror_worker"]
    workers = [
        subprocess.Popen(
            [*command, "--once", "--batch-size", "10"],
            env=_worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err.decode()
    statuses = set(InboxEvent.objects.values_list("status", "attempts"))
    assert statuses == {(Status.PROCESSED, 1)}, list(
        InboxEvent.objects.exclude(status=Status.PROCESSED).values_list("type", "last_error")
    )
    assert_mirrors(world)
