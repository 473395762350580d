"""Reconcile against localstripe (a real emulator, API 2017-08-15 shapes): billing objects
created through the SDK, some mirrored by a backfill, then changed, deleted and created in
localstripe with no event delivered (it sends none for charges at all): reconcile reports each
kind of drift exactly, ``--repair`` fixes it, and the next run is clean."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from stripe_mirror.models import Charge, Customer, ReconcileRun
from tests.stripe_api.localstripe_process import API_KEY, Localstripe
from tests.test_backfill_localstripe import _billing, _listed

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

TYPES = "product,plan,customer,subscription,charge"


def reconcile(*args: str) -> int:
    try:
        call_command(
            "stripe_mirror_reconcile", "--plain", "--types", TYPES, *args, stdout=StringIO()
        )
    except CommandError as exc:
        return exc.returncode
    return 0


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
        "product,plan,customer,subscription",
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
    for object_type in ("product", "plan", "subscription"):
        assert run.counts[f"platform/{object_type}"]["compared"] > 0
    assert run.drift == 6

    assert reconcile("--repair") == 1
    assert ReconcileRun.objects.first().repaired == 6  # type: ignore[union-attr]
    assert Customer.objects.get(stripe_id=changed).email == "changed@example.com"
    assert Customer.objects.get(stripe_id=lonely).deleted
    assert Customer.objects.get(stripe_id=new).data == _listed(client, "customer")[new]
    assert set(Charge.objects.values_list("stripe_id", flat=True)) == charges
    assert reconcile() == 0
