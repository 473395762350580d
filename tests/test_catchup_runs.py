"""Each catch-up run stored (``CatchupRun``, management/catchup_runs.py): done, failed, under
way; shown read-only in the admin and by ``stripe_mirror_status`` (events by source, the last
run per mode and account, in text, JSON and the admin's status page); and the index that
serves catch-up's start."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stripe_mirror.management import catchup_runs
from stripe_mirror.management.catchup import ENDPOINT, window
from stripe_mirror.models import CatchupRun, CatchupStatus, InboxEvent
from stripe_mirror.ops.status import snapshot
from stripe_mirror.testing import build_event
from tests import live
from tests.stripe_api.fake import FakeStripe

pytestmark = pytest.mark.django_db


def catchup(*args: str) -> str:
    out = StringIO()
    call_command("stripe_mirror_catchup", "--plain", *args, stdout=out, stderr=out)
    return out.getvalue()


def _status(*args: str) -> str:
    out = StringIO()
    call_command("stripe_mirror_status", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_each_account_s_run_is_stored(fake_api: FakeStripe) -> None:
    fake_api.connect("acct_one")
    first = fake_api.create("customer", email="a@example.com")
    fake_api.update(first["id"], email="b@example.com")
    fake_api.create("customer", account="acct_one", email="one@example.com")
    before = timezone.now()

    catchup("--accounts", "all")

    runs = {run.account: run for run in CatchupRun.objects.all()}
    assert set(runs) == {"", "acct_one"}
    platform = runs[""]
    assert platform.status == CatchupStatus.DONE
    assert platform.error == ""
    assert platform.livemode is False
    assert before <= platform.started_at <= platform.finished_at  # type: ignore[operator]
    # An empty inbox: the whole retention window, up to when the listing started.
    assert abs(platform.window_start - (before - timedelta(days=30))) < timedelta(minutes=1)
    assert before <= platform.window_end <= platform.finished_at  # type: ignore[operator]
    assert platform.asked is None
    assert (platform.listed, platform.recorded, platform.present, platform.unreadable) == (
        2,
        2,
        0,
        0,
    )
    assert platform.outcomes == {"processed": 2}
    assert (runs["acct_one"].recorded, runs["acct_one"].outcomes) == (1, {"processed": 1})

    catchup()  # the platform again: everything is present
    again = CatchupRun.objects.filter(account="").order_by("-id").first()
    assert again is not None
    assert again.pk != platform.pk
    assert (again.listed, again.recorded, again.present, again.outcomes) == (2, 0, 2, {})
    # The cursor: the newest recorded event minus the margin.
    newest = InboxEvent.objects.filter(account="").order_by("-created")[0].created
    assert again.window_start == newest - timedelta(hours=1)


def test_a_start_cut_by_the_retention_is_stored(fake_api: FakeStripe) -> None:
    fake_api.create("customer", email="a@example.com")
    since = (timezone.now() - timedelta(days=35)).replace(microsecond=0)
    catchup("--since", since.strftime("%Y-%m-%dT%H:%M:%S"))
    run = CatchupRun.objects.get()
    assert run.asked == since
    assert run.window_start > since + timedelta(days=4)


def test_a_failed_account_is_stored_with_its_error(fake_api: FakeStripe) -> None:
    fake_api.create("customer", email="a@example.com")
    fake_api.fail_next(1, status=500, should_retry=False, path="/v1/events")
    with pytest.raises(CommandError, match="1 account"):
        catchup()
    run = CatchupRun.objects.get()
    assert run.status == CatchupStatus.FAILED
    assert run.finished_at is not None
    assert run.error  # the API's message
    assert run.recorded == 0
    catchup()  # the next run retries, and is a row of its own
    assert [r.status for r in CatchupRun.objects.order_by("id")] == ["failed", "done"]


@pytest.mark.django_db(transaction=True)
def test_a_run_under_way_is_visible_with_its_figures(
    fake_api: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen from another connection while it runs: a ``running`` row, no ``finished_at``,
    its figures saved as it goes (here after every report)."""
    monkeypatch.setattr(catchup_runs, "SAVE_EVERY", 0.0)
    for number in range(250):
        fake_api.add("customer", email=f"c{number}@example.com")
        fake_api.emit("customer.created", {"id": f"cus_{number}", "object": "customer"})
    fake_api.latency = 0.5  # each page of 100 events

    def run_then_close() -> None:
        try:
            catchup()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run_then_close)
    thread.start()
    try:
        live.wait_for(
            lambda: CatchupRun.objects.filter(status="running", listed__gte=100).exists(),
            "a running run with a page listed",
        )
        running = CatchupRun.objects.get()
        assert running.finished_at is None
        assert running.listed < 250
    finally:
        thread.join(60)
    done = CatchupRun.objects.get()
    assert (done.status, done.listed, done.recorded) == ("done", 250, 250)
    assert done.finished_at is not None


