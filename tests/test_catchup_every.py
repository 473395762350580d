"""``manage.py stripe_mirror_catchup`` as a real process against our fake Stripe server: the
``--every`` loop records what is added between its rounds and stops cleanly on Ctrl-C, and a
run interrupted while it lists is stored as interrupted."""

from __future__ import annotations

import json
import signal

import pytest

from stripe_mirror.management.catchup import ENDPOINT
from stripe_mirror.models import CatchupRun, CatchupStatus, InboxEvent, Status
from tests import live
from tests.stripe_api.fake import TEST_KEY, FakeStripe
from tests.testapp.models import HandlerCall

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _env(fake: FakeStripe) -> dict[str, str]:
    extra = {"API_KEY": TEST_KEY, "API_BASE": fake.url, "API_RATE_LIMIT": 1000}
    return live.child_env(STRIPE_MIRROR_TEST_EXTRA=json.dumps(extra))


def _finished() -> list[CatchupRun]:
    return list(CatchupRun.objects.exclude(finished_at=None).order_by("id"))


def test_every_records_what_each_round_finds_and_stops_on_ctrl_c(
    fake_stripe: FakeStripe,
) -> None:
    first = [fake_stripe.create("customer", email=f"a{n}@example.com")["id"] for n in range(3)]
    child = live.start_manage(
        "stripe_mirror_catchup", "--plain", "--every", "1s", env=_env(fake_stripe)
    )
    try:
        live.wait_for(lambda: len(_finished()) >= 1, "the first round")
        assert InboxEvent.objects.count() == 3
        rounds = len(_finished())
        # Between rounds: two more customers, and a change to the first.
        later = [fake_stripe.create("customer", email=f"b{n}@example.com")["id"] for n in range(2)]
        fake_stripe.update(first[0], email="changed@example.com")
        live.wait_for(lambda: InboxEvent.objects.count() == 6, "the next round's events")
        live.wait_for(lambda: len(_finished()) >= rounds + 1, "that round's end")
        live.wait_for(lambda: len(_finished()) >= rounds + 2, "one more round")
        child.signal(signal.SIGINT)
        assert child.wait(30) == 0, child.output()
        output = child.output()
    finally:
        child.stop()
    assert output.rstrip().endswith("stopped"), output
    assert "Traceback" not in output

    rows = list(InboxEvent.objects.all())
    assert {row.endpoint for row in rows} == {ENDPOINT}
    assert {row.status for row in rows} == {Status.PROCESSED}
    assert {row.object_id for row in rows} == {*first, *later}
    handled = list(
        HandlerCall.objects.filter(handler="record_call").values_list("event_id", flat=True)
    )
    assert sorted(handled) == sorted(row.stripe_id for row in rows)  # each one once

    runs = list(CatchupRun.objects.order_by("id"))
    # Every round stored its run, and none is left under way: Ctrl-C came between rounds,
    # or (rarely) in one, which then says so.
    assert len(runs) >= 3
    assert {run.status for run in runs} <= {CatchupStatus.DONE, CatchupStatus.INTERRUPTED}
    assert all(run.finished_at is not None for run in runs)
    assert all(run.status == CatchupStatus.DONE for run in runs[:-1])
    assert runs[0].recorded == 3
    # The rounds after the first found the three added events (one round, unless they were
    # added while one was listing) and the first round's, listed again within the margin.
    assert sum(run.recorded for run in runs[1:]) == 3
    assert sum(run.outcomes.get("processed", 0) for run in runs[1:]) == 3
    assert all(run.present >= 3 for run in runs[1:] if run.status == CatchupStatus.DONE)
    # Each round starts from the newest event it holds, minus the margin.
    assert all(later.window_start >= runs[0].window_start for later in runs[1:])


def test_ctrl_c_during_a_run_stores_it_interrupted(fake_stripe: FakeStripe) -> None:
    for number in range(300):
        fake_stripe.create("customer", email=f"c{number}@example.com")
    fake_stripe.latency = 1.0  # each page of 100 events: the run lasts 3 s and more
    child = live.start_manage("stripe_mirror_catchup", "--plain", "--once", env=_env(fake_stripe))
    try:
        live.wait_for(
            lambda: CatchupRun.objects.filter(status=CatchupStatus.RUNNING).exists(),
            "a run under way",
        )
        running = CatchupRun.objects.get()
        assert running.finished_at is None
        child.signal(signal.SIGINT)
        status = child.wait(30)
        output = child.output()
    finally:
        child.stop()
    assert status == 130, output
    assert "interrupted" in output
    run = CatchupRun.objects.get()
    assert run.status == CatchupStatus.INTERRUPTED
    assert run.finished_at is not None
    assert run.recorded < 300
