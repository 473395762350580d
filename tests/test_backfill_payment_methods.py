"""Payment methods in the backfill and reconcile (api/listing.py ``per_customer``): Stripe lists
them per customer only, so they are listed for every customer ``/v1/customers`` lists."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from stripe_mirror.api import client_for
from stripe_mirror.management.selection import DEFAULT_TYPES
from stripe_mirror.models import BackfillProgress, Customer, PaymentMethod, ReconcileRun
from stripe_mirror.sync.backfill import Listing, backfill
from tests.stripe_api.fake import FakeStripe

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(fake_api: FakeStripe) -> FakeStripe:
    return fake_api


def run(*args: str) -> None:
    call_command("stripe_mirror_backfill", "--plain", *args, stdout=StringIO(), stderr=StringIO())


def three_customers(api: FakeStripe) -> dict[str, set[str]]:
    """Customers with 0, 2 and 25 payment methods: their ids and their methods' ids."""
    made: dict[str, set[str]] = {}
    for count in (0, 2, 25):
        customer = api.add("customer")["id"]
        made[customer] = {api.add("payment_method", customer=customer)["id"] for _ in range(count)}
    return made


def mirrored() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in PaymentMethod.objects.all():
        found.setdefault(str(row.customer_id), set()).add(row.stripe_id)
    return found


def test_every_customers_payment_methods_are_mirrored(api: FakeStripe) -> None:
    made = three_customers(api)
    run("--types", "payment_method")
    assert mirrored() == {customer: pms for customer, pms in made.items() if pms}
    done = BackfillProgress.objects.get(object_type="payment_method")
    assert (done.seen, done.created, done.updated, done.skipped) == (27, 27, 0, 0)
    assert done.finished_at is not None
    listed = api.requests("/v1/payment_methods")
    # Never the endpoint without a customer (Stripe lists Treasury methods only there).
    assert {r.params["customer"] for r in listed} == set(made)
    assert Customer.objects.count() == 0  # the customers were read, not written


def test_a_rerun_is_harmless_and_restart_rereads(api: FakeStripe) -> None:
    made = three_customers(api)
    run("--types", "payment_method")
    api.clear_log()
    run("--types", "payment_method")
    assert api.requests("/v1/payment_methods") == []
    run("--types", "payment_method", "--restart")
    again = BackfillProgress.objects.get(object_type="payment_method")
    assert (again.seen, again.created, again.skipped + again.updated) == (27, 0, 27)
    assert PaymentMethod.objects.count() == sum(len(pms) for pms in made.values())


def test_an_interrupted_backfill_resumes_inside_a_customer(api: FakeStripe) -> None:
    for count in (0, 2, 150):
        customer = api.add("customer")["id"]
        made = [api.add("payment_method", customer=customer)["id"] for _ in range(count)]
    reports: list[int] = []

    def stop_after_the_first_page(progress: BackfillProgress) -> None:
        reports.append(progress.seen)
        if len(reports) == 2:  # (the first report comes before any page)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill(client_for(False), Listing("payment_method"), report=stop_after_the_first_page)
    stopped = BackfillProgress.objects.get(object_type="payment_method")
    assert stopped.seen == 100
    # The newest customer (the big one) is listed first; its methods newest first.
    assert stopped.cursor == f"{customer}/{made[::-1][99]}"
    run("--types", "payment_method")
    assert PaymentMethod.objects.count() == 152
    assert BackfillProgress.objects.get(object_type="payment_method").seen == 152


def test_resumes_from_a_stored_customer_cursor(api: FakeStripe) -> None:
    ids = [api.add("customer")["id"] for _ in range(3)]
    pms = {c: [api.add("payment_method", customer=c)["id"] for _ in range(150)] for c in ids}
    newest, middle, _ = ids[::-1]  # the list's order
    cursor = f"{middle}/{pms[middle][::-1][99]}"  # one page of the middle customer written
    BackfillProgress.objects.create(object_type="payment_method", cursor=cursor, seen=250)
    run("--types", "payment_method")
    listed = {r.params["customer"] for r in api.requests("/v1/payment_methods")}
    assert newest not in listed
    assert PaymentMethod.objects.count() == 200
    assert BackfillProgress.objects.get(object_type="payment_method").seen == 450


def test_payment_methods_are_a_default_type() -> None:
    assert "payment_method" in DEFAULT_TYPES


def test_reconcile_compares_every_customers_payment_methods(api: FakeStripe) -> None:
    made = three_customers(api)
    run("--types", "payment_method")
    gone = next(iter(made[list(made)[2]]))
    PaymentMethod.objects.filter(stripe_id=gone).delete()
    out = StringIO()
    with pytest.raises(CommandError):  # drift exits non-zero
        call_command("stripe_mirror_reconcile", "--plain", "--types", "payment_method", stdout=out)
    run_ = ReconcileRun.objects.get()
    assert run_.compared == 27
    assert run_.samples["missing"] == [f"payment_method {gone}"]


def test_created_since_keeps_an_old_customers_new_methods(api: FakeStripe) -> None:
    old = api.add("customer", created=1_600_000_000)["id"]
    api.add("payment_method", customer=old, created=1_600_000_000)
    new = api.add("payment_method", customer=old, created=1_800_000_000)["id"]
    run("--types", "payment_method", "--created-since", "2025-01-01")
    assert list(PaymentMethod.objects.values_list("stripe_id", flat=True)) == [new]
    assert "created" not in {k for r in api.requests("/v1/payment_methods") for k in r.params}


def test_an_account_without_customers_is_done_at_once(api: FakeStripe) -> None:
    run("--types", "payment_method")
    done = BackfillProgress.objects.get(object_type="payment_method")
    assert (done.seen, done.cursor) == (0, "")
    assert done.finished_at is not None
    assert api.requests("/v1/payment_methods") == []