def test_the_admin_lists_runs_read_only(fake_api: FakeStripe, admin_client: Any) -> None:
    fake_api.create("customer", email="a@example.com")
    catchup()
    run = CatchupRun.objects.get()
    listing = admin_client.get("/admin/stripe_mirror/catchuprun/")
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "platform" in text
    assert "done" in text
    page = admin_client.get(f"/admin/stripe_mirror/catchuprun/{run.pk}/change/")
    assert page.status_code == 200
    assert "&quot;processed&quot;: 1" in page.content.decode()
    assert b'name="recorded"' not in page.content  # read-only: no inputs
    assert admin_client.get("/admin/stripe_mirror/catchuprun/add/").status_code == 403
    # The inbox's endpoint filter offers catch-up's events.
    inbox = admin_client.get("/admin/stripe_mirror/inboxevent/", {"endpoint": ENDPOINT})
    assert "?endpoint=%28events-api%29" in inbox.content.decode()
    assert inbox.context["cl"].result_count == 1


def test_status_counts_events_by_source_over_its_window(
    post: Callable[..., Any], record: Callable[..., Any]
) -> None:
    for number in range(2):
        post(build_event("customer.updated", {"id": f"cus_w{number}", "object": "customer"}))
    for _ in range(3):
        record(build_event("invoice.paid", account="acct_s"), endpoint=ENDPOINT)
    old = record(build_event("invoice.paid"), endpoint=ENDPOINT)
    InboxEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(hours=1))
    snap = snapshot(window=300)
    assert snap.sources == {"webhook": 2, "catch-up": 3}
    assert snap.received == 5
    assert "received by source: 2 webhook, 3 catch-up" in _status()
    data = orjson.loads(_status("--json"))
    assert data["sources"] == {"webhook": 2, "catch-up": 3}
    assert data["received"] == 5
    # Over a window that reaches the old one:
    assert snapshot(window=7200).sources == {"webhook": 2, "catch-up": 4}


def test_status_shows_the_last_run_per_mode_and_account(
    fake_api: FakeStripe, admin_client: Any
) -> None:
    assert "last catch-up: none" in _status()
    fake_api.connect("acct_one")
    fake_api.create("customer", email="a@example.com")
    catchup("--accounts", "all")
    fake_api.create("customer", email="b@example.com")
    fake_api.fail_next(1, status=500, should_retry=False, path="/v1/events")
    with pytest.raises(CommandError):
        catchup("--accounts", "acct_one")
    catchup()  # the platform's last: 1 recorded
    snap = snapshot()
    assert [(r.account, r.status, r.recorded) for r in snap.catchups] == [
        ("", "done", 1),
        ("acct_one", "failed", 0),
    ]
    last = CatchupRun.objects.filter(account="").order_by("-id")[0]
    assert snap.catchups[0].started_at == last.started_at
    assert snap.catchups[0].window_start == last.window_start
    text = _status()
    assert "last catch-up by mode and account:" in text
    assert f"(platform) (test): {last.started_at:%Y-%m-%d %H:%M:%S} UTC, done" in text
    assert "acct_one (test): " in text
    assert ", failed; events from " in text
    data = orjson.loads(_status("--json"))
    assert [(r["account"], r["status"]) for r in data["catchups"]] == [
        ("", "done"),
        ("acct_one", "failed"),
    ]
    assert data["catchups"][0]["started_at"] == last.started_at.isoformat()
    assert data["catchups"][1]["finished_at"] is not None

    page = admin_client.get("/admin/stripe_mirror/inboxevent/status/").content.decode()
    assert page.count('<tr class="catchup">') == 2
    assert '<td id="source-catchup">2</td>' in page
    assert 'href="/admin/stripe_mirror/catchuprun/"' in page


