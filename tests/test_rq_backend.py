"""A broker engine for real: django-tasks-rq, with `rqworker` processes on Redis.

The webhook server (gunicorn) and the RQ workers are separate processes using
tests/settings_rq.py; each test has its own queue on Redis database 5 of the machine's
server (flushed afterwards), or a redis-server of its own on another port when it stops it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stripe_mirror.models import Customer, InboxEvent, Status
from stripe_mirror.testing import build_event
from tests import live
from tests.testapp.models import HandlerCall

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Redis database number of these tests on the machine's server (127.0.0.1:6379).
REDIS_DB = 5


def _redis_ok(port: int) -> bool:
    if shutil.which("redis-cli") is None:
        return False
    ping = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "ping"],
        capture_output=True,
        text=True,
        check=False,
    )
    return ping.stdout.strip() == "PONG"


def _missing(why: str) -> None:
    """Skip on a developer's machine; fail in CI, where .ci/run starts Redis: a CI run that
    skips the broker tests proves nothing about them."""
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def _env(redis_url: str, queue: str) -> dict[str, str]:
    return live.child_env(
        DJANGO_SETTINGS_MODULE="tests.settings_rq",
        RQ_TEST_REDIS_URL=redis_url,
        RQ_TEST_QUEUE=queue,
    )


def _rq_worker(env: dict[str, str], queue: str) -> live.Process:
    # --with-scheduler: the deferred tasks of retries (run_after) are moved to the queue
    # when due by the scheduler that one of the workers runs.
    return live.start_manage(
        "rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler", queue, env=env
    )


@pytest.fixture
def shared_redis() -> Iterator[str]:
    if not _redis_ok(6379):
        _missing("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    yield url
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "flushdb"], capture_output=True, check=False)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[live.Process]:
    """A redis-server of this test only, on a free port, that the test may kill."""
    if shutil.which("redis-server") is None:
        _missing("redis-server is not installed")
    port = live.free_port()
    server = live.Process(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        env={"PATH": "/usr/bin:/bin"},
    )
    server.port = port  # type: ignore[attr-defined]
    live.wait_for(lambda: _redis_ok(port), "the test's redis-server")
    yield server
    server.stop()


def _customer_event(n: int, account: str | None = None) -> dict[str, object]:
    return build_event(
        "customer.updated",
        {"id": f"cus_rq{n}", "object": "customer", "email": f"c{n}@example.com"},
        account=account,
    )


def _wait_processed(ids: list[str], timeout: float = 60) -> None:
    def done() -> bool:
        return InboxEvent.objects.filter(stripe_id__in=ids, status=Status.PROCESSED).count() == len(
            ids
        )

    live.wait_for(done, f"{len(ids)} events processed by the RQ workers", timeout)


def _calls_per_event(ids: list[str]) -> dict[str, int]:
    return {i: HandlerCall.objects.filter(event_id=i, handler="record_call").count() for i in ids}


def test_rq_workers_process_every_event_exactly_once(shared_redis: str, tmp_path: Path) -> None:
    queue = f"sm-i13-{uuid.uuid4().hex[:8]}"
    env = _env(shared_redis, queue)
    workers = [_rq_worker(env, queue) for _ in range(2)]
    flag = tmp_path / "fixed"
    retried = build_event(
        "test.fail_then_succeed",
        {"id": "cus_retry", "object": "customer", "metadata": {"flag_file": str(flag)}},
    )
    try:
        with live.server(env, workers=2) as server:
            events = [_customer_event(n) for n in range(20)]
            events += [_customer_event(n, account="acct_rq1") for n in range(20, 25)]
            for event in [*events, retried]:
                assert server.post(event).status == 200
            for event in events[:5]:  # redeliveries: counted, not processed again
                assert server.post(event).json()["duplicate"] is True
            ids = [str(e["id"]) for e in events]
            _wait_processed(ids)
            live.wait_for(
                lambda: InboxEvent.objects.get(stripe_id=retried["id"]).status == Status.FAILED,
                "the failing event's first attempt",
            )
            flag.touch()  # the "fix": its retry (a deferred RQ job) now succeeds
            _wait_processed([str(retried["id"])], timeout=30)
    finally:
        outputs = [w.output() for w in workers]
        for worker in workers:
            worker.stop()
    assert _calls_per_event(ids) == dict.fromkeys(ids, 1), outputs
    assert set(InboxEvent.objects.filter(stripe_id__in=ids).values_list("attempts", flat=True)) == {
        1
    }
    assert Customer.objects.filter(stripe_id__startswith="cus_rq").count() == 25
    assert Customer.objects.filter(account="acct_rq1").count() == 5
    row = InboxEvent.objects.get(stripe_id=retried["id"])
    assert row.attempts == 2
    assert HandlerCall.objects.filter(event_id=retried["id"], handler="failing").count() == 1
    assert HandlerCall.objects.filter(event_id=retried["id"], handler="record_call").count() == 1


def test_broker_down_events_stay_pending_and_the_worker_recovers_them(
    own_redis: live.Process,
) -> None:
    port = own_redis.port  # type: ignore[attr-defined]
    queue = f"sm-i13-{uuid.uuid4().hex[:8]}"
    env = _env(f"redis://127.0.0.1:{port}/0", queue)
    worker = _rq_worker(env, queue)
    try:
        with live.server(env, workers=2) as server:
            before = [_customer_event(n) for n in range(100, 103)]
            for event in before:
                assert server.post(event).status == 200
            _wait_processed([str(e["id"]) for e in before])

            own_redis.stop()  # the broker goes away mid-run (this test's server only)
            assert not _redis_ok(port)
            during = [_customer_event(n) for n in range(103, 108)]
            for event in during:
                started = time.monotonic()
                response = server.post(event)
                # Recorded and answered: the failed enqueue is logged, not turned into a 500.
                assert response.status == 200, response.body
                assert time.monotonic() - started < 5
    finally:
        worker.stop()
    during_ids = [str(e["id"]) for e in during]
    rows = InboxEvent.objects.filter(stripe_id__in=during_ids)
    assert [r.status for r in rows] == [Status.PENDING] * len(during)
    assert _calls_per_event(during_ids) == dict.fromkeys(during_ids, 0)

    done = live.manage("stripe_mirror_worker", "--once", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 processed" in done.stdout
    _wait_processed(during_ids, timeout=1)
    all_ids = [str(e["id"]) for e in before + during]
    assert _calls_per_event(all_ids) == dict.fromkeys(all_ids, 1)
