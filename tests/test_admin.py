"""The inbox admin, driven through the admin client on a real database."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from stripe_mirror.admin import InboxEventAdmin
from stripe_mirror.dispatch import inbox
from stripe_mirror.dispatch.registry import registry
from stripe_mirror.models import InboxEvent, Status
from stripe_mirror.testing import build_event, encode, post_event
from stripe_mirror.verification.envelope import parse
from tests.testapp.models import HandlerCall

CHANGELIST = reverse("admin:stripe_mirror_inboxevent_changelist")
CONNECT_SECRET = "whsec_connect_new"

pytestmark = pytest.mark.django_db


def _record(event: dict[str, Any], endpoint: str = "default") -> InboxEvent:
    """Record an event as the endpoint would, without processing it (it stays pending)."""
    body = encode(event)
    recorded = inbox.record(parse(body), endpoint, body)
    return InboxEvent.objects.get(pk=recorded.pk)


def _listed(response: Any) -> set[str]:
    assert response.status_code == 200, response.content[:500]
    return {row.stripe_id for row in response.context["cl"].result_list}


def _change_url(row: InboxEvent) -> str:
    return reverse("admin:stripe_mirror_inboxevent_change", args=[row.pk])


@pytest.fixture
def three_events(post: Callable[..., Any], client: Client) -> dict[str, str]:
    """A processed platform event, a processed Connect live event, a failed event."""
    platform = build_event("customer.created", {"id": "cus_one", "object": "customer"})
    connect = build_event(
        "invoice.paid",
        {"id": "in_one", "object": "invoice", "customer": "cus_one"},
        account="acct_demo1",
        livemode=True,
    )
    failing = build_event("test.fail", {"id": "cus_two", "object": "customer"})
    assert post(platform).status_code == 200
    assert post_event(client, connect, secret=CONNECT_SECRET, endpoint="connect").status_code == 200
    assert post(failing).status_code == 200
    assert InboxEvent.objects.get(stripe_id=failing["id"]).status == Status.FAILED
    return {"platform": platform["id"], "connect": connect["id"], "failing": failing["id"]}


# --- the list ----------------------------------------------------------------------------


def test_changelist_shows_every_event_and_its_columns(admin_client, three_events):
    response = admin_client.get(CHANGELIST)
    assert _listed(response) == set(three_events.values())
    html = response.content.decode()
    for header in ("Event id", "Delivery count", "Attempts", "Duration", "Received at"):
        assert header in html
    processed = InboxEvent.objects.get(stripe_id=three_events["platform"])
    assert f"{processed.duration_ms:.1f} ms" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "failed"}, {"failing"}),
        ({"status": "processed"}, {"platform", "connect"}),
        ({"type": "invoice.paid"}, {"connect"}),
        ({"endpoint": "connect"}, {"connect"}),
        ({"endpoint": "default"}, {"platform", "failing"}),
        ({"account": "acct_demo1"}, {"connect"}),
        ({"account": "platform"}, {"platform", "failing"}),
        ({"livemode__exact": "1"}, {"connect"}),
        ({"livemode__exact": "0"}, {"platform", "failing"}),
    ],
)
def test_each_filter_narrows_the_list(admin_client, three_events, query, expected):
    response = admin_client.get(CHANGELIST, query)
    assert _listed(response) == {three_events[name] for name in expected}


def test_filters_offer_the_configured_endpoints_and_the_seen_accounts(admin_client, three_events):
    html = admin_client.get(CHANGELIST).content.decode()
    assert "?endpoint=connect" in html
    assert "?endpoint=default" in html
    assert "?account=acct_demo1" in html
    assert "?account=platform" in html
    assert "?type=invoice.paid" in html


def test_date_hierarchy_on_received_at(admin_client, three_events):
    row = InboxEvent.objects.get(stripe_id=three_events["platform"])
    day = row.received_at
    query = {
        "received_at__year": day.year,
        "received_at__month": day.month,
        "received_at__day": day.day,
    }
    assert _listed(admin_client.get(CHANGELIST, query)) == set(three_events.values())
    assert _listed(admin_client.get(CHANGELIST, {"received_at__year": day.year - 1})) == set()


def test_search_by_event_id_is_exact(admin_client, three_events):
    wanted = three_events["failing"]
    assert _listed(admin_client.get(CHANGELIST, {"q": wanted})) == {wanted}
    assert _listed(admin_client.get(CHANGELIST, {"q": f"  {wanted} "})) == {wanted}
    assert _listed(admin_client.get(CHANGELIST, {"q": wanted[:-1]})) == set()


def test_search_by_object_id_and_by_several_ids(admin_client, three_events, post):
    again = build_event("customer.updated", {"id": "cus_one", "object": "customer"})
    assert post(again).status_code == 200
    found = _listed(admin_client.get(CHANGELIST, {"q": "cus_one"}))
    assert found == {three_events["platform"], again["id"]}
    both = f"{three_events['connect']}, cus_two"
    found = _listed(admin_client.get(CHANGELIST, {"q": both}))
    assert found == {three_events["connect"], three_events["failing"]}


def test_search_uses_the_indexes(rf, admin_user):
    for number in range(20):
        _record(build_event("customer.created", {"id": f"cus_{number}", "object": "customer"}))
    request = rf.get(CHANGELIST)
    request.user = admin_user
    model_admin = InboxEventAdmin(InboxEvent, admin_site=None)  # type: ignore[arg-type]
    queryset, _ = model_admin.get_search_results(
        request, InboxEvent.objects.all(), "cus_3 evt_nothing"
    )
    assert [row.object_id for row in queryset] == ["cus_3"]
    plan = _plan(queryset)
    assert "stripe_id" in plan
    assert "object_id" in plan


def _plan(queryset: Any) -> str:
    """The query plan, asserting it scans no table (made as costly as the database allows)."""
    if connection.vendor == "sqlite":
        plan = queryset.explain()
        assert "SCAN stripe_mirror_inbox" not in plan.replace('"', ""), plan
        return str(plan)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
        assert "Seq Scan" not in plan, plan
        return str(plan)
    plan = queryset.explain()  # MariaDB: type "ALL" would be a table scan
    assert "index_merge" in plan, plan
    return str(plan)


def test_changelist_leaves_body_in_the_database(admin_client, three_events):
    with CaptureQueriesContext(connection) as queries:
        assert len(_listed(admin_client.get(CHANGELIST))) == 3
    selects = [
        re.sub(r'[`"]', "", query["sql"])
        for query in queries.captured_queries
        if "stripe_mirror_inbox" in query["sql"]
    ]
    assert any("stripe_mirror_inbox.stripe_id" in sql for sql in selects), selects
    assert not any("stripe_mirror_inbox.body" in sql for sql in selects), selects
    assert not any("stripe_mirror_inbox.last_error" in sql for sql in selects), selects


def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_assert_max_num_queries
):
    def rows(count: int, start: int) -> None:
        for number in range(start, start + count):
            account = f"acct_{number % 3}" if number % 2 else None
            obj = {"id": f"cus_{number}", "object": "customer"}
            _record(build_event("customer.created", obj, account=account), endpoint="default")

    rows(2, 0)
    with CaptureQueriesContext(connection) as few:
        assert len(_listed(admin_client.get(CHANGELIST))) == 2
    rows(40, 2)
    with django_assert_max_num_queries(len(few)):
        assert len(_listed(admin_client.get(CHANGELIST))) == 42


# --- one event ---------------------------------------------------------------------------


def test_change_view_is_read_only_with_pretty_escaped_payload(admin_client, post):
    event = build_event(
        "customer.created",
        {
            "id": "cus_evil",
            "object": "customer",
            "metadata": {"note": "<script>alert('owned')</script>"},
        },
    )
    assert post(event).status_code == 200
    row = InboxEvent.objects.get(stripe_id=event["id"])
    response = admin_client.get(_change_url(row))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(" in html
    # Indented JSON, in Stripe's key order.
    assert f'<pre style="white-space: pre-wrap">{{\n  &quot;id&quot;: &quot;{event["id"]}' in html
    assert "\n      &quot;id&quot;: &quot;cus_evil&quot;,\n      &quot;object&quot;" in html
    assert 'name="_save"' not in html
    assert "<li><code>stripe_mirror.mirror</code>: done</li>" in html


def test_change_view_shows_last_error_and_handlers_not_done(admin_client, three_events):
    row = InboxEvent.objects.get(stripe_id=three_events["failing"])
    html = admin_client.get(_change_url(row)).content.decode()
    error = re.search(r'<pre style="white-space: pre-wrap">(\[.*?)</pre>', html, re.DOTALL)
    assert error is not None
    assert "Traceback (most recent call last)" in error.group(1)
    assert f"RuntimeError: handler failed on purpose for {row.stripe_id}" in error.group(1)
    assert "<li><code>tests.testapp.stripe_handlers.failing</code>: not done</li>" in html
    assert "<li><code>tests.testapp.stripe_handlers.record_call</code>: done</li>" in html


# --- permissions and the action ------------------------------------------------------------


def test_no_add_and_only_superusers_delete(admin_client, client, three_events):
    html = admin_client.get(CHANGELIST).content.decode()
    assert reverse("admin:stripe_mirror_inboxevent_add") not in html
    assert admin_client.get(reverse("admin:stripe_mirror_inboxevent_add")).status_code == 403
    assert 'value="delete_selected"' in html
    assert 'value="reprocess"' in html

    client.force_login(_staff("changer", "view", "change", "delete"))
    html = client.get(CHANGELIST).content.decode()
    assert 'value="delete_selected"' not in html
    assert 'value="reprocess"' in html
    row = InboxEvent.objects.get(stripe_id=three_events["platform"])
    delete_url = reverse("admin:stripe_mirror_inboxevent_delete", args=[row.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert InboxEvent.objects.filter(pk=row.pk).exists()


def test_viewers_cannot_reprocess(client, three_events):
    client.force_login(_staff("viewer", "view"))
    html = client.get(CHANGELIST).content.decode()
    assert 'value="reprocess"' not in html
    failing = InboxEvent.objects.get(stripe_id=three_events["failing"])
    client.post(CHANGELIST, {"action": "reprocess", "_selected_action": [failing.pk]})
    failing.refresh_from_db()
    assert failing.attempts == 1


def test_reprocess_action_reports_each_outcome(admin_client, post, tmp_path):
    flag = tmp_path / "flag"
    recovers = build_event(
        "test.fail_then_succeed",
        {"id": "cus_flag", "object": "customer", "metadata": {"flag_file": str(flag)}},
    )
    fails = build_event("test.fail", {"id": "cus_fail", "object": "customer"})
    fine = build_event("customer.created", {"id": "cus_fine", "object": "customer"})
    for event in (recovers, fails, fine):
        assert post(event).status_code == 200
    assert InboxEvent.objects.get(stripe_id=recovers["id"]).status == Status.FAILED
    flag.touch()  # the cause of the failure is fixed: a reprocess now succeeds
    pks = InboxEvent.objects.values_list("pk", flat=True)

    response = admin_client.post(
        CHANGELIST,
        {"action": "reprocess", "post": "yes", "_selected_action": list(pks)},
        follow=True,
    )

    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        "2 events processed.",
        "1 event failed again and will be retried (see their last error).",
    ]
    statuses = dict(InboxEvent.objects.values_list("stripe_id", "status"))
    assert statuses == {
        recovers["id"]: Status.PROCESSED,
        fails["id"]: Status.FAILED,
        fine["id"]: Status.PROCESSED,
    }
    assert HandlerCall.objects.filter(event_id=recovers["id"], handler="failing").count() == 1
    # A forced reprocess runs every handler again, those that had completed included.
    assert HandlerCall.objects.filter(event_id=fine["id"], handler="record_call").count() == 2


def test_reprocess_asks_first_and_says_what_will_run(admin_client, post):
    fails = build_event("test.fail", {"id": "cus_ask", "object": "customer"})
    paid = build_event("invoice.paid", {"id": "in_ask", "object": "invoice"})
    for event in (fails, paid):
        assert post(event).status_code == 200
    rows = {row.stripe_id: row for row in InboxEvent.objects.all()}
    before = {sid: (row.attempts, row.status) for sid, row in rows.items()}
    calls = HandlerCall.objects.count()
    selected = {"action": "reprocess", "_selected_action": [row.pk for row in rows.values()]}

    page = admin_client.post(CHANGELIST, selected)

    assert page.status_code == 200
    assert page.templates[0].name == "stripe_mirror/admin/reprocess_confirmation.html"
    assert page.context["count"] == 2
    plan = {type_: (count, handlers) for type_, count, handlers in page.context["plan"]}
    assert plan["test.fail"] == (
        1,
        [
            "stripe_mirror.mirror",
            *[r.name for r in registry.handlers_for("test.fail")],
        ],
    )
    assert "tests.testapp.stripe_handlers.failing" in plan["test.fail"][1]
    assert plan["invoice.paid"][0] == 1
    html = page.content.decode()
    assert "Reprocess 2 events?" in html
    assert "tests.testapp.stripe_handlers.failing" in html
    assert 'name="post" value="yes"' in html
    after = {r.stripe_id: (r.attempts, r.status) for r in InboxEvent.objects.all()}
    assert after == before  # nothing ran
    assert HandlerCall.objects.count() == calls

    confirmed = admin_client.post(CHANGELIST, {**selected, "post": "yes"}, follow=True)

    shown = [str(message) for message in confirmed.context["messages"]]
    assert shown == [
        "1 event processed.",
        "1 event failed again and will be retried (see their last error).",
    ]
    assert InboxEvent.objects.get(stripe_id=fails["id"]).attempts == 2
    assert HandlerCall.objects.count() == calls + 2  # record_call ran again for both


def test_the_page_of_an_event_nested_too_deep_to_indent_shows_its_body(admin_client):
    event = build_event("customer.created", {"id": "cus_deep", "object": "customer", "x": 0})
    body = encode(event).replace(b'"x":0', b'"x":' + b"[" * 900 + b"]" * 900)
    row = InboxEvent.objects.get(pk=inbox.record(parse(body), "default", body).pk)
    response = admin_client.get(_change_url(row))
    assert response.status_code == 200
    assert "[" * 900 in response.content.decode()


def test_reprocess_action_skips_thin_events(admin_client, post):
    thin = {
        "id": "evt_test_thin1",
        "object": "v2.core.event",
        "type": "v1.billing.meter.no_meter_found",
        "created": "2026-07-29T12:00:00.000Z",
        "livemode": False,
        "related_object": {
            "id": "mtr_1",
            "type": "billing.meter",
            "url": "/v1/billing/meters/mtr_1",
        },
    }
    assert post(thin).status_code == 200
    row = InboxEvent.objects.get(stripe_id=thin["id"])
    assert row.status == Status.SKIPPED

    response = admin_client.post(
        CHANGELIST,
        {"action": "reprocess", "post": "yes", "_selected_action": [row.pk]},
        follow=True,
    )

    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["1 event skipped (thin events, or being processed by someone else right now)."]
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SKIPPED, 0)


def test_reprocess_action_refuses_more_than_its_limit(admin_client, post, monkeypatch):
    monkeypatch.setattr("stripe_mirror.admin.REPROCESS_LIMIT", 2)
    events = [build_event("test.fail", {"id": f"cus_{n}", "object": "customer"}) for n in range(3)]
    for event in events:
        assert post(event).status_code == 200
    pks = list(InboxEvent.objects.values_list("pk", flat=True))

    response = admin_client.post(
        CHANGELIST, {"action": "reprocess", "_selected_action": pks}, follow=True
    )

    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith(
        "Select at most 2 events; for more, use `manage.py stripe_mirror_reprocess"
    )
    assert set(InboxEvent.objects.values_list("attempts", flat=True)) == {1}


def _staff(username: str, *actions: str) -> User:
    user = User.objects.create_user(username, password="x", is_staff=True)
    codenames = [f"{action}_inboxevent" for action in actions]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user
