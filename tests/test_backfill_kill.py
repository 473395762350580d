"""A backfill killed by SIGKILL (and interrupted by Ctrl-C) while it runs (a child process
paging slowly through our fake Stripe server), then resumed: every object exactly once, the
counts right."""

from __future__ import annotations

import json
import signal
import time

import pytest

from stripe_mirror.models import BackfillProgress, Customer
from tests import live
from tests.stripe_api.fake import TEST_KEY, FakeStripe

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COMMAND = ("stripe_mirror_backfill", "--plain", "--types", "customer")


def _seen() -> int:
    found = BackfillProgress.objects.filter(object_type="customer").first()
    return 0 if found is None else found.seen


def test_killed_then_interrupted_then_resumed(fake_stripe: FakeStripe) -> None:
    ids = {fake_stripe.add("customer", email=f"c{i}@example.com")["id"] for i in range(1000)}
    fake_stripe.latency = 0.05
    extra = {"API_KEY": TEST_KEY, "API_BASE": fake_stripe.url, "API_RATE_LIMIT": 1000}
    env = live.child_env(STRIPE_MIRROR_TEST_EXTRA=json.dumps(extra))
    # SIGKILL twice, then Ctrl-C (SIGINT: the command says so and exits with status 130).
    stops = ((200, 0.02, signal.SIGKILL), (400, 0.07, signal.SIGKILL), (600, 0.04, signal.SIGINT))
    for threshold, delay, signum in stops:
        child = live.start_manage(*COMMAND, env=env)
        try:
            live.wait_for(lambda t=threshold: _seen() >= t, f"{threshold} customers", timeout=90)
            time.sleep(delay)  # somewhere in the next page: its fetch or its write
            child.signal(signum)
            status = child.wait()
            assert status == (-signal.SIGKILL if signum == signal.SIGKILL else 130)
            if signum == signal.SIGINT:
                assert "interrupted: run the command again to resume" in child.output()
        finally:
            child.stop()
        progress = BackfillProgress.objects.get()
        # Whole pages only: the rows and the counts of the same transactions.
        assert Customer.objects.count() == progress.seen == progress.created
        assert progress.seen % 100 == 0
        assert progress.finished_at is None
    done = live.manage(*COMMAND, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    progress = BackfillProgress.objects.get()
    assert {row.stripe_id for row in Customer.objects.all()} == ids
    assert (progress.seen, progress.created, progress.updated, progress.skipped) == (
        1000,
        1000,
        0,
        0,
    )
    assert progress.finished_at is not None
    firsts = [r for r in fake_stripe.requests("/v1/customers") if "starting_after" not in r.params]
    assert len(firsts) == 1, "a resumed run started over"
    assert "done" in done.stdout