def test_the_catch_up_start_reads_its_index(record: Callable[..., Any]) -> None:
    """``MAX(created)`` for one mode and account, as ``window`` asks it, is read from the
    (account, livemode, created) index (docs/operations.md has PostgreSQL's plan over a
    large inbox, where the planner picks it by itself)."""
    for number in range(20):
        record(build_event("invoice.paid", account=f"acct_{number % 4}"))
    with CaptureQueriesContext(connection) as queries:
        window(False, "acct_1", None, timedelta(hours=1), timezone.now())
    (query,) = (q["sql"] for q in queries.captured_queries if "MAX" in q["sql"].upper())
    explain = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN ", "mysql": "EXPLAIN "}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # 20 rows: a table scan would be cheaper; on a real inbox the planner needs no push.
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(explain[connection.vendor] + query)
        plan = "\n".join(" ".join(map(str, row)) for row in cursor.fetchall())
    if connection.vendor == "mysql":
        # MariaDB reads MAX() from the index's end while planning: no table to read at all.
        assert "Select tables optimized away" in plan, plan
    else:
        assert "stripe_mirror_inbox_newest" in plan, plan


def test_after_an_outage_the_next_run_starts_from_the_last_completed_one(
    fake_api: FakeStripe, post: Callable[..., Any]
) -> None:
    """The whole site was down for two days (catch-up too); when it is back, a webhook
    arrives before the next catch-up: the inbox's newest event is then newer than the events
    missed during the outage, and the last done run's end is what still points before them.
    A failed run in between moves nothing."""
    now = timezone.now()
    customer = fake_api.add("customer", email="a@example.com")
    before = int((now - timedelta(days=3)).timestamp())
    fake_api.emit("customer.created", customer, created=before)
    catchup()
    # That run was three days ago, just after the event it recorded.
    ended = now - timedelta(days=3) + timedelta(minutes=1)
    CatchupRun.objects.update(window_end=ended)
    missed = fake_api.emit(
        "customer.updated",
        {**customer, "email": "missed@example.com"},
        created=int((now - timedelta(days=2)).timestamp()),
    )
    post(fake_api.emit("customer.updated", {**customer, "email": "back@example.com"}))
    fake_api.fail_next(1, status=500, should_retry=False, path="/v1/events")
    with pytest.raises(CommandError):
        catchup()  # failed: its window ends now, and is not a cursor

    catchup()

    assert InboxEvent.objects.filter(stripe_id=missed["id"], endpoint=ENDPOINT).exists()
    request = fake_api.requests("/v1/events")[-1]
    assert int(request.params["created"]["gte"]) == int((ended - timedelta(hours=1)).timestamp())
    assert CatchupRun.objects.order_by("-id")[0].recorded == 1
    # Without a done run, the inbox alone: its newest event (the webhook's) minus the margin.
    CatchupRun.objects.all().delete()
    catchup()
    newest = InboxEvent.objects.order_by("-created")[0].created
    request = fake_api.requests("/v1/events")[-1]
    assert int(request.params["created"]["gte"]) == int((newest - timedelta(hours=1)).timestamp())


@pytest.mark.django_db(transaction=True)
def test_a_ctrl_c_just_after_its_row_was_created_finishes_that_row(
    fake_api: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row is committed (another connection sees it ``running``) before ``create``
    returns; a Ctrl-C in between must still end that row, not leave it running or add one."""
    fake_api.create("customer", email="a@example.com")
    create = CatchupRun.objects.create
    calls: list[object] = []

    def create_then_ctrl_c(**values: Any) -> CatchupRun:
        calls.append(create(**values))
        if len(calls) == 1:
            raise KeyboardInterrupt
        return calls[-1]  # type: ignore[return-value]

    monkeypatch.setattr(CatchupRun.objects, "create", create_then_ctrl_c)
    with pytest.raises(CommandError, match="interrupted"):
        catchup()
    run = CatchupRun.objects.get()
    assert (run.status, run.recorded) == (CatchupStatus.INTERRUPTED, 0)
    assert run.finished_at is not None
    assert len(calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_ctrl_c_on_a_lost_connection_finishes_the_row_on_a_new_one(
    fake_api: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted with its connection gone (here: ended by the server; a Ctrl-C in the
    middle of a statement can leave it unusable too): the run is stored interrupted all the
    same, on a new connection."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    fake_api.create("customer", email="a@example.com")
    started = catchup_runs.Stored.start

    def start_then_lose_the_connection(self: catchup_runs.Stored, run: Any) -> None:
        started(self, run)
        live.lose_connection()
        raise KeyboardInterrupt

    monkeypatch.setattr(catchup_runs.Stored, "start", start_then_lose_the_connection)
    with pytest.raises(CommandError, match="interrupted"):
        catchup()
    run = CatchupRun.objects.get()
    assert run.status == CatchupStatus.INTERRUPTED
    assert run.finished_at is not None
