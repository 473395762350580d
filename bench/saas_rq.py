"""The broker engine in the soak (bench/saas_run.py, phase ``soak-rq``): the webhook enqueues
each event on Redis with django-tasks-rq (``BENCH_MODE=rq``, bench/settings.py), and
``manage.py rqworker`` processes drain the queue, started as docs/operations.md runs them."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from .mirror import manage

#: The benchmark's own Redis database, FLUSHED at the start of the phase: not 5, which
#: tests/test_rq_backend.py uses (and flushes).
DEFAULT_URL = "redis://127.0.0.1:6379/9"
TESTS_DB = 5
QUEUE = "stripe-bench"


def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)


def flush(url: str) -> None:
    """Empty the benchmark's Redis database; stop with a clear message if Redis is away."""
    import redis

    if int(urlsplit(url).path.lstrip("/") or 0) == TESTS_DB:
        raise SystemExit(f"{url}: database {TESTS_DB} is the tests'; choose another")
    try:
        _redis(url).flushdb()
    except redis.RedisError as exc:
        raise SystemExit(f"soak-rq needs Redis at {url}: {exc}") from exc


@contextlib.contextmanager
def workers(
    count: int, env: dict[str, str], worker_class: str
) -> Iterator[tuple[list[subprocess.Popen[bytes]], list[str]]]:
    """``count`` rqworker processes on the queue (each with ``--with-scheduler``: one holds
    the scheduler's lock); their output, once they have exited, in the list yielded."""
    command = manage("rqworker", "--job-class", "django_tasks_rq.Job", "--with-scheduler")
    command += ["--worker-class", worker_class] if worker_class else []
    outputs: list[str] = []
    with contextlib.ExitStack() as files:
        logs = [files.enter_context(tempfile.TemporaryFile()) for _ in range(count)]
        started = [
            subprocess.Popen([*command, QUEUE], env=env, stdout=log, stderr=subprocess.STDOUT)
            for log in logs
        ]
        try:
            yield started, outputs
        finally:
            for proc in started:  # RQ's warm shutdown: the job in hand is finished first
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in started:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for log in logs:
                log.seek(0)
                outputs.append(log.read().decode(errors="replace"))


def ready(url: str, count: int, timeout: float = 60) -> None:
    """Wait until ``count`` workers have registered on the queue."""
    from rq import Queue, Worker

    connection = _redis(url)
    queue = Queue(QUEUE, connection=connection)
    deadline = time.monotonic() + timeout
    while Worker.count(connection=connection, queue=queue) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} rqworker processes did not register in {timeout} s")
        time.sleep(0.2)
    time.sleep(0.5)


def state(url: str) -> dict[str, int]:
    """Jobs left on the queue and in its registries once drained (all 0 but finished, when
    every job ran and succeeded; finished jobs expire after RQ's result TTL)."""
    from rq import Queue
    from rq.registry import (
        FailedJobRegistry,
        FinishedJobRegistry,
        ScheduledJobRegistry,
        StartedJobRegistry,
    )

    queue = Queue(QUEUE, connection=_redis(url))
    registries = {
        "started": StartedJobRegistry,
        "failed": FailedJobRegistry,
        "scheduled": ScheduledJobRegistry,
        "finished": FinishedJobRegistry,
    }
    found = {name: kind(queue=queue).count for name, kind in registries.items()}
    return {"queued": queue.count, **found}
