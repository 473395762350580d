"""Reconcile against localstripe (a real emulator, API 2017-08-15 shapes): billing objects
created through the SDK, some mirrored by a backfill, then changed, deleted and created in
localstripe with no event delivered (it sends none for charges at all): reconcile reports each
kind of drift exactly, ``--repair`` fixes it, and the next run is clean."""

from __future__ import annotations

import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from stripe_mirror.models import Charge, Customer, ReconcileRun
from tests.stripe_api.localstripe_process import API_KEY, Localstripe
from tests.test_backfill_localstripe import _billing, _listed

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

TYPES = "product,plan,customer,subscription,invoice,charge"


def call(*args: str) -> int:
    """The exit status of a reconcile."""
    try:
        call_command("stripe_mirror_reconcile", "--plain", *args, stdout=StringIO())
    except CommandError as exc:
        return exc.returncode
    return 0


def reconcile(*args: str) -> int:
    return call("--types", TYPES, *args)


def test_reconcile_finds_and_repairs_what_localstripe_never_told(
    settings: Any, localstripe: Localstripe
) -> None:
    client = localstripe.client()
    _billing(client, customers=3)
    lonely = client.v1.customers.create({"email": "lonely@example.com"}).id
    changed = client.v1.customers.list({"limit": 1}).data[0].id
    settings.STRIPE_MIRROR = {
        **settings.STRIPE_MIRROR,
        "API_KEY": API_KEY,
        "API_BASE": localstripe.url,
        "API_RATE_LIMIT": 1000,
    }
    # The mirror knows the catalog, customers and subscriptions; charges never had an event.
    call_command(
        "stripe_mirror_backfill",
        "--plain",
        "--types",
        "product,plan,customer,subscription,invoice",
        stdout=StringIO(),
    )
    assert reconcile() == 1  # the charges only
    first = ReconcileRun.objects.get()
    charges = set(_listed(client, "charge"))
    assert len(charges) == 3
    assert first.counts["platform/charge"]["missing"] == 3
    assert first.drift == 3

    client.v1.customers.update(changed, {"email": "changed@example.com"})
    client.v1.customers.delete(lonely)  # localstripe: a 404 afterwards, without a code
    new = client.v1.customers.create({"email": "new@example.com"}).id
    assert reconcile() == 1
    run = ReconcileRun.objects.first()
    assert run is not None
    customer = run.counts["platform/customer"]
    assert (customer["missing"], customer["stale"], customer["deleted_in_stripe"]) == (1, 1, 1)
    assert sorted(run.samples["missing"]) == sorted(
        [f"customer {new}", *(f"charge {c}" for c in charges)]
    )
    assert run.samples["stale"] == [f"customer {changed} (email)"]
    assert run.samples["deleted_in_stripe"] == [f"customer {lonely}"]
    for object_type in ("product", "plan", "subscription", "invoice"):
        assert run.counts[f"platform/{object_type}"]["compared"] > 0
    assert run.drift == 6

    assert reconcile("--repair") == 1
    assert ReconcileRun.objects.first().repaired == 6  # type: ignore[union-attr]
    assert Customer.objects.get(stripe_id=changed).email == "changed@example.com"
    assert Customer.objects.get(stripe_id=lonely).deleted
    assert Customer.objects.get(stripe_id=new).data == _listed(client, "customer")[new]
    assert set(Charge.objects.values_list("stripe_id", flat=True)) == charges
    assert reconcile() == 0


def test_rows_mirrored_from_localstripes_own_events(
    settings: Any, localstripe: Localstripe, post: Any
) -> None:
    """Customers mirrored by posting localstripe's own events, signed, to the endpoint: clean;
    then one changed in localstripe with no delivery: stale, repaired."""
    client = localstripe.client()
    made = [client.v1.customers.create({"email": f"w{i}@example.com"}).id for i in range(2)]
    for event in client.v1.events.list({"type": "customer.created", "limit": 100}).data:
        if event.data.object["id"] in made:
            assert post(event.to_dict()).status_code == 200
    assert set(Customer.objects.values_list("stripe_id", flat=True)) == set(made)
    settings.STRIPE_MIRROR = {
        **settings.STRIPE_MIRROR,
        "API_KEY": API_KEY,
        "API_BASE": localstripe.url,
        "API_RATE_LIMIT": 1000,
    }
    newest = max(row.event_created for row in Customer.objects.all())
    while time.time() < newest.timestamp() + 2:  # reads from a later second than the events
        time.sleep(0.1)
    assert call("--types", "customer") == 0
    assert ReconcileRun.objects.first().compared == 2  # type: ignore[union-attr]
    client.v1.customers.update(made[0], {"name": "Changed"})
    assert call("--types", "customer", "--repair") == 1
    assert ReconcileRun.objects.first().samples["stale"] == [f"customer {made[0]} (name)"]  # type: ignore[union-attr]
    assert call("--types", "customer") == 0
