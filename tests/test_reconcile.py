"""manage.py stripe_mirror_reconcile (sync/reconcile.py, sync/drift.py, api/retrieve.py) against
our fake Stripe server: each kind of drift, repair, events arriving during the check,
``--sample``, ``--synced-before``, Connect, and the stored figures."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from stripe_mirror.api import client_for
from stripe_mirror.models import Customer, ReconcileRun, StripeObject
from stripe_mirror.sync.reconcile import Check, Tally, reconcile
from stripe_mirror.testing import build_event
from tests.stripe_api.fake import FakeStripe

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(fake_api: FakeStripe) -> FakeStripe:
    return fake_api


def reconcile_command(*args: str) -> tuple[int, str]:
    """The command's exit status and output."""
    out = StringIO()
    try:
        call_command("stripe_mirror_reconcile", "--plain", *args, stdout=out, stderr=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def backfill(*args: str) -> None:
    call_command("stripe_mirror_backfill", "--plain", *args, stdout=StringIO())


def customers(api: FakeStripe, count: int, **kwargs: Any) -> list[str]:
    return [api.add("customer", email=f"c{i}@example.com", **kwargs)["id"] for i in range(count)]


def samples(kind: str) -> list[str]:
    return list(ReconcileRun.objects.first().samples.get(kind, []))  # type: ignore[union-attr]


def test_a_mirror_that_is_right_is_clean(api: FakeStripe) -> None:
    customers(api, 120)
    backfill("--types", "customer")
    api.clear_log()
    status, output = reconcile_command("--types", "customer")
    assert status == 0, output
    run = ReconcileRun.objects.get()
    assert (run.compared, run.drift, run.errors) == (120, 0, 0)
    assert run.finished_at is not None
    assert run.counts["platform/customer"]["compared"] == 120
    assert "120 compared: clean" in output
    assert "platform (test) customer: 120 compared" in output  # the plain progress line
    # Every row was listed: nothing was retrieved by id.
    assert [r.path for r in api.requests("/v1/customers")] == ["/v1/customers"] * 2


def test_every_kind_of_drift_is_reported_then_repaired(api: FakeStripe, post: Any) -> None:
    stale, deleted, gone, right = customers(api, 4)
    backfill("--types", "customer")
    missing = api.add("customer", email="new@example.com")["id"]
    api.update(stale, email="changed@example.com", name="Changed")
    api.delete(deleted)  # retrieve: a deleted stub
    api.remove(gone)  # retrieve: 404 resource_missing
    status, output = reconcile_command("--types", "customer")
    assert status == 1, output
    assert samples("missing") == [f"customer {missing}"]
    assert samples("stale") == [f"customer {stale} (email, name)"]
    assert sorted(samples("deleted_in_stripe")) == sorted(
        [f"customer {deleted}", f"customer {gone}"]
    )
    run = ReconcileRun.objects.get()
    assert run.counts["platform/customer"] | {} == {
        "compared": 5,
        "missing": 1,
        "stale": 1,
        "deleted_in_stripe": 2,
        "alive_in_stripe": 0,
        "newer": 0,
        "repaired": 0,
        "errors": 0,
    }
    assert Customer.objects.get(stripe_id=stale).email == "c0@example.com"  # only reported

    status, output = reconcile_command("--types", "customer", "--repair")
    assert status == 1
    assert "4 drift found (repaired: 4)" in output
    rows = {row.stripe_id: row for row in Customer.objects.all()}
    assert rows[stale].email == "changed@example.com"
    assert rows[stale].data == api.get(stale)
    assert rows[missing].data == api.get(missing)
    assert rows[deleted].deleted
    assert rows[gone].deleted
    assert not rows[right].deleted
    assert reconcile_command("--types", "customer")[0] == 0


def test_a_tombstone_alive_in_stripe_is_reported_never_resurrected(
    api: FakeStripe, post: Any
) -> None:
    (stripe_id,) = customers(api, 1)
    backfill("--types", "customer")
    post(build_event("customer.deleted", api.get(stripe_id), created=int(time.time()) - 60))
    assert Customer.objects.get().deleted
    status, _output = reconcile_command("--types", "customer", "--repair")
    assert status == 1
    assert samples("alive_in_stripe") == [f"customer {stripe_id}"]
    assert Customer.objects.get().deleted  # tombstones are final
    assert ReconcileRun.objects.first().repaired == 0  # type: ignore[union-attr]


def test_rows_written_by_newer_events_during_the_check_are_not_stale(
    api: FakeStripe, post: Any
) -> None:
    """Two pages: a row made stale in the first is written by a newer event once that page
    was compared; a row of the second holds an event newer than the read before it."""
    ids = customers(api, 150)
    backfill("--types", "customer")
    first, second = ids[-1], ids[0]  # newest first: the first page's first, the last page's
    api.update(first, email="api@example.com")
    newer = int(time.time()) + 30
    post(
        build_event(
            "customer.updated", {**api.get(second), "email": "x@example.com"}, created=newer
        )
    )
    posted: list[int] = []

    def during(tally: Tally) -> None:
        if not posted and tally.compared >= 100:
            state = {**api.get(first), "email": "event@example.com"}
            posted.append(post(build_event("customer.updated", state, created=newer)).status_code)

    tally = reconcile(client_for(False), Check("customer"), report=during)
    assert posted == [200]
    assert tally.findings == []
    assert tally.newer == 2
    assert tally.compared == 150


def test_a_sample_retrieves_that_many_rows_by_id(api: FakeStripe) -> None:
    ids = customers(api, 30)
    backfill("--types", "customer")
    for stripe_id in ids:
        api.update(stripe_id, name="Changed")
    api.clear_log()
    status, output = reconcile_command("--types", "customer", "--sample", "5")
    assert status == 1, output
    assert len(samples("stale")) == 5
    requests = api.requests()
    assert len(requests) == 5
    assert all(r.path.startswith("/v1/customers/cus_") for r in requests)
    assert ReconcileRun.objects.get().selection == "sample 5"


def test_synced_before_compares_older_rows_only(api: FakeStripe) -> None:
    old, new = customers(api, 2)
    backfill("--types", "customer")
    Customer.objects.filter(stripe_id=old).update(synced_at=datetime(2020, 1, 1, tzinfo=UTC))
    api.update(old, name="Changed")
    api.update(new, name="Changed")
    status, _ = reconcile_command("--types", "customer", "--synced-before", "2021-01-01")
    assert status == 1
    assert samples("stale") == [f"customer {old} (name)"]
    assert ReconcileRun.objects.get().compared == 1


def test_connect_accounts_are_compared_apart(api: FakeStripe) -> None:
    made = {}
    for account in ("acct_1One", "acct_1Two"):
        api.connect(account)
        made[account] = customers(api, 2, account=account)
    backfill("--types", "customer", "--accounts", "all")
    changed = made["acct_1Two"][0]
    api.update(changed, account="acct_1Two", name="Changed")
    status, output = reconcile_command("--types", "customer", "--accounts", "all")
    assert status == 1, output
    assert samples("stale") == [f"acct_1Two customer {changed} (name)"]
    run = ReconcileRun.objects.get()
    assert sorted(run.accounts.split(",")) == ["acct_1One", "acct_1Two", "platform"]
    assert run.counts["acct_1One/customer"]["compared"] == 2
    assert run.counts["acct_1Two/customer"]["stale"] == 1
    assert {r.account for r in api.requests("/v1/customers")} == {None, "acct_1One", "acct_1Two"}


def test_a_generic_type_is_compared_in_the_generic_table(api: FakeStripe) -> None:
    rate = api.add("shipping_rate", display_name="Ground")["id"]
    backfill("--types", "shipping_rate")
    api.update(rate, display_name="Air")
    assert reconcile_command("--types", "shipping_rate")[0] == 1
    assert samples("stale") == [f"shipping_rate {rate} (data.display_name)"]
    assert StripeObject.objects.get().type == "shipping_rate"


def test_a_failed_listing_exits_2(api: FakeStripe) -> None:
    api.fail_next(10, status=500)
    status, output = reconcile_command("--types", "customer")
    assert status == 2, output
    assert ReconcileRun.objects.get().errors == 1


def test_runs_are_shown_read_only_in_the_admin(api: FakeStripe, client: Any) -> None:
    from django.contrib.auth.models import User

    (stripe_id,) = customers(api, 1)
    backfill("--types", "customer")
    api.update(stripe_id, name="<b>Changed</b>")
    reconcile_command("--types", "customer")
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.login(username="admin", password="pw")
    run = ReconcileRun.objects.get()
    listing = client.get("/admin/stripe_mirror/reconcilerun/")
    assert listing.status_code == 200
    page = client.get(f"/admin/stripe_mirror/reconcilerun/{run.pk}/change/")
    assert page.status_code == 200
    assert stripe_id.encode() in page.content
    assert b"platform/customer" in page.content
    assert client.get("/admin/stripe_mirror/reconcilerun/add/").status_code == 403


def test_a_sample_of_the_rows_synced_before(api: FakeStripe) -> None:
    ids = customers(api, 6)
    backfill("--types", "customer")
    Customer.objects.filter(stripe_id__in=ids[:3]).update(
        synced_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    for stripe_id in ids:
        api.update(stripe_id, name="Changed")
    status, _ = reconcile_command(
        "--types", "customer", "--sample", "2", "--synced-before", "2021-01-01"
    )
    assert status == 1
    assert {entry.split()[1] for entry in samples("stale")} <= set(ids[:3])
    run = ReconcileRun.objects.get()
    assert (run.compared, run.drift) == (2, 2)
    assert run.selection == "sample 2, synced before 2021-01-01T00:00:00+00:00"


def test_bad_options_are_refused(api: FakeStripe) -> None:
    with pytest.raises(CommandError, match="no list endpoint known for line_item"):
        call_command("stripe_mirror_reconcile", "--types", "line_item")
    with pytest.raises(CommandError, match="--sample: at least 1"):
        call_command("stripe_mirror_reconcile", "--sample", "0")
    assert not ReconcileRun.objects.exists()


def test_a_repaired_deleted_invoice_takes_its_lines_and_cut_lists_are_not_drift(
    api: FakeStripe,
) -> None:
    """An invoice whose 25 lines the API cuts at 10 is not stale (the listing reads them
    whole); once deleted in Stripe, the repair tombstones it with its lines."""
    from stripe_mirror.models import Invoice, LineItem

    lines = [{"id": f"il_{i:02d}", "object": "line_item", "amount": i} for i in range(25)]
    invoice = api.add("invoice", id="in_big", status="draft", lines=lines)["id"]
    backfill("--types", "invoice")
    assert reconcile_command("--types", "invoice")[0] == 0
    api.delete(invoice)
    status, _ = reconcile_command("--types", "invoice", "--repair")
    assert status == 1
    assert samples("deleted_in_stripe") == [f"invoice {invoice}"]
    assert Invoice.objects.get().deleted
    assert LineItem.objects.filter(invoice_id=invoice, deleted=False).count() == 0
    assert reconcile_command("--types", "invoice")[0] == 0


@pytest.mark.django_db(transaction=True)
def test_webhooks_racing_the_check_are_not_drift(api: FakeStripe, post: Any) -> None:
    """While reconcile pages through 300 customers (slowly, in a thread), newer events about
    some of them arrive: exactly the stale rows that no event touched are reported."""
    import threading

    from django.db import connections

    ids = customers(api, 300)
    backfill("--types", "customer")
    stale = set(ids[::5])
    for stripe_id in stale:
        api.update(stripe_id, email="api@example.com")
    api.latency = 0.5  # 3 pages: the check lasts well over the posts below
    found: list[Tally] = []

    def check_then_close() -> None:
        try:
            found.append(reconcile(client_for(False), Check("customer")))
        finally:
            connections.close_all()  # this thread's connection

    thread = threading.Thread(target=check_then_close)
    thread.start()
    touched = set(ids[::25])
    for stripe_id in touched:
        state = {**api.get(stripe_id), "email": "event@example.com"}
        post(build_event("customer.updated", state, created=int(time.time()) + 30))
    assert thread.is_alive()  # every event arrived during the check
    thread.join(120)
    (tally,) = found
    assert {f.stripe_id for f in tally.findings} == stale - touched
    assert {f.kind for f in tally.findings} == {"stale"}
    assert tally.compared == 300


def test_a_progress_bar_on_a_terminal() -> None:
    from stripe_mirror.management.reconcile_display import Display

    out = StringIO()
    display = Display(out, Check("customer", account="acct_1"), bars=True)
    display(Tally(compared=40))
    display.close(Tally(compared=75))
    assert "acct_1 (test) customer" in out.getvalue()
    assert "75obj" in out.getvalue().replace(" ", "")
