"""Nothing is lost when a process dies or the database is away.

An event is committed to the inbox before the webhook is answered, and its processing is
one transaction that dies with the process running it. So a killed server or worker leaves
the event pending, and the next worker completes it, exactly once.
"""

from __future__ import annotations

import http.client
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection, transaction

from stripe_mirror.dispatch.inbox import Recorded
from stripe_mirror.models import InboxEvent, Status
from tests import live
from tests.testapp.models import HandlerCall

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Record = Callable[..., Recorded]


def _state(stripe_id: str) -> tuple[str, int, int]:
    row = InboxEvent.objects.get(stripe_id=stripe_id)
    return row.status, row.attempts, HandlerCall.objects.filter(event_id=stripe_id).count()


def _unlocked(pks: list[int]) -> bool:
    """Whether no other transaction holds a row lock on these events any more (a killed
    process's session may take a moment to be reaped by the database server)."""
    with transaction.atomic():
        rows = InboxEvent.objects.select_for_update(skip_locked=True).filter(pk__in=pks)
        return len(rows) == len(pks)


def test_server_killed_while_processing_leaves_the_event_for_the_worker(
    site: live.Server, tmp_path: Path
) -> None:
    flag = tmp_path / "recovered"
    event = live.steered_event(test_behaviour="crash", flag_file=str(flag))

    try:
        response: live.Response | None = site.post(event)
    except (OSError, http.client.HTTPException):
        response = None  # the worker process died before it could answer
    assert response is None or response.status != 200

    pk = InboxEvent.objects.get(stripe_id=event["id"]).pk
    assert _state(event["id"]) == (Status.PENDING, 0, 0)
    live.wait_for(lambda: _unlocked([pk]), "the dead worker's session to be reaped")
    flag.touch()  # the handler no longer crashes
    finished = live.manage("stripe_mirror_worker", "--once")
    assert finished.returncode == 0, finished.stderr
    assert "done: 1 processed" in finished.stdout
    assert _state(event["id"]) == (Status.PROCESSED, 1, 1)


def test_worker_killed_mid_batch_leaves_its_events_to_another(
    record: Record, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    events = [
        record(live.steered_event(test_behaviour="sleep:0.4", started_file=str(started)))
        for _ in range(3)
    ]
    first = live.start_manage("stripe_mirror_worker", "--batch-size", "10")
    try:
        live.wait_for(started.exists, "the first worker to start its batch")
        first.signal(signal.SIGKILL)
        assert first.wait() == -signal.SIGKILL
    finally:
        first.stop()
    for item in events:
        assert _state(item.stripe_id) == (Status.PENDING, 0, 0)

    live.wait_for(lambda: _unlocked([e.pk for e in events]), "the killed session's locks")
    second = live.manage("stripe_mirror_worker", "--once")
    assert second.returncode == 0, second.stderr
    assert "done: 3 processed" in second.stdout
    for item in events:
        assert _state(item.stripe_id) == (Status.PROCESSED, 1, 1)


def _unreachable_database(tmp_path: Path) -> dict[str, str]:
    """Settings for the current database engine pointing at a server that is not there."""
    if connection.vendor == "sqlite":
        return {"SQLITE_PATH": str(tmp_path / "no-such-directory" / "db.sqlite3")}
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[connection.vendor]
    return {"DATABASE_URL": f"{scheme}://root@127.0.0.1:{live.free_port()}/nowhere"}


def test_database_unavailable_answers_503_and_the_retry_is_recorded(
    site: live.Server, tmp_path: Path
) -> None:
    event = live.steered_event()
    env = live.child_env(database=_unreachable_database(tmp_path))
    with live.server(env, workers=1) as cut_off:
        response = cut_off.post(event)
    assert response.status == 503
    assert response.json()["error"] == "database_unavailable"

    # Stripe retries later; by then the database is back.
    retried = site.post(event)
    assert retried.status == 200
    assert retried.json()["duplicate"] is False
    assert _state(event["id"]) == (Status.PROCESSED, 1, 1)


def test_worker_once_without_a_database_fails_instead_of_waiting(tmp_path: Path) -> None:
    env = live.child_env(database=_unreachable_database(tmp_path))
    finished = live.manage("stripe_mirror_worker", "--once", env=env)
    # Django 6 fails in the system checks already (they ask the database about JSON support);
    # Django 5.2 reaches the worker, which ends with a CommandError.
    assert finished.returncode == 1
    assert "OperationalError" in finished.stderr or "database error" in finished.stderr


def _drop_other_sessions() -> int:
    """Make the database server close every other session on the test database, as a
    restart or a failover does; returns how many there were."""
    queries = {
        "postgresql": (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ),
        "mysql": (
            "SELECT id FROM information_schema.processlist "
            "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
        ),
    }
    with connection.cursor() as cursor:
        cursor.execute(queries[connection.vendor])
        sessions = [row[0] for row in cursor.fetchall()]
        if connection.vendor == "mysql":
            for session in sessions:
                cursor.execute("KILL %s", [session])
    return len(sessions)


def _post_to_every_worker(site: live.Server) -> dict[str, int]:
    """Post slow events at once, twice as many as gunicorn has workers, so that each worker
    takes some; their statuses by event id."""
    events = [live.steered_event(test_behaviour="sleep:0.2") for _ in range(2 * site.workers)]
    responses = live.concurrently([lambda e=e: site.post(e) for e in events])
    return {e["id"]: r.status for e, r in zip(events, responses, strict=True)}


def test_dropped_connections_do_not_turn_deliveries_away(site: live.Server) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no server to drop connections")
    assert set(_post_to_every_worker(site).values()) == {200}  # each holds a connection now
    assert _drop_other_sessions() >= site.workers

    statuses = _post_to_every_worker(site)
    assert set(statuses.values()) == {200}
    for stripe_id in statuses:
        assert _state(stripe_id) == (Status.PROCESSED, 1, 1)
