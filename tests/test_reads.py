"""sync/reads.py: a state read from the API at time T against events of the seconds around T,
and read-your-writes (``stripe_mirror.apply_api_object``) with a real SDK object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

import stripe_mirror
from stripe_mirror.models import Customer, Subscription
from stripe_mirror.sync import Result
from stripe_mirror.sync.reads import apply_read, read_origin, read_watermark
from stripe_mirror.testing import build_event
from tests.stripe_api.fake import TEST_KEY, FakeStripe

pytestmark = pytest.mark.django_db

#: A read whose request started at 12:00:05.300: its watermark is 12:00:04.
T = datetime(2026, 3, 1, 12, 0, 5, 300000, tzinfo=UTC)
SECOND_OF_T = int(T.replace(microsecond=0).timestamp())


def customer(email: str) -> dict[str, Any]:
    return {"id": "cus_read", "object": "customer", "email": email, "livemode": False}


def read(obj: dict[str, Any], started: datetime = T) -> Result:
    with transaction.atomic():
        outcome = apply_read(obj, read_origin(started, label="test", account="", livemode=False))
    return outcome.result


def test_the_watermark_is_the_second_before_the_start() -> None:
    assert read_watermark(T) == datetime(2026, 3, 1, 12, 0, 4, tzinfo=UTC)
    assert read_watermark(T.replace(microsecond=0)) == datetime(2026, 3, 1, 12, 0, 4, tzinfo=UTC)


def test_an_event_of_the_second_before_delivered_after_the_read_loses(post: Any) -> None:
    assert read(customer("read@example.com")) is Result.CREATED
    post(build_event("customer.updated", customer("older@example.com"), created=SECOND_OF_T - 1))
    row = Customer.objects.get()
    assert row.email == "read@example.com"
    assert row.event_id == "test+refetch"


def test_an_event_of_the_second_of_t_wins_over_the_read(post: Any) -> None:
    read(customer("read@example.com"))
    post(build_event("customer.updated", customer("newer@example.com"), created=SECOND_OF_T))
    assert Customer.objects.get().email == "newer@example.com"


@pytest.mark.parametrize("after", [0, 1, 60])
def test_the_read_never_overwrites_an_event_of_t_or_later(post: Any, after: int) -> None:
    post(
        build_event("customer.updated", customer("event@example.com"), created=SECOND_OF_T + after)
    )
    assert read(customer("read@example.com")) is Result.SKIPPED_OLDER
    assert Customer.objects.get().email == "event@example.com"


def test_the_read_wins_over_an_event_of_the_second_before(post: Any) -> None:
    post(build_event("customer.updated", customer("event@example.com"), created=SECOND_OF_T - 1))
    assert read(customer("read@example.com")) is Result.UPDATED
    assert Customer.objects.get().email == "read@example.com"


def test_a_later_read_wins_over_an_earlier_one() -> None:
    read(customer("first@example.com"))
    assert read(customer("second@example.com"), T + timedelta(seconds=3)) is Result.UPDATED
    assert read(customer("stale@example.com"), T) is Result.SKIPPED_OLDER
    assert Customer.objects.get().email == "second@example.com"


# --- read-your-writes ----------------------------------------------------------------------


@pytest.fixture
def api(settings: Any, fake_stripe: FakeStripe) -> FakeStripe:
    settings.STRIPE_MIRROR = {
        **settings.STRIPE_MIRROR,
        "API_KEY": TEST_KEY,
        "API_BASE": fake_stripe.url,
        "API_RATE_LIMIT": 1000,
    }
    return fake_stripe


def test_read_your_writes_with_an_sdk_object(api: FakeStripe, post: Any) -> None:
    """The site creates a customer through the SDK and sees it at once; the webhook of the
    creation, of the call's own second, then rewrites the same state."""
    from django.utils import timezone

    from stripe_mirror.api import client_for

    started = timezone.now()
    created = client_for(livemode=False).v1.customers.create({"email": "mine@example.com"})
    outcome = stripe_mirror.apply_api_object(created, started_at=started)
    assert outcome.result is Result.CREATED
    row = Customer.objects.get(stripe_id=created.id)
    assert (row.email, row.account, row.event_id) == ("mine@example.com", "", "api+refetch")
    post(build_event("customer.created", created.to_dict(), created=int(started.timestamp())))
    assert Customer.objects.get(stripe_id=created.id).email == "mine@example.com"


def test_read_your_writes_of_a_connected_account(api: FakeStripe) -> None:
    from stripe_mirror.api import client_for

    api.connect("acct_1Mine")
    client = client_for(livemode=False, account="acct_1Mine")
    created = client.v1.customers.create({"email": "connected@example.com"})
    stripe_mirror.apply_api_object(created)  # the account comes from the SDK object
    assert Customer.objects.get(stripe_id=created.id).account == "acct_1Mine"


def test_without_a_start_the_read_is_dated_a_timeout_ago(api: FakeStripe, post: Any) -> None:
    """An event of the last API_TIMEOUT seconds may be newer than the read: it stays."""
    now = int(datetime.now(UTC).timestamp())
    obj = {"id": "sub_mine", "object": "subscription", "status": "active", "livemode": False}
    post(
        build_event("customer.subscription.updated", {**obj, "status": "past_due"}, created=now - 2)
    )
    assert stripe_mirror.apply_api_object(obj).result is Result.SKIPPED_OLDER
    assert Subscription.objects.get().status == "past_due"


def test_a_dict_needs_its_mode(api: FakeStripe) -> None:
    with pytest.raises(ValueError, match="livemode"):
        stripe_mirror.apply_api_object({"id": "cus_x", "object": "customer"})
    outcome = stripe_mirror.apply_api_object({"id": "cus_x", "object": "customer"}, livemode=True)
    assert outcome.row is not None
    assert outcome.row.livemode is True


def test_the_readme_snippet_runs(api: FakeStripe) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- snippet: read-your-writes -->\n```python\n", 1)[1]
    exec(block.split("```", 1)[0], {})  # noqa: S102
    assert Subscription.objects.get().event_id == "api+refetch"
