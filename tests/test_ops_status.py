"""ops/status.py, stripe_mirror_status and the admin's status page: the figures a person on
call reads, over events processed, failed and dead for real."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone

from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.ops.status import snapshot
from stripe_mirror.testing import build_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(post: Callable[..., Any], record: Callable[..., Any], settings: Any) -> None:
    """3 processed, 2 failed (test.fail), 1 dead (test.fail, MAX_ATTEMPTS 1 then), 2 pending
    (one of a Connect account, due for 120 s)."""
    # The test settings retry after 1 s: the failed events must not be due during the test.
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "RETRY_BACKOFF": 3600}
    for n in range(3):
        post(build_event("customer.updated", {"id": f"cus_s{n}", "object": "customer"}))
    for _ in range(2):
        post(build_event("test.fail"))
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "MAX_ATTEMPTS": 1}
    post(build_event("test.fail"))
    settings.STRIPE_MIRROR = {**settings.STRIPE_MIRROR, "MAX_ATTEMPTS": 10}
    old = record(build_event("invoice.paid", account="acct_s1"))
    record(build_event("invoice.paid"))
    InboxEvent.objects.filter(pk=old.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=120)
    )


def _status(*args: str) -> tuple[str, str, int]:
    out, err = StringIO(), StringIO()
    try:
        call_command("stripe_mirror_status", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return out.getvalue(), err.getvalue(), int(exc.code or 0)
    return out.getvalue(), err.getvalue(), 0


def test_snapshot_figures(inbox: None) -> None:
    snap = snapshot()
    assert snap.counts == {"pending": 2, "processed": 3, "failed": 2, "dead": 1, "skipped": 0}
    assert snap.due == 2  # the failed ones retry later
    assert 119 < snap.lag_seconds < 180
    assert snap.failing_types == [
        {"type": "test.fail", "status": "failed", "count": 2},
        {"type": "test.fail", "status": "dead", "count": 1},
    ]
    handler = "tests.testapp.stripe_handlers.failing"
    assert snap.failing_handlers == {handler: {"failed": 2, "dead": 1}}
    assert (snap.received, snap.processed) == (8, 3)
    by_account = {a.account: a for a in snap.accounts}
    assert by_account["acct_s1"].counts == {"pending": 1, "failed": 0, "dead": 0}
    assert by_account["acct_s1"].lag_seconds is not None
    assert by_account["acct_s1"].lag_seconds > 119
    assert by_account[""].counts == {"pending": 1, "failed": 2, "dead": 1}


def test_command_text_and_json(inbox: None) -> None:
    out, _, code = _status()
    assert code == 0
    assert "events: 2 pending, 3 processed, 2 failed, 1 dead, 0 skipped" in out
    assert "tests.testapp.stripe_handlers.failing: 2 failed, 1 dead" in out
    assert "acct_s1: 1 pending, 0 failed, 0 dead" in out
    data = orjson.loads(_status("--json")[0])
    assert data["counts"]["dead"] == 1
    assert data["processed"] == 3


def test_thresholds_set_the_exit_status(inbox: None) -> None:
    assert _status("--max-lag", "600", "--max-dead", "1")[2] == 0
    _, err, code = _status("--max-lag", "60", "--max-dead", "0", "--quick")
    assert code == 2
    assert "threshold crossed: dead events is 1, above 0" in err
    assert "threshold crossed: lag (s) is" in err


def test_empty_inbox() -> None:
    snap = snapshot()
    assert (snap.due, snap.lag_seconds, snap.accounts) == (0, 0.0, [])
    assert _status("--max-lag", "0", "--max-dead", "0")[2] == 0


def test_admin_status_page(inbox: None, admin_client: Any) -> None:
    changelist = admin_client.get("/admin/stripe_mirror/inboxevent/")
    assert b'href="/admin/stripe_mirror/inboxevent/status/"' in changelist.content
    page = admin_client.get("/admin/stripe_mirror/inboxevent/status/")
    assert page.status_code == 200
    text = page.content.decode()
    assert '<td id="due">2</td>' in text
    assert '<td class="count-dead">1</td>' in text
    assert "tests.testapp.stripe_handlers.failing" in text
    assert "acct_s1" in text


def test_admin_status_page_needs_the_view_permission(client: Any, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/stripe_mirror/inboxevent/status/").status_code == 403
    assert InboxEvent.objects.filter(status=Status.DEAD).count() == 0
